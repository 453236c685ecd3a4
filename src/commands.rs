//! The commands that read files or describe the machine: `list`, `env`,
//! `report`, `export`, and the worker a run starts per case. Each checks its
//! arguments, calls the harness and prints; none runs a benchmark itself.

use std::path::Path;

use anyhow::{Context, Result};
use ditbench::registry::thread_variables;
use ditbench_core::machine::threads::ThreadSettings;
use ditbench_core::model::workload::presets;
use ditbench_harness::measure::env::{self, default_threads};
use ditbench_harness::run::driver::UsageError;
use ditbench_harness::run::worker::{WorkerRequest, serve};

use crate::plan::{check_request, expand, scale_settings, sweeps};
use crate::{backends, build_info, cli, format, out, reference_order};

/// `ditbench env`: the machine and software as a results file records them.
pub fn env(threads: Option<usize>) -> Result<()> {
    let (n, source) = match threads {
        Some(0) => return Err(UsageError("--threads must be at least 1".into()).into()),
        Some(n) => (n, "--threads"),
        None => (default_threads(), "default: physical cores"),
    };
    let compiled = backends::compiled_backends();
    let threads = ThreadSettings::new(n, source, thread_variables(&compiled));
    let env = env::capture(&build_info(), backends::frameworks(&compiled), threads);
    out::json(&env)
}

pub fn worker(request: &Path, response: &Path) -> Result<()> {
    let text = std::fs::read(request)
        .with_context(|| format!("cannot read worker request {}", request.display()))?;
    let request: WorkerRequest =
        serde_json::from_slice(&text).context("malformed worker request")?;
    let backends = backends::compiled_backends();
    #[allow(unused_mut)]
    let mut reply = serve(&request, &backends);
    // One binary serves every backend, so libtorch is mapped into every worker.
    #[cfg(feature = "tch")]
    if request.case.backend != "tch" {
        reply.notes.push(
            "this binary links libtorch (cargo feature tch), mapped into every worker at start: rss_before_build_bytes and peak_rss_bytes include it, rss_growth_bytes does not".into(),
        );
    }
    // Write then rename, so the parent never reads half a response.
    let tmp = response.with_extension("partial");
    std::fs::write(&tmp, serde_json::to_vec(&reply)?)?;
    std::fs::rename(&tmp, response)?;
    Ok(())
}

/// `ditbench list`: presets, or the workloads `run` would build from them
/// with the same overrides, with their cost.
pub fn list(args: &cli::ListArgs) -> Result<()> {
    use ditbench_core::model::pipeline::{find_pipeline, pipelines};
    use ditbench_core::model::workload::find_preset;
    let (names, pipelines): (Vec<String>, Vec<_>) = if args.presets.is_empty() {
        (
            presets().iter().map(|p| p.name.to_string()).collect(),
            pipelines(),
        )
    } else {
        (
            crate::plan::stage_presets(&args.presets),
            args.presets
                .iter()
                .filter_map(|n| find_pipeline(n))
                .collect(),
        )
    };
    let workloads = expand(&names, &sweeps(&args.overrides))?;
    let rows: Vec<format::PresetRow> = workloads
        .iter()
        .map(|w| format::PresetRow {
            label: w.label(),
            preset: w.preset.clone(),
            description: find_preset(&w.preset)
                .map(|p| p.description.to_string())
                .unwrap_or_default(),
            overridden: !w.overrides.is_empty(),
            config: w.config.clone(),
        })
        .collect();
    if args.json {
        let json: Vec<_> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "name": r.label,
                    "preset": r.preset,
                    "description": r.description,
                    "config": r.config,
                    "cost": ditbench_core::model::cost::cost(&r.config),
                })
            })
            .collect();
        out::json(&json)?;
        return Ok(());
    }
    let width = format::terminal_width();
    out::line(format::presets_text(&rows, width))?;
    out::line(format::wrap_words(
        "FLOPs: matmuls as 2*m*n*k, convolutions as 2*C_in*C_out*taps per output element, attention as 4*S^2*d per layer (causal counted as full), elementwise ops excluded; train = 3 x forward (the text encoder and the VAE decoder: inference only); attention = its share of the forward FLOPs. A VAE's tokens are its latent positions and its layers the latent frames after the first.",
        width,
        0,
    ))?;
    if pipelines.is_empty() {
        return Ok(());
    }
    out::line("\nVideo pipelines (run one with `run --presets NAME`: its three stages):")?;
    out::line(format::pipelines_text(&pipelines, width))
}

