//! History: each case's median over a series of runs (a directory of
//! nightly results), with change points where the regression gate
//! ([`crate::read::compare`]) finds a significant step between consecutive runs.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::{LoadedRun, charts};
use crate::read::compare::{Thresholds, Verdict, case_key, time_change};
use crate::record::results::{CaseResult, Status};

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

#[derive(Debug, Clone, Serialize)]
pub struct CaseHistory {
    pub case: String,
    pub host: String,
    pub points: Vec<HistoryPoint>,
    pub change_points: Vec<ChangePoint>,
    pub chart_svg: super::charts::Chart,
}

/// One run's raw samples of a case, and its summary.
struct Measured<'a> {
    samples: &'a [f64],
    point: HistoryPoint,
}

/// A run's cases with each case once: its last record, as `compare` takes
/// it (a file that repeats a case is one point of the history, not many).
fn latest_of_each_case(cases: &[CaseResult]) -> Vec<&CaseResult> {
    let mut seen = HashSet::new();
    let mut latest: Vec<&CaseResult> = cases
        .iter()
        .rev()
        .filter(|c| seen.insert(case_key(c)))
        .collect();
    latest.reverse();
    latest
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
        for c in latest_of_each_case(&run.results.cases) {
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
        let change_points: Vec<ChangePoint> = runs
            .windows(2)
            .enumerate()
            .filter_map(|(i, pair)| {
                let change = time_change(pair[0].samples, pair[1].samples, thresholds);
                (change.verdict != Verdict::Unchanged).then(|| ChangePoint {
                    at: i + 1,
                    started_at: pair[1].point.started_at.clone(),
                    verdict: change.verdict,
                    ratio: change.ratio,
                    p_value: change.p_value,
                })
            })
            .collect();
        let points: Vec<HistoryPoint> = runs.into_iter().map(|m| m.point).collect();
        out.push(CaseHistory {
            chart_svg: charts::trend(&format!("{case} ({host})"), &points, &change_points)?,
            case,
            host,
            points,
            change_points,
        });
    }
    Ok(out)
}
