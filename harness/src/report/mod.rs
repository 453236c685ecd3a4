//! Reports over one or many results files: the data every format shows,
//! computed once ([`Report::build`]), then rendered as self-contained HTML
//! (tera template, inline SVG charts), Markdown or CSV.

mod charts;
mod html;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::backend::Pass;
use crate::cost::cost;
use crate::parity::{ParityStatus, preferred_reference};
use crate::results::{CaseResult, RunResults, Status};
use crate::workload::{Family, find_preset};

pub use html::render_html;

/// How a full video generation is counted: denoising steps, and forward
/// passes per step (2 with classifier-free guidance).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct GenerationSettings {
    pub steps: u32,
    pub cfg_passes: u32,
}

impl Default for GenerationSettings {
    fn default() -> Self {
        GenerationSettings {
            steps: 50,
            cfg_passes: 2,
        }
    }
}

/// One results file as loaded.
#[derive(Debug, Clone)]
pub struct LoadedRun {
    pub path: PathBuf,
    pub results: RunResults,
}

/// Load result files; a directory contributes its `*.json` files (sorted).
pub fn load_runs(paths: &[PathBuf]) -> Result<Vec<LoadedRun>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("cannot read directory {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "json") && p.is_file())
                .collect();
            found.sort();
            if found.is_empty() {
                bail!("{} holds no results files (*.json)", path.display());
            }
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    if files.is_empty() {
        bail!("no results files given");
    }
    files
        .into_iter()
        .map(|path| {
            let results = RunResults::load(&path)?;
            Ok(LoadedRun { path, results })
        })
        .collect()
}

/// A machine: the host of a results file, with its CPU and GPUs.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub file: String,
    pub host: String,
    pub cpu: String,
    pub cores: String,
    pub ram_gib: String,
    pub gpus: String,
    pub os: String,
    pub started_at: String,
    pub finished: bool,
    pub frameworks: Vec<String>,
    pub threads: usize,
    pub features: String,
    pub ok: usize,
    pub skipped: usize,
    pub failed: usize,
    pub parity_pass: usize,
    pub parity_fail: usize,
}

/// A case that did not produce a measurement, and why.
#[derive(Debug, Clone, Serialize)]
pub struct NotRun {
    pub host: String,
    pub case: String,
    pub status: String,
    pub why: String,
}

/// One measured case, flattened for tables and charts.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub host: String,
    pub case: String,
    pub workload: String,
    pub family: String,
    pub backend: String,
    pub framework: String,
    pub device: String,
    pub device_name: String,
    pub dtype: String,
    pub pass: String,
    pub median_s: f64,
    pub ci_low_s: f64,
    pub ci_high_s: f64,
    pub tokens: u64,
    /// Cost-model FLOPs of one forward pass of this workload.
    pub forward_flops: f64,
    pub tokens_per_s: f64,
    pub tflops: f64,
    pub peak_rss_mib: Option<f64>,
    pub rss_growth_mib: Option<f64>,
    pub parity: String,
    pub attention: String,
    /// Speed relative to the reference backend on the same machine, device,
    /// workload, dtype and pass (reference median / this median).
    pub speed_vs_reference: Option<f64>,
    pub fastest: bool,
}

/// The rows of one workload × pass × dtype, with its chart.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub title: String,
    pub reference: Option<String>,
    pub rows: Vec<Row>,
    pub chart_svg: String,
}

/// One DiT case against one LLM baseline measured on the same machine,
/// backend, device and dtype.
#[derive(Debug, Clone, Serialize)]
pub struct DitVsLlm {
    pub host: String,
    pub backend: String,
    pub device: String,
    pub dtype: String,
    pub dit: String,
    pub llm: String,
    pub dit_ms_per_token: f64,
    pub llm_ms_per_token: f64,
    pub dit_tflops: f64,
    pub llm_tflops: f64,
    pub dit_growth_kib_per_token: Option<f64>,
    pub llm_growth_kib_per_token: Option<f64>,
    pub tokens_per_forward_flops: f64,
    pub tokens_per_forward_time: f64,
    pub tokens_per_video_flops: f64,
    pub tokens_per_video_time: f64,
}

