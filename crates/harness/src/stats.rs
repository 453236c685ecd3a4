//! Summary statistics of timing samples, as plain functions.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Definitions of the statistics, written into every result file.
pub const DEFINITIONS: &[(&str, &str)] = &[
    (
        "samples_s",
        "wall-clock seconds of each timed iteration, device synchronized before and after; warm-up iterations excluded",
    ),
    (
        "stats.median_s",
        "median of samples_s (linear interpolation)",
    ),
    ("stats.mean_s", "arithmetic mean of samples_s"),
    (
        "stats.stddev_s",
        "sample standard deviation of samples_s (n-1 denominator); 0 for one sample",
    ),
    ("stats.min_s", "fastest sample"),
    ("stats.max_s", "slowest sample"),
    (
        "stats.p10_s",
        "10th percentile of samples_s (linear interpolation between order statistics)",
    ),
    ("stats.p90_s", "90th percentile of samples_s"),
    (
        "stats.ci95_median_s",
        "95% percentile-bootstrap confidence interval of the median: 2,000 resamples with replacement, fixed seed; with one sample there is none ([x, x] is stored, shown as n/a)",
    ),
    (
        "stats.outliers",
        "Tukey outliers: samples below Q1 - 1.5*IQR or above Q3 + 1.5*IQR",
    ),
];

/// Resamples of the bootstrap in reported statistics.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub n: usize,
    pub median_s: f64,
    pub mean_s: f64,
    pub stddev_s: f64,
    pub min_s: f64,
    pub max_s: f64,
    pub p10_s: f64,
    pub p90_s: f64,
    /// [low, high]
    pub ci95_median_s: [f64; 2],
    pub outliers: usize,
}

impl Stats {
    /// Half-width of the median's 95% CI relative to the median; `None`
    /// with fewer than two samples (no interval) or a zero median.
    pub fn relative_ci_half_width(&self) -> Option<f64> {
        let [lo, hi] = self.ci95_median_s;
        (self.n >= 2 && self.median_s > 0.0).then(|| (hi - lo) / 2.0 / self.median_s)
    }
}

fn sorted(samples: &[f64]) -> Vec<f64> {
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// Percentile `p` in [0, 100] of already sorted values, by linear
/// interpolation between the closest ranks (NumPy's default, R type 7).
pub fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    assert!(!sorted.is_empty(), "percentile of no samples");
    let rank = (p / 100.0).clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

/// The median of `values`, as [`percentile_sorted`] gives it, by selection
/// instead of a sort (the bootstraps take thousands of medians); reorders
/// `values`.
pub fn median_in_place(values: &mut [f64]) -> f64 {
    assert!(!values.is_empty(), "median of no samples");
    let n = values.len();
    let (left, &mut upper, _) = values.select_nth_unstable_by(n / 2, f64::total_cmp);
    if n % 2 == 1 {
        return upper;
    }
    let lower = left.iter().copied().max_by(f64::total_cmp).unwrap_or(upper);
    lower + (upper - lower) * 0.5
}

pub fn percentile(samples: &[f64], p: f64) -> f64 {
    percentile_sorted(&sorted(samples), p)
}

pub fn median(samples: &[f64]) -> f64 {
    percentile(samples, 50.0)
}

pub fn mean(samples: &[f64]) -> f64 {
    assert!(!samples.is_empty(), "mean of no samples");
    samples.iter().sum::<f64>() / samples.len() as f64
}

/// Sample standard deviation (n-1); zero for fewer than two samples.
pub fn stddev(samples: &[f64]) -> f64 {
    if samples.len() < 2 {
        return 0.0;
    }
    let m = mean(samples);
    let ss: f64 = samples.iter().map(|x| (x - m).powi(2)).sum();
    (ss / (samples.len() - 1) as f64).sqrt()
}

/// Number of Tukey outliers (outside the 1.5·IQR fences).
pub fn tukey_outliers(samples: &[f64]) -> usize {
    let s = sorted(samples);
    let q1 = percentile_sorted(&s, 25.0);
    let q3 = percentile_sorted(&s, 75.0);
    let iqr = q3 - q1;
    let (lo, hi) = (q1 - 1.5 * iqr, q3 + 1.5 * iqr);
    s.iter().filter(|&&x| x < lo || x > hi).count()
}

/// How far a case's level moved while it was timed: the samples in
/// [`DRIFT_BLOCKS`] consecutive blocks, in recorded order, and the medians
/// of the fastest and slowest block. libtorch's llama-tiny train step on a
/// 2-core VM stepped from 2.0 to 3.0 ms mid-run with no other process
/// taking CPU (docs/ci-and-clusters.md): the machine changed speed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    pub fastest_block_s: f64,
    pub slowest_block_s: f64,
    /// slowest / fastest block median.
    pub ratio: f64,
    /// Two-sided Mann-Whitney p-value between those two blocks.
    pub p_value: f64,
}

