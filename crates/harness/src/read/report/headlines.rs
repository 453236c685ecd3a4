//! The report's first lines: one sentence per answer it gives.

use std::collections::BTreeMap;

use super::comparisons::{Decision, decide};
use super::{Claim, Hardware, Machine, Row};

/// One sentence per answer the report gives, plain text.
pub(super) fn headlines(
    rows: &[Row],
    machines: &[Machine],
    hardware: Option<&Hardware>,
    claims: &[Claim],
) -> Vec<String> {
    let mut out = Vec::new();
    // Fastest backend of each workload × pass × dtype, per machine and device.
    let mut places: Vec<(String, String)> = Vec::new();
    for r in rows {
        let p = (r.host.clone(), r.device.clone());
        if !places.contains(&p) {
            places.push(p);
        }
    }
    for (host, device) in &places {
        out.extend(fastest_framework(rows, host, device));
    }
    if let Some(h) = hardware {
        for (k, place) in h.places.iter().enumerate().skip(1) {
            if let Some(speed) = h.mean_speed[k] {
                out.push(format!(
                    "{place} runs at {speed:.2}x the speed of {} (geometric mean over {} shared cases).",
                    h.baseline, h.shared_cases[k]
                ));
            }
        }
    }
    let checked: usize = machines.iter().map(|m| m.parity_pass + m.parity_fail).sum();
    let failed: usize = machines.iter().map(|m| m.parity_fail).sum();
    if checked > 0 {
        out.push(if failed == 0 {
            format!("All {checked} parity-checked cases agree with the reference backend.")
        } else {
            format!(
                "{failed} of {checked} parity-checked cases DISAGREE with the reference backend."
            )
        });
    }
    // Each claim's answer: its first pair (the claim's own sizes) or its
    // whole verdict when it has no pairs.
    for c in claims {
        out.push(format!(
            "{} \"{}\": {}",
            c.id,
            c.wording.trim_end_matches('.'),
            c.answer()
        ));
    }
    out
}

/// Which framework is fastest in how many of the workload, pass and dtype
/// combinations measured on one machine's device; none with one backend.
fn fastest_framework(rows: &[Row], host: &str, device: &str) -> Option<String> {
    let mut groups: BTreeMap<(&str, &str, &str), Vec<usize>> = BTreeMap::new();
    let mut backends: Vec<&str> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        if r.host != host || r.device != device {
            continue;
        }
        if !backends.contains(&r.backend.as_str()) {
            backends.push(&r.backend);
        }
        groups
            .entry((&r.workload, &r.pass, &r.dtype))
            .or_default()
            .push(i);
    }
    if backends.len() < 2 {
        return None;
    }
    let mut wins: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut ties, mut unsure) = (0, 0);
    for members in groups.values() {
        match decide(rows, members) {
            Decision::Fastest(i) => *wins.entry(&rows[i].backend).or_default() += 1,
            Decision::Tie(_) => ties += 1,
            Decision::NotSure(_) => unsure += 1,
            Decision::Alone => {}
        }
    }
    let mut wins: Vec<(&str, usize)> = wins.into_iter().collect();
    wins.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut undecided: Vec<String> = Vec::new();
    if ties > 0 {
        undecided.push(format!("{ties} tie(s) (95% CIs overlap)"));
    }
    if unsure > 0 {
        undecided.push(format!(
            "{unsure} not sure (low confidence: too few samples, a wide CI or a busy machine)"
        ));
    }
    let undecided = if undecided.is_empty() {
        String::new()
    } else {
        format!("; {}", undecided.join(" and "))
    };
    Some(match wins.first() {
        Some(&(first, n)) => {
            let rest: Vec<String> = wins[1..].iter().map(|(b, n)| format!("{b} {n}")).collect();
            format!(
                "On {host} {device}, {first} is the fastest framework in {n} of {} workload, pass and dtype combinations{}{undecided}.",
                groups.len(),
                if rest.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", rest.join(", "))
                }
            )
        }
        None => format!(
            "On {host} {device}, no framework is measurably fastest in any of {} workload, pass and dtype combinations{undecided}.",
            groups.len()
        ),
    })
}
