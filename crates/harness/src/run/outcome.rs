//! How a worker's end becomes a case outcome, in the parent: its exit
//! status, its stderr and the error it reported turn into a [`Failure`] kind
//! with a message a user can act on.

use crate::record::results::Failure;
use ditbench_core::util::units;

/// A failed case: its kind and what happened, in words.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerFailure {
    pub kind: Failure,
    pub message: String,
}

impl WorkerFailure {
    pub fn new(kind: Failure, message: impl Into<String>) -> Self {
        WorkerFailure {
            kind,
            message: message.into(),
        }
    }
}

/// Phrases every worker's runtime uses when memory runs out, whichever
/// framework it runs: Rust's `handle_alloc_error`, C++'s `bad_alloc`, the C
/// library's `ENOMEM`, CUDA's driver and runtime. Each backend adds its
/// framework's own ([`Backend::out_of_memory_phrases`](crate::Backend::out_of_memory_phrases)).
const RUNTIME_OOM_PHRASES: &[&str] = &[
    "memory allocation of",
    "bad_alloc",
    "cannot allocate memory",
    "out of memory",
];

/// Whether a message says that memory ran out, in the runtime's words or
/// in those of the framework (`framework_phrases`, lowercase).
pub fn mentions_oom(text: &str, framework_phrases: &[&str]) -> bool {
    let lower = text.to_lowercase();
    RUNTIME_OOM_PHRASES
        .iter()
        .chain(framework_phrases)
        .any(|p| lower.contains(p))
}

/// The kind of an error the worker reported itself (a framework error).
pub fn classify_reported_error(message: &str, framework_phrases: &[&str]) -> Failure {
    if mentions_oom(message, framework_phrases) {
        Failure::Oom
    } else {
        Failure::Error
    }
}

pub fn signal_name(signal: i32) -> String {
    let name = match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => return format!("signal {signal}"),
    };
    format!("{name} (signal {signal})")
}

/// What a dead worker last said: its panic message when it panicked (not the
/// backtrace after it), otherwise its last `n` non-empty lines before any
/// backtrace (an allocation failure prints one under `RUST_BACKTRACE`).
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if let Some(start) = lines.iter().rposition(|l| l.contains("panicked at")) {
        let message: Vec<&str> = lines[start..]
            .iter()
            .take_while(|l| !l.starts_with("stack backtrace:") && !l.starts_with("note: run with"))
            .take(n)
            .copied()
            .collect();
        return message.join("\n");
    }
    let end = lines
        .iter()
        .position(|l| l.starts_with("stack backtrace:"))
        .unwrap_or(lines.len());
    lines[end.saturating_sub(n)..end].join("\n")
}

/// How a worker that wrote no response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Signal(i32),
    Code(i32),
}

/// The outcome of a worker that died without a response, from how it ended
/// and its stderr. `mem_limit` is the limit it ran under, if any.
pub fn classify_exit(
    exit: Exit,
    stderr: &str,
    mem_limit: Option<u64>,
    framework_phrases: &[&str],
) -> WorkerFailure {
    let tail = last_lines(stderr, 8);
    let said = if tail.is_empty() {
        String::new()
    } else {
        format!("; its last output:\n{tail}")
    };
    let limit = mem_limit
        .map(|b| format!(" (--mem-limit {})", units::bytes(b, 1)))
        .unwrap_or_default();
    if mentions_oom(stderr, framework_phrases) {
        let how = match exit {
            Exit::Signal(s) => format!("worker killed by {}", signal_name(s)),
            Exit::Code(c) => format!("worker exited with status {c}"),
        };
        return WorkerFailure::new(Failure::Oom, format!("out of memory{limit}: {how}{said}"));
    }
    match exit {
        // SIGKILL that ditbench did not send: most often the kernel's OOM killer.
        Exit::Signal(9) => WorkerFailure::new(
            Failure::Crash,
            format!(
                "worker killed by {} from outside ditbench (the kernel's out-of-memory killer sends it when RAM runs out){said}",
                signal_name(9)
            ),
        ),
        Exit::Signal(s) => WorkerFailure::new(
            Failure::Crash,
            format!("worker killed by {}{said}", signal_name(s)),
        ),
        Exit::Code(c) => WorkerFailure::new(
            Failure::Error,
            format!("worker exited with status {c} without a result{said}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_ends_are_classified() {
        let f = classify_exit(
            Exit::Signal(6),
            "memory allocation of 67108864 bytes failed\n",
            Some(512 << 20),
            &[],
        );
        assert_eq!(f.kind, Failure::Oom);
        assert!(f.message.contains("--mem-limit 512 MiB"), "{}", f.message);
        assert!(f.message.contains("SIGABRT"), "{}", f.message);

        let f = classify_exit(Exit::Signal(11), "", None, &[]);
        assert_eq!(f.kind, Failure::Crash);
        assert_eq!(f.message, "worker killed by SIGSEGV (signal 11)");

        let f = classify_exit(Exit::Signal(9), "", None, &[]);
        assert_eq!(f.kind, Failure::Crash);
        assert!(f.message.contains("out-of-memory killer"));

        let f = classify_exit(Exit::Code(3), "loading\nsomething broke\n", None, &[]);
        assert_eq!(f.kind, Failure::Error);
        assert!(f.message.contains("status 3"));
        assert!(f.message.ends_with("loading\nsomething broke"));

        assert_eq!(
            classify_reported_error("CUDA out of memory. Tried to allocate 2.00 GiB", &[]),
            Failure::Oom
        );
        assert_eq!(
            classify_reported_error(
                "DefaultCPUAllocator: can't allocate memory",
                &["can't allocate memory"]
            ),
            Failure::Oom
        );
        assert_eq!(
            classify_reported_error("shape mismatch in matmul", &["can't allocate memory"]),
            Failure::Error
        );
    }

    #[test]
    fn a_panic_is_reported_without_its_backtrace() {
        let stderr =
            "setup\nthread 'main' panicked at src/x.rs:1:1:\nboom\nstack backtrace:\n 0: x\n";
        assert_eq!(
            last_lines(stderr, 8),
            "thread 'main' panicked at src/x.rs:1:1:\nboom"
        );
        let abort =
            "TEST FAULT\nmemory allocation of 64 bytes failed\nstack backtrace:\n 0: x\n 1: y\n";
        assert_eq!(
            last_lines(abort, 8),
            "TEST FAULT\nmemory allocation of 64 bytes failed"
        );
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc");
    }
}