/// Consecutive blocks the timed samples are split into for [`drift`].
pub const DRIFT_BLOCKS: usize = 4;
/// Samples per block below which [`drift`] says nothing.
pub const DRIFT_MIN_BLOCK: usize = 10;

/// The drift of `samples` in recorded order; `None` with fewer than
/// [`DRIFT_BLOCKS`] x [`DRIFT_MIN_BLOCK`] samples.
pub fn drift(samples: &[f64]) -> Option<Drift> {
    let size = samples.len() / DRIFT_BLOCKS;
    if size < DRIFT_MIN_BLOCK {
        return None;
    }
    let blocks: Vec<&[f64]> = samples.chunks(size).take(DRIFT_BLOCKS).collect();
    let medians: Vec<f64> = blocks.iter().map(|b| median(b)).collect();
    let by = |pick: fn(f64, f64) -> bool| {
        (0..medians.len())
            .reduce(|a, b| if pick(medians[b], medians[a]) { b } else { a })
            .unwrap_or(0)
    };
    let (fast, slow) = (by(|x, y| x < y), by(|x, y| x > y));
    Some(Drift {
        fastest_block_s: medians[fast],
        slowest_block_s: medians[slow],
        ratio: medians[slow] / medians[fast],
        p_value: mann_whitney_p(blocks[fast], blocks[slow]),
    })
}

/// 95% percentile-bootstrap confidence interval of the median, deterministic
/// for a given `seed`.
pub fn bootstrap_median_ci(samples: &[f64], resamples: usize, seed: u64) -> [f64; 2] {
    assert!(!samples.is_empty(), "bootstrap of no samples");
    let n = samples.len();
    if n == 1 {
        return [samples[0], samples[0]];
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut buf = vec![0.0; n];
    let mut medians = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        for slot in buf.iter_mut() {
            // Multiply-shift maps a u32 to [0, n) without modulo bias worth noting.
            let i = ((u64::from(rng.next_u32()) * n as u64) >> 32) as usize;
            *slot = samples[i];
        }
        medians.push(median_in_place(&mut buf));
    }
    medians.sort_by(f64::total_cmp);
    [
        percentile_sorted(&medians, 2.5),
        percentile_sorted(&medians, 97.5),
    ]
}

/// Half-width of the median's 95% CI relative to the median.
pub fn relative_ci_half_width(samples: &[f64], resamples: usize) -> f64 {
    let m = median(samples);
    let [lo, hi] = bootstrap_median_ci(samples, resamples, 0);
    if m > 0.0 {
        (hi - lo) / 2.0 / m
    } else {
        f64::INFINITY
    }
}

/// All statistics of a non-empty sample.
pub fn summarize(samples: &[f64]) -> Stats {
    let s = sorted(samples);
    Stats {
        n: s.len(),
        median_s: percentile_sorted(&s, 50.0),
        mean_s: mean(&s),
        stddev_s: stddev(&s),
        min_s: s[0],
        max_s: s[s.len() - 1],
        p10_s: percentile_sorted(&s, 10.0),
        p90_s: percentile_sorted(&s, 90.0),
        ci95_median_s: bootstrap_median_ci(samples, BOOTSTRAP_RESAMPLES, 0),
        outliers: tukey_outliers(&s),
    }
}

