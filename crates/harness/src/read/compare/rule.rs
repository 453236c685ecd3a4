//! The gate's rule for one case: the verdict on its time from both sides'
//! raw samples, and on its peak memory.
//!
//! Time is judged by the 95% bootstrap interval of the ratio of medians
//! (candidate / baseline) against a threshold band, with the rank test as a
//! second opinion, as criterion does; there is no absolute floor beyond a
//! guard at timer resolution, so a 2x slowdown of a 40 us step counts.
//! The band is `--time-threshold` wide, or wider where the case's history
//! says two runs of it differ by more ([`super::history`]).

use serde::Serialize;

use super::history::{PeakRange, RunNoise};
use crate::stats::{bootstrap_ratio_ci, mann_whitney_p, median};

/// What counts as a regression.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Thresholds {
    /// Relative time change that matters (0.05: 5%): the band's half-width
    /// without history, and its least half-width with it.
    pub time_relative: f64,
    /// Medians closer than this never differ: a guard at the timer's
    /// resolution (a microsecond), not a size threshold.
    pub time_floor_s: f64,
    pub memory_relative: f64,
    pub memory_floor_bytes: u64,
    /// Significance level of the Mann-Whitney test.
    pub alpha: f64,
    /// With history, the band's half-width is this many run-to-run
    /// standard deviations of the log ratio of two runs.
    pub history_z: f64,
    /// Earlier runs of a case needed before its band comes from history.
    pub history_min_runs: usize,
    /// The latest runs of a case that its band looks back on.
    pub history_lookback: usize,
}

/// The committed defaults, chosen from the gate study on a 2-core VM
/// (docs/ci-and-clusters.md, "How well the gate works").
impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            time_relative: 0.05,
            time_floor_s: 1e-6,
            memory_relative: 0.05,
            memory_floor_bytes: 16 << 20,
            alpha: 0.05,
            history_z: 4.0,
            history_min_runs: 5,
            history_lookback: 30,
        }
    }
}

impl Thresholds {
    /// The ratios (candidate / baseline) a case's time counts as unchanged
    /// within, for a baseline median of `baseline_s`. Without history:
    /// 1 / (1 + t) to 1 + t. With it, the widest of that; z run-to-run
    /// standard deviations of the ratio of two runs (each run's median
    /// varies by `spread`, so their log ratio by sqrt(2) x `spread`), but
    /// never more than the slowest over the fastest earlier run; and the
    /// slowest and fastest earlier run relative to the baseline, t beyond
    /// them. A machine with two speeds (a bimodal case) puts its runs in
    /// two clusters: the envelope covers both, and a spread measured
    /// across them (libtorch's wan-tiny train step at 3.4 and 6.6 ms: 45%)
    /// would otherwise make a band of 12x.
    pub fn band(&self, noise: Option<&RunNoise>, baseline_s: f64) -> [f64; 2] {
        let t = 1.0 + self.time_relative;
        let Some(n) = noise else {
            return [1.0 / t, t];
        };
        let range = (n.slowest_s / n.fastest_s).max(1.0);
        let z = (self.history_z * std::f64::consts::SQRT_2 * n.spread)
            .exp()
            .min(range);
        [
            (1.0 / t).min(1.0 / z).min(n.fastest_s / baseline_s / t),
            t.max(z).max(n.slowest_s / baseline_s * t),
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Regression,
    Improvement,
    Unchanged,
    /// The case cannot be judged (see [`TimeChange::inconclusive`]).
    Inconclusive,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Regression => "regression",
            Verdict::Improvement => "improvement",
            Verdict::Unchanged => "unchanged",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// Which rule decided a case's time verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The ratio's 95% interval against `--time-threshold` (no history of
    /// the case: run-to-run noise is not accounted for).
    Interval,
    /// The ratio's 95% interval against the band from the case's own
    /// run-to-run spread in the history.
    HistoryBand,
    /// The interval reaches past the band but the rank test finds no
    /// difference between the samples (p at or above alpha).
    RankTest,
    /// The medians differ by less than the timer-resolution floor.
    TimerFloor,
    /// Too few samples for the rank test to reach alpha whatever the data.
    TooFewSamples,
    /// A change beside a contended side: it may be the machine's.
    Contended,
    /// The interval against the band widened by an unsteady side's drift:
    /// its level moved that much while it was timed, so no smaller change
    /// can be told from the machine's.
    Unsteady,
}

impl Rule {
    pub fn name(self) -> &'static str {
        match self {
            Rule::Interval => "interval",
            Rule::HistoryBand => "history band",
            Rule::RankTest => "rank test",
            Rule::TimerFloor => "timer floor",
            Rule::TooFewSamples => "too few samples",
            Rule::Contended => "contended",
            Rule::Unsteady => "unsteady",
        }
    }
}

/// The time of one case in both runs.
#[derive(Debug, Clone, Serialize)]
pub struct TimeChange {
    pub baseline_median_s: f64,
    pub candidate_median_s: f64,
    /// candidate median / baseline median (above 1: slower).
    pub ratio: f64,
    /// 95% bootstrap confidence interval of `ratio`.
    pub ratio_ci95: [f64; 2],
    /// Two-sided Mann-Whitney U p-value.
    pub p_value: f64,
    pub verdict: Verdict,
    /// Which rule decided.
    pub rule: Rule,
    /// The ratios the case counts as unchanged within ([`Thresholds::band`]):
    /// a regression lies above the upper edge, an improvement below the lower.
    pub band: [f64; 2],
    /// The case's run-to-run noise from the history, when it had enough runs.
    pub run_noise: Option<RunNoise>,
    /// Why the case cannot be judged; empty when it can.
    pub inconclusive: Vec<String>,
}

/// Samples per side that the rank test and the bootstrap use at most: a
/// hostile or huge file (10 million samples) would otherwise take minutes.
/// Beyond it every k-th sample in recorded order is used, spanning the run.
pub const MAX_COMPARED_SAMPLES: usize = 20_000;

/// At most [`MAX_COMPARED_SAMPLES`] of `samples`, evenly strided.
pub fn thinned(samples: &[f64]) -> std::borrow::Cow<'_, [f64]> {
    if samples.len() <= MAX_COMPARED_SAMPLES {
        return std::borrow::Cow::Borrowed(samples);
    }
    let stride = samples.len().div_ceil(MAX_COMPARED_SAMPLES);
    std::borrow::Cow::Owned(samples.iter().step_by(stride).copied().collect())
}

