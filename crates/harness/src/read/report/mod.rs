//! Reports over one or many results files: the data every format shows,
//! computed once ([`Report::build`]), then rendered as self-contained HTML
//! (tera template, inline SVG charts), Markdown or CSV.

mod buyer;
mod charts;
mod claims;
mod comparisons;
mod csv;
mod dit_vs_llm;
mod hardware;
mod headlines;
mod history;
mod html;
mod markdown;
mod pipeline;
mod published;
mod scaling;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::measure::timing::{StopReason, TimingConfig};
use crate::read::compare::Verdict;
use crate::record::extrapolate::{model_label, worth_showing};
use crate::record::results::{CaseResult, RunResults, Status};
use ditbench_core::check::parity::ParityStatus;
use ditbench_core::machine::threads::ThreadUse;
use ditbench_core::model::case::DeviceName;
use ditbench_core::model::workload::Family;

pub use buyer::{BuyerPlace, BuyerUnit, Fit, PlaceMemory};
pub use claims::{AS_MUCH_AS, Claim, ClaimPair, Evidence, Relation, requested_llms};
pub use comparisons::Comparison;
pub use csv::render_csv;
pub use dit_vs_llm::{DitVsLlm, ScaleEquivalent};
pub use hardware::{Hardware, HardwareRow, UnknownBaseline};
pub use history::{CaseHistory, ChangePoint, HistoryPoint};
pub use html::{render_html, script_hash_source};
pub use markdown::render_markdown;
pub use pipeline::{PipelineVideo, StageFigure, StageTime};
pub use published::{Beside, PublishedFigure, PublishedRow, published_figures};
pub use scaling::{Scaling, ScalingPoint, ScalingSeries, log_log_slope};

/// How the report counts a whole generation (denoising steps and forward
/// passes per step of a video or image, the tokens of an LLM request) and
/// the price for runs that recorded none: the figures `run` takes, with the
/// same defaults and the same flags.
pub type GenerationSettings = crate::record::scale::ScaleSettings;

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
    // The same file named twice (or through a link) counts once.
    let mut seen = Vec::new();
    files.retain(|f| {
        let key = std::fs::canonicalize(f).unwrap_or_else(|_| f.clone());
        let first = !seen.contains(&key);
        seen.push(key);
        first
    });
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
#[derive(Debug, Clone, Serialize, Default)]
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
    /// The CI's width (sorts the CI column).
    pub ci_width_s: f64,
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
    /// Timed samples; with one there is no CI (`ci_known` false, shown as n/a).
    pub samples: usize,
    /// Why timing stopped: `converged`, `budget`, `max_iters` (`-` when unrecorded).
    pub stop_reason: String,
    pub ci_known: bool,
    /// `good` or `low` ([`crate::record::confidence`]), with the reasons.
    pub confidence: String,
    pub confidence_reasons: Vec<String>,
    /// Whether others took more of the machine than the case allowed.
    pub contended: bool,
    /// Whether the median can rank this case against others
    /// ([`crate::record::confidence::median_usable`]): enough samples, not contended.
    pub median_usable: bool,
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
    /// Backends that speeds are shown relative to, most preferred first (the
    /// parity reference order of the backend registry); none when empty.
    pub reference_order: Vec<String>,
}

