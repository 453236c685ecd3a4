//! `ditbench gate-study`: the regression gate measured on repeated runs of
//! one suite, without and with history, as Markdown tables or JSON.

use anyhow::Result;
use ditbench_core::util::units::{format_seconds, md_escape};
use ditbench_harness::read::gate_study::{DETECTED_SHARE, GateStudy, study};
use ditbench_harness::read::report::load_runs;
use serde::Serialize;

use crate::cli::{GateStudyArgs, StudyFormat};
use crate::compare::thresholds;
use crate::{UsageError, out};

/// Both studies: the within-run interval alone, and with history.
#[derive(Serialize)]
struct Studies {
    without_history: GateStudy,
    with_history: GateStudy,
}

pub fn gate_study(args: &GateStudyArgs) -> Result<()> {
    let t = thresholds(&args.thresholds)?;
    if let Some(bad) = args.factors.iter().find(|f| !(f.is_finite() && **f > 0.0)) {
        return Err(UsageError(format!("--factors must be positive numbers, not {bad}")).into());
    }
    let mut factors = args.factors.clone();
    factors.sort_by(f64::total_cmp);
    factors.dedup();
    if factors.first() != Some(&1.0) {
        // The A/A pairs are what the false alarms come from.
        factors.insert(0, 1.0);
    }
    let runs: Vec<_> = load_runs(&args.runs)
        .map_err(|e| UsageError(format!("{e:#}")))?
        .into_iter()
        .map(|r| r.results)
        .collect();
    let hosts: std::collections::BTreeSet<&str> =
        runs.iter().map(|r| r.environment.host.as_str()).collect();
    if runs.len() < 2 || hosts.len() > 1 {
        return Err(UsageError(format!(
            "gate-study needs two or more runs of one machine, got {} run(s) of {} machine(s)",
            runs.len(),
            hosts.len()
        ))
        .into());
    }
    let studies = Studies {
        without_history: study(&runs, &factors, &t, false),
        with_history: study(&runs, &factors, &t, true),
    };
    match args.format {
        StudyFormat::Json => out::json(&studies),
        StudyFormat::Md => out::text(&markdown(&studies)),
    }
}

fn markdown(s: &Studies) -> String {
    let w = &s.with_history;
    let t = &w.thresholds;
    let mut md = format!(
        "# The regression gate on this machine\n\n{} runs, {} ordered pairs (A/A: nothing changed between them). Each factor scales every sample of the candidate. Thresholds: --time-threshold {:.1}%, --history-z {}, --history-min-runs {}, --alpha {}; with history, each pair's history is every run but the candidate ({} runs).\n\n",
        w.runs,
        w.pairs,
        t.time_relative * 100.0,
        t.history_z,
        t.history_min_runs,
        t.alpha,
        w.runs - 1,
    );
    for (title, study) in [
        ("With history (the nightly job)", &s.with_history),
        ("Without history (two files alone)", &s.without_history),
    ] {
        md.push_str(&format!("## {title}: pairs\n\n"));
        md.push_str(&pairs_table(study));
    }
    md.push_str(&format!(
        "## With history: cases\n\n\"spread\": the robust run-to-run spread of the case's median; \"widest A/A\": the largest ratio of medians between two runs, either way; \"band\": the median upper edge of the band it was judged against (a ratio); \"smallest found\": the smallest injected slowdown flagged in at least {:.0}% of pairs (19 of 20).\n\n",
        DETECTED_SHARE * 100.0
    ));
    md.push_str(&cases_table(&s.with_history));
    md.push_str("\n## Without history: cases\n\n");
    md.push_str(&cases_table(&s.without_history));
    ditbench_core::util::units::visible_controls(&md)
}

fn pairs_table(s: &GateStudy) -> String {
    let mut md = String::from(
        "| slowdown | pairs | pairs failed (exit 1) | pairs inconclusive (exit 3) | cases flagged, mean (most) | inconclusive cases, mean (most) |\n|---:|---:|---:|---:|---:|---:|\n",
    );
    for f in &s.factors {
        let pairs = f.pairs.max(1) as f64;
        md.push_str(&format!(
            "| {:.2}x | {} | {} | {} | {:.1} of {} ({}) | {:.1} ({}) |\n",
            f.factor,
            f.pairs,
            f.pairs_failed,
            f.pairs_inconclusive,
            f.regressions as f64 / pairs,
            f.cases,
            f.most_regressions,
            f.inconclusive as f64 / pairs,
            f.most_inconclusive,
        ));
    }
    md.push('\n');
    md
}

fn cases_table(s: &GateStudy) -> String {
    let factors: Vec<f64> = s
        .factors
        .iter()
        .map(|f| f.factor)
        .filter(|f| *f != 1.0)
        .collect();
    let mut md = String::from(
        "| case | median | spread | widest A/A | band | A/A flagged | A/A inconclusive |",
    );
    for f in &factors {
        md.push_str(&format!(" {f:.2}x found |"));
    }
    md.push_str(" smallest found |\n|---|---:|---:|---:|---:|---:|---:|");
    md.push_str(&"---:|".repeat(factors.len() + 1));
    md.push('\n');
    for c in &s.cases {
        let a_a = c.factors.iter().find(|f| f.factor == 1.0);
        md.push_str(&format!(
            "| {} | {} | {} | {:.3}x | {:.3}x | {} | {} |",
            md_escape(&c.case),
            format_seconds(c.median_s),
            c.spread
                .map_or("-".into(), |s| format!("{:.1}%", s * 100.0)),
            c.widest_a_a_ratio,
            c.band_up,
            a_a.map_or(0, |f| f.regressions),
            a_a.map_or(0, |f| f.inconclusive),
        ));
        for f in c.factors.iter().filter(|f| f.factor != 1.0) {
            md.push_str(&format!(" {}/{} |", f.regressions, f.pairs));
        }
        md.push_str(&format!(
            " {} |\n",
            c.smallest_detected
                .map_or("none".into(), |f| format!("{f:.2}x"))
        ));
    }
    md
}
