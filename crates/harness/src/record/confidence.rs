//! How sure a case's figure is: a verdict from its samples, why timing
//! stopped and what else ran beside it, as a plain function.

use serde::{Deserialize, Serialize};

use crate::measure::interference::Interference;
use crate::measure::timing::{StopReason, TimingConfig};
use crate::stats::{Drift, Stats};

/// A case whose slowest block of samples has a median this much above its
/// fastest block's (and the rank test tells them apart at
/// [`UNSTEADY_P`]) was timed on a machine that changed speed.
pub const UNSTEADY_RATIO: f64 = 1.10;
pub const UNSTEADY_P: f64 = 1e-3;

/// Whether `drift` says the machine changed speed during timing.
pub fn unsteady(drift: &Drift) -> bool {
    drift.ratio > UNSTEADY_RATIO && drift.p_value < UNSTEADY_P
}

/// A CI half-width over this multiple of `--target-ci` makes a figure low
/// confidence (5% at the default 1%).
pub const WIDE_CI_MULTIPLE: f64 = 5.0;

pub const DEFINITIONS: &[(&str, &str)] = &[(
    "confidence",
    "good, or low with the reasons: fewer samples than --min-iters (the budget ran out first; with one sample there is no confidence interval), the 95% CI of the median wider than ±5x --target-ci of it, the case contended (interference), or unsteady: the median of its slowest quarter of samples, in recorded order, more than 1.10x its fastest quarter's (Mann-Whitney p < 0.001; 40 samples or more). Only good cases decide a fastest backend; compare calls a change beside a contended or unsteady side inconclusive",
)];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Good,
    Low,
}

/// The verdict on one case's figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confidence {
    pub level: Level,
    /// Why it is low; empty when good.
    pub reasons: Vec<String>,
}

impl Confidence {
    pub fn is_good(&self) -> bool {
        self.level == Level::Good
    }

    /// `good`, or `low: reason; reason`.
    pub fn summary(&self) -> String {
        match self.level {
            Level::Good => "good".into(),
            Level::Low => format!("low: {}", self.reasons.join("; ")),
        }
    }
}

/// Whether the median itself can be used to rank the case against others:
/// enough samples (at least `--min-iters`, and two for an interval) and not
/// contended. A wide CI leaves the median and its interval valid, only wide;
/// too few samples or a busy machine leave the median in doubt, in a
/// direction nobody knows.
pub fn median_usable(
    stats: &Stats,
    timing: &TimingConfig,
    interference: Option<&Interference>,
) -> bool {
    stats.n >= timing.min_iters.max(2) && !interference.is_some_and(|i| i.contended)
}

/// The verdict on a case timed under `timing` with statistics `stats`,
/// stopped for `stop` and watched by `interference` (none: not watched).
pub fn assess(
    stats: &Stats,
    stop: Option<StopReason>,
    timing: &TimingConfig,
    interference: Option<&Interference>,
    drift: Option<&Drift>,
) -> Confidence {
    let mut reasons = Vec::new();
    let n = stats.n;
    let no_ci = if n < 2 {
        " (one sample: no confidence interval)"
    } else {
        ""
    };
    if n < timing.min_iters {
        let why = match stop {
            Some(StopReason::Budget) | None => {
                format!("the {} s budget ran out first", timing.budget_s)
            }
            Some(StopReason::MaxIters) => format!("--max-iters {}", timing.max_iters),
            Some(StopReason::Converged) => "it converged early".into(),
        };
        reasons.push(format!(
            "{n} sample{}, fewer than --min-iters {}: {why}{no_ci}",
            if n == 1 { "" } else { "s" },
            timing.min_iters
        ));
    } else if n < 2 {
        reasons.push("one sample: no confidence interval".into());
    }
    if let Some(width) = stats.relative_ci_half_width() {
        let limit = WIDE_CI_MULTIPLE * timing.target_rel_ci;
        if width > limit {
            reasons.push(format!(
                "95% CI ±{:.1}% of the median, wider than {WIDE_CI_MULTIPLE}x --target-ci {}% (±{:.1}%)",
                width * 100.0,
                timing.target_rel_ci * 100.0,
                limit * 100.0
            ));
        }
    }
    if let Some(i) = interference.filter(|i| i.contended) {
        reasons.push(format!("contended: {}", i.reasons.join("; ")));
    }
    if let Some(d) = drift.filter(|d| unsteady(d)) {
        reasons.push(unsteady_reason(d));
    }
    Confidence {
        level: if reasons.is_empty() {
            Level::Good
        } else {
            Level::Low
        },
        reasons,
    }
}

