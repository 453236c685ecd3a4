//! What an NVIDIA GPU did while a case was timed, read through NVML in a
//! sampler thread: board power, the total-energy counter, this process's
//! device memory, utilization, SM and memory clocks, throttle reasons, and
//! other processes on the device.
//!
//! NVML (`libnvidia-ml.so`) is loaded at run time by nvml-wrapper: a build
//! without a GPU, or a machine without the driver, runs the same binary and
//! records why there are no figures. The sampler reads a [`GpuSource`], so
//! its logic is tested against a fake source on any machine.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::measure::energy::EnergyCounter;

pub const DEFINITIONS: &[(&str, &str)] = &[(
    "gpu",
    "NVML readings of the case's GPU during the timed iterations, every 100 ms and at both ends: average_watts and peak_watts of board power; joules (from the total-energy counter's increase) and joules_per_iteration; peak_process_memory_bytes = the most device memory NVML attributed to the worker process (the common figure beside each framework's own); mean_gpu_utilization_pct and mean_memory_utilization_pct (NVML's share of time a kernel ran / memory was busy); SM and memory clocks (min, median, max MHz); throttle_reasons with the share of readings each was active in (idle and application-clock settings excluded); max_other_processes = the most other compute processes seen on the device; unavailable says why there are no readings",
)];

/// One NVML reading; a field NVML could not give is `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GpuReading {
    pub power_mw: Option<u32>,
    /// The total-energy counter since the driver loaded, millijoules.
    pub energy_mj: Option<u64>,
    /// Device memory NVML attributes to this process.
    pub process_memory_bytes: Option<u64>,
    pub gpu_utilization_pct: Option<u32>,
    pub memory_utilization_pct: Option<u32>,
    pub sm_clock_mhz: Option<u32>,
    pub memory_clock_mhz: Option<u32>,
    /// Active clock-throttle reasons, by NVML's names.
    pub throttle_reasons: Vec<String>,
    /// Compute processes on the device other than this one.
    pub other_processes: Option<u32>,
}

/// A GPU to read.
pub trait GpuSource: Send + Sync {
    /// The device, e.g. `NVIDIA H200 (NVML device 0)`.
    fn describe(&self) -> String;
    fn read(&self) -> Result<GpuReading, String>;
}

/// Clock readings in MHz.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClockRange {
    pub min_mhz: u32,
    pub median_mhz: u32,
    pub max_mhz: u32,
}

/// One throttle reason and the share of readings it was active in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Throttle {
    pub reason: String,
    pub share: f64,
}

/// A case's GPU figures; see [`DEFINITIONS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuFigures {
    pub source: String,
    pub readings: usize,
    pub average_watts: Option<f64>,
    pub peak_watts: Option<f64>,
    pub joules: Option<f64>,
    pub joules_per_iteration: Option<f64>,
    pub peak_process_memory_bytes: Option<u64>,
    pub mean_gpu_utilization_pct: Option<f64>,
    pub mean_memory_utilization_pct: Option<f64>,
    pub sm_clock: Option<ClockRange>,
    pub memory_clock: Option<ClockRange>,
    pub throttle_reasons: Vec<Throttle>,
    pub max_other_processes: Option<u32>,
    pub unavailable: Option<String>,
}

impl GpuFigures {
    pub fn unavailable(why: String) -> Self {
        GpuFigures {
            source: "none".into(),
            readings: 0,
            average_watts: None,
            peak_watts: None,
            joules: None,
            joules_per_iteration: None,
            peak_process_memory_bytes: None,
            mean_gpu_utilization_pct: None,
            mean_memory_utilization_pct: None,
            sm_clock: None,
            memory_clock: None,
            throttle_reasons: Vec::new(),
            max_other_processes: None,
            unavailable: Some(why),
        }
    }
}

/// Throttle reasons that say nothing about a busy GPU.
const BENIGN_THROTTLES: [&str; 2] = ["GPU_IDLE", "APPLICATIONS_CLOCKS_SETTING"];

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

fn clock_range(values: impl Iterator<Item = Option<u32>>) -> Option<ClockRange> {
    let mut v: Vec<u32> = values.flatten().collect();
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    Some(ClockRange {
        min_mhz: v[0],
        median_mhz: v[v.len() / 2],
        max_mhz: v[v.len() - 1],
    })
}

