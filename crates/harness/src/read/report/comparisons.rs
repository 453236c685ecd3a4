//! The framework comparison: each workload × pass × dtype's backends side
//! by side, the fastest marked only where the measurements can tell,
//! speeds relative to the reference backend.

use serde::Serialize;
use std::collections::BTreeMap;

use anyhow::Result;

use super::{Row, charts};
use ditbench_core::check::parity::preferred_reference;
use ditbench_core::model::case::DeviceName;

/// The rows of one workload × pass × dtype, with its chart.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub title: String,
    pub reference: Option<String>,
    pub rows: Vec<Row>,
    pub chart_svg: charts::Chart,
    /// Which backend is fastest, or why none is named: `tie` (95% CIs
    /// overlap) or `not sure` (a case of low confidence).
    pub verdict: String,
}

/// What a group of rows says about the fastest among them.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Decision {
    /// Fewer than two rows: nothing to compare.
    Alone,
    /// This row is fastest: its figure is of good confidence, its 95% CI
    /// lies wholly below every other row's, and every other row's median is
    /// usable (a wide CI is still an interval; too few samples or a busy
    /// machine is not).
    Fastest(usize),
    /// These rows' CIs overlap the fastest median's CI.
    Tie(Vec<usize>),
    /// These rows leave the fastest unknown: a median in doubt (too few
    /// samples, contended), or the lowest median of low confidence.
    NotSure(Vec<usize>),
}

/// Decide the fastest of `members` (indices into `rows`).
pub(super) fn decide(rows: &[Row], members: &[usize]) -> Decision {
    if members.len() < 2 {
        return Decision::Alone;
    }
    let doubtful: Vec<usize> = members
        .iter()
        .copied()
        .filter(|&i| !rows[i].median_usable)
        .collect();
    if !doubtful.is_empty() {
        return Decision::NotSure(doubtful);
    }
    let best = members
        .iter()
        .copied()
        .min_by(|&a, &b| rows[a].median_s.total_cmp(&rows[b].median_s))
        .expect("two members at least");
    if rows[best].confidence != "good" {
        return Decision::NotSure(vec![best]);
    }
    let tied: Vec<usize> = members
        .iter()
        .copied()
        .filter(|&i| i == best || rows[i].ci_low_s <= rows[best].ci_high_s)
        .collect();
    if tied.len() > 1 {
        Decision::Tie(tied)
    } else {
        Decision::Fastest(best)
    }
}

