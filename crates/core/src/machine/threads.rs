//! Threads a case computed with: the pool sizes each framework reports, and
//! what the worker's OS threads actually ran during the timed iterations.
//!
//! The pool sizes say whether `--threads` reached the framework; the OS view
//! (`/proc/self/task`) says whether the framework then used the threads, which
//! is what a single-threaded build would get wrong while reporting a pool of N.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const DEFINITIONS: &[(&str, &str)] = &[
    (
        "threads.requested",
        "--threads as the worker received it (DITBENCH_THREADS); null when the worker was started without one",
    ),
    (
        "threads.pools",
        "each thread pool the framework computes with: its size as the framework or pool reports it after the timed iterations (read back, not the argument echoed), and the size ditbench asked for (--threads; 1 for libtorch's inter-op pool, which a single graph does not use)",
    ),
    (
        "threads.busy",
        "OS threads of the worker that each ran at least 10% of the busiest thread's CPU time during the timed iterations (/proc/self/task/*/schedstat), together or in turn: a rayon worker may compute while the calling thread waits, so 2 busy threads need not mean 2 cores; cpu_parallelism says how many at once",
    ),
    (
        "threads.cpu_parallelism",
        "CPU seconds of all the worker's threads during the timed iterations / their wall seconds: how many cores the case kept busy on average (1.0: one). It counts time pool threads spend spinning for work, so it can exceed the speed-up more threads give; other processes on the machine lower it",
    ),
];

/// A thread below this share of the busiest thread's CPU time is not counted
/// as busy: pools keep idle or spinning helpers that do no real work.
pub const BUSY_SHARE: f64 = 0.10;

/// One pool of threads a framework computes with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadPool {
    /// What the pool is, e.g. `rayon global pool`, `libtorch intra-op`.
    pub name: String,
    /// Its size, as the framework reports it.
    pub threads: usize,
    /// The size ditbench asked for; null when the worker was given no
    /// thread setting (the framework's own default then applies).
    pub asked: Option<usize>,
}

impl ThreadPool {
    pub fn new(name: &str, threads: usize, asked: Option<usize>) -> Self {
        ThreadPool {
            name: name.to_string(),
            threads,
            asked,
        }
    }
}

/// What the OS saw the worker's threads do during the timed iterations.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ThreadActivity {
    /// Threads that ran at least [`BUSY_SHARE`] of the busiest one's CPU time.
    pub busy: usize,
    /// CPU seconds of all threads / wall seconds.
    pub cpu_parallelism: f64,
}

/// The threads record of one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadUse {
    pub requested: Option<usize>,
    pub pools: Vec<ThreadPool>,
    /// Null where `/proc` cannot be read.
    pub busy: Option<usize>,
    pub cpu_parallelism: Option<f64>,
}

impl ThreadUse {
    pub fn new(
        requested: Option<usize>,
        pools: Vec<ThreadPool>,
        activity: Option<ThreadActivity>,
    ) -> Self {
        ThreadUse {
            requested,
            pools,
            busy: activity.map(|a| a.busy),
            cpu_parallelism: activity.map(|a| a.cpu_parallelism),
        }
    }

    /// Pools whose size is not what ditbench asked for.
    pub fn mismatched_pools(&self) -> impl Iterator<Item = &ThreadPool> {
        self.pools
            .iter()
            .filter(|p| p.asked.is_some_and(|asked| asked != p.threads))
    }

    /// One sentence per pool of another size than asked, for notes and warnings.
    pub fn mismatches(&self) -> Vec<String> {
        self.mismatched_pools()
            .map(|p| {
                format!(
                    "{} has {} threads where ditbench asked for {}",
                    p.name,
                    p.threads,
                    p.asked.unwrap_or_default()
                )
            })
            .collect()
    }

    /// `2 threads (busy 2, CPU 1.93x)`, for tables.
    pub fn summary(&self) -> String {
        let mut s = match self.requested {
            Some(1) => "1 thread".to_string(),
            Some(n) => format!("{n} threads"),
            None => "threads ?".to_string(),
        };
        if let (Some(busy), Some(par)) = (self.busy, self.cpu_parallelism) {
            s.push_str(&format!(" (busy {busy}, CPU {par:.2}x)"));
        }
        s
    }
}

