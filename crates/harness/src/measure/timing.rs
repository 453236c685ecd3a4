//! Timing one prepared case: warm up, then iterate with the device
//! synchronized around each iteration until the median is known well enough.
//! Runs inside the worker; the parent only reads the [`Measurement`].

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::measure::energy::{EnergyCounter, EnergyFigures, Sampler};
use crate::measure::gpu::{self, GpuFigures, GpuSampler, GpuSource};
use crate::measure::interference::{CONTENDED_SHARE, Interference, InterferenceProbe};
use crate::stats;
use ditbench_core::compute::backend::PreparedCase;
use ditbench_core::machine::threads::{self, ThreadActivity, ThreadTimes};

/// How long and how often a case is timed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimingConfig {
    /// Warm-up iterations at least (excluded from every figure).
    pub warmup_iters: usize,
    /// Warm-up seconds at least (capped at a quarter of the budget).
    pub warmup_s: f64,
    /// Timed iterations at least, unless the budget runs out first.
    pub min_iters: usize,
    /// Timed seconds at least before convergence may stop timing.
    pub min_time_s: f64,
    /// Timed iterations at most.
    pub max_iters: usize,
    /// Seconds of warm-up plus timing per case, at most (model build excluded).
    pub budget_s: f64,
    /// Stop once the 95% CI of the median is within ± this fraction of it.
    pub target_rel_ci: f64,
}

impl Default for TimingConfig {
    fn default() -> Self {
        TimingConfig {
            warmup_iters: 1,
            warmup_s: 0.2,
            min_iters: 5,
            min_time_s: 1.0,
            max_iters: 100_000,
            budget_s: 8.0,
            target_rel_ci: 0.01,
        }
    }
}

