//! Energy of the timed iterations, where the machine has a counter to read.
//!
//! A counter is per device ([`counter_for`]): on a CPU, Linux powercap's
//! RAPL package domains (`/sys/class/powercap/intel-rapl:N/energy_uj`, also
//! used for AMD's RAPL); a GPU's NVML total-energy counter fits the same
//! [`EnergyCounter`] interface. Where none is readable, the results say why,
//! never zero.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub const DEFINITIONS: &[(&str, &str)] = &[(
    "energy",
    "energy of the timed iterations from the device's counter (CPU: Linux powercap RAPL package domains, the whole package including other processes), read every 0.5 s and at both ends so counter wrap-around is counted; joules_per_iteration = joules / timed iterations, average_watts = joules / timed seconds; when no counter is readable, unavailable says why",
)];

/// A monotonic energy counter in microjoules that wraps at `range_uj`.
pub trait EnergyCounter: Send + Sync {
    /// What is counted, e.g. `RAPL package-0 + package-1`.
    fn describe(&self) -> String;
    /// The counter's value now, in microjoules.
    fn read_uj(&self) -> Result<u64, String>;
    /// The value at which the counter wraps to zero.
    fn range_uj(&self) -> u64;
}

/// Energy figures of a case's timed iterations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergyFigures {
    /// The counter read, or `none`.
    pub source: String,
    pub joules: Option<f64>,
    pub joules_per_iteration: Option<f64>,
    pub average_watts: Option<f64>,
    /// Why energy was not measured.
    pub unavailable: Option<String>,
}

impl EnergyFigures {
    pub fn unavailable(why: String) -> Self {
        EnergyFigures {
            source: "none".into(),
            joules: None,
            joules_per_iteration: None,
            average_watts: None,
            unavailable: Some(why),
        }
    }
}

/// The CPU's counters (one per RAPL package), or why there are none. A
/// GPU's counter is its NVML device ([`crate::measure::gpu::nvml_device`]).
pub fn cpu_counters() -> Result<Vec<Arc<dyn EnergyCounter>>, String> {
    Ok(rapl_packages(Path::new(POWERCAP))?
        .into_iter()
        .map(|d| Arc::new(d) as Arc<dyn EnergyCounter>)
        .collect())
}

const POWERCAP: &str = "/sys/class/powercap";

/// One RAPL package domain (`intel-rapl:N`).
pub struct RaplDomain {
    name: String,
    energy_uj: PathBuf,
    range_uj: u64,
}

fn read_u64(path: &Path) -> Result<u64, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.trim()
        .parse()
        .map_err(|_| format!("{}: not a number ({:?})", path.display(), text.trim()))
}

/// The RAPL package domains under `root` (a powercap directory), each read
/// once to prove it is readable; their `:N:M` subdomains (core, dram) are
/// parts of a package and would count twice.
pub fn rapl_packages(root: &Path) -> Result<Vec<RaplDomain>, String> {
    let entries = std::fs::read_dir(root).map_err(|e| {
        format!(
            "no powercap energy counters ({}: {e}); this machine or VM exposes none",
            root.display()
        )
    })?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("intel-rapl:"))
                .is_some_and(|rest| !rest.contains(':'))
        })
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        return Err(format!(
            "no RAPL package domains under {} (this machine or VM exposes no CPU energy counter)",
            root.display()
        ));
    }
    dirs.into_iter()
        .map(|dir| {
            let energy_uj = dir.join("energy_uj");
            read_u64(&energy_uj).map_err(|e| {
                format!("RAPL counter not readable: {e} (reading it may need root)")
            })?;
            let name = std::fs::read_to_string(dir.join("name"))
                .map(|n| n.trim().to_string())
                .unwrap_or_else(|_| dir.display().to_string());
            let range_uj = read_u64(&dir.join("max_energy_range_uj")).unwrap_or(u64::MAX);
            Ok(RaplDomain {
                name,
                energy_uj,
                range_uj,
            })
        })
        .collect()
}

impl EnergyCounter for RaplDomain {
    fn describe(&self) -> String {
        format!("RAPL {}", self.name)
    }

    fn read_uj(&self) -> Result<u64, String> {
        read_u64(&self.energy_uj)
    }

    fn range_uj(&self) -> u64 {
        self.range_uj
    }
}

/// The increment from `before` to `after` of a counter wrapping at `range`.
pub fn increment(before: u64, after: u64, range: u64) -> u64 {
    if after >= before {
        after - before
    } else {
        range.saturating_sub(before) + after
    }
}

/// Reads counters every half second in a thread while timed iterations
/// run, adding up each one's increments (so wraps between readings count).
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Result<u64, String>>,
    started: Instant,
    describe: String,
}