/// Whether `name` names one CPU as the kernel does (`cpu0`, `cpu12`; not
/// `cpu`, the total, or `cpufreq`): in `/proc/stat` and under
/// `/sys/devices/system/cpu`.
pub fn is_cpu_name(name: &str) -> bool {
    name.strip_prefix("cpu")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A CPU list such as `0-3,6` (the kernel's cpulist format) as sorted,
/// distinct CPU numbers, each of which must be in `allowed` (the CPUs this
/// process may use); one sentence on what is wrong otherwise.
pub fn parse_cpu_list(text: &str, allowed: &[usize]) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for item in text.split(',').map(str::trim) {
        let number = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| format!("--cpus: '{item}' is not a CPU number or a range like 2-5"))
        };
        let (first, last) = match item.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => {
                let n = number(item)?;
                (n, n)
            }
        };
        if first > last {
            return Err(format!("--cpus: range '{item}' runs backwards"));
        }
        // The last CPU first: a range like 0-4000000000 is refused at once.
        for cpu in std::iter::once(last).chain(first..last) {
            if !allowed.contains(&cpu) {
                return Err(format!(
                    "--cpus: CPU {cpu} is not one this process may use ({})",
                    cpu_list_text(allowed)
                ));
            }
            cpus.push(cpu);
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

/// CPU numbers in the kernel's cpulist format: `0-3,6`.
pub fn cpu_list_text(cpus: &[usize]) -> String {
    let mut sorted = cpus.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        while i + 1 < sorted.len() && sorted[i + 1] == sorted[i] + 1 {
            i += 1;
        }
        parts.push(if sorted[i] == start {
            start.to_string()
        } else {
            format!("{start}-{}", sorted[i])
        });
        i += 1;
    }
    parts.join(",")
}

/// CPU nanoseconds each thread of this process has run so far, by thread id.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadTimes(BTreeMap<u32, u64>);

impl ThreadTimes {
    /// This process's threads now; `None` where `/proc/self/task` is unreadable.
    pub fn now() -> Option<Self> {
        let mut times = BTreeMap::new();
        for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
            let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            // A thread may end between listing and reading: skip it.
            if let Some(ns) = thread_cpu_ns(&entry.path()) {
                times.insert(tid, ns);
            }
        }
        (!times.is_empty()).then_some(ThreadTimes(times))
    }

    /// CPU nanoseconds each thread ran since `earlier` (threads started
    /// since then count from zero; threads that ended are not seen).
    pub fn since(&self, earlier: &ThreadTimes) -> Vec<u64> {
        self.0
            .iter()
            .map(|(tid, &ns)| ns.saturating_sub(earlier.0.get(tid).copied().unwrap_or(0)))
            .collect()
    }
}

/// A thread's CPU time: `schedstat`'s nanoseconds, else `stat`'s user and
/// system clock ticks.
fn thread_cpu_ns(task: &std::path::Path) -> Option<u64> {
    if let Ok(s) = std::fs::read_to_string(task.join("schedstat"))
        && let Some(ns) = s.split_whitespace().next().and_then(|v| v.parse().ok())
    {
        return Some(ns);
    }
    let stat = std::fs::read_to_string(task.join("stat")).ok()?;
    // SAFETY: sysconf only reads a constant of the running system.
    let ticks_per_s = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
        .ok()
        .filter(|&t| t > 0)?;
    stat_cpu_ticks(&stat).map(|ticks| ticks * (1_000_000_000 / ticks_per_s))
}

/// utime + stime from a `/proc/.../stat` line, whose second field (the
/// command) may hold spaces and parentheses.
pub fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // After the command: state is field 3 of the line, utime 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// What two threads spinning for `duration` got from this machine: about 2
/// cores on an idle machine with two or more, less when others compete.
/// `None` where `/proc/self/task` is unreadable.
pub fn spin_two_threads(duration: std::time::Duration) -> Option<ThreadActivity> {
    let spin = || {
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed() < duration {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    };
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let (spun, finished) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        // The helper stays alive until the second reading: an ended thread
        // leaves /proc/self/task, and its CPU time with it.
        s.spawn(move || {
            spin();
            spun.send(()).ok();
            wait.recv().ok();
        });
        let before = ThreadTimes::now();
        let t = std::time::Instant::now();
        spin();
        finished.recv().ok();
        let wall = t.elapsed().as_secs_f64();
        let used = before
            .zip(ThreadTimes::now())
            .map(|(before, after)| activity(&after.since(&before), wall));
        done.send(()).ok();
        used
    })
}

