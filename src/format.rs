//! Human-readable numbers and the terminal tables.

use comfy_table::presets::{NOTHING, UTF8_FULL_CONDENSED};
use comfy_table::{Cell, CellAlignment, Color, ContentArrangement, Table};
use ditbench_core::check::parity::ParityStatus;
use ditbench_core::model::cost::cost;
use ditbench_core::model::pipeline::{Stage, VideoPipeline};
use ditbench_core::util::units::{terminal_text, visible_controls};
use ditbench_harness::record::extrapolate::{model_label, worth_showing};
use ditbench_harness::record::results::{CaseResult, Status};
use ditbench_harness::record::scale::{FullModel, Interval};
use ditbench_harness::stats::Stats;

/// Every figure is written by `ditbench_core::util::units`, the same
/// functions the report uses: seconds, counts, FLOPs, rates and dollars.
pub use ditbench_core::util::units::{
    dollars, flops_text as flops, format_seconds as seconds, rate, si_count as si,
};

/// Bytes as the terminal writes them: `3.00 GiB`, `512.0 MiB`.
pub fn bytes(b: u64) -> String {
    ditbench_core::util::units::bytes(b, 2)
}

/// Columns of the terminal: `COLUMNS` when set (scripts, tests), else the
/// width of the terminal on stdout or stderr; `None` when neither is a
/// terminal (output to a file keeps its long lines).
pub fn terminal_width() -> Option<usize> {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
    {
        return Some(n);
    }
    for fd in [libc::STDOUT_FILENO, libc::STDERR_FILENO] {
        // SAFETY: TIOCGWINSZ writes one winsize into the struct given.
        let mut size: libc::winsize = unsafe { std::mem::zeroed() };
        if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) } == 0 && size.ws_col > 0 {
            return Some(usize::from(size.ws_col));
        }
    }
    None
}

/// `parts` joined by `separator`, wrapped to `width` columns (no limit when
/// `None`); continuation lines start with `indent` spaces. A part longer
/// than a line stands alone on its line.
pub fn wrap(parts: &[String], separator: &str, width: Option<usize>, indent: usize) -> String {
    let width = width.unwrap_or(usize::MAX);
    let mut out = String::new();
    let mut line_len = 0;
    for part in parts.iter().filter(|p| !p.is_empty()) {
        let len = part.chars().count();
        if line_len == 0 {
            out.push_str(part);
            line_len = len;
        } else if line_len + separator.len() + len <= width {
            out.push_str(separator);
            out.push_str(part);
            line_len += separator.len() + len;
        } else {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            out.push_str(part);
            line_len = indent + len;
        }
    }
    out
}

/// Prose wrapped at word boundaries, continuation lines indented.
pub fn wrap_words(text: &str, width: Option<usize>, indent: usize) -> String {
    let words: Vec<String> = text.split_whitespace().map(str::to_string).collect();
    wrap(&words, " ", width, indent)
}

/// `c` with every text it took from a file (a resumed run's, a worker's
/// error) shown as [`terminal_text`] shows it; line breaks of an error kept.
pub fn for_terminal(c: &CaseResult) -> CaseResult {
    let mut c = c.clone();
    let one_line = [
        &mut c.id,
        &mut c.backend,
        &mut c.device,
        &mut c.workload.label,
    ];
    for text in one_line {
        *text = terminal_text(text);
    }
    let optional = [
        &mut c.framework,
        &mut c.device_name,
        &mut c.reason,
        &mut c.attention,
    ];
    for text in optional.into_iter().flatten() {
        *text = terminal_text(text);
    }
    for note in &mut c.notes {
        *note = terminal_text(note);
    }
    if let Some(error) = &mut c.error {
        *error = visible_controls(error);
    }
    if let Some(parity) = &mut c.parity {
        parity.reference = terminal_text(&parity.reference);
        if let Some(detail) = &mut parity.detail {
            *detail = terminal_text(detail);
        }
    }
    c
}