/// What an unsteady case's reason says.
pub fn unsteady_reason(d: &Drift) -> String {
    format!(
        "unsteady: the median moved from {} to {} ({:.2}x) between quarters of the timed samples; the machine changed speed",
        ditbench_core::util::units::format_seconds(d.fastest_block_s),
        ditbench_core::util::units::format_seconds(d.slowest_block_s),
        d.ratio
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::interference::{CONTENDED_SHARE, CpuInterference, Reading};
    use crate::stats::summarize;

    fn timing() -> TimingConfig {
        TimingConfig::default()
    }

    #[test]
    fn enough_tight_samples_are_good() {
        let s = summarize(&[1.0, 1.001, 0.999, 1.0, 1.0, 1.002, 0.998]);
        let c = assess(&s, Some(StopReason::Converged), &timing(), None, None);
        assert!(c.is_good(), "{c:?}");
        assert_eq!(c.summary(), "good");
    }

    #[test]
    fn one_sample_from_a_spent_budget_is_low_and_says_there_is_no_ci() {
        let s = summarize(&[3.3]);
        assert_eq!(s.relative_ci_half_width(), None);
        let c = assess(&s, Some(StopReason::Budget), &timing(), None, None);
        assert_eq!(c.level, Level::Low);
        assert_eq!(
            c.reasons,
            [
                "1 sample, fewer than --min-iters 5: the 8 s budget ran out first (one sample: no confidence interval)"
            ]
        );
        // One sample asked for is still no interval.
        let one = TimingConfig {
            min_iters: 1,
            ..timing()
        };
        let c = assess(&s, Some(StopReason::Converged), &one, None, None);
        assert_eq!(c.reasons, ["one sample: no confidence interval"]);
    }

    #[test]
    fn a_wide_ci_is_low() {
        let s = summarize(&[1.0, 1.5, 0.7, 1.2, 0.9, 1.4, 0.8]);
        let c = assess(&s, Some(StopReason::Budget), &timing(), None, None);
        assert_eq!(c.level, Level::Low);
        assert!(
            c.reasons[0].contains("wider than 5x --target-ci 1%"),
            "{c:?}"
        );
    }

    #[test]
    fn a_contended_case_is_low_with_the_interference_reason() {
        let s = summarize(&[1.0, 1.0, 1.0, 1.0, 1.0]);
        let cpu = CpuInterference {
            wall_s: 1.0,
            cpus: vec![0, 1],
            pinned: false,
            asked_cpus: 2,
            own_cpus: 1.0,
            others_cpus: 1.9,
            steal_cpus: 0.0,
            taken_cpus: 1.9,
            share: 0.95,
            load_average_1m: None,
            mhz: None,
        };
        let i = Interference::from_readings(vec![Ok(Reading::Cpu(cpu))], CONTENDED_SHARE);
        let c = assess(&s, Some(StopReason::Converged), &timing(), Some(&i), None);
        assert!(!median_usable(&s, &timing(), Some(&i)));
        assert_eq!(c.level, Level::Low);
        assert!(
            c.reasons[0].starts_with("contended: others took 1.90"),
            "{c:?}"
        );
    }

    #[test]
    fn a_case_whose_level_moved_while_timed_is_unsteady() {
        // 2.0 ms for the first half of the samples, then 3.0 ms.
        let samples: Vec<f64> = (0..200)
            .map(|i| if i < 100 { 2e-3 } else { 3e-3 } * (1.0 + (i % 7) as f64 * 1e-3))
            .collect();
        let s = summarize(&samples);
        let d = crate::stats::drift(&samples).unwrap();
        assert!(unsteady(&d));
        let c = assess(&s, Some(StopReason::Converged), &timing(), None, Some(&d));
        assert_eq!(c.level, Level::Low);
        assert!(
            c.reasons
                .last()
                .unwrap()
                .starts_with("unsteady: the median moved from 2.00"),
            "{c:?}"
        );
        // A steady one is not.
        let steady: Vec<f64> = (0..200)
            .map(|i| 2e-3 * (1.0 + (i % 7) as f64 * 1e-3))
            .collect();
        assert!(!unsteady(&crate::stats::drift(&steady).unwrap()));
    }
}
