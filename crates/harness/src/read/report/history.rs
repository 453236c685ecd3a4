//! History: each case's median over a series of runs (a directory of
//! nightly results), the gate's run-to-run band around them, and change
//! points where the regression gate ([`crate::read::compare`]) tells
//! consecutive runs apart, judged against that band.

use std::collections::HashMap;

use serde::Serialize;

use super::{LoadedRun, charts};
use crate::read::compare::{
    RunNoise, Thresholds, Verdict, case_key, run_noise, time_change, unsteady_drift,
};
use crate::record::results::Status;
use crate::stats::median;

/// One run's measurement of a case.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryPoint {
    pub started_at: String,
    pub median_s: f64,
    pub ci_low_s: f64,
    pub ci_high_s: f64,
}

/// A step between two consecutive runs that the gate calls significant.
#[derive(Debug, Clone, Serialize)]
pub struct ChangePoint {
    /// Index of the run after the step, in `points`.
    pub at: usize,
    pub started_at: String,
    pub verdict: Verdict,
    /// After / before.
    pub ratio: f64,
    pub p_value: f64,
}

/// The medians the latest run of the case counts as unchanged within: the
/// gate's band from the runs before it, around their median.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryBand {
    pub center_s: f64,
    pub low_s: f64,
    pub high_s: f64,
    /// The run-to-run spread it comes from.
    pub noise: RunNoise,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseHistory {
    pub case: String,
    pub host: String,
    pub points: Vec<HistoryPoint>,
    /// `None` with fewer runs than the gate needs for a band.
    pub band: Option<HistoryBand>,
    pub change_points: Vec<ChangePoint>,
    pub chart_svg: super::charts::Chart,
}

/// One run's raw samples of a case, and its summary.
struct Measured<'a> {
    samples: &'a [f64],
    point: HistoryPoint,
}

/// Every case measured in two or more runs, oldest run first. Runs are
/// ordered by their start time; cases of different machines stay apart.
pub fn history(runs: &[LoadedRun], thresholds: &Thresholds) -> anyhow::Result<Vec<CaseHistory>> {
    let mut ordered: Vec<&LoadedRun> = runs.iter().collect();
    ordered.sort_by(|a, b| a.results.started_at.cmp(&b.results.started_at));
    // Per (host, case): its measurement in each run, in first-seen order.
    let mut series: Vec<((String, String), Vec<Measured>)> = Vec::new();
    let mut position: HashMap<(String, String), usize> = HashMap::new();
    for run in &ordered {
        let host = &run.results.environment.host;
        for c in run.results.latest_cases() {
            let (Status::Ok, Some(stats)) = (c.status, &c.stats) else {
                continue;
            };
            if c.samples_s.is_empty() {
                continue;
            }
            let key = (host.clone(), case_key(c));
            let entry = Measured {
                samples: c.samples_s.as_slice(),
                point: HistoryPoint {
                    started_at: run.results.started_at.clone(),
                    median_s: stats.median_s,
                    ci_low_s: stats.ci95_median_s[0],
                    ci_high_s: stats.ci95_median_s[1],
                },
            };
            match position.get(&key) {
                Some(&i) => series[i].1.push(entry),
                None => {
                    position.insert(key.clone(), series.len());
                    series.push((key, vec![entry]));
                }
            }
        }
    }
    let mut out = Vec::new();
    for ((host, case), runs) in series {
        if runs.len() < 2 {
            continue;
        }
        let medians: Vec<f64> = runs.iter().map(|m| m.point.median_s).collect();
        // As `compare --history` judges a night: the runs up to the
        // baseline (the earlier of the pair), within the lookback.
        let noise_until = |i: usize| {
            let from = (i + 1).saturating_sub(thresholds.history_lookback);
            run_noise(&medians[from..=i]).filter(|n| n.runs >= thresholds.history_min_runs)
        };
        let change_points: Vec<ChangePoint> = runs
            .windows(2)
            .enumerate()
            .filter_map(|(i, pair)| {
                let noise = noise_until(i);
                let change = time_change(
                    pair[0].samples,
                    pair[1].samples,
                    thresholds,
                    noise.as_ref(),
                    unsteady_drift([pair[0].samples, pair[1].samples]),
                );
                (change.verdict != Verdict::Unchanged).then(|| ChangePoint {
                    at: i + 1,
                    started_at: pair[1].point.started_at.clone(),
                    verdict: change.verdict,
                    ratio: change.ratio,
                    p_value: change.p_value,
                })
            })
            .collect();
        // The band the latest run was judged against, centred on the median
        // of the runs before it.
        let earlier = &medians[..medians.len() - 1];
        let band = noise_until(earlier.len() - 1).map(|noise| {
            let center_s = median(earlier);
            let [down, up] = thresholds.band(Some(&noise), center_s);
            HistoryBand {
                center_s,
                low_s: center_s * down,
                high_s: center_s * up,
                noise,
            }
        });
        let points: Vec<HistoryPoint> = runs.into_iter().map(|m| m.point).collect();
        out.push(CaseHistory {
            chart_svg: charts::trend(
                &format!("{case} ({host})"),
                &points,
                &change_points,
                band.as_ref().map(|b| (b.low_s, b.high_s)),
            )?,
            band,
            case,
            host,
            points,
            change_points,
        });
    }
    Ok(out)
}
