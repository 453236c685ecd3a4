//! A quiet Vulkan loader. Mesa's Vulkan drivers (lavapipe among them) try
//! Wayland when a Vulkan instance lists its devices, and libwayland prints
//! "error: XDG_RUNTIME_DIR is invalid or not set in the environment." on a
//! machine without a desktop session: a CI runner, a GPU node. burn-wgpu asks
//! for its devices in the parent and in every worker, so each would print it.

use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Give a process without a valid `XDG_RUNTIME_DIR` a private one (mode
/// 0700, owned by this user, under the temporary directory); the workers
/// inherit it. Nothing connects there: Wayland finds no display and says
/// nothing.
///
/// Call it first in `main` (or a bench), before any thread starts: it sets
/// an environment variable.
pub fn give_wayland_a_runtime_dir() {
    let current = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    if current.is_some_and(|dir| dir.is_absolute() && dir.is_dir()) {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let dir = std::env::temp_dir().join(format!("ditbench-runtime-{uid}"));
    if private_dir(&dir, uid) {
        // SAFETY: called first (see above), while this is the only thread.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
    }
}

/// Whether `dir` is (or now is) a directory only `uid` can enter.
fn private_dir(dir: &Path, uid: u32) -> bool {
    let _ = std::fs::DirBuilder::new().mode(0o700).create(dir);
    std::fs::symlink_metadata(dir)
        .is_ok_and(|m| m.is_dir() && m.uid() == uid && m.mode() & 0o077 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runtime_dir_is_private_to_its_user() {
        let root = tempfile::tempdir().unwrap();
        // SAFETY: geteuid has no preconditions.
        let uid = unsafe { libc::geteuid() };
        let dir = root.path().join("runtime");
        assert!(private_dir(&dir, uid));
        assert!(
            private_dir(&dir, uid),
            "an existing private directory is reused"
        );
        assert!(!private_dir(&dir, uid + 1), "someone else's is refused");
        let open = root.path().join("open");
        std::fs::create_dir(&open).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(
            !private_dir(&open, uid),
            "a directory others can enter is refused"
        );
        let link = root.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        assert!(!private_dir(&link, uid), "a link is refused");
    }
}
