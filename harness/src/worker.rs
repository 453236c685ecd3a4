//! The worker process's guards and how its end becomes an outcome.
//!
//! - Inside the worker: the memory limit (`--mem-limit`), dying with the
//!   parent, and the test-only fault switch ([`FAULT_ENV`]).
//! - In the parent: turning a worker's exit status, stderr and reported error
//!   into a [`Failure`] kind with a message a user can act on.

use std::time::Duration;

use anyhow::{Result, bail};

use crate::results::Failure;

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

/// Phrases allocators and frameworks use when memory runs out: Rust's
/// `handle_alloc_error`, glibc/C++ `bad_alloc`, libtorch's CPU and CUDA
/// allocators, CUDA driver and runtime errors, Candle's and CubeCL's messages.
const OOM_PHRASES: &[&str] = &[
    "memory allocation of",
    "out of memory",
    "outofmemory",
    "out_of_memory",
    "bad_alloc",
    "can't allocate memory",
    "cannot allocate memory",
    "failed to allocate",
];

/// Whether a message says that memory ran out.
pub fn mentions_oom(text: &str) -> bool {
    let lower = text.to_lowercase();
    OOM_PHRASES.iter().any(|p| lower.contains(p))
}

/// The kind of an error the worker reported itself (a framework error).
pub fn classify_reported_error(message: &str) -> Failure {
    if mentions_oom(message) {
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
/// backtrace after it), otherwise its last `n` non-empty lines.
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
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// How a worker that wrote no response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Signal(i32),
    Code(i32),
}

/// The outcome of a worker that died without a response, from how it ended
/// and its stderr. `mem_limit` is the limit it ran under, if any.
pub fn classify_exit(exit: Exit, stderr: &str, mem_limit: Option<u64>) -> WorkerFailure {
    let tail = last_lines(stderr, 8);
    let said = if tail.is_empty() {
        String::new()
    } else {
        format!("; its last output:\n{tail}")
    };
    let limit = mem_limit
        .map(|b| format!(" (--mem-limit {})", format_bytes(b)))
        .unwrap_or_default();
    if mentions_oom(stderr) {
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

/// `12.0 GiB`, `512 MiB`.
pub fn format_bytes(bytes: u64) -> String {
    const MIB: f64 = (1u64 << 20) as f64;
    let mib = bytes as f64 / MIB;
    if mib >= 1024.0 {
        format!("{:.1} GiB", mib / 1024.0)
    } else {
        format!("{mib:.0} MiB")
    }
}

/// Parse a memory size: a number with an optional unit, `K`/`KiB`, `M`/`MiB`,
/// `G`/`GiB`, `T`/`TiB` (all binary), or bytes. At least 1 MiB.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size such as 512MiB or 8GiB"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        "t" | "tib" | "tb" => 1 << 40,
        other => {
            return Err(format!(
                "unknown size unit '{other}' in '{text}'; use MiB or GiB"
            ));
        }
    };
    let bytes = value * scale as f64;
    if !bytes.is_finite() || bytes < (1u64 << 20) as f64 || bytes > u64::MAX as f64 {
        return Err(format!("'{text}' must be at least 1 MiB"));
    }
    Ok(bytes as u64)
}

/// Limit this process's data segment (heap and private anonymous mappings,
/// Linux `RLIMIT_DATA`) to `bytes`: an allocation past it fails, which Rust
/// reports as "memory allocation of N bytes failed" and C++ as `bad_alloc`.
/// Address-space reservations that are never written (CUDA's, allocator
/// arenas) do not count, unlike `RLIMIT_AS`.
pub fn limit_memory(bytes: u64) -> Result<()> {
    #[cfg(unix)]
    {
        let limit = libc::rlimit {
            rlim_cur: bytes as libc::rlim_t,
            rlim_max: bytes as libc::rlim_t,
        };
        // SAFETY: setrlimit reads a valid struct and affects only this process.
        if unsafe { libc::setrlimit(libc::RLIMIT_DATA, &limit) } != 0 {
            bail!(
                "cannot apply --mem-limit: setrlimit failed: {}",
                std::io::Error::last_os_error()
            );
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        let _ = bytes;
        bail!("--mem-limit is supported on Linux and other Unix systems only")
    }
}

/// Have the kernel kill this worker if its parent, process `parent`, dies
/// (Linux), so killing `ditbench run` never leaves a worker running on.
pub fn die_with_parent(parent: u32) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number; getppid
        // and raise have no preconditions.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            // The parent may have died before the prctl (a worker linking
            // libtorch takes a while to start): then we were reparented.
            if u32::try_from(libc::getppid()).ok() != Some(parent) {
                libc::raise(libc::SIGKILL);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = parent;
}

/// Test-only fault switch, `DITBENCH_TEST_FAULT=<fault>:<backend>`: a worker
/// running a case of that backend injects the fault after building the model.
/// Faults: `crash` (SIGSEGV), `exit` (prints and exits with status 3), `fail`
/// (reports an error), `hang` (sleeps forever), `oom` (allocates until an
/// allocation fails; refused without a memory limit).
pub const FAULT_ENV: &str = "DITBENCH_TEST_FAULT";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Crash,
    Exit,
    Fail,
    Hang,
    Oom,
}

/// The fault requested for `backend`, if any.
pub fn requested_fault(backend: &str) -> Result<Option<Fault>> {
    let Ok(spec) = std::env::var(FAULT_ENV) else {
        return Ok(None);
    };
    let Some((fault, target)) = spec.split_once(':') else {
        bail!("{FAULT_ENV}={spec}: expected <fault>:<backend>");
    };
    if target != backend {
        return Ok(None);
    }
    let fault = match fault {
        "crash" => Fault::Crash,
        "exit" => Fault::Exit,
        "fail" => Fault::Fail,
        "hang" => Fault::Hang,
        "oom" => Fault::Oom,
        other => bail!("{FAULT_ENV}: unknown fault '{other}' (crash, exit, fail, hang, oom)"),
    };
    Ok(Some(fault))
}

/// Inject `fault` into this worker. Returns only for `fail` (as an error).
pub fn inject(fault: Fault, mem_limited: bool) -> Result<()> {
    eprintln!("TEST FAULT: injecting {fault:?} ({FAULT_ENV})");
    match fault {
        Fault::Crash => {
            #[cfg(unix)]
            // SAFETY: restoring the default action (Rust's runtime handles
            // SIGSEGV to report stack overflows) and raising the signal in
            // this process, which ends it.
            unsafe {
                libc::signal(libc::SIGSEGV, libc::SIG_DFL);
                libc::raise(libc::SIGSEGV);
            }
            std::process::abort()
        }
        Fault::Exit => {
            eprintln!("injected failure: the worker gives up");
            std::process::exit(3)
        }
        Fault::Fail => bail!("injected failure: the backend reports an error"),
        Fault::Hang => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        Fault::Oom => {
            if !mem_limited {
                bail!("the oom test fault needs --mem-limit, so it cannot exhaust the machine");
            }
            let mut held: Vec<Vec<u8>> = Vec::new();
            loop {
                // Written, so the pages are really used.
                held.push(vec![1u8; 64 << 20]);
                std::hint::black_box(&held);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("8G").unwrap(), 8 << 30);
        assert_eq!(parse_size("1.5 GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("2097152").unwrap(), 2 << 20);
        for bad in ["", "MiB", "12 parsecs", "-1G", "1K", "0"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn worker_ends_are_classified() {
        let f = classify_exit(
            Exit::Signal(6),
            "memory allocation of 67108864 bytes failed\n",
            Some(512 << 20),
        );
        assert_eq!(f.kind, Failure::Oom);
        assert!(f.message.contains("--mem-limit 512 MiB"), "{}", f.message);
        assert!(f.message.contains("SIGABRT"), "{}", f.message);

        let f = classify_exit(Exit::Signal(11), "", None);
        assert_eq!(f.kind, Failure::Crash);
        assert_eq!(f.message, "worker killed by SIGSEGV (signal 11)");

        let f = classify_exit(Exit::Signal(9), "", None);
        assert_eq!(f.kind, Failure::Crash);
        assert!(f.message.contains("out-of-memory killer"));

        let f = classify_exit(Exit::Code(3), "loading\nsomething broke\n", None);
        assert_eq!(f.kind, Failure::Error);
        assert!(f.message.contains("status 3"));
        assert!(f.message.ends_with("loading\nsomething broke"));

        assert_eq!(
            classify_reported_error("CUDA out of memory. Tried to allocate 2.00 GiB"),
            Failure::Oom
        );
        assert_eq!(
            classify_reported_error("DefaultCPUAllocator: can't allocate memory"),
            Failure::Oom
        );
        assert_eq!(
            classify_reported_error("shape mismatch in matmul"),
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
    }
}