/// `ditbench report`: unreadable or foreign input is a usage error (exit 2).
pub fn report(args: &cli::ReportArgs) -> Result<()> {
    use ditbench_core::model::workload::{ModelConfig, find_preset};
    use ditbench_harness::read::report::{
        Report, ReportOptions, UnknownBaseline, load_runs, render_csv, render_html,
        render_markdown, requested_llms,
    };
    let generation = scale_settings(&args.generation)?;
    refuse_existing(args.output.as_deref())?;
    let runs = load_runs(&args.files).map_err(|e| UsageError(format!("{e:#}")))?;
    // The same limit as `run`: the request fits every LLM the report
    // prices it on, those the claims name and those the runs measured.
    let claimed: Vec<(String, ModelConfig)> = requested_llms()
        .into_iter()
        .filter_map(|name| find_preset(name).ok().map(|p| (name.to_string(), p.config)))
        .collect();
    let measured = runs.iter().flat_map(|r| &r.results.cases);
    check_request(
        &generation,
        claimed
            .iter()
            .map(|(n, c)| (n.clone(), c))
            .chain(measured.map(|c| (c.workload.label.clone(), &c.workload.config))),
    )
    .map_err(|e| UsageError(format!("report: {}", e.0)))?;
    let options = ReportOptions {
        generation,
        baseline: args.baseline.clone(),
        history: args.history,
        reference_order: reference_order(),
    };
    let report =
        Report::build(&runs, &options, &chrono::Local::now().to_rfc3339()).map_err(|e| {
            match e.downcast::<UnknownBaseline>() {
                Ok(unknown) => UsageError(format!("--{unknown}")).into(),
                Err(other) => other,
            }
        })?;
    let text = match args.format {
        cli::ReportFormat::Html => render_html(&report)?,
        cli::ReportFormat::Md => render_markdown(&report),
        cli::ReportFormat::Csv => render_csv(&report),
    };
    emit(args.output.as_deref(), &text)
}

/// `ditbench export`: unreadable input is a usage error (exit 2).
pub fn export(args: &cli::ExportArgs) -> Result<()> {
    use ditbench_harness::read::export::{bencher_metric_format, github_action_benchmark};
    use ditbench_harness::read::report::{Report, ReportOptions, load_runs, render_csv};
    refuse_existing(args.output.as_deref())?;
    let loaded = load_runs(&args.files).map_err(|e| UsageError(format!("{e:#}")))?;
    let text = match args.format {
        cli::ExportFormat::Csv => render_csv(&Report::build(
            &loaded,
            &ReportOptions {
                reference_order: reference_order(),
                ..ReportOptions::default()
            },
            &chrono::Local::now().to_rfc3339(),
        )?),
        format => {
            let runs: Vec<_> = loaded.into_iter().map(|r| r.results).collect();
            let json = if format == cli::ExportFormat::Bmf {
                bencher_metric_format(&runs)
            } else {
                github_action_benchmark(&runs)
            };
            format!("{}\n", out::json_text(&json)?)
        }
    };
    emit(args.output.as_deref(), &text)
}

/// Write `text` to a new file, or to stdout without one.
fn emit(output: Option<&Path>, text: &str) -> Result<()> {
    match output {
        Some(path) => {
            ditbench_core::util::write::write_new(path, text.as_bytes())?;
            eprintln!("wrote {}", path.display());
        }
        None => out::text(text)?,
    }
    Ok(())
}

/// An output file that exists, or whose directory does not, is a usage
/// error: nothing is ever replaced, and no directory is made for `-o`.
fn refuse_existing(output: Option<&Path>) -> Result<()> {
    let Some(out) = output else {
        return Ok(());
    };
    // A symbolic link counts, also one to nothing: it is never replaced.
    if let Ok(meta) = std::fs::symlink_metadata(out) {
        let what = match meta.file_type().is_symlink() {
            true => "a symbolic link",
            false => "a file",
        };
        return Err(UsageError(format!(
            "{} already exists; ditbench never replaces {what}",
            out.display()
        ))
        .into());
    }
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(UsageError(format!(
            "cannot write {}: the directory {} does not exist",
            out.display(),
            dir.display()
        ))
        .into());
    }
    Ok(())
}
