//! The hardware comparison: every machine and device ("place") side by
//! side, normalised to a baseline place.

use anyhow::Result;
use serde::Serialize;

use super::{LoadedRun, Row, charts};
use crate::stats::geometric_mean;

/// One workload, backend, dtype and pass across machines and devices.
#[derive(Debug, Clone, Serialize)]
pub struct HardwareRow {
    /// `workload · backend · dtype · pass`.
    pub case: String,
    /// Per place, in the order of `Hardware::places`: the median, or `None`
    /// where that place has no measurement of this case.
    pub medians_s: Vec<Option<f64>>,
    /// Per place: baseline median / this median (above 1: faster than the baseline).
    pub speed_vs_baseline: Vec<Option<f64>>,
}

/// The hardware comparison: every machine and device ("place") side by
/// side, normalised to a baseline place.
#[derive(Debug, Clone, Serialize)]
pub struct Hardware {
    /// `host device`, baseline first, then in file order.
    pub places: Vec<String>,
    pub baseline: String,
    pub rows: Vec<HardwareRow>,
    /// Per place: geometric mean of speed vs baseline over the cases both
    /// measured, and how many that is (`None` when they share none).
    pub mean_speed: Vec<Option<f64>>,
    pub shared_cases: Vec<usize>,
    pub chart_svg: charts::Chart,
}

/// A `--baseline` that names no machine or device in the data.
#[derive(Debug, thiserror::Error)]
#[error("baseline {name:?} names no machine or device in the data; there are: {places}")]
pub struct UnknownBaseline {
    pub name: String,
    pub places: String,
}

pub(super) fn place(host: &str, device: &str) -> String {
    format!("{host} {device}")
}

fn hardware_case(workload: &str, backend: &str, dtype: &str, pass: &str) -> String {
    format!("{workload} · {backend} · {dtype} · {pass}")
}

/// Every case any machine attempted, with each place's median, normalised
/// to the baseline place. A place without a measurement shows as missing.
/// `None` with a single place; an error when `baseline` names none.
pub(super) fn hardware(
    runs: &[LoadedRun],
    rows: &[Row],
    baseline: Option<&str>,
) -> Result<Option<Hardware>> {
    let (mut places, cases) = places_and_cases(runs);
    let chosen = match baseline {
        None => 0,
        Some(name) => places
            .iter()
            .position(|p| p == name)
            .or_else(|| {
                let host_prefix = format!("{name} ");
                places.iter().position(|p| p.starts_with(&host_prefix))
            })
            .ok_or_else(|| UnknownBaseline {
                name: name.to_string(),
                places: places.join(", "),
            })?,
    };
    if places.len() < 2 {
        return Ok(None);
    }
    let baseline = places.remove(chosen);
    places.insert(0, baseline.clone());
    let rows: Vec<HardwareRow> = cases
        .into_iter()
        .map(|case| hardware_row(case, &places, rows))
        .collect();
    let (mut mean_speed, mut shared_cases) = (Vec::new(), Vec::new());
    for k in 0..places.len() {
        let speeds: Vec<f64> = rows.iter().filter_map(|r| r.speed_vs_baseline[k]).collect();
        shared_cases.push(speeds.len());
        mean_speed.push(geometric_mean(&speeds));
    }
    let bars: Vec<(String, f64, usize)> = places
        .iter()
        .zip(&mean_speed)
        .zip(&shared_cases)
        .filter_map(|((p, m), &n)| Some((p.clone(), (*m)?, n)))
        .collect();
    Ok(Some(Hardware {
        chart_svg: charts::speed_bars(&bars, &baseline)?,
        places,
        baseline,
        rows,
        mean_speed,
        shared_cases,
    }))
}

/// Every place (host and device) and every case any machine attempted, in
/// the order first seen.
fn places_and_cases(runs: &[LoadedRun]) -> (Vec<String>, Vec<String>) {
    let mut places: Vec<String> = Vec::new();
    let mut cases: Vec<String> = Vec::new();
    for run in runs {
        let host = &run.results.environment.host;
        for c in &run.results.cases {
            let p = place(host, &c.device);
            if !places.contains(&p) {
                places.push(p);
            }
            let case = hardware_case(
                &c.workload.label,
                &c.backend,
                &c.dtype.to_string(),
                &c.pass.to_string(),
            );
            if !cases.contains(&case) {
                cases.push(case);
            }
        }
    }
    (places, cases)
}

/// One case's median at each place, and each place's speed against the
/// first (the baseline).
fn hardware_row(case: String, places: &[String], rows: &[Row]) -> HardwareRow {
    let medians_s: Vec<Option<f64>> = places
        .iter()
        .map(|p| {
            rows.iter()
                .find(|r| {
                    &place(&r.host, &r.device) == p
                        && hardware_case(&r.workload, &r.backend, &r.dtype, &r.pass) == case
                })
                .map(|r| r.median_s)
        })
        .collect();
    let base = medians_s[0];
    let speed_vs_baseline = medians_s.iter().map(|m| Some(base? / (*m)?)).collect();
    HardwareRow {
        case,
        medians_s,
        speed_vs_baseline,
    }
}