/// Busy threads and CPU parallelism from per-thread CPU nanoseconds over
/// `wall_s` seconds.
pub fn activity(cpu_ns: &[u64], wall_s: f64) -> ThreadActivity {
    let busiest = cpu_ns.iter().copied().max().unwrap_or(0);
    let busy = cpu_ns
        .iter()
        .filter(|&&ns| busiest > 0 && ns as f64 >= BUSY_SHARE * busiest as f64)
        .count();
    let total_s = cpu_ns.iter().sum::<u64>() as f64 / 1e9;
    ThreadActivity {
        busy,
        cpu_parallelism: if wall_s > 0.0 { total_s / wall_s } else { 0.0 },
    }
}

/// The one thread setting every framework gets, and how it was applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadSettings {
    pub threads: usize,
    /// `--threads` or `default: physical cores`.
    pub source: String,
    /// Environment variables set in every worker.
    pub env: BTreeMap<String, String>,
}

/// The thread count itself, for frameworks sized through an API call rather
/// than an environment variable (libtorch's `set_num_threads`).
pub const THREADS_ENV: &str = "DITBENCH_THREADS";

/// The thread setting this worker was started with, if any.
pub fn worker_threads() -> Option<usize> {
    std::env::var(THREADS_ENV)
        .ok()?
        .parse()
        .ok()
        .filter(|&n| n > 0)
}

impl ThreadSettings {
    /// [`THREADS_ENV`] and the frameworks' own thread variables
    /// (`variables`, from each backend), all set to `threads`.
    pub fn new<'v>(
        threads: usize,
        source: &str,
        variables: impl IntoIterator<Item = &'v str>,
    ) -> Self {
        let env = std::iter::once(THREADS_ENV)
            .chain(variables)
            .map(|k| (k.to_string(), threads.to_string()))
            .collect();
        ThreadSettings {
            threads,
            source: source.to_string(),
            env,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_counts_threads_near_the_busiest() {
        let a = activity(&[1_000_000_000, 900_000_000, 50_000_000, 0], 1.0);
        assert_eq!(a.busy, 2);
        assert!((a.cpu_parallelism - 1.95).abs() < 1e-9);
        assert_eq!(activity(&[], 1.0).busy, 0);
        assert_eq!(activity(&[0, 0], 1.0).busy, 0);
        assert_eq!(activity(&[5], 0.0).cpu_parallelism, 0.0);
    }

    #[test]
    fn cpu_lists_parse_like_the_kernels() {
        let allowed: Vec<usize> = (0..8).collect();
        assert_eq!(parse_cpu_list("0-3,6", &allowed).unwrap(), [0, 1, 2, 3, 6]);
        assert_eq!(parse_cpu_list(" 5, 1,1 ", &allowed).unwrap(), [1, 5]);
        assert_eq!(cpu_list_text(&[6, 0, 1, 2, 3]), "0-3,6");
        assert_eq!(cpu_list_text(&[4]), "4");
        for (bad, says) in [
            ("", "not a CPU number"),
            ("a", "not a CPU number"),
            ("3-1", "runs backwards"),
            ("1-", "not a CPU number"),
            ("9", "CPU 9 is not one this process may use (0-7)"),
            ("99999999999999999999", "not a CPU number"),
            ("0-4000000000", "CPU 4000000000 is not one"),
        ] {
            let e = parse_cpu_list(bad, &allowed).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn stat_lines_with_odd_command_names_parse() {
        let line = "123 (a b) c)) S 1 2 3 4 5 6 7 8 9 10 70 30 0 0 20 0 1 0";
        assert_eq!(stat_cpu_ticks(line), Some(100));
        assert_eq!(stat_cpu_ticks("garbage"), None);
    }

    #[test]
    fn two_spinning_threads_show_as_busy() {
        let a = spin_two_threads(std::time::Duration::from_millis(200))
            .expect("/proc/self/task is readable on Linux");
        // Other tests' threads may run too: at least the two spinners.
        assert!(a.busy >= 2, "{a:?}");
        assert!(a.cpu_parallelism > 0.0);
    }

    #[test]
    fn summaries_read_as_a_sentence() {
        let t = ThreadUse::new(
            Some(2),
            vec![ThreadPool::new("rayon global pool", 1, Some(2))],
            Some(ThreadActivity {
                busy: 1,
                cpu_parallelism: 1.004,
            }),
        );
        assert_eq!(t.summary(), "2 threads (busy 1, CPU 1.00x)");
        assert_eq!(t.mismatched_pools().count(), 1);
        assert_eq!(
            t.mismatches(),
            ["rayon global pool has 1 threads where ditbench asked for 2"]
        );
        assert_eq!(ThreadUse::new(Some(1), vec![], None).summary(), "1 thread");
    }
}