/// A finished case for the progress output, wrapped to `width` columns:
/// the case, its median and CI, rates, efficiency and threads, then one
/// warning line per doubt.
pub fn case_line(c: &CaseResult, width: Option<usize>) -> String {
    match c.status {
        Status::Ok => {
            let s = c.stats.as_ref().expect("ok cases have stats");
            let t = c.throughput.as_ref().expect("ok cases have throughput");
            let mut parts = vec![
                format!("ok      {}", c.id),
                format!("{} {}", seconds(s.median_s), ci_text(s)),
                format!("{} tok/s", si(t.tokens_per_s)),
                format!("{} TFLOP/s", rate(t.tflops)),
            ];
            if let Some(e) = &c.efficiency {
                if let Some(mfu) = e.mfu {
                    parts.push(format!("MFU {:.1}%", mfu * 100.0));
                }
                if let (Some(of), Some(g)) = (e.of_gemm, &e.gemm) {
                    parts.push(format!("{:.0}% of GEMM {}", of * 100.0, rate(g.tflops)));
                }
                if let Some(m) = &e.memory {
                    let mut read = format!("{:.1} GB/s read", m.achieved_gb_s);
                    if let (Some(of), Some(b)) = (m.of_calibrated, &m.calibrated) {
                        read.push_str(&format!(" ({:.0}% of {:.1} GB/s)", of * 100.0, b.gb_s));
                    }
                    parts.push(read);
                }
            }
            let mut warnings: Vec<String> = Vec::new();
            if let Some(threads) = &c.threads {
                parts.push(threads.summary());
                warnings.extend(threads.mismatches());
            }
            warnings.extend(
                c.confidence
                    .iter()
                    .flat_map(|k| &k.reasons)
                    .map(|r| format!("low confidence: {r}")),
            );
            let mut text = wrap(&parts, "  ", width, 8);
            for w in warnings {
                text.push_str("\n  ");
                text.push_str(
                    &wrap_words(
                        &format!("warning: {w}"),
                        width.map(|w| w.saturating_sub(2)),
                        4,
                    )
                    .replace('\n', "\n  "),
                );
            }
            text
        }
        Status::Skipped => wrap_words(
            &format!("skipped {}: {}", c.id, c.reason.as_deref().unwrap_or("")),
            width,
            8,
        ),
        Status::Failed => wrap_words(
            &format!(
                "FAILED  {}{}: {}",
                c.id,
                c.failure
                    .map(|f| format!(" ({})", f.name()))
                    .unwrap_or_default(),
                c.error
                    .as_deref()
                    .unwrap_or("")
                    .lines()
                    .next()
                    .unwrap_or("")
            ),
            width,
            8,
        ),
    }
}

/// The median's 95% CI half-width as `1.2%`, for a `±CI95` column; `n/a`
/// with one sample (there is none).
fn ci_percent(s: &Stats) -> String {
    s.relative_ci_half_width()
        .map_or("n/a".into(), |w| format!("{:.1}%", w * 100.0))
}

/// The median's 95% CI as `±1.2%`; `CI n/a` with one sample (there is none).
pub fn ci_text(s: &Stats) -> String {
    match s.relative_ci_half_width() {
        Some(w) => format!("±{:.1}%", w * 100.0),
        None => "CI n/a".into(),
    }
}

/// `good`, `low` or `contended` (the strongest reason), coloured.
fn confidence_cell(c: &CaseResult) -> Cell {
    match &c.confidence {
        _ if c.contended() => Cell::new("contended").fg(Color::Red),
        Some(k) if k.is_good() => Cell::new("good"),
        Some(_) => Cell::new("low").fg(Color::Yellow),
        None => Cell::new("-"),
    }
}

pub fn right(text: impl Into<String>) -> Cell {
    Cell::new(text.into()).set_alignment(CellAlignment::Right)
}

pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().map(Cell::new));
    t
}

/// `table` at its natural width: no cell wrapped. (A dynamic table on a
/// terminal wraps its cells to the terminal's width by itself, mid-word,
/// so its width says nothing about whether the table fits.)
pub fn natural(table: &mut Table) -> String {
    table.set_content_arrangement(ContentArrangement::Disabled);
    table.to_string()
}

/// `table` rendered at its natural width when that fits `width`, else
/// with its cells wrapped to fit.
pub fn fit(mut table: Table, width: usize) -> String {
    let natural = natural(&mut table);
    if rendered_width(&natural) <= width {
        return natural;
    }
    table
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width.try_into().unwrap_or(u16::MAX));
    table.to_string()
}

/// The widest line of a rendered table, in characters.
pub fn rendered_width(text: &str) -> usize {
    text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

/// The summary printed at the end of `ditbench run`: the wide table when
/// it fits `width` (or there is no limit), else one compact table per
/// workload, device and dtype with the deciding columns.
pub fn summary_text(cases: &[CaseResult], width: Option<usize>) -> String {
    let wide = natural(&mut summary_table(cases));
    match width {
        Some(w) if rendered_width(&wide) > w => compact_summary(cases, w),
        _ => wide,
    }
}

/// One borderless table per workload · device · dtype: backend, pass,
/// median, CI, tokens/s, iterations, confidence and parity (about 75
/// columns); a case that did not run says so in the median column and why
/// under its table.
fn compact_summary(cases: &[CaseResult], width: usize) -> String {
    let mut groups: Vec<(String, Vec<&CaseResult>)> = Vec::new();
    for c in cases {
        let title = format!("{} · {} · {}", c.workload.label, c.device, c.dtype);
        match groups.iter_mut().find(|(t, _)| *t == title) {
            Some((_, members)) => members.push(c),
            None => groups.push((title, vec![c])),
        }
    }
    let mut out = String::new();
    for (title, members) in groups {
        let mut t = Table::new();
        t.load_style(NOTHING).set_header(
            [
                "backend",
                "pass",
                "median",
                "±CI95",
                "tokens/s",
                "iters",
                "confidence",
                "parity",
            ]
            .iter()
            .map(Cell::new),
        );
        let mut notes = Vec::new();
        for c in &members {
            let mut row = vec![Cell::new(&c.backend), Cell::new(c.pass)];
            match (&c.stats, &c.throughput) {
                (Some(s), Some(tp)) => row.extend([
                    right(seconds(s.median_s)),
                    right(ci_percent(s)),
                    right(si(tp.tokens_per_s)),
                    right(s.n.to_string()),
                ]),
                _ => {
                    let (label, color) = match c.status {
                        Status::Skipped => ("skipped", Color::Yellow),
                        _ => ("FAILED", Color::Red),
                    };
                    row.extend([
                        Cell::new(label).fg(color),
                        right("-"),
                        right("-"),
                        right("-"),
                    ]);
                    notes.push(case_line(c, Some(width.saturating_sub(2))));
                }
            }
            row.push(confidence_cell(c));
            row.push(parity_cell(c));
            t.add_row(row);
        }
        out.push_str(&format!("{title}\n{}\n", fit(t, width)));
        for n in notes {
            out.push_str(&format!("  {}\n", n.replace('\n', "\n  ")));
        }
    }
    out.push_str(&wrap_words(
        "(A narrow terminal gets one table per workload; a wider one, or COLUMNS=200, the full table with phases, TFLOP/s and peak RSS.)",
        Some(width),
        0,
    ));
    out
}

/// The summary table printed at the end of `ditbench run` on a wide terminal.
pub fn summary_table(cases: &[CaseResult]) -> Table {
    let mut t = table(&[
        "workload",
        "backend",
        "device",
        "dtype",
        "pass",
        "median",
        "±CI95",
        "fwd / bwd",
        "tokens/s",
        "TFLOP/s",
        "peak RSS",
        "iters",
        "confidence",
        "parity",
        "status",
    ]);
    for c in cases {
        let mut row = vec![
            Cell::new(&c.workload.label),
            Cell::new(&c.backend),
            Cell::new(&c.device),
            Cell::new(c.dtype),
            Cell::new(c.pass),
        ];
        match (&c.stats, &c.throughput) {
            (Some(s), Some(tp)) => {
                let phases = c.phases.as_ref().map_or("-".to_string(), |p| {
                    format!(
                        "{} / {}",
                        seconds(p.forward_median_s),
                        seconds(p.backward_median_s)
                    )
                });
                let rss = c
                    .memory
                    .as_ref()
                    .and_then(|m| m.peak_rss_bytes)
                    .map_or("-".into(), bytes);
                row.extend([
                    right(seconds(s.median_s)),
                    right(ci_percent(s)),
                    right(phases),
                    right(si(tp.tokens_per_s)),
                    right(rate(tp.tflops)),
                    right(rss),
                    right(s.n.to_string()),
                ]);
            }
            _ => row.extend((0..7).map(|_| right("-"))),
        }
        row.push(confidence_cell(c));
        row.push(parity_cell(c));
        row.push(match c.status {
            Status::Ok => Cell::new("ok").fg(Color::Green),
            Status::Skipped => Cell::new(format!("skipped: {}", c.reason.as_deref().unwrap_or("")))
                .fg(Color::Yellow),
            Status::Failed => Cell::new(c.status_label().to_uppercase()).fg(Color::Red),
        });
        t.add_row(row);
    }
    t
}

/// `12.3 s (11.9-12.8)`: a median and its 95% interval.
/// `12.3 s (CI n/a)` when the interval is a point (one sample a side).
fn interval(i: &Interval) -> String {
    if i.ci95_s[0] < i.ci95_s[1] {
        format!(
            "{} ({}-{})",
            seconds(i.median_s),
            seconds(i.ci95_s[0]),
            seconds(i.ci95_s[1])
        )
    } else {
        format!("{} (CI n/a)", seconds(i.median_s))
    }
}

/// The full models of the run's forward cases (measured, or extrapolated
/// from k blocks, as each row says): one pass, one video / image / request,
/// and its price where `--price-per-hour` was given: the rows worth showing
/// ([`worth_showing`]); `None` when there are none.
pub fn full_model_table(cases: &[CaseResult]) -> Option<Table> {
    let rows: Vec<(&CaseResult, &FullModel)> = cases
        .iter()
        .filter_map(|c| c.full_model.as_ref().map(|f| (c, f)))
        .filter(|(c, f)| worth_showing(c, f))
        .collect();
    if rows.is_empty() {
        return None;
    }
    let mut t = table(&[
        "full model",
        "backend",
        "pass",
        "basis",
        "per block",
        "one pass",
        "per unit",
        "$ / unit",
        "kWh / unit",
    ]);
    for (c, f) in rows {
        let unit = f.per_unit.as_ref();
        let cost = f.cost.as_ref();
        t.add_row(vec![
            Cell::new(model_label(c)),
            Cell::new(&c.backend),
            Cell::new(c.pass),
            Cell::new(&f.basis),
            right(f.per_block.as_ref().map_or("-".into(), interval)),
            right(interval(&f.forward)),
            right(unit.map_or("-".into(), |u| {
                format!("{} / {}", interval(&u.time), u.unit)
            })),
            right(cost.map_or("-".into(), |c| {
                match (c.usd_per_unit, c.usd_per_million_tokens) {
                    (Some(u), Some(m)) => format!("{} ({} / 1M tok)", dollars(u), dollars(m)),
                    (Some(u), None) => dollars(u),
                    _ => "-".into(),
                }
            })),
            right(
                cost.and_then(|c| c.kwh_per_unit)
                    .map_or("-".into(), |kwh| format!("{kwh:.4}")),
            ),
        ]);
    }
    Some(t)
}

/// `ref`, `ok 3e-7` (relative output error) or `FAIL 2e-3`.
fn parity_cell(c: &CaseResult) -> Cell {
    match &c.parity {
        None => right("-"),
        Some(p) => match p.status {
            ParityStatus::Reference => right("ref"),
            ParityStatus::Pass => right(format!("ok {:.0e}", p.output_rel_error)).fg(Color::Green),
            ParityStatus::Fail => right(format!("FAIL {:.0e}", p.output_rel_error)).fg(Color::Red),
        },
    }
}

/// The table of `ditbench list`.
/// `ditbench list`: the wide table when it fits `width`, else a borderless
/// table of the deciding columns and each preset's description under it.
pub fn presets_text(rows: &[PresetRow], width: Option<usize>) -> String {
    let wide = natural(&mut presets_table(rows, true));
    let Some(w) = width.filter(|&w| rendered_width(&wide) > w) else {
        return wide;
    };
    let mut t = presets_table(rows, false);
    t.load_style(NOTHING);
    let mut out = format!("{}\n", fit(t, w));
    let mut described: Vec<&str> = Vec::new();
    for r in rows {
        if !described.contains(&r.preset.as_str()) {
            described.push(&r.preset);
            out.push_str(&wrap_words(
                &format!("{}: {}", r.preset, r.description),
                Some(w),
                4,
            ));
            out.push('\n');
        }
    }
    out.push_str("train = 3 x forward.");
    out
}

/// `ditbench list`'s pipelines: each named video configuration's stages,
/// sampling, parameters and FLOPs per video, by stage; in a narrow
/// terminal the FLOPs alone in a borderless table, the stages in words.
pub fn pipelines_text(pipelines: &[VideoPipeline], width: Option<usize>) -> String {
    let rows: Vec<(&VideoPipeline, [f64; 3])> = pipelines
        .iter()
        .filter_map(|p| Some((p, p.flops().ok()?)))
        .collect();
    let steps = |p: &VideoPipeline| format!("{}{}", p.steps, if p.guidance { " x2" } else { "" });
    let runs = |p: &VideoPipeline, s: Stage| format!("{} x{}", p.preset(s), p.runs(s));
    let mut wide = table(&[
        "pipeline",
        "text encoder",
        "DiT",
        "VAE",
        "steps",
        "params",
        "enc FLOPs",
        "DiT FLOPs",
        "VAE FLOPs",
        "per video",
    ]);
    let mut narrow = table(&["pipeline", "enc", "DiT", "VAE", "per video"]);
    narrow.load_style(NOTHING);
    for (p, by_stage) in &rows {
        let total = right(flops(by_stage.iter().sum()));
        let mut row = vec![Cell::new(p.name)];
        row.extend(Stage::ALL.map(|s| Cell::new(runs(p, s))));
        row.push(right(steps(p)));
        row.push(right(si(p.parameters().unwrap_or(0) as f64)));
        row.extend(by_stage.map(|f| right(flops(f))));
        row.push(total.clone());
        wide.add_row(row);
        let mut row = vec![Cell::new(p.name)];
        row.extend(by_stage.map(|f| right(flops(f))));
        row.push(total);
        narrow.add_row(row);
    }
    let wide_text = natural(&mut wide);
    let fits = width.is_none_or(|w| rendered_width(&wide_text) <= w);
    let mut out = if fits {
        wide_text
    } else {
        fit(narrow, width.unwrap_or(80))
    };
    out.push('\n');
    for (p, _) in &rows {
        let stages = if fits {
            String::new()
        } else {
            format!(
                "{}, {}, {}; {} steps{}; {} parameters; ",
                runs(p, Stage::TextEncoder),
                runs(p, Stage::Dit),
                runs(p, Stage::Vae),
                p.steps,
                if p.guidance { " with guidance" } else { "" },
                si(p.parameters().unwrap_or(0) as f64)
            )
        };
        out.push_str(&wrap_words(
            &format!("{}: {stages}{} ({}).", p.name, p.description, p.source),
            width,
            4,
        ));
        out.push('\n');
    }
    out.push_str(&wrap_words(
        "x2: classifier-free guidance runs the DiT twice per step and encodes the prompt and the negative prompt; FLOPs per video = each stage's forward FLOPs x its runs.",
        width,
        0,
    ));
    out
}

/// One workload of `ditbench list`: a preset, or a preset with overrides.
pub struct PresetRow {
    /// `preset` or `preset[dim=value,...]`.
    pub label: String,
    pub preset: String,
    /// The preset's description (of the preset as shipped, not the overrides).
    pub description: String,
    pub overridden: bool,
    pub config: ditbench_core::ModelConfig,
}

/// The presets table: wide with family, train FLOPs and descriptions, or
/// compact (short family, no train column: 3 x forward).
fn presets_table(rows: &[PresetRow], wide: bool) -> Table {
    let mut header = vec![
        "preset",
        "family",
        if wide { "parameters" } else { "params" },
        "tokens",
        "forward",
    ];
    if wide {
        header.push("train");
    }
    header.push(if wide { "attention" } else { "attn" });
    if wide {
        header.push("description");
    }
    let mut t = table(&header);
    for p in rows {
        let c = cost(&p.config);
        let attention = (c.self_attention_flops + c.cross_attention_flops) / c.forward_flops;
        let family = p.config.family();
        let mut row = vec![
            Cell::new(&p.label),
            Cell::new(if wide {
                family.to_string()
            } else {
                match family {
                    ditbench_core::model::workload::Family::Wan => "DiT".to_string(),
                    ditbench_core::model::workload::Family::Llama => "LLM".to_string(),
                    ditbench_core::model::workload::Family::Umt5 => "text".to_string(),
                    ditbench_core::model::workload::Family::WanVae => "VAE".to_string(),
                }
            }),
            right(si(c.parameters as f64)),
            right(c.tokens.to_string()),
            right(flops(c.forward_flops)),
        ];
        if wide {
            // The text encoder and the VAE decoder have no training pass.
            row.push(right(if ditbench_core::Pass::Train.applies_to(&p.config) {
                flops(c.train_flops)
            } else {
                "-".into()
            }));
        }
        row.push(right(format!("{:.0}%", attention * 100.0)));
        if wide {
            row.push(Cell::new(if p.overridden {
                format!("{} with overrides; the preset: {}", p.preset, p.description)
            } else {
                p.description.clone()
            }));
        }
        t.add_row(row);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_wrap_to_the_width_with_an_indent() {
        let parts: Vec<String> = ["ok      case", "1.0 ms ±1%", "2k tok/s"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            wrap(&parts, "  ", None, 8),
            "ok      case  1.0 ms ±1%  2k tok/s"
        );
        assert_eq!(
            wrap(&parts, "  ", Some(26), 8),
            "ok      case  1.0 ms ±1%\n        2k tok/s"
        );
        // A part longer than the line stands alone.
        assert_eq!(
            wrap(&parts, "  ", Some(5), 2),
            "ok      case\n  1.0 ms ±1%\n  2k tok/s"
        );
        assert_eq!(wrap_words("a b c", Some(3), 1), "a b\n c");
    }

    #[test]
    fn numbers_read_as_in_the_report() {
        // The terminal writes figures with the report's functions.
        assert_eq!(seconds(0.0123), "12.300 ms");
        assert_eq!(flops(2.5e15), "2.50 PFLOP");
        assert_eq!(bytes(3 << 30), "3.00 GiB");
        assert_eq!(si(32_760.0), "32.8k");
        assert_eq!(dollars(12.345), "$12.35");
    }
}
