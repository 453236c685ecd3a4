//! What else the machine did while a case was timed: CPU time others ran on
//! the CPUs the worker may use, steal time, load average and clock speed.
//!
//! Probes are per resource behind one interface ([`InterferenceProbe`]): the
//! CPU probe reads `/proc`; a GPU's "other processes on this device" (NVML)
//! is another probe with its own [`Reading`]. [`Interference::from_readings`]
//! turns the readings into the case's record and its `contended` flag.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use ditbench_core::model::case::DeviceName;

/// Share of the CPUs a case asked for that others may take before the case
/// is flagged contended.
pub const CONTENDED_SHARE: f64 = 0.10;

pub const DEFINITIONS: &[(&str, &str)] = &[
    (
        "interference",
        "what else the machine did during the timed iterations, from counters read at their start and end; contended is true when others took more than 10% of the CPUs the case asked for (reasons says how much); unavailable lists the probes that could not be read",
    ),
    (
        "interference.cpu.asked_cpus",
        "CPUs the case asked for: --threads, at most the CPUs the worker may run on (cpus: its affinity, --cpus or the whole machine)",
    ),
    (
        "interference.cpu.others_cpus",
        "CPU seconds that every other process spent on the worker's CPUs (/proc/stat user+nice+system+irq+softirq of those CPUs, less the worker's own utime+stime from /proc/self/stat) / wall seconds: how many CPUs others kept busy on average",
    ),
    (
        "interference.cpu.steal_cpus",
        "steal time of the worker's CPUs (/proc/stat: time the hypervisor ran something else on them) / wall seconds",
    ),
    (
        "interference.cpu.taken_cpus",
        "CPUs others took from the case: the part of others_cpus that did not fit on the CPUs the case left free (cpus - asked_cpus), plus the steal falling on the asked share of the CPUs (steal_cpus x asked_cpus / cpus); share = taken_cpus / asked_cpus",
    ),
    (
        "interference.cpu.load_average_1m",
        "the kernel's one-minute load average at the end of the timed iterations (the worker's own threads included): context, not part of the flag",
    ),
    (
        "interference.cpu.mhz",
        "mean clock of the worker's CPUs at the start and the end of the timed iterations (cpufreq scaling_cur_freq, else /proc/cpuinfo); null where neither is readable (a VM often reports its nominal clock)",
    ),
];

/// A probe of one resource's use by others over the timed region.
pub trait InterferenceProbe: Send {
    /// Read the counters at the start of the timed region.
    fn begin(&mut self) -> Result<(), String>;
    /// Read them again at its end, `wall_s` seconds later.
    fn end(&mut self, wall_s: f64) -> Result<Reading, String>;
}

/// One probe's reading over the timed region.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    Cpu(CpuInterference),
}

impl Reading {
    /// Share of what the case asked for that others took, and a sentence on it.
    fn contention(&self) -> (f64, String) {
        match self {
            Reading::Cpu(c) => (
                c.share,
                format!(
                    "others took {:.2} of the {} CPU(s) asked for ({:.0}%; other processes {:.2}, steal {:.2})",
                    c.taken_cpus,
                    c.asked_cpus,
                    c.share * 100.0,
                    c.others_cpus,
                    c.steal_cpus
                ),
            ),
        }
    }
}

/// The CPU figures of one case's timed iterations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuInterference {
    pub wall_s: f64,
    /// The CPUs the worker may run on (its affinity).
    pub cpus: Vec<usize>,
    /// Whether that is fewer than the machine's online CPUs.
    pub pinned: bool,
    pub asked_cpus: usize,
    /// The worker's own CPU seconds / wall seconds.
    pub own_cpus: f64,
    pub others_cpus: f64,
    pub steal_cpus: f64,
    pub taken_cpus: f64,
    /// taken_cpus / asked_cpus.
    pub share: f64,
    pub load_average_1m: Option<f64>,
    /// Mean clock of the worker's CPUs at the start and the end.
    pub mhz: Option<[f64; 2]>,
}