/// The smallest two-sided p-value the exact Mann-Whitney test can give
/// samples of `n1` and `n2`: both orderings of completely separated
/// samples, 2 / C(n1 + n2, n1). At or above `alpha`, no data can be significant.
pub fn smallest_p(n1: usize, n2: usize) -> f64 {
    let (n, k) = (n1 + n2, n1.min(n2));
    // C(n, k) as a running product; it only needs to be compared with 2 / alpha.
    let mut ways = 1.0f64;
    for i in 0..k {
        ways = ways * (n - i) as f64 / (i + 1) as f64;
        if ways > 1e12 {
            break;
        }
    }
    (2.0 / ways).min(1.0)
}

/// What two sides' samples say about a case's time, before any band.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    pub baseline_median_s: f64,
    pub candidate_median_s: f64,
    /// 95% bootstrap interval of candidate / baseline median.
    pub ratio_ci95: [f64; 2],
    /// Two-sided Mann-Whitney U p-value.
    pub p_value: f64,
    /// Samples on each side.
    pub samples: [usize; 2],
}

impl Evidence {
    /// The medians, the ratio's interval and the rank test of `base` and
    /// `cand` (each thinned to [`MAX_COMPARED_SAMPLES`]).
    pub fn measure(base: &[f64], cand: &[f64]) -> Evidence {
        let (tb, tc) = (thinned(base), thinned(cand));
        Evidence {
            baseline_median_s: median(base),
            candidate_median_s: median(cand),
            ratio_ci95: bootstrap_ratio_ci(&tb, &tc, 2000, 0),
            p_value: mann_whitney_p(&tb, &tc),
            samples: [base.len(), cand.len()],
        }
    }

    /// This evidence had every candidate sample been `factor` times longer
    /// (`cand` are the original samples): the candidate's median and the
    /// interval scale with it, since the bootstrap draws the same resamples
    /// whatever the values; the rank test runs again. What the gate study
    /// injects, without a bootstrap per factor.
    pub fn slowed(&self, base: &[f64], cand: &[f64], factor: f64) -> Evidence {
        let scaled: Vec<f64> = thinned(cand).iter().map(|x| x * factor).collect();
        Evidence {
            candidate_median_s: self.candidate_median_s * factor,
            ratio_ci95: self.ratio_ci95.map(|x| x * factor),
            p_value: mann_whitney_p(&thinned(base), &scaled),
            ..self.clone()
        }
    }
}