/// A real-scale DiT preset against a real-scale Llama, from the cost model.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleEquivalent {
    pub dit: String,
    pub dit_description: String,
    pub llm: String,
    pub dit_forward_pflop: f64,
    pub llm_gflop_per_token: f64,
    pub tokens_per_forward: f64,
    pub tokens_per_video: f64,
}

/// One case (workload, pass, dtype, backend, device) across machines.
#[derive(Debug, Clone, Serialize)]
pub struct HardwareRow {
    pub case: String,
    /// Per machine, in the order of `Report::hosts`: the median, or `None`
    /// where that machine has no measurement of this case.
    pub medians_s: Vec<Option<f64>>,
    /// Per machine: baseline median / this median (above 1: faster than the baseline).
    pub speed_vs_baseline: Vec<Option<f64>>,
}

/// Everything a report shows.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub generated_at: String,
    pub tool_version: String,
    pub files: Vec<String>,
    pub machines: Vec<Machine>,
    pub not_run: Vec<NotRun>,
    pub comparisons: Vec<Comparison>,
    /// Distinct machines in file order; the first is the hardware baseline.
    pub hosts: Vec<String>,
    /// Filled when the data has two or more machines.
    pub hardware: Vec<HardwareRow>,
    pub dit_vs_llm: Vec<DitVsLlm>,
    pub scale: Vec<ScaleEquivalent>,
    pub generation: GenerationSettings,
    pub rows: Vec<Row>,
    pub definitions: BTreeMap<String, String>,
}

const MIB: f64 = 1024.0 * 1024.0;

fn row(host: &str, c: &CaseResult) -> Option<Row> {
    if c.status != Status::Ok {
        return None;
    }
    let stats = c.stats.as_ref()?;
    let throughput = c.throughput.as_ref()?;
    let memory = c.memory.as_ref();
    Some(Row {
        host: host.to_string(),
        case: c.id.clone(),
        workload: c.workload.label.clone(),
        family: match c.workload.family {
            Family::Wan => "wan".into(),
            Family::Llama => "llama".into(),
        },
        backend: c.backend.clone(),
        framework: c.framework.clone().unwrap_or_default(),
        device: c.device.clone(),
        device_name: c.device_name.clone().unwrap_or_default(),
        dtype: c.dtype.to_string(),
        pass: c.pass.to_string(),
        median_s: stats.median_s,
        ci_low_s: stats.ci95_median_s[0],
        ci_high_s: stats.ci95_median_s[1],
        tokens: c.workload.cost.tokens,
        forward_flops: c.workload.cost.forward_flops,
        tokens_per_s: throughput.tokens_per_s,
        tflops: throughput.tflops,
        peak_rss_mib: memory
            .and_then(|m| m.peak_rss_bytes)
            .map(|b| b as f64 / MIB),
        rss_growth_mib: memory
            .and_then(|m| m.rss_growth_bytes)
            .map(|b| b as f64 / MIB),
        parity: match &c.parity {
            None => "not checked".into(),
            Some(p) => match p.status {
                ParityStatus::Reference => "reference".into(),
                ParityStatus::Pass => format!("pass ({:.0e})", p.output_rel_error),
                ParityStatus::Fail => format!(
                    "FAIL: {}",
                    p.detail.clone().unwrap_or_else(|| "differs".into())
                ),
            },
        },
        attention: c.attention.clone().unwrap_or_default(),
        speed_vs_reference: None,
        fastest: false,
    })
}