/// The figures of `readings` taken over `seconds` of `iterations` timed
/// iterations. Energy comes from the counter's increase between the first
/// and last readings that have it; where the counter is missing, from the
/// mean power times the time.
pub fn summarize(
    source: &str,
    readings: &[GpuReading],
    iterations: usize,
    seconds: f64,
) -> GpuFigures {
    if readings.is_empty() {
        return GpuFigures::unavailable("no NVML reading succeeded while timing".into());
    }
    let watts: Vec<f64> = readings
        .iter()
        .filter_map(|r| r.power_mw)
        .map(|mw| f64::from(mw) / 1000.0)
        .collect();
    let energy: Vec<u64> = readings.iter().filter_map(|r| r.energy_mj).collect();
    let joules = match (energy.first(), energy.last()) {
        (Some(&first), Some(&last)) if energy.len() >= 2 => {
            Some(last.saturating_sub(first) as f64 / 1000.0)
        }
        _ => mean(&watts).map(|w| w * seconds),
    };
    let pct = |f: fn(&GpuReading) -> Option<u32>| -> Option<f64> {
        mean(
            &readings
                .iter()
                .filter_map(f)
                .map(f64::from)
                .collect::<Vec<_>>(),
        )
    };
    let mut reasons: Vec<String> = readings
        .iter()
        .flat_map(|r| r.throttle_reasons.iter().cloned())
        .filter(|r| !BENIGN_THROTTLES.contains(&r.as_str()))
        .collect();
    reasons.sort();
    reasons.dedup();
    let throttle_reasons = reasons
        .into_iter()
        .map(|reason| {
            let active = readings
                .iter()
                .filter(|r| r.throttle_reasons.contains(&reason))
                .count();
            Throttle {
                reason,
                share: active as f64 / readings.len() as f64,
            }
        })
        .collect();
    GpuFigures {
        source: source.to_string(),
        readings: readings.len(),
        average_watts: mean(&watts),
        peak_watts: watts.iter().copied().reduce(f64::max),
        joules,
        joules_per_iteration: joules
            .filter(|_| iterations > 0)
            .map(|j| j / iterations as f64),
        peak_process_memory_bytes: readings.iter().filter_map(|r| r.process_memory_bytes).max(),
        mean_gpu_utilization_pct: pct(|r| r.gpu_utilization_pct),
        mean_memory_utilization_pct: pct(|r| r.memory_utilization_pct),
        sm_clock: clock_range(readings.iter().map(|r| r.sm_clock_mhz)),
        memory_clock: clock_range(readings.iter().map(|r| r.memory_clock_mhz)),
        throttle_reasons,
        max_other_processes: readings.iter().filter_map(|r| r.other_processes).max(),
        unavailable: None,
    }
}

/// Reads a [`GpuSource`] every `period` in a thread while timed iterations
/// run, and once at each end.
pub struct GpuSampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<GpuReading>>,
    started: Instant,
    source: String,
}

/// How often the sampler reads NVML (its power reading averages about as long).
pub const PERIOD: Duration = Duration::from_millis(100);

impl GpuSampler {
    /// Start reading; the first reading must succeed.
    pub fn start(source: Arc<dyn GpuSource>, period: Duration) -> Result<Self, String> {
        let first = source.read()?;
        let describe = source.describe();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut readings = vec![first];
            loop {
                let done = flag.load(Ordering::Acquire);
                // A failed reading is skipped; the others still count.
                if let Ok(r) = source.read() {
                    readings.push(r);
                }
                if done {
                    return readings;
                }
                let until = Instant::now() + period;
                while Instant::now() < until && !flag.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(10).min(period));
                }
            }
        });
        Ok(GpuSampler {
            stop,
            handle,
            started: Instant::now(),
            source: describe,
        })
    }

    /// Stop, read once more, and summarize `iterations` timed iterations.
    pub fn finish(self, iterations: usize) -> GpuFigures {
        let seconds = self.started.elapsed().as_secs_f64();
        self.stop.store(true, Ordering::Release);
        match self.handle.join() {
            Ok(readings) => summarize(&self.source, &readings, iterations, seconds),
            Err(_) => GpuFigures::unavailable("the GPU sampler panicked".into()),
        }
    }
}