/// The interference record of one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interference {
    /// Null where `/proc` could not be read.
    pub cpu: Option<CpuInterference>,
    pub contended: bool,
    /// One sentence per resource over the threshold.
    pub reasons: Vec<String>,
    /// Probes that could not be read, and why.
    pub unavailable: Vec<String>,
}

impl Interference {
    /// The record from every probe's reading; contended when one of them
    /// had more than `threshold` of its resource taken.
    pub fn from_readings(readings: Vec<Result<Reading, String>>, threshold: f64) -> Self {
        let mut record = Interference {
            cpu: None,
            contended: false,
            reasons: Vec::new(),
            unavailable: Vec::new(),
        };
        for reading in readings {
            match reading {
                Ok(r) => {
                    let (share, why) = r.contention();
                    if share > threshold {
                        record.contended = true;
                        record.reasons.push(why);
                    }
                    match r {
                        Reading::Cpu(c) => record.cpu = Some(c),
                    }
                }
                Err(why) => record.unavailable.push(why),
            }
        }
        record
    }
}

/// The probes of a case on `device` asking for `threads` CPU threads: the
/// CPU always (a GPU case's host threads need it too).
pub fn probes_for(_device: DeviceName, threads: Option<usize>) -> Vec<Box<dyn InterferenceProbe>> {
    vec![Box::new(CpuProbe::new(
        Path::new("/proc"),
        Path::new("/sys/devices/system/cpu"),
        allowed_cpus(),
        threads,
    ))]
}

/// The CPUs this process may run on (its affinity), or `None` where it
/// cannot be read.
pub fn allowed_cpus() -> Option<Vec<usize>> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity writes at most its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return None;
        }
        Some(
            (0..libc::CPU_SETSIZE as usize)
                .filter(|&c| libc::CPU_ISSET(c, &set))
                .collect(),
        )
    }
}

/// Tick counters of a set of CPUs from `/proc/stat`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTicks {
    /// user + nice + system + irq + softirq (guest time is inside user).
    pub busy: u64,
    pub steal: u64,
}

/// The counters of `cpus` (the per-CPU lines `cpuN`) in a `/proc/stat` text;
/// `None` when one of them is missing or malformed.
pub fn parse_proc_stat(text: &str, cpus: &[usize]) -> Option<CpuTicks> {
    let mut total = CpuTicks::default();
    for &cpu in cpus {
        let name = format!("cpu{cpu}");
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name.as_str()))?;
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(|f| f.parse().ok())
            .collect::<Option<_>>()?;
        // user nice system idle iowait irq softirq steal ...
        if v.len() < 8 {
            return None;
        }
        total.busy += v[0] + v[1] + v[2] + v[5] + v[6];
        total.steal += v[7];
    }
    Some(total)
}

/// The number of CPUs the kernel lists in `/proc/stat`.
pub fn online_cpus(proc_stat: &str) -> usize {
    proc_stat
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| ditbench_core::machine::threads::is_cpu_name(name))
        .count()
}

/// The one-minute load average from a `/proc/loadavg` text.
pub fn parse_loadavg(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

/// Mean `cpu MHz` of `cpus` in a `/proc/cpuinfo` text.
pub fn parse_cpuinfo_mhz(text: &str, cpus: &[usize]) -> Option<f64> {
    let mut current: Option<usize> = None;
    let mut found = Vec::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key.trim() {
            "processor" => current = value.trim().parse().ok(),
            "cpu MHz" if current.is_some_and(|c| cpus.contains(&c)) => {
                found.push(value.trim().parse::<f64>().ok()?);
            }
            _ => {}
        }
    }
    (!found.is_empty()).then(|| found.iter().sum::<f64>() / found.len() as f64)
}

