// Shared by the backends' build scripts (`include!`d): records a package's
// version from the workspace's Cargo.lock so results name the exact framework.

fn locked_version(lock: &str, package: &str) -> Option<String> {
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("name = \"{package}\"") {
            let version = lines.next()?.trim().strip_prefix("version = \"")?;
            return Some(version.trim_end_matches('"').to_string());
        }
    }
    None
}

/// Emit `cargo:rustc-env={env}=<version of package>` ("unknown" outside the workspace).
fn emit_locked_version(package: &str, env: &str) {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let lock_path = std::path::Path::new(&manifest).join("../../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock_path.display());
    let version = std::fs::read_to_string(&lock_path)
        .ok()
        .and_then(|lock| locked_version(&lock, package))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env={env}={version}");
}