/// The NVML source and energy counter of CUDA device `index` for this
/// process, or why there is none.
pub fn nvml_device(index: usize) -> Result<Arc<NvmlDevice>, String> {
    let nvml = nvml_wrapper::Nvml::init().map_err(|e| {
        format!("NVML is not available ({e}): no NVIDIA driver library on this machine")
    })?;
    let index = u32::try_from(index).map_err(|_| format!("no CUDA device {index}"))?;
    let name = nvml
        .device_by_index(index)
        .and_then(|d| d.name())
        .map_err(|e| format!("NVML device {index}: {e}"))?;
    Ok(Arc::new(NvmlDevice {
        nvml,
        index,
        name,
        pid: std::process::id(),
    }))
}

/// One NVIDIA GPU through NVML. Device handles borrow the library, so each
/// reading asks for its device again (a table lookup in the driver).
///
/// CUDA's device numbering follows `CUDA_VISIBLE_DEVICES` and, by default,
/// speed; NVML's follows the PCI bus. They agree on a machine with one GPU
/// or with `CUDA_DEVICE_ORDER=PCI_BUS_ID`, which the results then record.
pub struct NvmlDevice {
    nvml: nvml_wrapper::Nvml,
    index: u32,
    name: String,
    pid: u32,
}

impl GpuSource for NvmlDevice {
    fn describe(&self) -> String {
        format!("{} (NVML device {})", self.name, self.index)
    }

    fn read(&self) -> Result<GpuReading, String> {
        use nvml_wrapper::enum_wrappers::device::Clock;
        use nvml_wrapper::enums::device::UsedGpuMemory;
        let device = self
            .nvml
            .device_by_index(self.index)
            .map_err(|e| format!("NVML device {}: {e}", self.index))?;
        let processes = device.running_compute_processes().ok();
        let mine = processes.as_ref().map(|ps| {
            ps.iter()
                .filter(|p| p.pid == self.pid)
                .map(|p| match p.used_gpu_memory {
                    UsedGpuMemory::Used(bytes) => bytes,
                    UsedGpuMemory::Unavailable => 0,
                })
                .sum::<u64>()
        });
        let utilization = device.utilization_rates().ok();
        Ok(GpuReading {
            power_mw: device.power_usage().ok(),
            energy_mj: device.total_energy_consumption().ok(),
            process_memory_bytes: mine,
            gpu_utilization_pct: utilization.as_ref().map(|u| u.gpu),
            memory_utilization_pct: utilization.as_ref().map(|u| u.memory),
            sm_clock_mhz: device.clock_info(Clock::SM).ok(),
            memory_clock_mhz: device.clock_info(Clock::Memory).ok(),
            throttle_reasons: device
                .current_throttle_reasons()
                .map(|r| r.iter_names().map(|(n, _)| n.to_string()).collect())
                .unwrap_or_default(),
            other_processes: processes
                .map(|ps| ps.iter().filter(|p| p.pid != self.pid).count() as u32),
        })
    }
}

/// NVML's total-energy counter (millijoules since the driver loaded) as an
/// [`EnergyCounter`], so a GPU case's energy has the CPU's definition.
impl EnergyCounter for NvmlDevice {
    fn describe(&self) -> String {
        format!("NVML total energy of {}", GpuSource::describe(self))
    }

    fn read_uj(&self) -> Result<u64, String> {
        let device = self
            .nvml
            .device_by_index(self.index)
            .map_err(|e| format!("NVML device {}: {e}", self.index))?;
        device
            .total_energy_consumption()
            .map(|mj| mj.saturating_mul(1000))
            .map_err(|e| format!("NVML total energy: {e} (Volta or newer is needed)"))
    }