/// Everything a report shows.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The answers first: fastest framework per place, machines against the
    /// baseline, parity, what a video costs next to an LLM.
    pub headlines: Vec<String>,
    /// The public claims with ditbench's figures and verdicts.
    pub claims: Vec<Claim>,
    /// Per machine and device: a clip, an image, 1M LLM tokens; best first.
    pub buyers: Vec<BuyerPlace>,
    /// One whole video of each pipeline whose DiT ran, per place and dtype:
    /// its stages' seconds, shares, FLOPs and memory, and what did not run.
    pub videos: Vec<PipelineVideo>,
    /// Figures others published for the same pipelines (not measured
    /// here), with ours beside them where a pipeline ran.
    pub published: Vec<PublishedRow>,
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
    pub history_thresholds: crate::read::compare::Thresholds,
    pub dit_vs_llm: Vec<DitVsLlm>,
    /// One real clip, image or LLM request per case: measured or
    /// extrapolated, with its price and energy where known.
    pub full_models: Vec<FullModelRow>,
    /// What the units of `full_models` are, each once.
    pub full_model_units: Vec<String>,
    /// Each video or image of `full_models` in LLM prefill tokens and
    /// served requests.
    pub served: Vec<ServedEquivalent>,
    pub scale: Vec<ScaleEquivalent>,
    pub generation: GenerationSettings,
    pub rows: Vec<Row>,
    pub definitions: BTreeMap<String, String>,
}

/// A case's full model, as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct FullModelRow {
    pub host: String,
    /// Which of the report's runs (files) the case is from.
    pub run: usize,
    /// The whole model the row stands for (the workload without its `layers`).
    pub preset: String,
    pub case: String,
    pub backend: String,
    pub device: String,
    pub dtype: String,
    pub basis: String,
    pub extrapolated: bool,
    pub per_block_s: Option<f64>,
    pub forward_s: f64,
    pub forward_ci_s: [f64; 2],
    pub unit: String,
    pub unit_basis: String,
    pub per_unit_s: f64,
    pub per_unit_ci_s: [f64; 2],
    /// LLM units: the tokens of every sequence.
    pub tokens: Option<f64>,
    pub usd_per_unit: Option<f64>,
    pub usd_per_million_tokens: Option<f64>,
    pub kwh_per_unit: Option<f64>,
    pub tflops: f64,
    pub of_gemm: Option<f64>,
    pub mfu: Option<f64>,
    /// Decode rows: the step's memory traffic floor per second, and its
    /// share of the framework's calibrated bandwidth.
    pub gb_s: Option<f64>,
    pub of_bandwidth: Option<f64>,
    pub peak_rss_mib: Option<f64>,
    pub estimated_mib: f64,
    pub attention: String,
}

#[cfg(test)]
impl FullModelRow {
    /// A measured row of `preset` on host `h`, backend `b`, CPU, f32, for
    /// unit tests: one `unit` in `per_unit_s`, one forward a hundredth of it.
    pub(crate) fn for_test(preset: &str, unit: &str, per_unit_s: f64) -> FullModelRow {
        FullModelRow {
            host: "h".into(),
            run: 0,
            preset: preset.into(),
            case: preset.into(),
            backend: "b".into(),
            device: "cpu".into(),
            dtype: "f32".into(),
            basis: "measured".into(),
            extrapolated: false,
            per_block_s: None,
            forward_s: per_unit_s / 100.0,
            forward_ci_s: [0.0; 2],
            unit: unit.into(),
            unit_basis: unit.into(),
            per_unit_s,
            per_unit_ci_s: [0.0; 2],
            tokens: None,
            usd_per_unit: None,
            usd_per_million_tokens: None,
            kwh_per_unit: None,
            tflops: 0.0,
            of_gemm: None,
            mfu: None,
            gb_s: None,
            of_bandwidth: None,
            peak_rss_mib: None,
            estimated_mib: 0.0,
            attention: String::new(),
        }
    }
}

/// One video or image in LLM terms on the same machine, backend, device
/// and dtype: tokens at the prefill rate, and served requests (prefill and
/// decode) with their tokens.
#[derive(Debug, Clone, Serialize)]
pub struct ServedEquivalent {
    pub host: String,
    pub backend: String,
    pub device: String,
    pub dtype: String,
    pub dit: String,
    pub unit: String,
    pub dit_s: f64,
    pub llm: String,
    pub request_basis: String,
    /// Prompt tokens at the measured prefill rate costing as much time.
    pub prefill_tokens: f64,
    /// Whole requests (prefill and decode) costing as much time.
    pub requests: f64,
    /// Their tokens (prompt and generated).
    pub request_tokens: f64,
    pub extrapolated: bool,
}