/// The CPU probe: `/proc/stat` and `/proc/self/stat` at both ends.
pub struct CpuProbe {
    proc_root: PathBuf,
    sys_cpu: PathBuf,
    cpus: Option<Vec<usize>>,
    threads: Option<usize>,
    start: Option<Snapshot>,
}

#[derive(Debug, Clone, Copy)]
struct Snapshot {
    machine: CpuTicks,
    own_ticks: u64,
    mhz: Option<f64>,
}

impl CpuProbe {
    /// A probe reading `proc_root` (`/proc`) and `sys_cpu`
    /// (`/sys/devices/system/cpu`) for `cpus` (all online CPUs when `None`).
    pub fn new(
        proc_root: &Path,
        sys_cpu: &Path,
        cpus: Option<Vec<usize>>,
        threads: Option<usize>,
    ) -> Self {
        CpuProbe {
            proc_root: proc_root.to_path_buf(),
            sys_cpu: sys_cpu.to_path_buf(),
            cpus,
            threads,
            start: None,
        }
    }

    fn read(&self, file: &str) -> Result<String, String> {
        let path = self.proc_root.join(file);
        std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The CPUs watched: the affinity, else every online CPU.
    fn cpus(&self, proc_stat: &str) -> Vec<usize> {
        self.cpus
            .clone()
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| (0..online_cpus(proc_stat)).collect())
    }

    /// Mean current clock of `cpus`: cpufreq where exposed, else cpuinfo.
    fn mhz(&self, cpus: &[usize]) -> Option<f64> {
        let khz: Option<Vec<f64>> = cpus
            .iter()
            .map(|c| {
                let path = self
                    .sys_cpu
                    .join(format!("cpu{c}/cpufreq/scaling_cur_freq"));
                std::fs::read_to_string(path).ok()?.trim().parse().ok()
            })
            .collect();
        match khz {
            Some(k) if !k.is_empty() => Some(k.iter().sum::<f64>() / k.len() as f64 / 1e3),
            _ => parse_cpuinfo_mhz(&self.read("cpuinfo").ok()?, cpus),
        }
    }

    fn snapshot(&self) -> Result<(Snapshot, Vec<usize>, usize), String> {
        let stat = self.read("stat")?;
        let cpus = self.cpus(&stat);
        let machine = parse_proc_stat(&stat, &cpus).ok_or_else(|| {
            format!(
                "{}/stat has no counters for CPUs {cpus:?}",
                self.proc_root.display()
            )
        })?;
        let own = self.read("self/stat")?;
        let own_ticks = ditbench_core::machine::threads::stat_cpu_ticks(&own)
            .ok_or_else(|| "cannot parse /proc/self/stat".to_string())?;
        Ok((
            Snapshot {
                machine,
                own_ticks,
                mhz: self.mhz(&cpus),
            },
            cpus,
            online_cpus(&stat),
        ))
    }
}

/// Clock ticks per second of `/proc`'s counters.
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a constant of the running system.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

impl InterferenceProbe for CpuProbe {
    fn begin(&mut self) -> Result<(), String> {
        self.start = Some(self.snapshot()?.0);
        Ok(())
    }

    fn end(&mut self, wall_s: f64) -> Result<Reading, String> {
        let start = self
            .start
            .ok_or_else(|| "the CPU probe was not started".to_string())?;
        let (end, cpus, online) = self.snapshot()?;
        let per_s = ticks_per_second();
        let load = self.read("loadavg").ok().and_then(|t| parse_loadavg(&t));
        Ok(Reading::Cpu(cpu_interference(
            CpuCounts {
                busy_ticks: end.machine.busy.saturating_sub(start.machine.busy),
                steal_ticks: end.machine.steal.saturating_sub(start.machine.steal),
                own_ticks: end.own_ticks.saturating_sub(start.own_ticks),
                ticks_per_s: per_s,
                wall_s,
            },
            cpus.clone(),
            cpus.len() < online,
            self.threads.unwrap_or(cpus.len()),
            load,
            start.mhz.zip(end.mhz).map(|(a, b)| [a, b]),
        )))
    }
}