/// The gate's verdict on one case's time, baseline samples against
/// candidate samples: see [`judge`].
pub fn time_change(
    base: &[f64],
    cand: &[f64],
    t: &Thresholds,
    noise: Option<&RunNoise>,
    drift: Option<f64>,
) -> TimeChange {
    judge(&Evidence::measure(base, cand), t, noise, drift)
}

/// The verdict on `e`, judged against the band `noise` gives (see
/// [`Thresholds::band`]), widened by `drift` (the larger slowest/fastest
/// quarter ratio of an unsteady side) when there is one. Contention is
/// judged by the caller, which knows it.
pub fn judge(
    e: &Evidence,
    t: &Thresholds,
    noise: Option<&RunNoise>,
    drift: Option<f64>,
) -> TimeChange {
    let (mb, mc) = (e.baseline_median_s, e.candidate_median_s);
    let mut band = t.band(noise, mb);
    if let Some(d) = drift {
        band = [band[0] / d, band[1] * d];
    }
    let mut change = TimeChange {
        baseline_median_s: mb,
        candidate_median_s: mc,
        ratio: mc / mb,
        ratio_ci95: e.ratio_ci95,
        p_value: e.p_value,
        verdict: Verdict::Unchanged,
        rule: match (drift, noise) {
            (Some(_), _) => Rule::Unsteady,
            (None, Some(_)) => Rule::HistoryBand,
            (None, None) => Rule::Interval,
        },
        band,
        run_noise: noise.cloned(),
        inconclusive: Vec::new(),
    };
    let [nb, nc] = e.samples;
    let least_p = smallest_p(nb, nc);
    let [down, up] = band;
    let [lo, hi] = e.ratio_ci95;
    let significant = e.p_value < t.alpha;
    if least_p >= t.alpha {
        change.verdict = Verdict::Inconclusive;
        change.rule = Rule::TooFewSamples;
        change.inconclusive.push(format!(
            "too few samples ({nb} and {nc}): the smallest p they can give is {least_p:.3}, not below --alpha {}",
            t.alpha
        ));
    } else if (mc - mb).abs() <= t.time_floor_s {
        change.rule = Rule::TimerFloor;
    } else if significant && lo > up {
        change.verdict = Verdict::Regression;
    } else if significant && hi < down {
        change.verdict = Verdict::Improvement;
    } else if lo >= down && hi <= up {
        // Unchanged by the interval or the band: the default rule stays.
    } else if !significant {
        change.rule = Rule::RankTest;
    } else {
        change.verdict = Verdict::Inconclusive;
        change.inconclusive.push(format!(
            "the ratio's 95% interval {lo:.3}–{hi:.3} straddles the band {down:.3}–{up:.3}"
        ));
    }
    change
}

/// The peak memory of one case in both runs.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryChange {
    pub baseline_bytes: u64,
    pub candidate_bytes: u64,
    pub ratio: f64,
    /// The peaks (bytes) the candidate counts as unchanged within.
    pub band_bytes: [u64; 2],
    /// The range of the case's peak over earlier runs, when the history had it.
    pub peaks: Option<PeakRange>,
    pub verdict: Verdict,
}