/// Every DiT video or image row against every LLM request row of the same
/// machine, backend, device and dtype that has its prefill row too.
fn served_equivalents(rows: &[FullModelRow]) -> Vec<ServedEquivalent> {
    let same_place = |a: &FullModelRow, b: &FullModelRow| {
        a.host == b.host && a.backend == b.backend && a.device == b.device && a.dtype == b.dtype
    };
    let mut out = Vec::new();
    for d in rows
        .iter()
        .filter(|r| r.unit == "video" || r.unit == "image")
    {
        for request in rows
            .iter()
            .filter(|r| r.unit == "request" && same_place(r, d))
        {
            // The prefill the request was computed with: its own run's.
            let prefills = || {
                rows.iter().filter(|r| {
                    r.unit == "prefill" && r.preset == request.preset && same_place(r, d)
                })
            };
            let Some(prefill) = prefills()
                .find(|r| r.run == request.run)
                .or_else(|| prefills().next())
            else {
                continue;
            };
            let (Some(prefill_tokens), Some(request_tokens)) = (prefill.tokens, request.tokens)
            else {
                continue;
            };
            let requests = d.per_unit_s / request.per_unit_s;
            out.push(ServedEquivalent {
                host: d.host.clone(),
                backend: d.backend.clone(),
                device: d.device.clone(),
                dtype: d.dtype.clone(),
                dit: d.preset.clone(),
                unit: d.unit.clone(),
                dit_s: d.per_unit_s,
                llm: request.preset.clone(),
                request_basis: request.unit_basis.clone(),
                prefill_tokens: d.per_unit_s / (prefill.per_unit_s / prefill_tokens),
                requests,
                request_tokens: requests * request_tokens,
                extrapolated: d.extrapolated || request.extrapolated || prefill.extrapolated,
            });
        }
    }
    out
}

fn full_model_row(host: &str, run: usize, c: &CaseResult) -> Option<FullModelRow> {
    let full = c.full_model.as_ref().filter(|f| worth_showing(c, f))?;
    let unit = full.per_unit.as_ref()?;
    let cost = full.cost.as_ref();
    let efficiency = c.efficiency.as_ref();
    // Files from before decode was measured call a prefill a "request" and
    // record no tokens: it is a prefill of its forwards' tokens.
    let (unit_name, tokens) = match (unit.unit.as_str(), unit.tokens) {
        ("request", None) if c.workload.family == Family::Llama => (
            "prefill".to_string(),
            Some(unit.forwards * c.workload.cost.tokens as f64),
        ),
        (name, tokens) => (name.to_string(), tokens),
    };
    Some(FullModelRow {
        host: host.to_string(),
        run,
        preset: model_label(c),
        case: c.id.clone(),
        backend: c.backend.clone(),
        device: c.device.clone(),
        dtype: c.dtype.to_string(),
        basis: full.basis.clone(),
        extrapolated: full.extrapolated,
        per_block_s: full.per_block.map(|b| b.median_s),
        forward_s: full.forward.median_s,
        forward_ci_s: full.forward.ci95_s,
        unit: unit_name,
        unit_basis: unit.basis.clone(),
        per_unit_s: unit.time.median_s,
        per_unit_ci_s: unit.time.ci95_s,
        tokens,
        usd_per_unit: cost.and_then(|c| c.usd_per_unit),
        usd_per_million_tokens: cost.and_then(|c| c.usd_per_million_tokens),
        kwh_per_unit: cost.and_then(|c| c.kwh_per_unit),
        tflops: c.throughput.as_ref().map_or(0.0, |t| t.tflops),
        of_gemm: efficiency.and_then(|e| e.of_gemm),
        mfu: efficiency.and_then(|e| e.mfu),
        gb_s: efficiency
            .and_then(|e| e.memory.as_ref())
            .map(|m| m.achieved_gb_s),
        of_bandwidth: efficiency
            .and_then(|e| e.memory.as_ref())
            .and_then(|m| m.of_calibrated),
        peak_rss_mib: c
            .memory
            .as_ref()
            .and_then(|m| m.peak_rss_bytes)
            .map(|b| b as f64 / MIB),
        estimated_mib: c.estimated_memory.total_bytes as f64 / MIB,
        attention: c.attention.clone().unwrap_or_default(),
    })
}

