//! Scaling: the same model measured at several token counts (a sweep of
//! frames or resolution, or of an LLM's sequence length), so the cost of
//! attention, quadratic in tokens, shows against the linear layers.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;

use super::{Row, charts};
use ditbench_core::model::cost::cost;
use ditbench_core::model::workload::{Dimension, Overrides, Workload, find_preset, workload_label};

/// Dimensions that change the tokens of one sample: what a scaling sweep varies.
pub const TOKEN_DIMENSIONS: [Dimension; 4] = [
    Dimension::Frames,
    Dimension::Height,
    Dimension::Width,
    Dimension::SeqLen,
];

/// One point of a series: one measured case.
#[derive(Debug, Clone, Serialize)]
pub struct ScalingPoint {
    pub workload: String,
    pub tokens: u64,
    pub forward_gflop: f64,
    /// Self- plus cross-attention FLOPs over all forward FLOPs (cost model).
    pub attention_share: f64,
    pub median_s: f64,
    pub rss_growth_mib: Option<f64>,
}

/// One model on one machine, backend, device, dtype and pass, at several
/// token counts.
#[derive(Debug, Clone, Serialize)]
pub struct ScalingSeries {
    pub label: String,
    pub host: String,
    pub points: Vec<ScalingPoint>,
    /// Least-squares slope of ln(median) against ln(tokens): 1 is linear,
    /// 2 quadratic.
    pub time_exponent: f64,
    /// The same slope for the cost model's FLOPs: what the time would do if
    /// every FLOP cost the same.
    pub flops_exponent: Option<f64>,
    pub memory_exponent: Option<f64>,
}

/// A real-scale preset's frames against its cost, from the cost model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelScalingPoint {
    pub frames: usize,
    pub tokens: u64,
    pub forward_pflop: f64,
    pub attention_share: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Scaling {
    pub series: Vec<ScalingSeries>,
    pub time_chart_svg: super::charts::Chart,
    /// Empty when no series has memory figures.
    pub memory_chart_svg: super::charts::Chart,
    /// The preset of `model_points`.
    pub model_preset: String,
    pub model_points: Vec<ModelScalingPoint>,
}

/// Least-squares slope of ln(y) against ln(x); `None` with fewer than two
/// distinct x or a non-positive value.
pub fn log_log_slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.iter().any(|&(x, y)| x <= 0.0 || y <= 0.0) {
        return None;
    }
    let logs: Vec<(f64, f64)> = points.iter().map(|&(x, y)| (x.ln(), y.ln())).collect();
    let n = logs.len() as f64;
    let mean_x = logs.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = logs.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = logs.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    if sxx <= 1e-12 {
        return None;
    }
    let sxy: f64 = logs.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    Some(sxy / sxx)
}

/// Group rows that differ only in token dimensions; keep groups with at
/// least two token counts. `None` when there is no sweep in the data.
pub fn scaling(rows: &[Row]) -> Result<Option<Scaling>> {
    let mut groups: BTreeMap<String, (String, String, Vec<&Row>)> = BTreeMap::new();
    for r in rows {
        let model = workload_label(&r.preset, &r.overrides, &TOKEN_DIMENSIONS);
        let label = format!(
            "{model} · {} {} · {} · {}",
            r.backend, r.device, r.dtype, r.pass
        );
        let key = format!("{}\u{0}{label}", r.host);
        groups
            .entry(key)
            .or_insert_with(|| (r.host.clone(), label, Vec::new()))
            .2
            .push(r);
    }
    let series: Vec<ScalingSeries> = groups
        .into_values()
        .filter_map(|(host, label, members)| series_of(host, label, members))
        .collect();
    if series.is_empty() {
        return Ok(None);
    }
    let time = |p: &ScalingPoint| Some(p.median_s);
    let memory = |p: &ScalingPoint| p.rss_growth_mib;
    let has_memory = series
        .iter()
        .any(|s| s.points.iter().any(|p| p.rss_growth_mib.is_some()));
    let (model_preset, model_points) = model_frames_sweep();
    Ok(Some(Scaling {
        time_chart_svg: charts::log_log_lines(
            "Median time per iteration against tokens",
            "median time",
            &series,
            &time,
            &charts::seconds_label,
        )?,
        memory_chart_svg: if has_memory {
            charts::log_log_lines(
                "RSS growth against tokens",
                "RSS growth (MiB)",
                &series,
                &memory,
                &charts::significant,
            )?
        } else {
            charts::Chart::default()
        },
        series,
        model_preset,
        model_points,
    }))
}

