//! The guards a worker process sets on itself before it builds anything:
//! its memory limit (`--mem-limit`), dying with its parent, and the
//! test-only fault switch ([`FAULT_ENV`]) the reliability tests use.

use std::time::Duration;

use anyhow::{Result, bail};

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