/// Peak memory has one figure per run: a regression lies above the band
/// (the baseline's peak `--memory-threshold` up, or with history the
/// highest earlier peak that far up) and more than `--memory-floor-mib`
/// above the baseline; an improvement mirrors it.
pub fn memory_change(
    base: u64,
    cand: u64,
    t: &Thresholds,
    peaks: Option<&PeakRange>,
) -> MemoryChange {
    let m = 1.0 + t.memory_relative;
    let (mut down, mut up) = (base as f64 / m, base as f64 * m);
    if let Some(p) = peaks {
        down = down.min(p.lowest_bytes as f64 / m);
        up = up.max(p.highest_bytes as f64 * m);
    }
    let c = cand as f64;
    let verdict = if c > up && cand > base + t.memory_floor_bytes {
        Verdict::Regression
    } else if c < down && base > cand + t.memory_floor_bytes {
        Verdict::Improvement
    } else {
        Verdict::Unchanged
    };
    MemoryChange {
        baseline_bytes: base,
        candidate_bytes: cand,
        ratio: c / base as f64,
        band_bytes: [down as u64, up as u64],
        peaks: peaks.cloned(),
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::{Rng, SeedableRng};

    /// Deterministic noise: `n` samples around `center` with ±`spread`.
    fn noisy(center: f64, spread: f64, n: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                center
                    * (1.0 + spread * (f64::from(rng.next_u32()) / f64::from(u32::MAX) - 0.5) * 2.0)
            })
            .collect()
    }

    fn scaled(samples: &[f64], factor: f64) -> Vec<f64> {
        samples.iter().map(|x| x * factor).collect()
    }

    fn judge(base: &[f64], cand: &[f64]) -> TimeChange {
        time_change(base, cand, &Thresholds::default(), None, None)
    }

    #[test]
    fn slowed_evidence_is_what_measuring_the_scaled_samples_gives() {
        let base = noisy(0.002, 0.05, 300, 20);
        let cand = noisy(0.002, 0.05, 250, 21);
        let e = Evidence::measure(&base, &cand);
        for factor in [1.03, 1.1, 2.0] {
            let direct = Evidence::measure(&base, &scaled(&cand, factor));
            let derived = e.slowed(&base, &cand, factor);
            assert_eq!(derived.p_value, direct.p_value);
            for (a, b) in derived.ratio_ci95.iter().zip(direct.ratio_ci95) {
                assert!((a / b - 1.0).abs() < 1e-12, "{derived:?} {direct:?}");
            }
            assert!((derived.candidate_median_s / direct.candidate_median_s - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn an_unsteady_side_widens_the_band_by_its_drift() {
        let base = noisy(0.002, 0.01, 200, 17);
        let slow_mode = noisy(0.0029, 0.01, 200, 18);
        let t = Thresholds::default();
        // Its level moved 1.45x while timed: 1.45x is within its reach...
        let change = time_change(&base, &slow_mode, &t, None, Some(1.45));
        assert_eq!(
            (change.verdict, change.rule),
            (Verdict::Unchanged, Rule::Unsteady)
        );
        assert!((change.band[1] - 1.05 * 1.45).abs() < 1e-12);
        // ...2x is not.
        let doubled = scaled(&noisy(0.002, 0.01, 200, 19), 2.0);
        let change = time_change(&base, &doubled, &t, None, Some(1.45));
        assert_eq!(
            (change.verdict, change.rule),
            (Verdict::Regression, Rule::Unsteady)
        );
    }

    #[test]
    fn huge_sample_sets_are_thinned_evenly_and_still_judged() {
        let few = vec![1.0; 10];
        assert!(matches!(thinned(&few), std::borrow::Cow::Borrowed(_)));
        let many: Vec<f64> = (0..1_000_000).map(f64::from).collect();
        let t = thinned(&many);
        assert!(t.len() <= MAX_COMPARED_SAMPLES && t.len() > MAX_COMPARED_SAMPLES / 2);
        // It spans the whole run, not its start.
        assert!(t[t.len() - 1] > 990_000.0);
        let base = noisy(0.050, 0.02, 1_000_000, 1);
        let slower = scaled(&noisy(0.050, 0.02, 1_000_000, 2), 1.10);
        let change = judge(&base, &slower);
        assert_eq!(change.verdict, Verdict::Regression, "{change:?}");
    }

    #[test]
    fn ten_percent_slower_is_a_regression_and_two_percent_is_not() {
        let base = noisy(0.050, 0.02, 30, 1);
        let change = judge(&base, &scaled(&noisy(0.050, 0.02, 30, 2), 1.10));
        assert_eq!(change.verdict, Verdict::Regression, "{change:?}");
        assert_eq!(change.rule, Rule::Interval);
        assert_eq!(change.band, [1.0 / 1.05, 1.05]);
        assert!(change.ratio_ci95[0] > 1.05 && change.ratio_ci95[1] < 1.15);
        let slightly = judge(&base, &scaled(&noisy(0.050, 0.02, 30, 2), 1.02));
        assert_eq!(slightly.verdict, Verdict::Unchanged, "{slightly:?}");
        let faster = judge(&base, &scaled(&noisy(0.050, 0.02, 30, 2), 0.85));
        assert_eq!(faster.verdict, Verdict::Improvement);
    }

    #[test]
    fn sub_millisecond_cases_regress_too_and_only_the_timer_floor_guards() {
        // 20% slower at 0.5 ms: a regression (the old 1 ms floor hid it).
        let base = noisy(0.000_5, 0.01, 30, 3);
        let change = judge(&base, &scaled(&noisy(0.000_5, 0.01, 30, 4), 1.2));
        assert_eq!(change.verdict, Verdict::Regression, "{change:?}");
        // 2x at 40 us.
        let decode = noisy(40e-6, 0.02, 200, 5);
        let change = judge(&decode, &scaled(&noisy(40e-6, 0.02, 200, 6), 2.0));
        assert_eq!(change.verdict, Verdict::Regression, "{change:?}");
        // 20% of 2 us is under the 1 us timer floor.
        let tiny = noisy(2e-6, 0.01, 30, 7);
        let change = judge(&tiny, &scaled(&tiny, 1.2));
        assert_eq!(
            (change.verdict, change.rule),
            (Verdict::Unchanged, Rule::TimerFloor)
        );
    }

    #[test]
    fn too_few_samples_for_alpha_are_inconclusive_not_unchanged() {
        assert!((smallest_p(3, 3) - 0.1).abs() < 1e-12);
        assert_eq!(smallest_p(1, 1), 1.0);
        // One candidate sample against 23: at best p = 2/24 = 0.083.
        assert!((smallest_p(23, 1) - 2.0 / 24.0).abs() < 1e-12);
        assert!(smallest_p(10, 10) < 1e-4);
        let change = judge(&[0.1, 0.1, 0.1], &[0.2, 0.2, 0.2]);
        assert!((change.p_value - 0.1).abs() < 1e-12);
        assert_eq!(
            (change.verdict, change.rule),
            (Verdict::Inconclusive, Rule::TooFewSamples)
        );
        let base = noisy(0.010, 0.02, 23, 5);
        // 552x slower, one sample: cannot be significant at 5%.
        let change = judge(&base, &[5.52]);
        assert_eq!(change.verdict, Verdict::Inconclusive, "{change:?}");
        assert!(
            change.inconclusive[0].starts_with("too few samples (23 and 1)"),
            "{:?}",
            change.inconclusive
        );
        // Five a side can reach 5%: judged.
        let change = judge(&noisy(0.1, 0.01, 5, 1), &noisy(0.2, 0.01, 5, 2));
        assert_eq!(change.verdict, Verdict::Regression);
        assert!(change.inconclusive.is_empty());
    }

    #[test]
    fn a_wide_interval_far_past_the_band_still_regresses() {
        // ±9% within a run (a low-confidence train step), 2x slower: the
        // whole interval lies far above 1.05.
        let base = noisy(1.0, 0.09, 7, 8);
        let change = judge(&base, &scaled(&noisy(1.0, 0.09, 7, 9), 2.0));
        assert_eq!(change.verdict, Verdict::Regression, "{change:?}");
    }

    #[test]
    fn an_interval_across_the_band_is_inconclusive_only_with_a_significant_difference() {
        let base = noisy(1.0, 0.06, 12, 10);
        // 6% slower, ±6% within a run: the interval straddles 1.05.
        let change = judge(&base, &scaled(&noisy(1.0, 0.06, 12, 11), 1.06));
        assert_eq!(change.verdict, Verdict::Inconclusive, "{change:?}");
        assert!(change.p_value < 0.05);
        assert!(change.inconclusive[0].contains("straddles the band 0.952–1.050"));
        // The same samples on both sides: no difference at all.
        let same = judge(&base, &base);
        assert_eq!(same.p_value, 1.0);
        assert_eq!(same.verdict, Verdict::Unchanged, "{same:?}");
    }

    fn runs(spread: f64, fastest_s: f64, slowest_s: f64) -> RunNoise {
        RunNoise {
            runs: 10,
            spread,
            fastest_s,
            slowest_s,
        }
    }

    #[test]
    fn history_widens_the_band_to_the_case_s_own_run_to_run_noise() {
        let t = Thresholds::default();
        let edge = 1.0 + t.time_relative;
        // A quiet case keeps the threshold's band.
        let quiet = runs(0.002, 0.050, 0.050);
        assert_eq!(t.band(Some(&quiet), 0.050), [1.0 / edge, edge]);
        // A noisy one gets z standard deviations of a two-run ratio.
        let noisy_runs = runs(0.05, 0.040, 0.055);
        let z = (t.history_z * 2f64.sqrt() * 0.05).exp();
        let band = t.band(Some(&noisy_runs), 0.050);
        assert!(
            (band[1] - z).abs() < 1e-12 && (band[0] - 1.0 / z).abs() < 1e-12,
            "{band:?}"
        );
        // 10% slower: a regression within a run, noise between runs.
        let base = noisy(0.050, 0.01, 60, 12);
        let slower = scaled(&noisy(0.050, 0.01, 60, 13), 1.10);
        let change = time_change(&base, &slower, &t, Some(&noisy_runs), None);
        assert_eq!(
            (change.verdict, change.rule),
            (Verdict::Unchanged, Rule::HistoryBand),
            "{change:?}"
        );
        assert_eq!(change.run_noise.as_ref().map(|n| n.runs), Some(10));
        let change = time_change(&base, &slower, &t, Some(&quiet), None);
        assert_eq!(change.verdict, Verdict::Regression);
    }

    #[test]
    fn a_spread_measured_across_two_speeds_never_widens_the_band_past_their_range() {
        let t = Thresholds::default();
        // libtorch's wan-tiny train step: runs at 3.4 and 6.6 ms, a robust
        // spread of 45% (z-band 12.6x), a range of 2.03x.
        let split = runs(0.448, 0.00339, 0.00689);
        let [down, up] = t.band(Some(&split), 0.00339);
        assert!((up - 0.00689 / 0.00339 * 1.05).abs() < 1e-12, "{up}");
        assert!((down - 0.00339 / 0.00689).abs() < 1e-12, "{down}");
    }

    #[test]
    fn a_machine_with_two_speeds_widens_the_band_to_its_slowest_run_only() {
        let t = Thresholds::default();
        // Earlier runs at 2.0 ms, and some at 3.0 ms (the slow mode): a
        // small robust spread, but a slowest run 1.5x the baseline.
        let bimodal = runs(0.01, 0.0020, 0.0030);
        let [down, up] = t.band(Some(&bimodal), 0.0020);
        assert!((up - 1.5 * 1.05).abs() < 1e-12, "{up}");
        // Below: the spread's 4 standard deviations (1.058x), not the envelope.
        let z = (t.history_z * 2f64.sqrt() * 0.01).exp();
        assert!((down - 1.0 / z).abs() < 1e-12, "{down}");
        let base = noisy(0.0020, 0.01, 200, 14);
        // A/A into the slow mode: not a regression.
        let slow_mode = noisy(0.0030, 0.01, 200, 15);
        let change = time_change(&base, &slow_mode, &t, Some(&bimodal), None);
        assert_eq!(change.verdict, Verdict::Unchanged, "{change:?}");
        // 2x of the fast mode lies beyond the slowest earlier run.
        let doubled = scaled(&noisy(0.0020, 0.01, 200, 16), 2.0);
        let change = time_change(&base, &doubled, &t, Some(&bimodal), None);
        assert_eq!(change.verdict, Verdict::Regression, "{change:?}");
        // From a slow-mode baseline, the fast mode is no improvement.
        let change = time_change(&slow_mode, &base, &t, Some(&bimodal), None);
        assert_eq!(change.verdict, Verdict::Unchanged, "{change:?}");
    }

    #[test]
    fn memory_needs_both_the_relative_and_absolute_threshold() {
        let t = Thresholds::default();
        let mib = 1u64 << 20;
        assert_eq!(
            memory_change(100 * mib, 120 * mib, &t, None).verdict,
            Verdict::Regression
        );
        // +10% of 100 MiB is 10 MiB: under the 16 MiB floor.
        assert_eq!(
            memory_change(100 * mib, 110 * mib, &t, None).verdict,
            Verdict::Unchanged
        );
        // +3% of 1 GiB is 30 MiB: under 5%.
        assert_eq!(
            memory_change(1024 * mib, 1055 * mib, &t, None).verdict,
            Verdict::Unchanged
        );
        assert_eq!(
            memory_change(200 * mib, 100 * mib, &t, None).verdict,
            Verdict::Improvement
        );
        // With history: a peak within the range earlier runs showed is not
        // a regression (Candle's train step: 897 to 1098 MiB in one build).
        let range = PeakRange {
            runs: 8,
            lowest_bytes: 897 * mib,
            highest_bytes: 1098 * mib,
        };
        let change = memory_change(900 * mib, 1090 * mib, &t, Some(&range));
        assert_eq!(change.verdict, Verdict::Unchanged);
        assert_eq!(change.band_bytes[1], (1098.0 * mib as f64 * 1.05) as u64);
        assert_eq!(
            memory_change(900 * mib, 1200 * mib, &t, Some(&range)).verdict,
            Verdict::Regression
        );
    }
}
