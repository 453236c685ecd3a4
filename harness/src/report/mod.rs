//! Reports over one or many results files: the data every format shows,
//! computed once ([`Report::build`]), then rendered as self-contained HTML
//! (tera template, inline SVG charts), Markdown or CSV.

mod charts;
mod history;
mod html;
mod scaling;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::backend::Pass;
use crate::cost::cost;
use crate::parity::{ParityStatus, preferred_reference};
use crate::results::{CaseResult, RunResults, Status};
use crate::threads::ThreadUse;
use crate::workload::{Family, find_preset};

pub use history::{CaseHistory, ChangePoint, HistoryPoint};
pub use html::{render_html, script_hash_source};
pub use scaling::{Scaling, ScalingPoint, ScalingSeries, log_log_slope};

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
    /// The rest of the file's environment and settings, as label and value.
    pub details: Vec<(String, String)>,
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
    pub preset: String,
    /// Overridden dimensions (name -> value), empty for the preset as is.
    pub overrides: BTreeMap<String, usize>,
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
    /// Self- plus cross-attention FLOPs over all forward FLOPs (cost model).
    pub attention_share: f64,
    pub tokens_per_s: f64,
    pub tflops: f64,
    pub peak_rss_mib: Option<f64>,
    pub rss_growth_mib: Option<f64>,
    pub parity: String,
    pub attention: String,
    /// Threads asked for, busy while timed and CPU parallelism (`2 threads (busy 2, CPU 1.93x)`).
    pub threads: String,
    pub threads_requested: Option<usize>,
    pub threads_busy: Option<usize>,
    pub cpu_parallelism: Option<f64>,
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

/// One workload, backend, dtype and pass across machines and devices.
#[derive(Debug, Clone, Serialize)]
pub struct HardwareRow {
    /// `workload · backend · dtype · pass`.
    pub case: String,
    /// Per place, in the order of `Hardware::places`: the median, or `None`
    /// where that place has no measurement of this case.
    pub medians_s: Vec<Option<f64>>,
    /// Per place: baseline median / this median (above 1: faster than the baseline).
    pub speed_vs_baseline: Vec<Option<f64>>,
}

/// The hardware comparison: every machine and device ("place") side by
/// side, normalised to a baseline place.
#[derive(Debug, Clone, Serialize)]
pub struct Hardware {
    /// `host device`, baseline first, then in file order.
    pub places: Vec<String>,
    pub baseline: String,
    pub rows: Vec<HardwareRow>,
    /// Per place: geometric mean of speed vs baseline over the cases both
    /// measured, and how many that is (`None` when they share none).
    pub mean_speed: Vec<Option<f64>>,
    pub shared_cases: Vec<usize>,
    pub chart_svg: String,
}

/// A `--baseline` that names no machine or device in the data.
#[derive(Debug, thiserror::Error)]
#[error("baseline {name:?} names no machine or device in the data; there are: {places}")]
pub struct UnknownBaseline {
    pub name: String,
    pub places: String,
}

/// What a report is asked for beyond the data.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    pub generation: GenerationSettings,
    /// The hardware baseline: a machine (`host`, its first device) or a
    /// place (`host device`); the first machine when `None`.
    pub baseline: Option<String>,
    /// The runs are a series (e.g. nightly): draw each case's trend with
    /// its change points, and show the other sections for the latest run of
    /// each machine only.
    pub history: bool,
}

/// Everything a report shows.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The answers first: fastest framework per place, machines against the
    /// baseline, parity, what a video costs next to an LLM.
    pub headlines: Vec<String>,
    pub generated_at: String,
    pub tool_version: String,
    pub files: Vec<String>,
    pub machines: Vec<Machine>,
    pub not_run: Vec<NotRun>,
    pub comparisons: Vec<Comparison>,
    /// Present when the data has two or more machines or devices.
    pub hardware: Option<Hardware>,
    /// Present when the data sweeps token counts.
    pub scaling: Option<Scaling>,
    /// With `ReportOptions::history`: each case measured in two or more runs.
    pub history: Vec<CaseHistory>,
    /// The thresholds that decide a change point in `history`.
    pub history_thresholds: crate::compare::Thresholds,
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
        preset: c.workload.preset.clone(),
        overrides: c.workload.overrides.clone(),
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
        attention_share: (c.workload.cost.self_attention_flops
            + c.workload.cost.cross_attention_flops)
            / c.workload.cost.forward_flops,
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
        threads: c
            .threads
            .as_ref()
            .map_or_else(|| "–".to_string(), ThreadUse::summary),
        threads_requested: c.threads.as_ref().and_then(|t| t.requested),
        threads_busy: c.threads.as_ref().and_then(|t| t.busy),
        cpu_parallelism: c.threads.as_ref().and_then(|t| t.cpu_parallelism),
        speed_vs_reference: None,
        fastest: false,
    })
}