/// One sweep's points in token order and its fitted exponents; `None`
/// below two token counts.
fn series_of(host: String, label: String, mut members: Vec<&Row>) -> Option<ScalingSeries> {
    members.sort_by_key(|r| r.tokens);
    members.dedup_by_key(|r| r.tokens);
    if members.len() < 2 {
        return None;
    }
    let points: Vec<ScalingPoint> = members
        .iter()
        .map(|r| ScalingPoint {
            workload: r.workload.clone(),
            tokens: r.tokens,
            forward_gflop: r.forward_flops / 1e9,
            attention_share: r.attention_share,
            median_s: r.median_s,
            rss_growth_mib: r.rss_growth_mib,
        })
        .collect();
    let slope = |f: &dyn Fn(&ScalingPoint) -> Option<f64>| {
        let xy: Option<Vec<(f64, f64)>> = points
            .iter()
            .map(|p| f(p).map(|y| (p.tokens as f64, y)))
            .collect();
        log_log_slope(&xy?)
    };
    Some(ScalingSeries {
        flops_exponent: slope(&|p| Some(p.forward_gflop)),
        memory_exponent: slope(&|p| p.rss_growth_mib),
        time_exponent: slope(&|p| Some(p.median_s))?,
        label,
        host,
        points,
    })
}

/// Wan2.1-14B at 720p from one frame to a 5 s clip: how the share of
/// attention grows with the video's length, by the cost model.
fn model_frames_sweep() -> (String, Vec<ModelScalingPoint>) {
    let name = "wan2.1-14b-720p";
    let Ok(preset) = find_preset(name) else {
        return (name.into(), Vec::new());
    };
    let points = [1, 9, 17, 33, 49, 81]
        .into_iter()
        .filter_map(|frames| {
            let overrides = Overrides::from([(Dimension::Frames, frames)]);
            let w = Workload::new(&preset, &overrides).ok()?;
            let c = cost(&w.config);
            Some(ModelScalingPoint {
                frames,
                tokens: c.tokens,
                forward_pflop: c.forward_flops / 1e15,
                attention_share: (c.self_attention_flops + c.cross_attention_flops)
                    / c.forward_flops,
            })
        })
        .collect();
    (name.into(), points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_log_slope_recovers_power_laws() {
        let quadratic: Vec<(f64, f64)> = [1.0, 2.0, 4.0, 8.0].map(|x| (x, 3.0 * x * x)).to_vec();
        assert!((log_log_slope(&quadratic).unwrap() - 2.0).abs() < 1e-12);
        let linear: Vec<(f64, f64)> = [10.0, 100.0].map(|x| (x, 0.5 * x)).to_vec();
        assert!((log_log_slope(&linear).unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(log_log_slope(&[(1.0, 1.0), (1.0, 2.0)]), None);
        assert_eq!(log_log_slope(&[(1.0, 1.0), (2.0, 0.0)]), None);
    }

    #[test]
    fn attention_share_of_a_real_clip_grows_with_frames() {
        let (_, points) = model_frames_sweep();
        assert_eq!(points.len(), 6);
        assert_eq!(points.last().unwrap().tokens, 75_600);
        for pair in points.windows(2) {
            assert!(pair[1].attention_share > pair[0].attention_share);
        }
        // A 5 s 720p clip spends most of its FLOPs in attention.
        assert!(points.last().unwrap().attention_share > 0.5);
    }
}