impl Report {
    /// Compute every section from the loaded runs; `generated_at` is the
    /// caller's clock reading (RFC 3339).
    pub fn build(
        runs: &[LoadedRun],
        generation: GenerationSettings,
        generated_at: &str,
    ) -> Result<Report> {
        let mut machines = Vec::new();
        let mut not_run = Vec::new();
        let mut rows = Vec::new();
        for run in runs {
            let r = &run.results;
            let env = &r.environment;
            let host = env.host.clone();
            let count = |s: Status| r.cases.iter().filter(|c| c.status == s).count();
            let parity = |s: ParityStatus| {
                r.cases
                    .iter()
                    .filter(|c| c.parity.as_ref().is_some_and(|p| p.status == s))
                    .count()
            };
            machines.push(Machine {
                file: run.path.display().to_string(),
                host: host.clone(),
                cpu: env.cpu_model.clone(),
                cores: match env.physical_cores {
                    Some(p) => format!("{p} physical, {} logical", env.logical_cores),
                    None => format!("{} logical", env.logical_cores),
                },
                ram_gib: format!("{:.1}", env.ram_bytes as f64 / MIB / 1024.0),
                gpus: if env.gpus.is_empty() {
                    "none".into()
                } else {
                    env.gpus
                        .iter()
                        .map(|g| g.name.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                os: format!("{} ({})", env.os, env.kernel),
                started_at: r.started_at.clone(),
                finished: r.finished_at.is_some(),
                frameworks: env
                    .frameworks
                    .iter()
                    .map(|f| format!("{}: {}", f.backend, f.version))
                    .collect(),
                threads: env.threads.threads,
                features: env.cargo_features.join(", "),
                ok: count(Status::Ok),
                skipped: count(Status::Skipped),
                failed: count(Status::Failed),
                parity_pass: parity(ParityStatus::Pass),
                parity_fail: parity(ParityStatus::Fail),
            });
            for c in &r.cases {
                match row(&host, c) {
                    Some(row) => rows.push(row),
                    None => not_run.push(NotRun {
                        host: host.clone(),
                        case: c.id.clone(),
                        status: format!("{:?}", c.status).to_lowercase(),
                        why: c
                            .reason
                            .clone()
                            .or_else(|| c.error.clone())
                            .unwrap_or_else(|| "no measurement recorded".into()),
                    }),
                }
            }
        }
        let comparisons = comparisons(&mut rows)?;
        let dit_vs_llm = dit_vs_llm(&rows, generation);
        let mut hosts: Vec<String> = Vec::new();
        for m in &machines {
            if !hosts.contains(&m.host) {
                hosts.push(m.host.clone());
            }
        }
        let hardware = if hosts.len() > 1 {
            hardware(&hosts, runs, &rows)
        } else {
            Vec::new()
        };
        Ok(Report {
            generated_at: generated_at.to_string(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            files: runs.iter().map(|r| r.path.display().to_string()).collect(),
            machines,
            not_run,
            comparisons,
            hosts,
            hardware,
            dit_vs_llm,
            scale: scale_equivalents(generation),
            generation,
            rows,
            definitions: runs
                .first()
                .map(|r| r.results.definitions.clone())
                .unwrap_or_default(),
        })
    }
}

/// Group rows by workload, pass and dtype; mark the fastest and the speed
/// relative to the reference backend of the same machine and device.
fn comparisons(rows: &mut [Row]) -> Result<Vec<Comparison>> {
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
            let reference = preferred_reference(place.iter().map(|&i| rows[i].backend.as_str()))
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
        let reference =
            preferred_reference(group.iter().map(|r| r.backend.as_str())).map(str::to_string);
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

/// Every case any machine attempted, with each machine's median, normalised
/// to the first machine. A machine without a measurement shows as missing.
fn hardware(hosts: &[String], runs: &[LoadedRun], rows: &[Row]) -> Vec<HardwareRow> {
    let mut cases: Vec<String> = Vec::new();
    for run in runs {
        for c in &run.results.cases {
            if !cases.contains(&c.id) {
                cases.push(c.id.clone());
            }
        }
    }
    cases
        .into_iter()
        .map(|case| {
            let medians_s: Vec<Option<f64>> = hosts
                .iter()
                .map(|h| {
                    rows.iter()
                        .find(|r| &r.host == h && r.case == case)
                        .map(|r| r.median_s)
                })
                .collect();
            let baseline = medians_s[0];
            let speed_vs_baseline = medians_s.iter().map(|m| Some(baseline? / (*m)?)).collect();
            HardwareRow {
                case,
                medians_s,
                speed_vs_baseline,
            }
        })
        .collect()
}

/// Every DiT forward case against every LLM forward case measured with the
/// same machine, backend, device and dtype.
fn dit_vs_llm(rows: &[Row], generation: GenerationSettings) -> Vec<DitVsLlm> {
    fn forward<'a>(rows: &'a [Row], family: &'a str) -> impl Iterator<Item = &'a Row> + 'a {
        rows.iter()
            .filter(move |r| r.family == family && r.pass == Pass::Forward.name())
    }
    let video = f64::from(generation.steps * generation.cfg_passes);
    let mut out = Vec::new();
    for d in forward(rows, "wan") {
        for l in forward(rows, "llama").filter(|l| {
            l.host == d.host && l.backend == d.backend && l.device == d.device && l.dtype == d.dtype
        }) {
            let (df, lf) = (d.forward_flops, l.forward_flops);
            let llm_flops_per_token = lf / l.tokens as f64;
            let llm_s_per_token = l.median_s / l.tokens as f64;
            let per_kib = |mib: Option<f64>, tokens: u64| mib.map(|m| m * 1024.0 / tokens as f64);
            out.push(DitVsLlm {
                host: d.host.clone(),
                backend: d.backend.clone(),
                device: d.device.clone(),
                dtype: d.dtype.clone(),
                dit: d.workload.clone(),
                llm: l.workload.clone(),
                dit_ms_per_token: d.median_s * 1e3 / d.tokens as f64,
                llm_ms_per_token: llm_s_per_token * 1e3,
                dit_tflops: d.tflops,
                llm_tflops: l.tflops,
                dit_growth_kib_per_token: per_kib(d.rss_growth_mib, d.tokens),
                llm_growth_kib_per_token: per_kib(l.rss_growth_mib, l.tokens),
                tokens_per_forward_flops: df / llm_flops_per_token,
                tokens_per_forward_time: d.median_s / llm_s_per_token,
                tokens_per_video_flops: video * df / llm_flops_per_token,
                tokens_per_video_time: video * d.median_s / llm_s_per_token,
            });
        }
    }
    out
}

/// Real-scale DiT presets against real-scale Llamas, from the cost model
/// alone: shown whether or not they were run.
fn scale_equivalents(generation: GenerationSettings) -> Vec<ScaleEquivalent> {
    let video = f64::from(generation.steps * generation.cfg_passes);
    let dits = ["wan2.1-1.3b-480p", "wan2.1-14b-720p", "sora-3b-guess-720p"];
    let llms = ["llama-2-7b", "llama-3-8b", "llama-2-70b", "llama-3-70b"];
    let mut out = Vec::new();
    for dit in dits {
        let Ok(d) = find_preset(dit) else { continue };
        let dc = cost(&d.config);
        for llm in llms {
            let Ok(l) = find_preset(llm) else { continue };
            let lc = cost(&l.config);
            let per_token = lc.forward_flops / lc.tokens as f64;
            out.push(ScaleEquivalent {
                dit: dit.to_string(),
                dit_description: d.description.to_string(),
                llm: llm.to_string(),
                dit_forward_pflop: dc.forward_flops / 1e15,
                llm_gflop_per_token: per_token / 1e9,
                tokens_per_forward: dc.forward_flops / per_token,
                tokens_per_video: video * dc.forward_flops / per_token,
            });
        }
    }
    out
}

/// A Markdown summary (for CI job summaries): machines, then one table of
/// every measured case.
pub fn render_markdown(report: &Report) -> String {
    let mut md = String::from("# ditbench report\n\n");
    for m in &report.machines {
        md.push_str(&format!(
            "- **{}**: {} ({}), {} GiB RAM, GPUs: {}; {} ok, {} skipped, {} failed; parity {} pass, {} fail\n",
            md_escape(&m.host),
            md_escape(&m.cpu),
            md_escape(&m.cores),
            m.ram_gib,
            md_escape(&m.gpus),
            m.ok,
            m.skipped,
            m.failed,
            m.parity_pass,
            m.parity_fail
        ));
    }
    md.push_str("\n| machine | workload | backend | device | dtype | pass | median | tokens/s | TFLOP/s | vs reference | parity |\n");
    md.push_str("|---|---|---|---|---|---|---:|---:|---:|---:|---|\n");
    for r in &report.rows {
        md.push_str(&format!(
            "| {} | {} | {}{} | {} | {} | {} | {} | {:.3} | {:.4} | {} | {} |\n",
            md_escape(&r.host),
            md_escape(&r.workload),
            md_escape(&r.backend),
            if r.fastest { " (fastest)" } else { "" },
            md_escape(&r.device),
            r.dtype,
            r.pass,
            format_seconds(r.median_s),
            r.tokens_per_s,
            r.tflops,
            r.speed_vs_reference
                .map_or("-".into(), |s| format!("{s:.2}x")),
            md_escape(&r.parity),
        ));
    }
    if !report.not_run.is_empty() {
        md.push_str("\n**Not measured**\n\n");
        for n in &report.not_run {
            md.push_str(&format!(
                "- {} {}: {} ({})\n",
                md_escape(&n.host),
                md_escape(&n.case),
                n.status,
                md_escape(&n.why)
            ));
        }
    }
    md
}

/// Text from a results file inside Markdown: no markup, no table breaks.
fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '|' | '*' | '_' | '`' | '[' | ']' | '<' | '>' | '#' | '\\' => {
                out.push('\\');
                out.push(ch);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(ch),
        }
    }
    out
}

/// Every measured case as CSV (RFC 4180 quoting).
pub fn render_csv(report: &Report) -> String {
    let header = "host,workload,backend,framework,device,dtype,pass,median_s,ci95_low_s,ci95_high_s,tokens_per_s,tflops,peak_rss_mib,rss_growth_mib,speed_vs_reference,parity";
    let mut csv = format!("{header}\n");
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v}"));
    for r in &report.rows {
        let fields = [
            r.host.clone(),
            r.workload.clone(),
            r.backend.clone(),
            r.framework.clone(),
            r.device.clone(),
            r.dtype.clone(),
            r.pass.clone(),
            format!("{}", r.median_s),
            format!("{}", r.ci_low_s),
            format!("{}", r.ci_high_s),
            format!("{}", r.tokens_per_s),
            format!("{}", r.tflops),
            opt(r.peak_rss_mib),
            opt(r.rss_growth_mib),
            opt(r.speed_vs_reference),
            r.parity.clone(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        csv.push_str(&line.join(","));
        csv.push('\n');
    }
    csv
}

fn csv_field(s: &str) -> String {
    // A leading = + - @ would be a formula in a spreadsheet: quote and prefix.
    let risky = s.starts_with(['=', '+', '@']) || (s.starts_with('-') && s.parse::<f64>().is_err());
    if risky || s.contains([',', '"', '\n', '\r']) {
        let body = if risky {
            format!("'{s}")
        } else {
            s.to_string()
        };
        format!("\"{}\"", body.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `1.234 ms`-style text for a duration in seconds.
pub fn format_seconds(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 1e-3 {
        format!("{:.3} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}

/// Write a report to a new file; an existing file is never replaced.
pub fn write_new(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| {
            format!(
                "cannot create {} (an existing file is never replaced)",
                path.display()
            )
        })?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_separators_and_defuses_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=1+1"), "\"'=1+1\"");
        assert_eq!(csv_field("@cmd"), "\"'@cmd\"");
        assert_eq!(csv_field("-0.5"), "-0.5");
        assert_eq!(csv_field("-cmd"), "\"'-cmd\"");
    }

    #[test]
    fn markdown_text_cannot_break_tables_or_add_markup() {
        assert_eq!(md_escape("a|b"), "a\\|b");
        assert_eq!(md_escape("<b>x</b>\nnext"), "\\<b\\>x\\</b\\> next");
    }

    #[test]
    fn real_scale_equivalents_follow_the_stated_formula() {
        let g = GenerationSettings {
            steps: 50,
            cfg_passes: 2,
        };
        let rows = scale_equivalents(g);
        assert_eq!(rows.len(), 12);
        for r in &rows {
            let per_token = r.llm_gflop_per_token * 1e9;
            let expected = r.dit_forward_pflop * 1e15 / per_token;
            assert!((r.tokens_per_forward - expected).abs() / expected < 1e-9);
            assert!(
                (r.tokens_per_video - 100.0 * r.tokens_per_forward).abs()
                    < 1e-6 * r.tokens_per_video
            );
        }
        let sora_70b = rows
            .iter()
            .find(|r| r.dit == "sora-3b-guess-720p" && r.llm == "llama-2-70b")
            .unwrap();
        assert!(sora_70b.tokens_per_video > 1e5, "{sora_70b:?}");
    }
}
