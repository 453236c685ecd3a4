//! `ditbench reference-check` results as a Markdown table.

use std::fmt::Write;

use ditbench_core::check::parity::ParityStatus;
use ditbench_core::util::units::{self, md_escape};

use crate::record::reference_check::{
    DEFINITIONS, MATCH_RATIO, PairOutcome, ReferenceCheck, Verdict,
};

fn verdict_text(v: Verdict) -> &'static str {
    match v {
        Verdict::Matches => "matches",
        Verdict::Faster => "ours faster",
        Verdict::Slower => "ours slower",
    }
}

/// The table, each measured pair's notes, and the definitions.
pub fn markdown(check: &ReferenceCheck) -> String {
    let env = &check.environment;
    let mut md = String::new();
    let _ = writeln!(md, "# Our models beside the frameworks' own model code\n");
    let _ = writeln!(
        md,
        "Machine: {} ({} logical CPUs, {}), {} threads. Started {}; ditbench {} ({}).\n",
        env.cpu_model,
        env.logical_cores,
        env.os,
        env.threads.threads,
        check.started,
        check.tool_version,
        check.git_commit
    );
    let _ = writeln!(
        md,
        "| model | pass | shape | backend | their code | ours | theirs | ours/theirs [95% CI] | verdict | parity (rel. error) |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---:|---:|---:|---|---|");
    let mut not_run: Vec<(String, Vec<String>)> = Vec::new();
    for p in &check.pairs {
        let lead = format!(
            "| {} | {} | {} | {} | {} |",
            md_escape(&p.workload),
            p.pass,
            md_escape(&p.shape),
            p.backend,
            md_escape(&p.reference)
        );
        let _ = match &p.outcome {
            PairOutcome::Measured(m) => writeln!(
                md,
                "{lead} {} | {} | {:.3} [{:.3}, {:.3}] | {} | {} {:.1e} |",
                units::format_seconds(m.ours.median_s),
                units::format_seconds(m.theirs.median_s),
                m.ratio,
                m.ratio_ci95[0],
                m.ratio_ci95[1],
                verdict_text(m.verdict),
                if m.parity.status == ParityStatus::Pass {
                    "pass"
                } else {
                    "FAIL"
                },
                m.parity.output_rel_error
            ),
            PairOutcome::Skipped { reason } => {
                let pair = format!("{} {} {}", p.workload, p.pass, p.backend);
                match not_run.iter_mut().find(|(r, _)| r == reason) {
                    Some((_, pairs)) => pairs.push(pair),
                    None => not_run.push((reason.clone(), vec![pair])),
                }
                Ok(())
            }
            PairOutcome::Failed { error } => writeln!(
                md,
                "{lead} | | | failed: {} | |",
                md_escape(&error.replace('\n', " "))
            ),
        };
    }
    if !not_run.is_empty() {
        let _ = writeln!(md, "\nNot run:\n");
        for (reason, pairs) in &not_run {
            let _ = writeln!(md, "- {}: {}", md_escape(reason), pairs.join(", "));
        }
    }
    let _ = writeln!(
        md,
        "\nA ratio at most {MATCH_RATIO} matches the framework's own code. Samples per side: {}.\n",
        sample_counts(check)
    );
    for p in &check.pairs {
        let PairOutcome::Measured(m) = &p.outcome else {
            continue;
        };
        let _ = writeln!(
            md,
            "**{} {} {}**: ours `{}`; theirs `{}`.",
            p.workload, p.pass, p.backend, m.ours_attention, m.theirs_attention
        );
        if let Some(detail) = &m.parity.detail {
            let _ = writeln!(md, "Parity: {detail}.");
        }
        for note in &m.notes {
            let _ = writeln!(md, "- {note}");
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(md, "Definitions:\n");
    for (name, text) in DEFINITIONS {
        let _ = writeln!(md, "- `{name}`: {text}");
    }
    md
}

/// The fewest and most samples a measured side has, e.g. `12-80`.
fn sample_counts(check: &ReferenceCheck) -> String {
    let counts: Vec<usize> = check
        .pairs
        .iter()
        .filter_map(|p| match &p.outcome {
            PairOutcome::Measured(m) => Some(m.ours.n.min(m.theirs.n)),
            _ => None,
        })
        .collect();
    match (counts.iter().min(), counts.iter().max()) {
        (Some(lo), Some(hi)) if lo == hi => lo.to_string(),
        (Some(lo), Some(hi)) => format!("{lo} to {hi}"),
        _ => "none".into(),
    }
}