/// Geometric mean (the mean of ratios that treats 2x and 0.5x alike);
/// `None` for no values.
pub fn geometric_mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    Some((values.iter().map(|v| v.ln()).sum::<f64>() / values.len() as f64).exp())
}

// Two-sample statistics: is one set of timings different from another?

/// Complementary error function (Numerical Recipes' Chebyshev fit,
/// relative error below 1.2e-7 everywhere).
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Pooled samples of both sides at most this many: exact p-value.
pub const EXACT_UP_TO: usize = 60;

/// Two-sided p-value of the Mann-Whitney U (Wilcoxon rank-sum) test that `a`
/// and `b` come from the same distribution. Up to [`EXACT_UP_TO`] pooled
/// samples it is exact: the permutation distribution of the rank sum, ties
/// sharing their mean rank (so three samples a side can never reach 5%,
/// which is the honest answer). Above, the normal approximation with tie and
/// continuity corrections (as scipy's `method="asymptotic"`).
pub fn mann_whitney_p(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 1.0;
    }
    // Doubled mid-ranks of the pooled samples (integers even with ties).
    let mut pooled: Vec<(f64, bool)> = a
        .iter()
        .map(|&x| (x, true))
        .chain(b.iter().map(|&x| (x, false)))
        .collect();
    pooled.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = pooled.len();
    let mut ranks2 = vec![0usize; n];
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && pooled[j + 1].0 == pooled[i].0 {
            j += 1;
        }
        // Ranks i+1..=j+1 share (i+1 + j+1) / 2; doubled: i + j + 2.
        for r in &mut ranks2[i..=j] {
            *r = i + j + 2;
        }
        let ties = (j - i + 1) as f64;
        tie_term += ties.powi(3) - ties;
        i = j + 1;
    }
    let n1 = a.len();
    let observed2: usize = (0..n).filter(|&k| pooled[k].1).map(|k| ranks2[k]).sum();
    // Doubled mean rank sum of `a`: n1 (n + 1).
    let mean2 = (n1 * (n + 1)) as f64;
    if n <= EXACT_UP_TO {
        // ways[k][s]: subsets of k of the pooled samples with doubled rank sum s.
        let max_sum: usize = ranks2.iter().sum();
        let mut ways = vec![vec![0f64; max_sum + 1]; n1 + 1];
        ways[0][0] = 1.0;
        for &r in &ranks2 {
            for k in (1..=n1).rev() {
                let (lower, upper) = ways.split_at_mut(k);
                for s in (r..=max_sum).rev() {
                    upper[0][s] += lower[k - 1][s - r];
                }
            }
        }
        let distance = (observed2 as f64 - mean2).abs();
        let (mut extreme, mut total) = (0.0, 0.0);
        for (s, &w) in ways[n1].iter().enumerate() {
            total += w;
            if (s as f64 - mean2).abs() >= distance - 1e-9 {
                extreme += w;
            }
        }
        return (extreme / total).min(1.0);
    }
    let (n1, n2, total) = (n1 as f64, b.len() as f64, n as f64);
    let u = observed2 as f64 / 2.0 - n1 * (n1 + 1.0) / 2.0;
    let variance = n1 * n2 / 12.0 * ((total + 1.0) - tie_term / (total * (total - 1.0)));
    if variance <= 0.0 {
        return 1.0;
    }
    let z = ((u - n1 * n2 / 2.0).abs() - 0.5).max(0.0) / variance.sqrt();
    erfc(z / std::f64::consts::SQRT_2).min(1.0)
}

/// 95% percentile-bootstrap CI of median(b) / median(a), resampling both
/// sides independently; deterministic for a seed.
pub fn bootstrap_ratio_ci(a: &[f64], b: &[f64], resamples: usize, seed: u64) -> [f64; 2] {
    bootstrap_two_medians_ci(a, b, &|ma, mb| mb / ma, resamples, seed)
}