/// Counter increments over a timed region.
#[derive(Debug, Clone, Copy)]
pub struct CpuCounts {
    pub busy_ticks: u64,
    pub steal_ticks: u64,
    pub own_ticks: u64,
    pub ticks_per_s: f64,
    pub wall_s: f64,
}

/// The CPU figures from counter increments: what others ran on `cpus`
/// beyond the CPUs the case left free, plus its share of the steal.
pub fn cpu_interference(
    counts: CpuCounts,
    cpus: Vec<usize>,
    pinned: bool,
    threads: usize,
    load_average_1m: Option<f64>,
    mhz: Option<[f64; 2]>,
) -> CpuInterference {
    let n = cpus.len().max(1);
    let asked = threads.clamp(1, n);
    let seconds = |ticks: u64| ticks as f64 / counts.ticks_per_s;
    let per_wall = |s: f64| {
        if counts.wall_s > 0.0 {
            s / counts.wall_s
        } else {
            0.0
        }
    };
    let own = per_wall(seconds(counts.own_ticks));
    let others = per_wall(seconds(counts.busy_ticks.saturating_sub(counts.own_ticks)));
    let steal = per_wall(seconds(counts.steal_ticks));
    let free = (n - asked) as f64;
    let taken = (others - free).max(0.0) + steal * asked as f64 / n as f64;
    CpuInterference {
        wall_s: counts.wall_s,
        cpus,
        pinned,
        asked_cpus: asked,
        own_cpus: own,
        others_cpus: others,
        steal_cpus: steal,
        taken_cpus: taken,
        share: taken / asked as f64,
        load_average_1m,
        mhz,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  300 0 30 900 5 0 3 12 0 0
cpu0 100 0 10 300 1 0 1 4 0 0
cpu1 100 0 10 300 2 0 1 4 0 0
cpu2 100 0 10 300 2 0 1 4 0 0
intr 1 2 3
ctxt 99
";

    #[test]
    fn proc_stat_counts_busy_and_steal_of_the_cpus_asked() {
        assert_eq!(online_cpus(STAT), 3);
        assert_eq!(
            parse_proc_stat(STAT, &[0, 2]),
            Some(CpuTicks {
                busy: 222,
                steal: 8
            })
        );
        assert_eq!(parse_proc_stat(STAT, &[7]), None);
        assert_eq!(parse_proc_stat("cpu0 1 2 x", &[0]), None);
        // Older kernels without a steal column.
        assert_eq!(parse_proc_stat("cpu0 1 2 3 4 5 6 7", &[0]), None);
    }

    #[test]
    fn loadavg_and_cpuinfo_parse() {
        assert_eq!(parse_loadavg("1.50 0.80 0.30 2/300 1234\n"), Some(1.5));
        assert_eq!(parse_loadavg(""), None);
        let info =
            "processor\t: 0\ncpu MHz\t\t: 2000.000\n\nprocessor\t: 1\ncpu MHz\t\t: 3000.000\n";
        assert_eq!(parse_cpuinfo_mhz(info, &[0, 1]), Some(2500.0));
        assert_eq!(parse_cpuinfo_mhz(info, &[1]), Some(3000.0));
        assert_eq!(parse_cpuinfo_mhz(info, &[5]), None);
    }

    fn counts(busy_s: f64, own_s: f64, steal_s: f64) -> CpuCounts {
        CpuCounts {
            busy_ticks: (busy_s * 100.0) as u64,
            steal_ticks: (steal_s * 100.0) as u64,
            own_ticks: (own_s * 100.0) as u64,
            ticks_per_s: 100.0,
            wall_s: 1.0,
        }
    }

    #[test]
    fn others_count_only_beyond_the_cpus_left_free() {
        // Two CPUs, the case asked for both, two hogs beside it.
        let c = cpu_interference(counts(2.0, 1.0, 0.0), vec![0, 1], false, 2, None, None);
        assert!((c.others_cpus - 1.0).abs() < 1e-9 && (c.taken_cpus - 1.0).abs() < 1e-9);
        assert!((c.share - 0.5).abs() < 1e-9);
        // The same others beside a one-thread case fit on the free CPU.
        let c = cpu_interference(counts(2.0, 1.0, 0.0), vec![0, 1], false, 1, None, None);
        assert_eq!(c.taken_cpus, 0.0);
        // Steal falls on the asked share of the CPUs.
        let c = cpu_interference(counts(1.0, 1.0, 0.4), vec![0, 1], false, 1, None, None);
        assert!((c.taken_cpus - 0.2).abs() < 1e-9, "{c:?}");
        // More threads than CPUs ask for every CPU, no more.
        let c = cpu_interference(counts(1.0, 1.0, 0.0), vec![0, 1], true, 64, None, None);
        assert_eq!(c.asked_cpus, 2);
    }

    #[test]
    fn a_reading_over_the_threshold_is_contended_with_its_reason() {
        let busy = cpu_interference(counts(2.0, 1.0, 0.0), vec![0, 1], false, 2, None, None);
        let r = Interference::from_readings(vec![Ok(Reading::Cpu(busy))], CONTENDED_SHARE);
        assert!(r.contended);
        assert_eq!(
            r.reasons,
            ["others took 1.00 of the 2 CPU(s) asked for (50%; other processes 1.00, steal 0.00)"]
        );
        let quiet = cpu_interference(counts(1.05, 1.0, 0.0), vec![0, 1], false, 2, None, None);
        let r = Interference::from_readings(
            vec![Ok(Reading::Cpu(quiet)), Err("no GPU probe".into())],
            CONTENDED_SHARE,
        );
        assert!(!r.contended && r.reasons.is_empty());
        assert_eq!(r.unavailable, ["no GPU probe"]);
        assert!(r.cpu.is_some());
    }

    #[test]
    fn the_probe_reads_fake_proc_files() {
        let dir = tempfile::tempdir().unwrap();
        let proc_root = dir.path();
        std::fs::create_dir_all(proc_root.join("self")).unwrap();
        let write = |stat: &str, own: &str| {
            std::fs::write(proc_root.join("stat"), stat).unwrap();
            std::fs::write(proc_root.join("self/stat"), own).unwrap();
        };
        std::fs::write(proc_root.join("loadavg"), "2.00 1.00 0.50 3/100 42").unwrap();
        std::fs::write(
            proc_root.join("cpuinfo"),
            "processor : 0\ncpu MHz : 1000\nprocessor : 1\ncpu MHz : 1000\n",
        )
        .unwrap();
        let own =
            |ticks: u64| format!("42 (ditbench) R 1 2 3 4 5 6 7 8 9 10 {ticks} 0 0 0 20 0 1 0");
        write("cpu0 0 0 0 0 0 0 0 0\ncpu1 0 0 0 0 0 0 0 0\n", &own(0));
        let mut probe = CpuProbe::new(proc_root, &dir.path().join("nosys"), None, Some(2));
        probe.begin().unwrap();
        // One second later at 100 ticks/s: 200 busy ticks, 100 of them ours.
        write(
            "cpu0 100 0 0 0 0 0 0 0\ncpu1 100 0 0 0 0 0 0 0\n",
            &own(100),
        );
        let Reading::Cpu(c) = probe.end(100.0 / ticks_per_second()).unwrap();
        assert_eq!(c.cpus, [0, 1]);
        assert!(!c.pinned);
        assert!((c.others_cpus - 1.0).abs() < 1e-9, "{c:?}");
        assert_eq!(c.load_average_1m, Some(2.0));
        assert_eq!(c.mhz, Some([1000.0, 1000.0]));
        let mut unread = CpuProbe::new(&dir.path().join("absent"), dir.path(), None, None);
        assert!(unread.begin().unwrap_err().contains("absent"));
    }
}
