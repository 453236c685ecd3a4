//! Standard output that never panics. A closed pipe (`ditbench list | head
//! -1`) ends ditbench as it ends other Unix tools, by SIGPIPE and without a
//! word; any other failed write (a full disk) is an error, exit code 2.

use std::io::{ErrorKind, Write};

use anyhow::Result;

use crate::UsageError;

/// Write `text` to standard output and flush it.
pub fn text(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => end_by_sigpipe(),
        Err(e) => Err(UsageError(format!("cannot write to standard output: {e}")).into()),
    }
}

/// `text` and a newline.
pub fn line(text: impl std::fmt::Display) -> Result<()> {
    self::text(&format!("{text}\n"))
}

/// Die of SIGPIPE as a tool that never ignored it would (Rust's runtime
/// ignores it, turning a closed pipe into an error).
fn end_by_sigpipe() -> ! {
    // SAFETY: restoring a signal's default action and raising it.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    // Not reached: SIGPIPE's default action ends the process.
    std::process::exit(128 + libc::SIGPIPE)
}
