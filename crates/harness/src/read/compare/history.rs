//! Run-to-run noise of each case, from earlier runs on the same machine.
//!
//! On a shared machine two runs of the same build differ by more than one
//! run's own interval says (the A/A study in docs/ci-and-clusters.md saw
//! tiny cases 1.25-1.38x apart). A history directory of earlier runs (the
//! nightly job keeps one) gives each case its own spread between runs, as
//! Conbench's lookback z-score does; the gate widens that case's band to it.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use crate::record::results::{RunResults, Status};
use crate::stats::median;

/// How much a case's median moves from run to run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunNoise {
    /// Earlier runs of the case the spread comes from.
    pub runs: usize,
    /// Robust standard deviation of the natural log of the case's median
    /// over those runs (1.4826 x the median absolute deviation): about the
    /// relative spread, 0.02 for 2%.
    pub spread: f64,
    /// The fastest and slowest of those runs' medians.
    pub fastest_s: f64,
    pub slowest_s: f64,
}

/// The spread of a case's medians over runs; `None` for fewer than two.
pub fn run_noise(medians: &[f64]) -> Option<RunNoise> {
    let logs: Vec<f64> = medians
        .iter()
        .filter(|m| m.is_finite() && **m > 0.0)
        .map(|m| m.ln())
        .collect();
    if logs.len() < 2 {
        return None;
    }
    let center = median(&logs);
    let deviations: Vec<f64> = logs.iter().map(|x| (x - center).abs()).collect();
    let extreme = |pick: fn(f64, f64) -> f64| logs.iter().copied().reduce(pick).map(f64::exp);
    Some(RunNoise {
        runs: logs.len(),
        spread: 1.4826 * median(&deviations),
        fastest_s: extreme(f64::min)?,
        slowest_s: extreme(f64::max)?,
    })
}

/// One run's median of a case, and its peak memory.
#[derive(Debug, Clone)]
struct Point {
    median_s: f64,
    peak_rss_bytes: Option<u64>,
}

/// The range of a case's peak memory over earlier runs: one figure per run,
/// so its band is the range it has shown (Candle's llama-small train step
/// peaked between 897 and 1098 MiB in eight runs of one build).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeakRange {
    pub runs: usize,
    pub lowest_bytes: u64,
    pub highest_bytes: u64,
}

/// Each case's median in every earlier run, per machine.
#[derive(Debug, Default)]
pub struct History {
    /// (host, case key) to its points, oldest first.
    series: BTreeMap<(String, String), Vec<Point>>,
    /// Runs read, after those excluded.
    pub runs: usize,
}

impl History {
    /// The history in `runs`, leaving out any run that is also in
    /// `excluded` (the candidate: a nightly job files tonight's run into the
    /// history before it compares) and, with `until`, any run that started
    /// after it (nights after the baseline: a regression that failed them
    /// must not widen the band that judges it again). Only measured,
    /// uncontended cases count: a busy night says nothing about the noise.
    pub fn new(runs: &[RunResults], excluded: &[RunResults], until: Option<&str>) -> History {
        let skip: HashSet<(&str, &str)> = excluded
            .iter()
            .map(|r| (r.environment.host.as_str(), r.started_at.as_str()))
            .collect();
        let mut ordered: Vec<&RunResults> = runs
            .iter()
            .filter(|r| !skip.contains(&(r.environment.host.as_str(), r.started_at.as_str())))
            .filter(|r| until.is_none_or(|u| r.started_at.as_str() <= u))
            .collect();
        ordered.sort_by(|a, b| a.started_at.cmp(&b.started_at));
        let mut history = History {
            runs: ordered.len(),
            ..History::default()
        };
        for run in ordered {
            // A file that repeats a case is one point: its last record.
            for c in run.latest_cases() {
                if c.status != Status::Ok || c.samples_s.is_empty() || c.contended() {
                    continue;
                }
                let median_s = c
                    .stats
                    .as_ref()
                    .map_or_else(|| median(&c.samples_s), |s| s.median_s);
                history
                    .series
                    .entry((run.environment.host.clone(), c.key().to_string()))
                    .or_default()
                    .push(Point {
                        median_s,
                        peak_rss_bytes: c.memory.as_ref().and_then(|m| m.peak_rss_bytes),
                    });
            }
        }
        history
    }

    /// The case's latest `lookback` points on `host`, oldest first.
    fn points(&self, host: &str, key: &str, lookback: usize) -> &[Point] {
        let points = self
            .series
            .get(&(host.to_string(), key.to_string()))
            .map_or(&[][..], Vec::as_slice);
        &points[points.len().saturating_sub(lookback)..]
    }

    fn medians(&self, host: &str, key: &str, lookback: usize) -> Vec<f64> {
        self.points(host, key, lookback)
            .iter()
            .map(|p| p.median_s)
            .collect()
    }

    /// The range of the case's peak memory on `host` over its latest
    /// `lookback` runs, when at least `min_runs` of them have one.
    pub fn peaks(
        &self,
        host: &str,
        key: &str,
        lookback: usize,
        min_runs: usize,
    ) -> Option<PeakRange> {
        let peaks: Vec<u64> = self
            .points(host, key, lookback)
            .iter()
            .filter_map(|p| p.peak_rss_bytes)
            .collect();
        (peaks.len() >= min_runs.max(2)).then(|| PeakRange {
            runs: peaks.len(),
            lowest_bytes: peaks.iter().copied().min().unwrap_or(0),
            highest_bytes: peaks.iter().copied().max().unwrap_or(0),
        })
    }

    /// The case's run-to-run noise on `host`, when its latest `lookback`
    /// runs hold at least `min_runs` of it.
    pub fn noise(
        &self,
        host: &str,
        key: &str,
        lookback: usize,
        min_runs: usize,
    ) -> Option<RunNoise> {
        let medians = self.medians(host, key, lookback);
        (medians.len() >= min_runs.max(2))
            .then(|| run_noise(&medians))
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spread_is_robust_to_one_outlying_run() {
        let steady = [1.00, 1.01, 0.99, 1.02, 0.98, 1.00];
        let s = run_noise(&steady).unwrap();
        assert_eq!(s.runs, 6);
        assert!(s.spread > 0.005 && s.spread < 0.02, "{s:?}");
        // One run 2.3x slower barely moves it.
        let with_outlier = [1.00, 1.01, 0.99, 1.02, 0.98, 2.30];
        let o = run_noise(&with_outlier).unwrap();
        assert!(o.spread < 0.03, "{o:?}");
        // The envelope keeps it.
        assert!((o.slowest_s - 2.30).abs() < 1e-12 && (o.fastest_s - 0.98).abs() < 1e-12);
        assert!(run_noise(&[1.0]).is_none());
        assert!(run_noise(&[1.0, f64::NAN]).is_none());
        assert_eq!(run_noise(&[2.0, 2.0, 2.0]).unwrap().spread, 0.0);
    }
}