/// 95% percentile-bootstrap CI of f(median(a), median(b)), resampling both
/// sides independently; deterministic for a seed.
pub fn bootstrap_two_medians_ci(
    a: &[f64],
    b: &[f64],
    f: &dyn Fn(f64, f64) -> f64,
    resamples: usize,
    seed: u64,
) -> [f64; 2] {
    assert!(!a.is_empty() && !b.is_empty(), "bootstrap of no samples");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut draw = |s: &[f64], buf: &mut Vec<f64>| {
        buf.clear();
        for _ in 0..s.len() {
            let i = ((u64::from(rng.next_u32()) * s.len() as u64) >> 32) as usize;
            buf.push(s[i]);
        }
        median_in_place(buf)
    };
    let (mut ba, mut bb) = (Vec::new(), Vec::new());
    let mut values: Vec<f64> = (0..resamples)
        .map(|_| {
            let ma = draw(a, &mut ba);
            f(ma, draw(b, &mut bb))
        })
        .collect();
    values.sort_by(f64::total_cmp);
    [
        percentile_sorted(&values, 2.5),
        percentile_sorted(&values, 97.5),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_in_the_level_during_timing_is_drift_and_noise_is_not() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let mut noisy = |level: f64, n: usize| -> Vec<f64> {
            (0..n)
                .map(|_| level * (1.0 + 0.04 * f64::from(rng.next_u32()) / f64::from(u32::MAX)))
                .collect()
        };
        let steady = noisy(2e-3, 400);
        let d = drift(&steady).unwrap();
        assert!(d.ratio < 1.02, "{d:?}");
        // 2.0 ms for the first 180 samples, then 3.0 ms.
        let mut stepped = noisy(2e-3, 180);
        stepped.extend(noisy(3e-3, 220));
        let d = drift(&stepped).unwrap();
        assert!(d.ratio > 1.45 && d.p_value < 1e-6, "{d:?}");
        assert!((d.fastest_block_s - 2.04e-3).abs() < 5e-5, "{d:?}");
        assert!(drift(&steady[..39]).is_none());
    }

    #[test]
    fn selection_gives_the_sorted_median_to_the_bit() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for n in 1..40 {
            let values: Vec<f64> = (0..n)
                .map(|_| f64::from(rng.next_u32() % 7) * 0.1)
                .collect();
            let mut copy = values.clone();
            assert_eq!(
                median_in_place(&mut copy).to_bits(),
                median(&values).to_bits(),
                "{values:?}"
            );
        }
    }

    #[test]
    fn geometric_mean_treats_ratios_symmetrically() {
        assert_eq!(geometric_mean(&[]), None);
        assert!((geometric_mean(&[2.0, 0.5]).unwrap() - 1.0).abs() < 1e-12);
        assert!((geometric_mean(&[4.0, 1.0]).unwrap() - 2.0).abs() < 1e-12);
    }

    #[test]
    fn erfc_matches_known_values() {
        for (x, expected) in [
            (0.0, 1.0),
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_13),
            (2.0, 0.004_677_734_981_047_266),
            (-1.0, 1.842_700_792_949_715),
        ] {
            assert!((erfc(x) - expected).abs() < 2e-7, "erfc({x})");
        }
    }

    #[test]
    fn mann_whitney_matches_scipy_and_enumeration() {
        // scipy.stats.mannwhitneyu(a, b, method="exact").pvalue
        let a = [1.1, 2.2, 3.3, 4.4, 5.5, 6.6, 7.7, 8.8];
        let b = [3.0, 5.0, 7.0, 9.0, 11.0, 13.0, 15.0, 17.0];
        assert!((mann_whitney_p(&a, &b) - 0.037_917_637_917_637_914).abs() < 1e-12);
        // Ties, against enumerating all 70 splits of the pooled mid-ranks.
        let p = mann_whitney_p(&[1.0, 2.0, 2.0, 3.0], &[2.0, 3.0, 3.0, 4.0]);
        assert!((p - 0.285_714_285_714_285_7).abs() < 1e-12, "{p}");
        // Three a side, fully separated: 2 of 20 splits are as extreme.
        assert!((mann_whitney_p(&[0.1; 3], &[0.2; 3]) - 0.1).abs() < 1e-12);
        assert_eq!(mann_whitney_p(&[1.0; 5], &[1.0; 5]), 1.0);
        // Above the exact limit: scipy's method="asymptotic".
        let a: Vec<f64> = (0..35)
            .map(|i| f64::from((i * 7919) % 101) / 10.0)
            .collect();
        let b: Vec<f64> = (0..35)
            .map(|i| f64::from((i * 104_729) % 103) / 10.0 + 0.8)
            .collect();
        let p = mann_whitney_p(&a, &b);
        assert!((p - 0.326_670_860_382_927_9).abs() < 1e-6, "{p}");
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn percentiles_interpolate_like_numpy() {
        let x = [4.0, 1.0, 3.0, 2.0];
        assert!(close(median(&x), 2.5));
        assert!(close(percentile(&x, 10.0), 1.3)); // numpy.percentile([1,2,3,4], 10)
        assert!(close(percentile(&x, 90.0), 3.7));
        assert!(close(percentile(&x, 0.0), 1.0));
        assert!(close(percentile(&x, 100.0), 4.0));
        assert!(close(median(&[5.0, 1.0, 3.0]), 3.0));
    }

    #[test]
    fn mean_and_sample_stddev() {
        let x = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert!(close(mean(&x), 5.0));
        // Sum of squares 32 over n-1 = 7.
        assert!(close(stddev(&x), (32.0f64 / 7.0).sqrt()));
        assert_eq!(stddev(&[3.0]), 0.0);
    }

    #[test]
    fn tukey_counts_points_outside_the_fences() {
        // Q1 = 2.75, Q3 = 6.25 for 1..=8; fences -2.5 and 11.5.
        let mut x: Vec<f64> = (1..=8).map(f64::from).collect();
        assert_eq!(tukey_outliers(&x), 0);
        x.push(100.0);
        x.push(-50.0);
        assert_eq!(tukey_outliers(&x), 2);
    }

    #[test]
    fn bootstrap_ci_brackets_the_median_and_narrows_with_more_samples() {
        let noisy: Vec<f64> = (0..20)
            .map(|i| 1.0 + 0.01 * ((i * 7919) % 13) as f64)
            .collect();
        let [lo, hi] = bootstrap_median_ci(&noisy, 2000, 0);
        let m = median(&noisy);
        assert!(lo <= m && m <= hi, "{lo} {m} {hi}");
        assert!(lo >= 1.0 && hi <= 1.12);
        let many: Vec<f64> = (0..400)
            .map(|i| 1.0 + 0.01 * ((i * 7919) % 13) as f64)
            .collect();
        let w = |s: &[f64]| {
            let [a, b] = bootstrap_median_ci(s, 2000, 0);
            b - a
        };
        assert!(w(&many) < w(&noisy));
        // Deterministic for a seed.
        assert_eq!(
            bootstrap_median_ci(&noisy, 500, 3),
            bootstrap_median_ci(&noisy, 500, 3)
        );
        // Identical samples: zero width.
        assert_eq!(bootstrap_median_ci(&[2.0; 10], 100, 0), [2.0, 2.0]);
        assert_eq!(relative_ci_half_width(&[2.0; 10], 100), 0.0);
    }

    #[test]
    fn summary_is_consistent() {
        let x = [0.3, 0.1, 0.2, 0.5, 0.4];
        let s = summarize(&x);
        assert_eq!(s.n, 5);
        assert!(close(s.median_s, 0.3));
        assert!(close(s.mean_s, 0.3));
        assert_eq!((s.min_s, s.max_s), (0.1, 0.5));
        assert!(s.p10_s >= s.min_s && s.p10_s <= s.median_s && s.p90_s <= s.max_s);
        assert!(s.ci95_median_s[0] <= s.median_s && s.median_s <= s.ci95_median_s[1]);
    }
}
