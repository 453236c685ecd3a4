//! The comparison as Markdown, for CI job summaries.

use super::gate::{CaseChange, Comparison, Outcome};
use super::rule::Verdict;
use ditbench_core::util::units::{format_seconds, md_escape};

/// A Markdown summary for CI job summaries: the verdict first, then the
/// regressions and improvements, then everything else.
pub fn render_markdown(c: &Comparison) -> String {
    let mut md = String::new();
    markdown_summary(c, &mut md);
    markdown_cases(c, &mut md);
    markdown_notes(c, &mut md);
    ditbench_core::util::units::visible_controls(&md)
}

/// The outcome with its counts, the diagnosis and the shard sets.
fn markdown_summary(c: &Comparison, md: &mut String) {
    md.push_str("# ditbench compare\n\n");
    let unchanged = c.unchanged();
    let counts = format!(
        "{} improvement(s), {unchanged} unchanged, {} inconclusive, {} not compared.",
        c.improvements,
        c.inconclusive,
        c.unmatched.len()
    );
    md.push_str(&match c.outcome() {
        Outcome::Regression => format!("**{} regression(s)**, {counts}\n\n", c.regressions),
        Outcome::Inconclusive => {
            format!("**Inconclusive: rerun.** No regression among the cases judged: {counts}\n\n")
        }
        Outcome::Pass => format!("No regression: {counts}\n\n"),
    });
    md.push_str(&format!("{}\n\n", md_escape(&history_line(c))));
    if let Some(d) = &c.diagnosis {
        md.push_str(&format!("{}\n\n", md_escape(d)));
    }
    for s in &c.shards {
        md.push_str(&format!("- {}\n", md_escape(s)));
    }
    if !c.shards.is_empty() {
        md.push('\n');
    }
}

/// The ratios a case's time counts as unchanged within.
pub fn band_text([down, up]: [f64; 2]) -> String {
    format!("{down:.3}–{up:.3}")
}

/// Where the cases' bands came from: the history, or the threshold alone.
pub fn history_line(c: &Comparison) -> String {
    let t = &c.thresholds;
    match &c.history {
        Some(h) => format!(
            "Band: from each case's history, up to {} earlier runs ({} read, none after the baseline): the widest of ±{:.1}%, {} run-to-run standard deviations of a two-run ratio, and the slowest and fastest earlier run {:.1}% beyond, for {} of {} cases; the other {} had fewer than {} earlier runs and were judged by the within-run interval against ±{:.1}%. Peak memory: against the highest and lowest earlier peak too, {:.1}% beyond.",
            t.history_lookback,
            h.runs,
            t.time_relative * 100.0,
            t.history_z,
            t.time_relative * 100.0,
            h.cases_with_band,
            c.cases.len(),
            c.cases.len() - h.cases_with_band,
            t.history_min_runs,
            t.time_relative * 100.0,
            t.memory_relative * 100.0,
        ),
        None => format!(
            "Band: ±{:.1}% (--time-threshold) around the within-run interval; no history was given, so run-to-run noise is not accounted for (pass --history with earlier runs of this machine).",
            t.time_relative * 100.0
        ),
    }
}

/// One row per compared case: regressions first, then improvements.
fn markdown_cases(c: &Comparison, md: &mut String) {
    md.push_str(
        "| case | baseline | candidate | ratio | 95% CI | p | band | time | rule | peak RSS ratio | memory |\n",
    );
    md.push_str("|---|---:|---:|---:|---:|---:|---:|---|---|---:|---|\n");
    let mut rows: Vec<&CaseChange> = c.cases.iter().collect();
    // Regressions first, then improvements, then the rest.
    rows.sort_by_key(|r| match (r.regressed(), r.time.verdict) {
        (true, _) => 0,
        (false, Verdict::Improvement) => 1,
        (false, Verdict::Inconclusive) => 2,
        _ => 3,
    });
    for r in rows {
        let t = &r.time;
        let (ratio, verdict) = match &r.memory {
            Some(m) => (format!("{:.3}x", m.ratio), m.verdict.name()),
            None => ("-".into(), "-"),
        };
        md.push_str(&format!(
            "| {} | {} | {} | {:.3}x | {:.3}–{:.3} | {:.3} | {} | {} | {} | {ratio} | {verdict} |\n",
            md_escape(&r.case),
            format_seconds(t.baseline_median_s),
            format_seconds(t.candidate_median_s),
            t.ratio,
            t.ratio_ci95[0],
            t.ratio_ci95[1],
            t.p_value,
            band_text(t.band),
            if t.verdict == Verdict::Regression {
                "**regression**"
            } else {
                t.verdict.name()
            },
            t.rule.name(),
        ));
    }
}

/// The cases that cannot be judged, those not compared, and what changed
/// in the environment.
fn markdown_notes(c: &Comparison, md: &mut String) {
    let doubtful: Vec<&CaseChange> = c
        .cases
        .iter()
        .filter(|r| !r.time.inconclusive.is_empty())
        .collect();
    if !doubtful.is_empty() {
        md.push_str("\n**Inconclusive** (cannot be judged: rerun them)\n\n");
        for r in doubtful {
            md.push_str(&format!(
                "- {}: {}\n",
                md_escape(&r.case),
                md_escape(&r.time.inconclusive.join("; "))
            ));
        }
    }
    if !c.unmatched.is_empty() {
        md.push_str("\n**Not compared**\n\n");
        for u in &c.unmatched {
            md.push_str(&format!(
                "- {}: {}\n",
                md_escape(&u.case),
                md_escape(&u.why)
            ));
        }
    }
    if !c.environment.is_empty() {
        md.push_str("\n**Environment changes**\n\n");
        for e in &c.environment {
            md.push_str(&format!(
                "- {}: {} → {}\n",
                md_escape(&e.what),
                md_escape(&e.baseline),
                md_escape(&e.candidate)
            ));
        }
    }
}
