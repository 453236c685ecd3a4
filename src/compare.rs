//! `ditbench compare`: the regression gate's command line and terminal table.

use anyhow::Result;
use comfy_table::presets::NOTHING;
use comfy_table::{Cell, Color};
use ditbench_core::util::units::terminal_text;
use ditbench_harness::read::compare::{
    Comparison, History, Outcome, Thresholds, Verdict, band_text, compare as compare_runs,
    history_line, render_markdown,
};
use ditbench_harness::read::report::load_runs;

use crate::cli::{CompareArgs, CompareFormat, ThresholdArgs};
use crate::format::{bytes, fit, natural, rendered_width, right, seconds, table};
use crate::{UsageError, out};

/// The exit code of a comparison with no regression but cases that could
/// not be judged: a nightly job reruns rather than passes or fails.
pub const INCONCLUSIVE_EXIT: u8 = 3;

/// The gate's thresholds from the command line, each checked once.
pub fn thresholds(args: &ThresholdArgs) -> Result<Thresholds> {
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
    if args.history_min_runs < 2 || args.history_lookback < args.history_min_runs {
        return Err(UsageError(format!(
            "--history-min-runs must be at least 2 (a spread needs two runs) and --history-lookback at least as many, not {} and {}",
            args.history_min_runs, args.history_lookback
        ))
        .into());
    }
    Ok(Thresholds {
        time_relative: positive(args.time_threshold, "time-threshold")? / 100.0,
        time_floor_s: positive(args.time_floor_ms, "time-floor-ms")? / 1e3,
        memory_relative: positive(args.memory_threshold, "memory-threshold")? / 100.0,
        memory_floor_bytes: (positive(args.memory_floor_mib, "memory-floor-mib")?
            * (1u64 << 20) as f64) as u64,
        alpha: args.alpha,
        history_z: positive(args.history_z, "history-z")?,
        history_min_runs: args.history_min_runs,
        history_lookback: args.history_lookback,
    })
}

/// Run the comparison and print it; what the gate concludes.
pub fn compare(args: &CompareArgs) -> Result<Outcome> {
    let thresholds = thresholds(&args.thresholds)?;
    let load = |path: &std::path::PathBuf, side: &str| {
        load_runs(std::slice::from_ref(path))
            .map(|runs| runs.into_iter().map(|r| r.results).collect::<Vec<_>>())
            .map_err(|e| UsageError(format!("{side}: {e:#}")))
    };
    let baseline = load(&args.baseline, "baseline")?;
    let candidate = load(&args.candidate, "candidate")?;
    let history = if args.history.is_empty() {
        None
    } else {
        let runs = load_runs(&args.history)
            .map_err(|e| UsageError(format!("history: {e:#}")))?
            .into_iter()
            .map(|r| r.results)
            .collect::<Vec<_>>();
        // The nights up to the baseline: a regression that failed later
        // nights must not widen the band that judges it again.
        let until = baseline.iter().map(|r| r.started_at.as_str()).max();
        Some(History::new(&runs, &candidate, until))
    };
    let comparison = compare_runs(&baseline, &candidate, history.as_ref(), &thresholds);
    if comparison.cases.is_empty() {
        return Err(UsageError(format!(
            "the baseline and the candidate have no measured case in common ({} unmatched); compare runs of the same cases",
            comparison.unmatched.len()
        ))
        .into());
    }
    match args.format {
        // Its cells are shown with terminal_text; its colours stay.
        CompareFormat::Table => {
            out::styled(&terminal(&comparison, crate::format::terminal_width()))?
        }
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
fn terminal(c: &Comparison, width: Option<usize>) -> String {
    let wide = natural(&mut case_table(c, true));
    let cases = match width {
        // Too wide for the terminal: the deciding columns, borderless.
        Some(w) if rendered_width(&wide) > w => {
            let mut compact = case_table(c, false);
            compact.load_style(NOTHING);
            fit(compact, w)
        }
        _ => wide,
    };
    let mut out = format!("{cases}\n");
    out.push_str(&notes(c));
    out.push_str(&verdict_line(c));
    out
}

/// One row per matched case: times, ratio, CI, p, band, verdicts and
/// rule, peak RSS; `wide: false` keeps the deciding columns (case, ratio,
/// band, time, rule, memory) for a narrow terminal.
fn case_table(c: &Comparison, wide: bool) -> comfy_table::Table {
    let header: &[&str] = if wide {
        &[
            "case",
            "baseline",
            "candidate",
            "ratio",
            "95% CI",
            "p",
            "band",
            "time",
            "rule",
            "peak RSS",
            "memory",
        ]
    } else {
        &["case", "ratio", "band", "time", "rule", "memory"]
    };
    let mut rows = table(header);
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
        let name = Cell::new(terminal_text(&case.case));
        let (ratio, band) = (right(format!("{:.3}x", t.ratio)), right(band_text(t.band)));
        let (time, rule) = (verdict_cell(t.verdict), Cell::new(t.rule.name()));
        if wide {
            rows.add_row([
                name,
                right(seconds(t.baseline_median_s)),
                right(seconds(t.candidate_median_s)),
                ratio,
                right(format!("{:.3}–{:.3}", t.ratio_ci95[0], t.ratio_ci95[1])),
                right(format!("{:.3}", t.p_value)),
                band,
                time,
                rule,
                rss,
                memory,
            ]);
        } else {
            rows.add_row([name, ratio, band, time, rule, memory]);
        }
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
        "{} regression(s), {} improvement(s), {} unchanged, {} inconclusive, {} not compared.\n{}\nA time regression: the ratio's 95% interval wholly above the band and the rank test significant (Mann-Whitney p < {}); unchanged: the interval within the band, or no significant difference; inconclusive: the interval across the band's edge with a significant difference, too few samples for p < {}, or a change beside a contended side{}; an unsteady side (its level moved by more than 10% while timed) widens the band by its drift. Medians within {} never differ (timer floor). Memory: above {}% and {}.\n",
        c.regressions,
        c.improvements,
        c.unchanged(),
        c.inconclusive,
        c.unmatched.len(),
        history_line(c),
        t.alpha,
        t.alpha,
        if c.outcome() == Outcome::Inconclusive {
            format!(" (exit {INCONCLUSIVE_EXIT}: rerun)")
        } else {
            String::new()
        },
        seconds(t.time_floor_s),
        t.memory_relative * 100.0,
        bytes(t.memory_floor_bytes),
    )
}