impl TimingConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.min_iters == 0 || self.max_iters < self.min_iters {
            return Err("min-iters must be at least 1 and at most max-iters".into());
        }
        let seconds = |x: f64| x >= 0.0 && x.is_finite();
        if !(self.budget_s > 0.0 && seconds(self.budget_s)) {
            return Err(format!(
                "--budget must be a positive, finite number of seconds, got {}",
                self.budget_s
            ));
        }
        if !(seconds(self.min_time_s) && seconds(self.warmup_s)) {
            return Err(format!(
                "--min-time and --warmup-time must be finite, non-negative numbers of seconds, got {} and {}",
                self.min_time_s, self.warmup_s
            ));
        }
        if !(self.target_rel_ci > 0.0 && self.target_rel_ci < 1.0) {
            return Err(format!(
                "--target-ci must be a percentage above 0 and below 100 (e.g. 1 for ±1%), got {}",
                self.target_rel_ci * 100.0
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    Converged,
    Budget,
    MaxIters,
}

/// Raw timings of one case.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub warmup_samples_s: Vec<f64>,
    pub samples_s: Vec<f64>,
    pub forward_s: Vec<f64>,
    pub backward_s: Vec<f64>,
    pub stop_reason: Option<StopReason>,
    /// What the worker's threads ran during the timed iterations.
    #[serde(default)]
    pub threads: Option<ThreadActivity>,
    /// Energy of the timed iterations, or why it was not measured; `None`
    /// when not asked for.
    #[serde(default)]
    pub energy: Option<EnergyFigures>,
    /// What else the machine did during the timed iterations; `None` when
    /// no probe was given.
    #[serde(default)]
    pub interference: Option<Interference>,
    /// NVML readings of the case's GPU; `None` for CPU cases.
    #[serde(default)]
    pub gpu: Option<GpuFigures>,
}

/// What is watched while a case is timed, beside the clock.
#[derive(Default)]
pub struct Instruments {
    /// Energy counters (or why there are none); `None`: not asked for.
    pub energy: Option<Result<Vec<Arc<dyn EnergyCounter>>, String>>,
    /// Probes of what else uses the resources the case asked for.
    pub interference: Vec<Box<dyn InterferenceProbe>>,
    /// The case's GPU, read through NVML (or why it cannot be); `None`:
    /// not a GPU case.
    pub gpu: Option<Result<Arc<dyn GpuSource>, String>>,
}

/// Resamples of the bootstrap that decides when to stop (the reported CI uses more).
const STOPPING_RESAMPLES: usize = 400;

/// Check convergence at every sample early on, then at ~5% growth steps so
/// the bootstrap never dominates fast cases.
fn check_due(n: usize) -> bool {
    n < 100 || n.is_multiple_of((n / 20).max(1))
}

/// Time `case` adaptively: warm up, then iterate with the device
/// synchronized around each iteration until the median's CI is tight
/// enough, the budget is spent or `max_iters` is reached.
pub fn measure(case: &mut dyn PreparedCase, cfg: &TimingConfig) -> Result<Measurement> {
    measure_with(case, cfg, Instruments::default())
}

/// [`measure`], reading `instruments` over the timed iterations: energy
/// counters (or why there are none) and interference probes.
pub fn measure_with(
    case: &mut dyn PreparedCase,
    cfg: &TimingConfig,
    instruments: Instruments,
) -> Result<Measurement> {
    let Instruments {
        energy,
        interference: mut probes,
        gpu,
    } = instruments;
    let start = Instant::now();
    let mut m = Measurement::default();
    case.synchronize()?;
    warm_up(case, cfg, start, &mut m.warmup_samples_s)?;
    let begun: Vec<Result<(), String>> = probes.iter_mut().map(|p| p.begin()).collect();
    let threads_before = ThreadTimes::now();
    let sampler = energy.map(|counters| counters.and_then(Sampler::start));
    let gpu_sampler = gpu.map(|source| source.and_then(|s| GpuSampler::start(s, gpu::PERIOD)));
    let timed_s = timed_loop(case, cfg, start, &mut m)?;
    if !probes.is_empty() {
        let readings = probes
            .iter_mut()
            .zip(begun)
            .map(|(p, begun)| begun.and_then(|()| p.end(timed_s)))
            .collect();
        m.interference = Some(Interference::from_readings(readings, CONTENDED_SHARE));
    }
    m.energy = sampler.map(|s| match s {
        Ok(sampler) => sampler.finish(m.samples_s.len()),
        Err(why) => EnergyFigures::unavailable(why),
    });
    m.gpu = gpu_sampler.map(|s| match s {
        Ok(sampler) => sampler.finish(m.samples_s.len()),
        Err(why) => GpuFigures::unavailable(why),
    });
    m.threads = threads_before
        .zip(ThreadTimes::now())
        .map(|(before, after)| threads::activity(&after.since(&before), timed_s));
    Ok(m)
}

/// Untimed iterations, each synchronized: at least `warmup_iters` and
/// `warmup_s`, and never past a quarter of the budget (after one).
fn warm_up(
    case: &mut dyn PreparedCase,
    cfg: &TimingConfig,
    start: Instant,
    samples: &mut Vec<f64>,
) -> Result<()> {
    loop {
        let t = Instant::now();
        case.step()?;
        case.synchronize()?;
        samples.push(t.elapsed().as_secs_f64());
        let elapsed = start.elapsed().as_secs_f64();
        // The budget bounds warm-up too: a quarter of it at most (after one
        // iteration), whatever --warmup and --warmup-time ask for.
        if elapsed >= cfg.budget_s / 4.0
            || (samples.len() >= cfg.warmup_iters && elapsed >= cfg.warmup_s)
        {
            return Ok(());
        }
    }
}

/// The timed iterations, each synchronized, until the CI converges, the
/// iteration cap or the budget (counted from `start`); their samples, the
/// forward and backward phases where every step reported both, and why
/// it stopped go into `m`. Returns the timed region's seconds.
fn timed_loop(
    case: &mut dyn PreparedCase,
    cfg: &TimingConfig,
    start: Instant,
    m: &mut Measurement,
) -> Result<f64> {
    let timed_start = Instant::now();
    let mut phases_complete = true;
    loop {
        let t = Instant::now();
        let phases = case.step()?;
        case.synchronize()?;
        m.samples_s.push(t.elapsed().as_secs_f64());
        match (phases.forward_s, phases.backward_s) {
            (Some(f), Some(b)) if phases_complete => {
                m.forward_s.push(f);
                m.backward_s.push(b);
            }
            _ => phases_complete = false,
        }
        let n = m.samples_s.len();
        if n >= cfg.max_iters {
            m.stop_reason = Some(StopReason::MaxIters);
            break;
        }
        if n >= cfg.min_iters
            && timed_start.elapsed().as_secs_f64() >= cfg.min_time_s
            && check_due(n)
            && stats::relative_ci_half_width(&m.samples_s, STOPPING_RESAMPLES) <= cfg.target_rel_ci
        {
            m.stop_reason = Some(StopReason::Converged);
            break;
        }
        if start.elapsed().as_secs_f64() >= cfg.budget_s {
            m.stop_reason = Some(StopReason::Budget);
            break;
        }
    }
    let timed_s = timed_start.elapsed().as_secs_f64();
    if !phases_complete {
        m.forward_s.clear();
        m.backward_s.clear();
    }
    Ok(timed_s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ditbench_core::compute::backend::{PassOutput, PhaseTimes};
    use ditbench_core::compute::tensors::HostTensor;
    use std::time::Duration;

    /// A fake case that sleeps a fixed time per step.
    struct Sleeper {
        step: Duration,
        steps: usize,
    }

    impl PreparedCase for Sleeper {
        fn step(&mut self) -> Result<PhaseTimes> {
            std::thread::sleep(self.step);
            self.steps += 1;
            Ok(PhaseTimes {
                forward_s: Some(self.step.as_secs_f64() / 3.0),
                backward_s: Some(self.step.as_secs_f64() * 2.0 / 3.0),
            })
        }
        fn synchronize(&self) -> Result<()> {
            Ok(())
        }
        fn output(&mut self) -> Result<PassOutput> {
            Ok(PassOutput {
                output: HostTensor::f32(vec![1], vec![0.0]),
                loss: None,
                grad_norms: vec![],
            })
        }
        fn device_name(&self) -> String {
            "test".into()
        }
        fn attention_impl(&self) -> String {
            "none".into()
        }
    }

    #[test]
    fn timing_respects_minimums_budget_and_iteration_cap() {
        let mut case = Sleeper {
            step: Duration::from_millis(2),
            steps: 0,
        };
        let cfg = TimingConfig {
            warmup_iters: 2,
            warmup_s: 0.0,
            min_iters: 5,
            min_time_s: 0.0,
            max_iters: 12,
            budget_s: 10.0,
            target_rel_ci: 1e-9,
        };
        let m = measure(&mut case, &cfg).unwrap();
        assert_eq!(m.warmup_samples_s.len(), 2);
        assert_eq!(m.samples_s.len(), 12);
        assert_eq!(m.stop_reason, Some(StopReason::MaxIters));
        assert_eq!(case.steps, 14);
        assert_eq!(m.forward_s.len(), 12);
        assert!(m.samples_s.iter().all(|&s| s >= 0.002));

        let budget = TimingConfig {
            max_iters: 1_000_000,
            budget_s: 0.1,
            ..cfg.clone()
        };
        let t = Instant::now();
        let m = measure(&mut case, &budget).unwrap();
        assert_eq!(m.stop_reason, Some(StopReason::Budget));
        // Far below the 2,000 s a million iterations would take; loose
        // enough for a loaded machine.
        assert!(t.elapsed().as_secs_f64() < 2.0);

        let converge = TimingConfig {
            max_iters: 1_000_000,
            target_rel_ci: 0.5,
            ..cfg
        };
        let m = measure(&mut case, &converge).unwrap();
        assert_eq!(m.stop_reason, Some(StopReason::Converged));
        // At the minimum of 5 on a quiet machine; a few more when the
        // scheduler stretches a 2 ms sleep (the CI is then wider).
        assert!(
            (5..=30).contains(&m.samples_s.len()),
            "{}",
            m.samples_s.len()
        );
    }

    #[test]
    fn the_budget_bounds_warm_up_too() {
        let mut case = Sleeper {
            step: Duration::from_millis(2),
            steps: 0,
        };
        let cfg = TimingConfig {
            warmup_iters: 100_000,
            warmup_s: 1e6,
            budget_s: 0.2,
            ..TimingConfig::default()
        };
        let t = Instant::now();
        let m = measure(&mut case, &cfg).unwrap();
        // 100,000 warm-up iterations would take 200 s.
        assert!(t.elapsed().as_secs_f64() < 2.0, "{:?}", t.elapsed());
        assert!(m.warmup_samples_s.len() < 1000);
        assert!(!m.samples_s.is_empty());
        assert_eq!(m.stop_reason, Some(StopReason::Budget));
    }

    #[test]
    fn timing_config_rejects_nonsense() {
        let ok = TimingConfig::default();
        assert!(ok.validate().is_ok());
        assert!(
            TimingConfig {
                min_iters: 0,
                ..ok.clone()
            }
            .validate()
            .is_err()
        );
        assert!(
            TimingConfig {
                budget_s: 0.0,
                ..ok.clone()
            }
            .validate()
            .is_err()
        );
        assert!(
            TimingConfig {
                target_rel_ci: 2.0,
                ..ok.clone()
            }
            .validate()
            .is_err()
        );
        // Non-finite times would be written as null and unreadable later.
        for bad in [f64::INFINITY, f64::NAN, -1.0] {
            for cfg in [
                TimingConfig {
                    min_time_s: bad,
                    ..ok.clone()
                },
                TimingConfig {
                    warmup_s: bad,
                    ..ok.clone()
                },
                TimingConfig {
                    budget_s: bad,
                    ..ok.clone()
                },
            ] {
                assert!(cfg.validate().unwrap_err().starts_with("--"), "{cfg:?}");
            }
        }
    }
}