impl Report {
    /// Compute every section from the loaded runs; `generated_at` is the
    /// caller's clock reading (RFC 3339).
    pub fn build(
        runs: &[LoadedRun],
        options: &ReportOptions,
        generated_at: &str,
    ) -> Result<Report> {
        let generation = options.generation;
        let history_thresholds = crate::compare::Thresholds::default();
        let (history, latest);
        let runs = if options.history {
            history = history::history(runs, &history_thresholds)?;
            latest = latest_per_host(runs);
            &latest[..]
        } else {
            history = Vec::new();
            runs
        };
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
                details: machine_details(r),
            });
            for c in &r.cases {
                match row(&host, c) {
                    Some(row) => rows.push(row),
                    None => not_run.push(NotRun {
                        host: host.clone(),
                        case: c.id.clone(),
                        status: c.status_label(),
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
        let hardware = hardware(runs, &rows, options.baseline.as_deref())?;
        let scaling = scaling::scaling(&rows)?;
        let scale = scale_equivalents(generation);
        let mut headlines = headlines(&rows, &machines, hardware.as_ref(), &scale, generation);
        if options.history {
            let changes: Vec<&ChangePoint> =
                history.iter().flat_map(|h| &h.change_points).collect();
            let regressions = changes
                .iter()
                .filter(|c| c.verdict == crate::compare::Verdict::Regression)
                .count();
            headlines.insert(
                0,
                format!(
                    "History of {} cases over {} runs: {} change points, {regressions} of them regressions.",
                    history.len(),
                    runs_in_history(&history),
                    changes.len()
                ),
            );
        }
        Ok(Report {
            headlines,
            generated_at: generated_at.to_string(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            files: runs.iter().map(|r| r.path.display().to_string()).collect(),
            machines,
            not_run,
            comparisons,
            hardware,
            scaling,
            history,
            history_thresholds,
            dit_vs_llm,
            scale,
            generation,
            rows,
            definitions: runs
                .first()
                .map(|r| r.results.definitions.clone())
                .unwrap_or_default(),
        })
    }
}

/// The number of distinct runs (start times) in a history.
fn runs_in_history(history: &[CaseHistory]) -> usize {
    let mut starts: Vec<&str> = history
        .iter()
        .flat_map(|h| h.points.iter().map(|p| p.started_at.as_str()))
        .collect();
    starts.sort_unstable();
    starts.dedup();
    starts.len()
}

/// The most recent run (by start time) of each machine, in file order.
fn latest_per_host(runs: &[LoadedRun]) -> Vec<LoadedRun> {
    let mut latest: Vec<&LoadedRun> = Vec::new();
    for run in runs {
        let host = &run.results.environment.host;
        match latest
            .iter_mut()
            .find(|r| &r.results.environment.host == host)
        {
            Some(slot) if slot.results.started_at < run.results.started_at => *slot = run,
            Some(_) => {}
            None => latest.push(run),
        }
    }
    latest.into_iter().cloned().collect()
}

/// A list that older results files do not have.
fn or_unrecorded(list: String) -> String {
    if list.is_empty() {
        "not recorded".into()
    } else {
        list
    }
}

/// Everything else a results file says about where and how it ran.
fn machine_details(r: &RunResults) -> Vec<(String, String)> {
    let env = &r.environment;
    let t = &r.settings.timing;
    let mut details = vec![
        (
            "tool".to_string(),
            format!("{} {} ({})", r.tool.name, r.tool.version, r.tool.git_commit),
        ),
        ("command".into(), r.command.join(" ")),
        (
            "finished".into(),
            r.finished_at
                .clone()
                .unwrap_or_else(|| "no (interrupted)".into()),
        ),
        ("architecture".into(), env.arch.clone()),
        ("CPU SIMD".into(), or_unrecorded(env.cpu_simd.join(", "))),
        ("rustc".into(), env.rustc.clone()),
        (
            "build".into(),
            format!(
                "{}; features: {}",
                env.build_profile,
                env.cargo_features.join(", ")
            ),
        ),
        (
            "threads".into(),
            format!(
                "{} ({}){}",
                env.threads.threads,
                env.threads.source,
                env.threads
                    .env
                    .iter()
                    .map(|(k, v)| format!("; {k}={v}"))
                    .collect::<String>()
            ),
        ),
        (
            "timing".into(),
            format!(
                "warm-up at least {} iterations and {} s; timed at least {} iterations and {} s, at most {} iterations; at most {} s per case; stops early once the 95% CI of the median is within ±{}%",
                t.warmup_iters,
                t.warmup_s,
                t.min_iters,
                t.min_time_s,
                t.max_iters,
                t.budget_s,
                t.target_rel_ci * 100.0
            ),
        ),
        ("seed".into(), r.settings.seed.to_string()),
    ];
    for f in &env.frameworks {
        details.push((
            format!("{} build", f.backend),
            or_unrecorded(f.build_features.join("; ")),
        ));
    }
    for g in &env.gpus {
        details.push((
            format!("GPU {}", g.index),
            format!("{} (from {})", g.name, g.source),
        ));
    }
    details
}

/// One sentence per answer the report gives, plain text.
fn headlines(
    rows: &[Row],
    machines: &[Machine],
    hardware: Option<&Hardware>,
    scale: &[ScaleEquivalent],
    generation: GenerationSettings,
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
        let mut groups: BTreeMap<(&str, &str, &str), &Row> = BTreeMap::new();
        let mut backends: Vec<&str> = Vec::new();
        for r in rows
            .iter()
            .filter(|r| &r.host == host && &r.device == device)
        {
            if !backends.contains(&r.backend.as_str()) {
                backends.push(&r.backend);
            }
            let best = groups.entry((&r.workload, &r.pass, &r.dtype)).or_insert(r);
            if r.median_s < best.median_s {
                *best = r;
            }
        }
        if backends.len() < 2 {
            continue;
        }
        let mut wins: BTreeMap<&str, usize> = BTreeMap::new();
        for r in groups.values() {
            *wins.entry(&r.backend).or_default() += 1;
        }
        let mut wins: Vec<(&str, usize)> = wins.into_iter().collect();
        wins.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let (first, n) = wins[0];
        let rest: Vec<String> = wins[1..].iter().map(|(b, n)| format!("{b} {n}")).collect();
        out.push(format!(
            "On {host} {device}, {first} is the fastest framework in {n} of {} workload, pass and dtype combinations{}.",
            groups.len(),
            if rest.is_empty() {
                String::new()
            } else {
                format!(" ({})", rest.join(", "))
            }
        ));
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
    if let Some(s) = scale
        .iter()
        .find(|s| s.dit == "sora-3b-guess-720p" && s.llm == "llama-2-70b")
    {
        out.push(format!(
            "By the cost model, one video from {} ({} steps x {} passes) costs the FLOPs of {} tokens of {}.",
            s.dit,
            generation.steps,
            generation.cfg_passes,
            group_thousands(s.tokens_per_video),
            s.llm
        ));
    }
    out
}

/// `1234567.8` as `1,234,568`.
fn group_thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if v < 0.0 {
        out.insert(0, '-');
    }
    out
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

fn place(host: &str, device: &str) -> String {
    format!("{host} {device}")
}

fn hardware_case(workload: &str, backend: &str, dtype: &str, pass: &str) -> String {
    format!("{workload} · {backend} · {dtype} · {pass}")
}

/// Every case any machine attempted, with each place's median, normalised
/// to the baseline place. A place without a measurement shows as missing.
/// `None` with a single place; an error when `baseline` names none.
fn hardware(runs: &[LoadedRun], rows: &[Row], baseline: Option<&str>) -> Result<Option<Hardware>> {
    let mut places: Vec<String> = Vec::new();
    let mut cases: Vec<String> = Vec::new();
    for run in runs {
        let host = &run.results.environment.host;
        for c in &run.results.cases {
            let p = place(host, &c.device);
            if !places.contains(&p) {
                places.push(p);
            }
            let case = hardware_case(
                &c.workload.label,
                &c.backend,
                &c.dtype.to_string(),
                &c.pass.to_string(),
            );
            if !cases.contains(&case) {
                cases.push(case);
            }
        }
    }
    let chosen = match baseline {
        None => 0,
        Some(name) => places
            .iter()
            .position(|p| p == name)
            .or_else(|| {
                let host_prefix = format!("{name} ");
                places.iter().position(|p| p.starts_with(&host_prefix))
            })
            .ok_or_else(|| UnknownBaseline {
                name: name.to_string(),
                places: places.join(", "),
            })?,
    };
    if places.len() < 2 {
        return Ok(None);
    }
    let baseline = places.remove(chosen);
    places.insert(0, baseline.clone());
    let rows: Vec<HardwareRow> = cases
        .into_iter()
        .map(|case| {
            let medians_s: Vec<Option<f64>> = places
                .iter()
                .map(|p| {
                    rows.iter()
                        .find(|r| {
                            &place(&r.host, &r.device) == p
                                && hardware_case(&r.workload, &r.backend, &r.dtype, &r.pass) == case
                        })
                        .map(|r| r.median_s)
                })
                .collect();
            let base = medians_s[0];
            let speed_vs_baseline = medians_s.iter().map(|m| Some(base? / (*m)?)).collect();
            HardwareRow {
                case,
                medians_s,
                speed_vs_baseline,
            }
        })
        .collect();
    let (mut mean_speed, mut shared_cases) = (Vec::new(), Vec::new());
    for k in 0..places.len() {
        let speeds: Vec<f64> = rows.iter().filter_map(|r| r.speed_vs_baseline[k]).collect();
        shared_cases.push(speeds.len());
        mean_speed.push(geometric_mean(&speeds));
    }
    let bars: Vec<(String, f64, usize)> = places
        .iter()
        .zip(&mean_speed)
        .zip(&shared_cases)
        .filter_map(|((p, m), &n)| Some((p.clone(), (*m)?, n)))
        .collect();
    Ok(Some(Hardware {
        chart_svg: charts::speed_bars(&bars, &baseline)?,
        places,
        baseline,
        rows,
        mean_speed,
        shared_cases,
    }))
}

/// Geometric mean (the mean of ratios that treats 2x and 0.5x alike);
/// `None` for no values.
pub fn geometric_mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    Some((values.iter().map(|v| v.ln()).sum::<f64>() / values.len() as f64).exp())
}

/// Every DiT forward case against the LLM forward cases measured with the
/// same machine, backend, device and dtype.
fn dit_vs_llm(rows: &[Row], generation: GenerationSettings) -> Vec<DitVsLlm> {
    fn forward<'a>(rows: &'a [Row], family: &'a str) -> impl Iterator<Item = &'a Row> + 'a {
        rows.iter()
            .filter(move |r| r.family == family && r.pass == Pass::Forward.name())
    }
    let video = f64::from(generation.steps * generation.cfg_passes);
    let mut out = Vec::new();
    for d in forward(rows, "wan") {
        let same_place: Vec<&Row> = forward(rows, "llama")
            .filter(|l| {
                l.host == d.host
                    && l.backend == d.backend
                    && l.device == d.device
                    && l.dtype == d.dtype
            })
            .collect();
        // The baselines are the LLM presets as published; variants from a
        // sweep stand in only where no plain preset was measured.
        let plain: Vec<&Row> = same_place
            .iter()
            .copied()
            .filter(|l| l.overrides.is_empty())
            .collect();
        let baselines = if plain.is_empty() { same_place } else { plain };
        for l in baselines {
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
    if !report.headlines.is_empty() {
        let quoted: Vec<String> = report
            .headlines
            .iter()
            .map(|h| format!("> {}", md_escape(h)))
            .collect();
        md.push_str(&quoted.join("\n>\n"));
        md.push_str("\n\n");
    }
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
pub(crate) fn md_escape(s: &str) -> String {
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
    let header = "host,workload,backend,framework,device,dtype,pass,median_s,ci95_low_s,ci95_high_s,tokens_per_s,tflops,peak_rss_mib,rss_growth_mib,speed_vs_reference,parity,threads_requested,threads_busy,cpu_parallelism";
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
            r.threads_requested.map_or(String::new(), |n| n.to_string()),
            r.threads_busy.map_or(String::new(), |n| n.to_string()),
            opt(r.cpu_parallelism),
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

/// The unit a duration in seconds reads best in: its multiplier and name.
pub fn seconds_unit(s: f64) -> (f64, &'static str) {
    if s >= 1.0 {
        (1.0, "s")
    } else if s >= 1e-3 {
        (1e3, "ms")
    } else {
        (1e6, "µs")
    }
}

/// `1.234 ms`-style text for a duration in seconds.
pub fn format_seconds(s: f64) -> String {
    let (scale, unit) = seconds_unit(s);
    let decimals = if unit == "µs" { 1 } else { 3 };
    format!("{:.decimals$} {unit}", s * scale)
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
    fn thousands_are_grouped() {
        assert_eq!(group_thousands(0.4), "0");
        assert_eq!(group_thousands(999.0), "999");
        assert_eq!(group_thousands(1234567.8), "1,234,568");
        assert_eq!(group_thousands(-1000.0), "-1,000");
    }

    #[test]
    fn geometric_mean_treats_ratios_symmetrically() {
        assert_eq!(geometric_mean(&[]), None);
        assert!((geometric_mean(&[2.0, 0.5]).unwrap() - 1.0).abs() < 1e-12);
        assert!((geometric_mean(&[4.0, 1.0]).unwrap() - 2.0).abs() < 1e-12);
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
