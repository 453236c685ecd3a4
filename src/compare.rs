//! `ditbench compare`: the regression gate's command line and terminal table.

use anyhow::Result;
use comfy_table::{Cell, Color};
use ditbench_core::util::units::terminal_text;
use ditbench_harness::read::compare::{
    Comparison, Outcome, Thresholds, Verdict, compare as compare_runs, render_markdown,
};
use ditbench_harness::read::report::load_runs;

use crate::cli::{CompareArgs, CompareFormat};
use crate::format::{bytes, right, seconds, table};
use crate::{UsageError, out};

/// The exit code of a comparison with no regression but cases that could
/// not be judged: a nightly job reruns rather than passes or fails.
pub const INCONCLUSIVE_EXIT: u8 = 3;

/// Run the comparison and print it; what the gate concludes.
pub fn compare(args: &CompareArgs) -> Result<Outcome> {
    let positive = |v: f64, name: &str| -> Result<f64> {
        if v.is_finite() && v >= 0.0 {
            Ok(v)
        } else {
            Err(UsageError(format!("--{name} must be a number of at least 0, not {v}")).into())
        }
    };
    if !(args.alpha > 0.0 && args.alpha < 1.0) {
        return Err(UsageError(format!(
            "--alpha must be between 0 and 1, not {}",
            args.alpha
        ))
        .into());
    }
    let thresholds = Thresholds {
        time_relative: positive(args.time_threshold, "time-threshold")? / 100.0,
        time_floor_s: positive(args.time_floor_ms, "time-floor-ms")? / 1e3,
        memory_relative: positive(args.memory_threshold, "memory-threshold")? / 100.0,
        memory_floor_bytes: (positive(args.memory_floor_mib, "memory-floor-mib")?
            * (1u64 << 20) as f64) as u64,
        alpha: args.alpha,
    };
    let load = |path: &std::path::PathBuf, side: &str| {
        load_runs(std::slice::from_ref(path))
            .map(|runs| runs.into_iter().map(|r| r.results).collect::<Vec<_>>())
            .map_err(|e| UsageError(format!("{side}: {e:#}")))
    };
    let baseline = load(&args.baseline, "baseline")?;
    let candidate = load(&args.candidate, "candidate")?;
    let comparison = compare_runs(&baseline, &candidate, &thresholds);
    if comparison.cases.is_empty() {
        return Err(UsageError(format!(
            "the baseline and the candidate have no measured case in common ({} unmatched); compare runs of the same cases",
            comparison.unmatched.len()
        ))
        .into());
    }
    match args.format {
        // Its cells are shown with terminal_text; its colours stay.
        CompareFormat::Table => out::styled(&terminal(&comparison))?,
        CompareFormat::Md => out::text(&render_markdown(&comparison))?,
        CompareFormat::Json => out::json(&comparison)?,
    }
    Ok(comparison.outcome())
}

fn verdict_cell(v: Verdict) -> Cell {
    let cell = Cell::new(v.name());
    match v {
        Verdict::Regression => cell.fg(Color::Red),
        Verdict::Improvement => cell.fg(Color::Green),
        Verdict::Inconclusive => cell.fg(Color::Yellow),
        Verdict::Unchanged => cell,
    }
}

/// The terminal report: one row per matched case, then what could not be
/// compared, what changed in the environment, and the verdict.
fn terminal(c: &Comparison) -> String {
    let mut out = format!("{}\n", case_table(c));
    out.push_str(&notes(c));
    out.push_str(&verdict_line(c));
    out
}

/// One row per matched case: times, ratio, CI, p, verdicts.
fn case_table(c: &Comparison) -> comfy_table::Table {
    let mut rows = table(&[
        "case",
        "baseline",
        "candidate",
        "ratio",
        "95% CI",
        "p",
        "time",
        "peak RSS",
        "memory",
    ]);
    for case in &c.cases {
        let t = &case.time;
        let (rss, memory) = match &case.memory {
            Some(m) => (
                right(format!(
                    "{} → {}",
                    bytes(m.baseline_bytes),
                    bytes(m.candidate_bytes)
                )),
                verdict_cell(m.verdict),
            ),
            None => (right("-"), Cell::new("-")),
        };
        rows.add_row([
            Cell::new(terminal_text(&case.case)),
            right(seconds(t.baseline_median_s)),
            right(seconds(t.candidate_median_s)),
            right(format!("{:.3}x", t.ratio)),
            right(format!("{:.3}–{:.3}", t.ratio_ci95[0], t.ratio_ci95[1])),
            right(format!("{:.3}", t.p_value)),
            verdict_cell(t.verdict),
            rss,
            memory,
        ]);
    }
    rows
}

/// Shard sets, inconclusive and unmatched cases, environment changes and
/// the diagnosis, one line each.
fn notes(c: &Comparison) -> String {
    let mut out = String::new();
    for s in &c.shards {
        out.push_str(&format!("{}\n", terminal_text(s)));
    }
    for case in c.cases.iter().filter(|r| !r.time.inconclusive.is_empty()) {
        out.push_str(&format!(
            "inconclusive: {} ({})\n",
            terminal_text(&case.case),
            terminal_text(&case.time.inconclusive.join("; "))
        ));
    }
    for u in &c.unmatched {
        out.push_str(&format!(
            "not compared: {} ({})\n",
            terminal_text(&u.case),
            terminal_text(&u.why)
        ));
    }
    if !c.environment.is_empty() {
        out.push_str("environment changes:\n");
        for e in &c.environment {
            out.push_str(&format!(
                "  {}: {} → {}\n",
                terminal_text(&e.what),
                terminal_text(&e.baseline),
                terminal_text(&e.candidate)
            ));
        }
    }
    if let Some(d) = &c.diagnosis {
        out.push_str(&format!("{}\n", terminal_text(d)));
    }
    out
}

/// The counts and the rule they were judged by.
fn verdict_line(c: &Comparison) -> String {
    let t = &c.thresholds;
    format!(
        "{} regression(s), {} improvement(s), {} unchanged, {} inconclusive, {} not compared. A time regression is significant (Mann-Whitney p < {}, ratio CI above 1), above {}% and above {}; memory above {}% and {}. Inconclusive: too few samples to reach p < {} whatever the data, or a side contended or of low confidence{}.\n",
        c.regressions,
        c.improvements,
        c.unchanged(),
        c.inconclusive,
        c.unmatched.len(),
        t.alpha,
        t.time_relative * 100.0,
        seconds(t.time_floor_s),
        t.memory_relative * 100.0,
        bytes(t.memory_floor_bytes),
        t.alpha,
        if c.outcome() == Outcome::Inconclusive {
            format!(" (exit {INCONCLUSIVE_EXIT}: rerun)")
        } else {
            String::new()
        },
    )
}
