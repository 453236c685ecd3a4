//! Standard output that never panics. A closed pipe (`ditbench list | head
//! -1`) ends ditbench as it ends other Unix tools, by SIGPIPE and without a
//! word; any other failed write (a full disk) is an error, exit code 2.

use std::io::{ErrorKind, Write};

use anyhow::Result;

use crate::UsageError;
use ditbench_core::util::units::{json_without_raw_controls, visible_controls};

/// Write `text` to standard output and flush it, every control character
/// but line breaks and tabs shown as an escape (text from files reaches
/// here: a label, a host name). JSON comes through [`json`].
pub fn text(text: &str) -> Result<()> {
    write_raw(&visible_controls(text))
}

fn write_raw(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => end_by_sigpipe(),
        Err(e) => Err(UsageError(format!("cannot write to standard output: {e}")).into()),
    }
}

/// Text whose every part from a file was shown with [`terminal_text`] when
/// it was laid out (a table with colours of its own), written as it is.
///
/// [`terminal_text`]: ditbench_core::util::units::terminal_text
pub fn styled(text: &str) -> Result<()> {
    write_raw(text)
}

/// `value` as pretty JSON and a newline, with no raw control character.
pub fn json(value: &impl serde::Serialize) -> Result<()> {
    line(json_text(value)?)
}

/// `value` as pretty JSON with every control character escaped (serde_json
/// leaves DEL and C1 raw), for standard output or a file.
pub fn json_text(value: &impl serde::Serialize) -> Result<String> {
    Ok(json_without_raw_controls(&serde_json::to_string_pretty(
        value,
    )?))
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
