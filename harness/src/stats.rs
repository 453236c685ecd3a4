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
        "95% percentile-bootstrap confidence interval of the median: 2,000 resamples with replacement, fixed seed",
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
        buf.sort_by(f64::total_cmp);
        medians.push(percentile_sorted(&buf, 50.0));
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

#[cfg(test)]
mod tests {
    use super::*;

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