impl Sampler {
    pub fn start(counters: Vec<Arc<dyn EnergyCounter>>) -> Result<Self, String> {
        let mut last = counters
            .iter()
            .map(|c| c.read_uj())
            .collect::<Result<Vec<u64>, String>>()?;
        let names: Vec<String> = counters.iter().map(|c| c.describe()).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut total = 0u64;
            loop {
                let done = flag.load(Ordering::Acquire);
                for (counter, last) in counters.iter().zip(last.iter_mut()) {
                    let now = counter.read_uj()?;
                    total += increment(*last, now, counter.range_uj());
                    *last = now;
                }
                if done {
                    return Ok(total);
                }
                // Short sleeps so that stopping is prompt.
                for _ in 0..10 {
                    if flag.load(Ordering::Acquire) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        });
        Ok(Sampler {
            stop,
            handle,
            started: Instant::now(),
            describe: names.join(" + "),
        })
    }

    /// Stop and return the figures for `iterations` timed iterations.
    pub fn finish(self, iterations: usize) -> EnergyFigures {
        let seconds = self.started.elapsed().as_secs_f64();
        self.stop.store(true, Ordering::Release);
        match self.handle.join() {
            Ok(Ok(uj)) => {
                let joules = uj as f64 / 1e6;
                EnergyFigures {
                    source: self.describe,
                    joules: Some(joules),
                    joules_per_iteration: (iterations > 0).then(|| joules / iterations as f64),
                    average_watts: (seconds > 0.0).then(|| joules / seconds),
                    unavailable: None,
                }
            }
            Ok(Err(e)) => {
                EnergyFigures::unavailable(format!("the counter failed while timing: {e}"))
            }
            Err(_) => EnergyFigures::unavailable("the energy sampler panicked".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    fn domain(root: &Path, dir: &str, name: &str, uj: u64) {
        let d = root.join(dir);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("name"), format!("{name}\n")).unwrap();
        std::fs::write(d.join("energy_uj"), format!("{uj}\n")).unwrap();
        std::fs::write(d.join("max_energy_range_uj"), "1000000\n").unwrap();
    }

    #[test]
    fn rapl_counts_package_domains_only() {
        let root = tempfile::tempdir().unwrap();
        domain(root.path(), "intel-rapl:0", "package-0", 100);
        domain(root.path(), "intel-rapl:1", "package-1", 50);
        // A subdomain (core, dram) is part of its package: not counted again.
        domain(root.path(), "intel-rapl:0:0", "core", 7);
        let packages = rapl_packages(root.path()).unwrap();
        let names: Vec<String> = packages.iter().map(|p| p.describe()).collect();
        assert_eq!(names, ["RAPL package-0", "RAPL package-1"]);
        assert_eq!(packages[1].read_uj().unwrap(), 50);
        assert_eq!(packages[0].range_uj(), 1_000_000);
    }

    #[test]
    fn missing_or_unreadable_counters_say_why() {
        let root = tempfile::tempdir().unwrap();
        let e = rapl_packages(&root.path().join("absent")).err().unwrap();
        assert!(e.contains("exposes none"), "{e}");
        let e = rapl_packages(root.path()).err().unwrap();
        assert!(e.contains("no RAPL package domains"), "{e}");
        domain(root.path(), "intel-rapl:0", "package-0", 1);
        std::fs::write(root.path().join("intel-rapl:0/energy_uj"), "garbage").unwrap();
        let e = rapl_packages(root.path()).err().unwrap();
        assert!(
            e.contains("not readable") && e.contains("not a number"),
            "{e}"
        );
    }

    #[test]
    fn increments_count_a_wrap() {
        assert_eq!(increment(10, 25, 100), 15);
        assert_eq!(increment(90, 5, 100), 15);
        assert_eq!(increment(7, 7, 100), 0);
    }

    /// A counter that advances 1,000 µJ per read and wraps at 2,500.
    struct Fake(AtomicU64);

    impl EnergyCounter for Fake {
        fn describe(&self) -> String {
            "fake".into()
        }
        fn read_uj(&self) -> Result<u64, String> {
            Ok(self.0.fetch_add(1000, Ordering::SeqCst) % 2500)
        }
        fn range_uj(&self) -> u64 {
            2500
        }
    }

    #[test]
    fn the_sampler_adds_increments_across_wraps() {
        let fake = Arc::new(Fake(AtomicU64::new(0)));
        let sampler = Sampler::start(vec![fake.clone()]).unwrap();
        std::thread::sleep(Duration::from_millis(1200));
        let figures = sampler.finish(4);
        let reads = fake.0.load(Ordering::SeqCst) / 1000;
        // Every read after the first adds 1,000 µJ, wrapped or not.
        let joules = (reads - 1) as f64 * 1000.0 / 1e6;
        assert_eq!(figures.joules, Some(joules));
        assert!(reads >= 3, "{reads} reads");
        assert_eq!(figures.joules_per_iteration, Some(joules / 4.0));
        assert!(figures.average_watts.unwrap() > 0.0);
        assert_eq!(figures.source, "fake");
    }
}