const MIB: f64 = 1024.0 * 1024.0;

/// A case's parity check in words, as the report's tables show it.
fn parity_text(c: &CaseResult) -> String {
    let Some(p) = &c.parity else {
        return "not checked".into();
    };
    match p.status {
        ParityStatus::Reference => "reference".into(),
        ParityStatus::Pass => format!("pass ({:.0e})", p.output_rel_error),
        ParityStatus::Fail => format!(
            "FAIL: {}",
            p.detail.clone().unwrap_or_else(|| "differs".into())
        ),
    }
}

fn row(host: &str, c: &CaseResult, timing: &TimingConfig) -> Option<Row> {
    if c.status != Status::Ok {
        return None;
    }
    let stats = c.stats.as_ref()?;
    let throughput = c.throughput.as_ref()?;
    let memory = c.memory.as_ref();
    let confidence = c.confidence_under(timing);
    Some(Row {
        host: host.to_string(),
        case: c.id.clone(),
        workload: c.workload.label.clone(),
        preset: c.workload.preset.clone(),
        overrides: c.workload.overrides.clone(),
        family: match c.workload.family {
            Family::Wan => "wan".into(),
            Family::Llama => "llama".into(),
            Family::Umt5 => "umt5".into(),
            Family::WanVae => "wan_vae".into(),
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
        ci_width_s: stats.ci95_median_s[1] - stats.ci95_median_s[0],
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
        parity: parity_text(c),
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
        samples: stats.n,
        stop_reason: match c.stop_reason {
            Some(StopReason::Converged) => "converged",
            Some(StopReason::Budget) => "budget",
            Some(StopReason::MaxIters) => "max_iters",
            None => "-",
        }
        .into(),
        ci_known: stats.relative_ci_half_width().is_some(),
        confidence: match &confidence {
            Some(k) if !k.is_good() => "low".into(),
            Some(_) => "good".into(),
            None => "unknown".into(),
        },
        confidence_reasons: confidence.map(|k| k.reasons).unwrap_or_default(),
        contended: c.contended(),
        median_usable: crate::record::confidence::median_usable(
            stats,
            timing,
            c.interference.as_ref(),
        ),
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
        let history_thresholds = crate::read::compare::Thresholds::default();
        let (history, latest);
        let runs = if options.history {
            history = history::history(runs, &history_thresholds)?;
            latest = latest_per_host(runs);
            &latest[..]
        } else {
            history = Vec::new();
            runs
        };
        let Gathered {
            machines,
            not_run,
            mut rows,
            full_models,
            places,
        } = gather(runs);
        let comparisons = comparisons::comparisons(&mut rows, &options.reference_order)?;
        let dit_vs_llm = dit_vs_llm::dit_vs_llm(&rows, generation);
        let hardware = hardware::hardware(runs, &rows, options.baseline.as_deref())?;
        let scaling = scaling::scaling(&rows)?;
        let scale = dit_vs_llm::scale_equivalents(generation);
        let videos = pipeline::videos(&full_models, |host, device| {
            places
                .iter()
                .find(|p| p.host == host && p.device == device)
                .map_or(0, |p| p.runtime_bytes)
        });
        let claims = claims::claims(&full_models, &rows, &generation, &videos);
        let buyers = buyer::buyer_view(&full_models, &places, &generation, &videos);
        let mut headlines = headlines::headlines(&rows, &machines, hardware.as_ref(), &claims);
        let first = opening_headlines(runs, options.history.then_some(&history[..]));
        headlines.splice(0..0, first);
        let mut full_model_units: Vec<String> = Vec::new();
        for f in &full_models {
            if !full_model_units.contains(&f.unit_basis) {
                full_model_units.push(f.unit_basis.clone());
            }
        }
        let served = served_equivalents(&full_models);
        Ok(Report {
            headlines,
            claims,
            buyers,
            // Published whole-model figures beside whole models: shown
            // where the report has any (a real-scale run), not in a CI report.
            published: if full_models.is_empty() {
                Vec::new()
            } else {
                published::published_rows(&videos)
            },
            videos,
            generated_at: ditbench_core::util::units::to_the_second(generated_at),
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
            full_models,
            full_model_units,
            served,
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

/// What every section is computed from: each run's machine, its measured
/// rows and the cases that did not run, full-model rows and devices.
struct Gathered {
    machines: Vec<Machine>,
    not_run: Vec<NotRun>,
    rows: Vec<Row>,
    full_models: Vec<FullModelRow>,
    places: Vec<PlaceMemory>,
}

fn gather(runs: &[LoadedRun]) -> Gathered {
    let mut all = Gathered {
        machines: Vec::new(),
        not_run: Vec::new(),
        rows: Vec::new(),
        full_models: Vec::new(),
        places: Vec::new(),
    };
    for (index, run) in runs.iter().enumerate() {
        let r = &run.results;
        let host = &r.environment.host;
        all.machines.push(machine(run));
        places_of(r, &mut all.places);
        all.full_models.extend(
            r.cases
                .iter()
                .filter_map(|c| full_model_row(host, index, c)),
        );
        for c in &r.cases {
            match row(host, c, &r.settings.timing) {
                Some(row) => all.rows.push(row),
                None => all.not_run.push(NotRun {
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
    all
}

/// One run's machine and its counts, as the report's machines table shows it.
fn machine(run: &LoadedRun) -> Machine {
    let r = &run.results;
    let env = &r.environment;
    let count = |s: Status| r.cases.iter().filter(|c| c.status == s).count();
    let parity = |s: ParityStatus| {
        r.cases
            .iter()
            .filter(|c| c.parity.as_ref().is_some_and(|p| p.status == s))
            .count()
    };
    Machine {
        file: run.path.display().to_string(),
        host: env.host.clone(),
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
        started_at: ditbench_core::util::units::to_the_second(&r.started_at),
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
    }
}

/// The headlines said before the findings: the history's change points
/// (with `--history`), then each shard set, whole or not.
fn opening_headlines(runs: &[LoadedRun], history: Option<&[CaseHistory]>) -> Vec<String> {
    let mut first = Vec::new();
    if let Some(history) = history {
        let changes: Vec<&ChangePoint> = history.iter().flat_map(|h| &h.change_points).collect();
        let regressions = changes
            .iter()
            .filter(|c| c.verdict == Verdict::Regression)
            .count();
        first.push(format!(
            "History of {} cases over {} runs: {} change points, {regressions} of them regressions.",
            history.len(),
            runs_in_history(history),
            changes.len()
        ));
    }
    // Shard files are one run: a missing or unfinished shard is said first.
    let sets = crate::record::results::shard_sets(runs.iter().map(|r| &r.results));
    for set in &sets {
        let text = set.describe();
        first.push(if set.is_whole() {
            format!("Merged {text}.")
        } else {
            format!("Incomplete: {text}.")
        });
    }
    first
}

/// Each device a run's cases ran on, with its memory and the dtypes used;
/// a place already listed (same host and device) gains the run's dtypes.
fn places_of(r: &RunResults, places: &mut Vec<PlaceMemory>) {
    let env = &r.environment;
    let runtime_bytes = r
        .cases
        .iter()
        .map(|c| c.estimated_memory.runtime_bytes)
        .max()
        .unwrap_or(0);
    for c in &r.cases {
        let place = match places
            .iter_mut()
            .position(|p| p.host == env.host && p.device == c.device)
        {
            Some(i) => &mut places[i],
            None => {
                let gpu = c
                    .device
                    .strip_prefix("cuda:")
                    .and_then(|i| i.parse::<usize>().ok())
                    .and_then(|i| env.gpus.iter().find(|g| g.index == i));
                places.push(PlaceMemory {
                    host: env.host.clone(),
                    device: c.device.clone(),
                    device_name: match (gpu, &c.device_name) {
                        _ if c.device == "cpu" => env.cpu_model.clone(),
                        (Some(g), _) => g.name.clone(),
                        (None, Some(name)) => name.clone(),
                        (None, None) => c.device.clone(),
                    },
                    bytes: if c.device == "cpu" || DeviceName::is_software_name(&c.device) {
                        Some(env.ram_bytes)
                    } else {
                        gpu.and_then(|g| g.memory_bytes)
                    },
                    runtime_bytes,
                    dtypes: Vec::new(),
                });
                places.last_mut().expect("just pushed")
            }
        };
        if !place.dtypes.contains(&c.dtype) {
            place.dtypes.push(c.dtype);
        }
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

/// The most recent run (by start time) of each machine, in file order; of
/// a sharded run, each shard's most recent file.
fn latest_per_host(runs: &[LoadedRun]) -> Vec<LoadedRun> {
    let place = |r: &LoadedRun| {
        let shard = r.results.settings.shard.as_ref();
        (
            r.results.environment.host.clone(),
            shard.map(|s| (s.plan.clone(), s.index)),
        )
    };
    let mut latest: Vec<&LoadedRun> = Vec::new();
    for run in runs {
        let key = place(run);
        match latest.iter_mut().find(|r| place(r) == key) {
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
/// The thread count, where it came from, and the variables every worker got.
fn threads_text(threads: &ditbench_core::machine::threads::ThreadSettings) -> String {
    let variables: String = threads
        .env
        .iter()
        .map(|(k, v)| format!("; {k}={v}"))
        .collect();
    format!("{} ({}){variables}", threads.threads, threads.source)
}

/// Where the workers ran: pinned by `--cpus` or not, and `--oversubscribe`.
fn cpus_text(settings: &crate::record::results::RunSettings) -> String {
    let pinned = match &settings.cpus {
        Some(cpus) => format!(
            "workers pinned to {} (--cpus)",
            ditbench_core::machine::threads::cpu_list_text(cpus)
        ),
        None => "not pinned".into(),
    };
    let over = if settings.oversubscribe {
        "; --oversubscribe"
    } else {
        ""
    };
    pinned + over
}

/// The timing rule a run used, in words.
fn timing_text(t: &TimingConfig) -> String {
    format!(
        "warm-up at least {} iterations and {} s; timed at least {} iterations and {} s, at most {} iterations; at most {} s per case; stops early once the 95% CI of the median is within ±{}%",
        t.warmup_iters,
        t.warmup_s,
        t.min_iters,
        t.min_time_s,
        t.max_iters,
        t.budget_s,
        t.target_rel_ci * 100.0
    )
}

fn machine_details(r: &RunResults) -> Vec<(String, String)> {
    let env = &r.environment;
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
        ("threads".into(), threads_text(&env.threads)),
        ("CPUs".into(), cpus_text(&r.settings)),
        (
            "CPU governor / boost".into(),
            format!(
                "{} / {}",
                env.cpu_governor.as_deref().unwrap_or("not exposed"),
                env.cpu_boost.as_deref().unwrap_or("not exposed")
            ),
        ),
        ("timing".into(), timing_text(&r.settings.timing)),
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