/// One sentence for a decision: `candle is fastest (95% CIs apart)`,
/// `tie: candle, tch (95% CIs overlap)`, `not sure: tch of low confidence`.
pub(super) fn sentence(rows: &[Row], decision: &Decision) -> String {
    let names = |idx: &[usize]| {
        idx.iter()
            .map(|&i| rows[i].backend.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match decision {
        Decision::Alone => "one backend: nothing to compare".into(),
        Decision::Fastest(i) => format!(
            "{} is fastest (its 95% CI lies below every other's)",
            rows[*i].backend
        ),
        Decision::Tie(idx) => format!("tie: {} (95% CIs overlap)", names(idx)),
        Decision::NotSure(idx) => format!(
            "not sure: {} of low confidence (see the confidence column)",
            names(idx)
        ),
    }
}

/// The order of the framework comparison: video DiTs before LLMs, then by
/// preset, its overrides in numeric order (`frames=1` before `frames=17`),
/// pass and dtype.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct GroupKey {
    llm: bool,
    preset: String,
    overrides: Vec<(String, usize)>,
    pass: String,
    dtype: String,
}

fn group_key(r: &Row) -> GroupKey {
    GroupKey {
        llm: r.family != "wan",
        preset: r.preset.clone(),
        overrides: r.overrides.iter().map(|(k, &v)| (k.clone(), v)).collect(),
        pass: r.pass.clone(),
        dtype: r.dtype.clone(),
    }
}

/// Group rows by workload, pass and dtype; mark the fastest where it can be
/// told and the speed relative to the reference backend of the same machine
/// and device.
pub(super) fn comparisons(rows: &mut [Row], order: &[String]) -> Result<Vec<Comparison>> {
    let mut groups: BTreeMap<GroupKey, Vec<usize>> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        groups.entry(group_key(r)).or_default().push(i);
    }
    let mut out = Vec::new();
    for (key, members) in groups {
        let (workload, pass, dtype) = (&rows[members[0]].workload, &key.pass, &key.dtype);
        // A software device (the CPU under a GPU API) is shown, never a contender.
        let contenders: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&i| !DeviceName::is_software_name(&rows[i].device))
            .collect();
        let decision = decide(rows, &contenders);
        // The reference backend's median on each machine and device.
        let mut by_place: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
        for &i in &members {
            by_place
                .entry((rows[i].host.clone(), rows[i].device.clone()))
                .or_default()
                .push(i);
        }
        for place in by_place.values() {
            let reference =
                preferred_reference(order, place.iter().map(|&i| rows[i].backend.as_str()))
                    .and_then(|name| place.iter().find(|&&i| rows[i].backend == name))
                    .map(|&i| rows[i].median_s);
            for &i in place {
                rows[i].speed_vs_reference = reference.map(|m| m / rows[i].median_s);
            }
        }
        for &i in &members {
            rows[i].fastest = decision == Decision::Fastest(i);
        }
        let verdict = sentence(rows, &decision);
        let group: Vec<Row> = members.iter().map(|&i| rows[i].clone()).collect();
        let reference = preferred_reference(order, group.iter().map(|r| r.backend.as_str()))
            .map(str::to_string);
        let title = format!("{workload} · {pass} · {dtype}");
        out.push(Comparison {
            chart_svg: charts::median_bars(&title, &group)?,
            title,
            reference,
            rows: group,
            verdict,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `confidence`: `good`; `wide` (low, median usable); `low` (median in doubt).
    fn row(backend: &str, median: f64, half: f64, confidence: &str) -> Row {
        Row {
            backend: backend.into(),
            median_s: median,
            ci_low_s: median - half,
            ci_high_s: median + half,
            confidence: if confidence == "good" { "good" } else { "low" }.into(),
            median_usable: confidence != "low",
            ..Row::default()
        }
    }

    #[test]
    fn a_fastest_backend_needs_good_figures_whose_cis_do_not_overlap() {
        let apart = [row("a", 1.0, 0.01, "good"), row("b", 1.2, 0.01, "good")];
        assert_eq!(decide(&apart, &[0, 1]), Decision::Fastest(0));
        assert!(sentence(&apart, &Decision::Fastest(0)).starts_with("a is fastest"));
        // 1.335 ms against 1.337 ms with overlapping CIs is a tie.
        let close = [
            row("a", 1.337e-3, 0.004e-3, "good"),
            row("b", 1.335e-3, 0.004e-3, "good"),
            row("c", 2.0e-3, 0.004e-3, "good"),
        ];
        assert_eq!(decide(&close, &[0, 1, 2]), Decision::Tie(vec![0, 1]));
        // One low-confidence figure (e.g. 643x slower from one busy sample) decides nothing.
        let busy = [row("a", 1.0, 0.0, "low"), row("b", 0.001, 0.00001, "good")];
        assert_eq!(decide(&busy, &[0, 1]), Decision::NotSure(vec![0]));
        assert!(sentence(&busy, &Decision::NotSure(vec![0])).starts_with("not sure: a"));
        assert_eq!(decide(&apart, &[1]), Decision::Alone);
        // A wide but valid CI far above the fastest does not hide it...
        let wide = [row("a", 1.0, 0.01, "good"), row("b", 3.0, 0.3, "wide")];
        assert_eq!(decide(&wide, &[0, 1]), Decision::Fastest(0));
        // ...but the fastest figure itself must be of good confidence.
        let wide_best = [row("a", 1.0, 0.1, "wide"), row("b", 3.0, 0.01, "good")];
        assert_eq!(decide(&wide_best, &[0, 1]), Decision::NotSure(vec![0]));
    }

    #[test]
    fn a_software_device_is_shown_but_never_decides_the_fastest() {
        let mut rows = vec![
            Row {
                device: "cpu".into(),
                ..row("tch", 1.0, 0.01, "good")
            },
            Row {
                device: "cpu".into(),
                ..row("candle", 2.0, 0.01, "good")
            },
            // One sample on lavapipe: low confidence, and the CPU under a GPU API.
            Row {
                device: "software".into(),
                ..row("burn-wgpu", 50.0, 0.0, "low")
            },
        ];
        let out = comparisons(&mut rows, &["tch".to_string()]).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].rows.len(), 3, "the software case is still shown");
        assert!(
            out[0].verdict.starts_with("tch is fastest"),
            "{}",
            out[0].verdict
        );
        assert!(rows[0].fastest && !rows[2].fastest);
    }
}
