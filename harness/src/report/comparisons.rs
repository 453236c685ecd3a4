//! The framework comparison: each workload × pass × dtype's backends side
//! by side, the fastest marked, speeds relative to the reference backend.

use std::collections::BTreeMap;

use anyhow::Result;

use super::{Comparison, Row, charts};
use crate::parity::preferred_reference;

/// Group rows by workload, pass and dtype; mark the fastest and the speed
/// relative to the reference backend of the same machine and device.
pub(super) fn comparisons(rows: &mut [Row], order: &[String]) -> Result<Vec<Comparison>> {
    let mut groups: BTreeMap<(String, String, String), Vec<usize>> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        groups
            .entry((r.workload.clone(), r.pass.clone(), r.dtype.clone()))
            .or_default()
            .push(i);
    }
    let mut out = Vec::new();
    for ((workload, pass, dtype), members) in groups {
        let fastest = members
            .iter()
            .copied()
            .min_by(|&a, &b| rows[a].median_s.total_cmp(&rows[b].median_s));
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
            rows[i].fastest = Some(i) == fastest && members.len() > 1;
        }
        let group: Vec<Row> = members.iter().map(|&i| rows[i].clone()).collect();
        let reference = preferred_reference(order, group.iter().map(|r| r.backend.as_str()))
            .map(str::to_string);
        let title = format!("{workload} · {pass} · {dtype}");
        out.push(Comparison {
            chart_svg: charts::median_bars(&title, &group)?,
            title,
            reference,
            rows: group,
        });
    }
    Ok(out)
}
