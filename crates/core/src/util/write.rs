//! How ditbench writes files: a new file never replaces one that exists, and
//! no reader ever sees a file half-written. Results, reports, exported data,
//! dumped outputs and cached inputs all go through these.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

/// A complete copy of `contents` under a temporary name beside `path`.
fn write_temp(path: &Path, contents: &[u8]) -> Result<PathBuf> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut f =
        fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    if let Err(e) = f.write_all(contents).and_then(|()| f.sync_all()) {
        // A full disk must not leave a partial temporary behind.
        drop(f);
        fs::remove_file(&tmp).ok();
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(tmp)
}

/// Put the complete file `tmp` (holding `contents`) at `path` unless a file
/// is there (`AlreadyExists`); `tmp` stays.
fn link_if_absent(tmp: &Path, path: &Path, contents: &[u8]) -> io::Result<()> {
    // A hard link fails if the target exists: an atomic create-if-absent of
    // a complete file.
    match fs::hard_link(tmp, path) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
            // Filesystems without hard links: create-if-absent, then write.
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)?;
            let written = f.write_all(contents).and_then(|()| f.sync_all());
            if written.is_err() {
                // Never leave a truncated file under the final name.
                drop(f);
                fs::remove_file(path).ok();
            }
            written
        }
        other => other,
    }
}

/// Write a new file at `path`; an existing file is never replaced.
pub fn write_new(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = write_temp(path, contents)?;
    let linked = link_if_absent(&tmp, path, contents);
    fs::remove_file(&tmp).ok();
    linked.with_context(|| {
        format!(
            "cannot create {} (an existing file is never replaced)",
            path.display()
        )
    })
}

/// The names a numbered file or directory may take, in order: `stem` then
/// `suffix` (`.json`, or nothing), `stem-2` then `suffix`, ... `stem-9999`.
pub fn numbered_names(stem: &str, suffix: &str) -> impl Iterator<Item = String> {
    (1..10_000).map(move |n| match n {
        1 => format!("{stem}{suffix}"),
        _ => format!("{stem}-{n}{suffix}"),
    })
}

/// Write `dir/stem.ext`, or `stem-2.ext`, ... when taken; creates `dir`.
/// The contents are written once, then linked under the first free name.
pub fn write_numbered(dir: &Path, stem: &str, ext: &str, contents: &[u8]) -> Result<PathBuf> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = write_temp(&dir.join(format!("{stem}.{ext}")), contents)?;
    let chosen = numbered_names(stem, &format!(".{ext}"))
        .map(|name| {
            let path = dir.join(name);
            (link_if_absent(&tmp, &path, contents), path)
        })
        .find(|(linked, _)| !matches!(linked, Err(e) if e.kind() == io::ErrorKind::AlreadyExists));
    fs::remove_file(&tmp).ok();
    match chosen {
        Some((Ok(()), path)) => Ok(path),
        Some((Err(e), path)) => Err(e).with_context(|| format!("cannot create {}", path.display())),
        None => bail!("no free file name for {stem}.{ext} in {}", dir.display()),
    }
}

/// Replace the contents of `path` atomically: a reader sees the old
/// document or the new one, never a mix.
pub fn replace(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = write_temp(path, contents)?;
    let renamed = fs::rename(&tmp, path);
    if renamed.is_err() {
        // A directory at `path`, another filesystem: no temporary left.
        fs::remove_file(&tmp).ok();
    }
    renamed.with_context(|| format!("cannot replace {}", path.display()))
}

/// Longest file-name part [`file_stem`] returns.
const MAX_STEM_CHARS: usize = 80;

/// A file-name part from free text (a host name, a case id): ASCII letters,
/// digits, '-' and '_' kept, anything else '_'; `if_empty` for empty text.
/// Longer text is cut and ends in a hash of the whole, so two texts never
/// share a name.
pub fn file_stem(text: &str, if_empty: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() {
        return if_empty.to_string();
    }
    if cleaned.len() <= MAX_STEM_CHARS {
        return cleaned;
    }
    let hash = Sha256::digest(text.as_bytes());
    let suffix: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{suffix}", &cleaned[..MAX_STEM_CHARS - suffix.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_files_never_replace_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        let a = write_numbered(dir.path(), "x", "bin", b"a").unwrap();
        let b = write_numbered(dir.path(), "x", "bin", b"b").unwrap();
        assert_ne!(a, b);
        assert_eq!(fs::read(&a).unwrap(), b"a");
        assert_eq!(b.file_name().unwrap(), "x-2.bin");
        let e = write_new(&a, b"c").unwrap_err().to_string();
        assert!(e.contains("never replaced"), "{e}");
        assert_eq!(fs::read(&a).unwrap(), b"a");
        replace(&a, b"d").unwrap();
        assert_eq!(fs::read(&a).unwrap(), b"d");
        assert_eq!(fs::read(&b).unwrap(), b"b");
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_failed_replace_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let taken = dir.path().join("taken");
        fs::create_dir(&taken).unwrap();
        fs::write(taken.join("inside"), b"x").unwrap();
        let e = format!("{:#}", replace(&taken, b"new").unwrap_err());
        assert!(e.contains("cannot replace"), "{e}");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn free_text_becomes_a_safe_file_name() {
        assert_eq!(
            file_stem("gpu-01.example.org", "host"),
            "gpu-01_example_org"
        );
        assert_eq!(file_stem("<script>", "host"), "_script_");
        assert_eq!(file_stem("", "host"), "host");
        assert_eq!(file_stem("../../etc/passwd", "x"), "______etc_passwd");
        let long_a = format!("{} a", "w".repeat(100));
        let long_b = format!("{} b", "w".repeat(100));
        let (a, b) = (file_stem(&long_a, "x"), file_stem(&long_b, "x"));
        assert_eq!(a.len(), MAX_STEM_CHARS);
        assert_ne!(a, b);
    }
}
