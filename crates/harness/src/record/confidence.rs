//! How sure a case's figure is: a verdict from its samples, why timing
//! stopped and what else ran beside it, as a plain function.

use serde::{Deserialize, Serialize};

use crate::measure::interference::Interference;
use crate::measure::timing::{StopReason, TimingConfig};
use crate::stats::Stats;

/// A CI half-width over this multiple of `--target-ci` makes a figure low
/// confidence (5% at the default 1%).
pub const WIDE_CI_MULTIPLE: f64 = 5.0;

pub const DEFINITIONS: &[(&str, &str)] = &[(
    "confidence",
    "good, or low with the reasons: fewer samples than --min-iters (the budget ran out first; with one sample there is no confidence interval), the 95% CI of the median wider than ±5x --target-ci of it, or the case contended (interference). Only good cases decide a fastest backend or a compare verdict",
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
    Confidence {
        level: if reasons.is_empty() {
            Level::Good
        } else {
            Level::Low
        },
        reasons,
    }
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
        let c = assess(&s, Some(StopReason::Converged), &timing(), None);
        assert!(c.is_good(), "{c:?}");
        assert_eq!(c.summary(), "good");
    }

    #[test]
    fn one_sample_from_a_spent_budget_is_low_and_says_there_is_no_ci() {
        let s = summarize(&[3.3]);
        assert_eq!(s.relative_ci_half_width(), None);
        let c = assess(&s, Some(StopReason::Budget), &timing(), None);
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
        let c = assess(&s, Some(StopReason::Converged), &one, None);
        assert_eq!(c.reasons, ["one sample: no confidence interval"]);
    }

    #[test]
    fn a_wide_ci_is_low() {
        let s = summarize(&[1.0, 1.5, 0.7, 1.2, 0.9, 1.4, 0.8]);
        let c = assess(&s, Some(StopReason::Budget), &timing(), None);
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
        let c = assess(&s, Some(StopReason::Converged), &timing(), Some(&i));
        assert!(!median_usable(&s, &timing(), Some(&i)));
        assert_eq!(c.level, Level::Low);
        assert!(
            c.reasons[0].starts_with("contended: others took 1.90"),
            "{c:?}"
        );
    }
}