    fn range_uj(&self) -> u64 {
        u64::MAX
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn reading(power_w: u32, energy_j: u64, memory_mib: u64, sm: u32) -> GpuReading {
        GpuReading {
            power_mw: Some(power_w * 1000),
            energy_mj: Some(energy_j * 1000),
            process_memory_bytes: Some(memory_mib << 20),
            gpu_utilization_pct: Some(90),
            memory_utilization_pct: Some(40),
            sm_clock_mhz: Some(sm),
            memory_clock_mhz: Some(2619),
            throttle_reasons: Vec::new(),
            other_processes: Some(0),
        }
    }

    #[test]
    fn figures_come_from_the_energy_counter_power_and_peaks() {
        let mut readings = vec![
            reading(300, 1000, 512, 1980),
            reading(700, 1100, 4096, 1755),
            reading(500, 1250, 2048, 1830),
        ];
        readings[1].throttle_reasons = vec!["SW_POWER_CAP".into(), "GPU_IDLE".into()];
        readings[2].throttle_reasons = vec!["SW_POWER_CAP".into()];
        readings[2].other_processes = Some(2);
        let f = summarize("fake", &readings, 10, 0.5);
        assert_eq!(f.readings, 3);
        assert_eq!(f.average_watts, Some(500.0));
        assert_eq!(f.peak_watts, Some(700.0));
        assert_eq!(
            f.joules,
            Some(250.0),
            "the counter's increase, not power x time"
        );
        assert_eq!(f.joules_per_iteration, Some(25.0));
        assert_eq!(f.peak_process_memory_bytes, Some(4096 << 20));
        assert_eq!(f.mean_gpu_utilization_pct, Some(90.0));
        assert_eq!(
            f.sm_clock,
            Some(ClockRange {
                min_mhz: 1755,
                median_mhz: 1830,
                max_mhz: 1980
            })
        );
        // Idle is no throttle; the power cap was active in two of three.
        assert_eq!(f.throttle_reasons.len(), 1);
        assert_eq!(f.throttle_reasons[0].reason, "SW_POWER_CAP");
        assert!((f.throttle_reasons[0].share - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(f.max_other_processes, Some(2));
        assert_eq!(f.unavailable, None);
    }

    #[test]
    fn without_the_counter_energy_is_mean_power_times_time_and_gaps_stay_gaps() {
        let mut readings = vec![reading(200, 0, 0, 0), reading(400, 0, 0, 0)];
        for r in &mut readings {
            r.energy_mj = None;
            r.sm_clock_mhz = None;
            r.process_memory_bytes = None;
        }
        let f = summarize("fake", &readings, 0, 2.0);
        assert_eq!(f.joules, Some(600.0));
        assert_eq!(
            f.joules_per_iteration, None,
            "no iterations, no per-iteration figure"
        );
        assert_eq!(f.sm_clock, None);
        assert_eq!(f.peak_process_memory_bytes, None);
        let none = summarize("fake", &[], 5, 1.0);
        assert!(none.unavailable.unwrap().contains("no NVML reading"));
    }

    /// A GPU whose power climbs 100 W and energy 10 J per reading, one of
    /// which fails.
    struct FakeGpu {
        reads: Mutex<u32>,
    }

    impl GpuSource for FakeGpu {
        fn describe(&self) -> String {
            "fake GPU".into()
        }
        fn read(&self) -> Result<GpuReading, String> {
            let mut n = self.reads.lock().unwrap();
            *n += 1;
            if *n == 2 {
                return Err("transient".into());
            }
            Ok(reading(100 * *n, 10 * u64::from(*n), 64, 1500))
        }
    }

    #[test]
    fn the_sampler_reads_until_stopped_and_skips_failed_readings() {
        let fake = Arc::new(FakeGpu {
            reads: Mutex::new(0),
        });
        let sampler = GpuSampler::start(fake.clone(), Duration::from_millis(20)).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let f = sampler.finish(4);
        let reads = *fake.reads.lock().unwrap();
        assert!(reads >= 5, "{reads} reads");
        assert_eq!(f.readings as u32, reads - 1, "the failed one is skipped");
        assert_eq!(f.source, "fake GPU");
        // The counter went from 10 J (first) to 10 * reads J (last).
        assert_eq!(f.joules, Some(f64::from(10 * reads - 10)));
        assert_eq!(f.peak_watts, Some(f64::from(100 * reads)));
    }

    #[test]
    fn nvml_says_why_it_is_missing() {
        // On a machine with an NVIDIA driver this finds the GPU instead.
        match nvml_device(0) {
            Ok(d) => assert!(GpuSource::describe(d.as_ref()).contains("NVML device 0")),
            Err(why) => assert!(why.contains("NVML"), "{why}"),
        }
    }
}
