//! Arguments -> a validated run plan: every option of `ditbench run` is
//! checked here, once, before anything runs or is written; the run driver
//! (`ditbench_harness::run::driver`) takes the plan from there.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use ditbench::registry::{reference_order as registry_reference_order, thread_variables};
use ditbench_core::check::parity::reference_first;
use ditbench_core::compute::tensors::WeightSource;
use ditbench_core::io::checkpoint::FileWeights;
use ditbench_core::io::input_file::{MissingTarget, load_inputs};
use ditbench_core::machine::threads::{ThreadSettings, cpu_list_text, parse_cpu_list};
use ditbench_core::model::cost::check_counts;
use ditbench_core::model::params::parameters;
use ditbench_core::model::pipeline::{Stage, find_pipeline};
use ditbench_core::model::workload::{
    DEFAULT_PRESETS, Dimension, ModelConfig, Workload, expand_workloads, find_preset,
};
use ditbench_core::{CaseSpec, DeviceName, Pass};
use ditbench_harness::measure::env::{self, default_threads};
use ditbench_harness::measure::interference::allowed_cpus;
use ditbench_harness::measure::memory;
use ditbench_harness::measure::timing::TimingConfig;
use ditbench_harness::record::results::RunSettings;
use ditbench_harness::record::scale::ScaleSettings;
use ditbench_harness::record::shard::{ShardRecord, select};
use ditbench_harness::run::driver::{Plan, UsageError, share_seeded_data};
use ditbench_harness::run::runner::{
    DataFiles, PlannedBackend, RunPlan, WorkerCommand, WorkerLimits, available_devices, plan_cases,
};

use crate::backends::{compiled_backends, frameworks, resolve_backends};
use crate::build_info;
use crate::cli::{GenerationArgs, OverrideArgs, RunArgs, Suite, TimingArgs};

pub fn sweeps(o: &OverrideArgs) -> BTreeMap<Dimension, Vec<usize>> {
    let lists = [
        (Dimension::Layers, &o.layers),
        (Dimension::Dim, &o.dim),
        (Dimension::Heads, &o.heads),
        (Dimension::KvHeads, &o.kv_heads),
        (Dimension::Ffn, &o.ffn),
        (Dimension::Frames, &o.frames),
        (Dimension::Height, &o.height),
        (Dimension::Width, &o.width),
        (Dimension::TextLen, &o.text_len),
        (Dimension::SeqLen, &o.seq_len),
        (Dimension::Vocab, &o.vocab),
        (Dimension::Batch, &o.batch),
    ];
    lists
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(d, v)| (d, v.clone()))
        .collect()
}

fn timing(t: &TimingArgs) -> Result<TimingConfig, UsageError> {
    let cfg = TimingConfig {
        warmup_iters: t.warmup,
        warmup_s: t.warmup_time,
        min_iters: t.min_iters,
        min_time_s: t.min_time,
        max_iters: t.max_iters,
        budget_s: t.budget,
        target_rel_ci: t.target_ci / 100.0,
    };
    cfg.validate().map_err(UsageError)?;
    Ok(cfg)
}

/// Preset names with every pipeline name (`wan2.1-1.3b-480p-video`)
/// replaced by its stages' presets (text encoder, DiT, VAE), without repeats.
pub fn stage_presets(names: &[String]) -> Vec<String> {
    let expanded: Vec<String> = names
        .iter()
        .flat_map(|name| match find_pipeline(name) {
            Some(p) => Stage::ALL.map(|s| p.preset(s).to_string()).to_vec(),
            None => vec![name.clone()],
        })
        .collect();
    dedup(&expanded)
}

fn dedup<T: PartialEq + Clone>(items: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for i in items {
        if !out.contains(i) {
            out.push(i.clone());
        }
    }
    out
}

/// A directory `flag` names must be one ditbench can write into, checked
/// before anything runs: the directory, or where it would be made (its
/// nearest existing ancestor), is probed with a file created and removed.
/// Nothing is made here, so a run refused later leaves nothing behind.
pub fn writable_dir(flag: &str, dir: &Path) -> Result<(), UsageError> {
    if dir.exists() && !dir.is_dir() {
        return Err(UsageError(format!(
            "{flag} {} exists and is not a directory",
            dir.display()
        )));
    }
    // A relative path's last ancestor is "" (never existing): then ".".
    let existing = dir
        .ancestors()
        .find(|a| a.exists())
        .unwrap_or(Path::new("."));
    if !existing.is_dir() {
        return Err(UsageError(format!(
            "{flag} {}: {} is not a directory",
            dir.display(),
            existing.display()
        )));
    }
    let probe = existing.join(format!(".ditbench-write-check.{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| UsageError(format!("{flag} {}: cannot write there: {e}", dir.display())))?;
    std::fs::remove_file(&probe).ok();
    Ok(())
}

/// Check `--weights`, `--inputs` and `--dump-outputs` before anything runs:
/// the checkpoint's headers (every shard's), the inputs' names and shapes,
/// and where the training targets come from, said on the terminal.
fn data_files(
    args: &RunArgs,
    workloads: &[Workload],
    passes: &[Pass],
) -> Result<DataFiles, UsageError> {
    if let Some(dir) = &args.dump_outputs {
        writable_dir("--dump-outputs", dir)?;
    }
    if args.weights.is_empty() && args.inputs.is_none() {
        return Ok(DataFiles {
            dump_outputs: args.dump_outputs.clone(),
            ..DataFiles::default()
        });
    }
    let [workload] = workloads else {
        let labels: Vec<String> = workloads.iter().map(Workload::label).collect();
        return Err(UsageError(format!(
            "--weights and --inputs describe one model; this run has {} workloads ({})",
            workloads.len(),
            labels.join(", ")
        )));
    };
    let mut weights = Vec::new();
    if !args.weights.is_empty() {
        // The whole model's names: with --layers k, later blocks are
        // expected in the checkpoint, and never read.
        let blocks = find_preset(&workload.preset)
            .map_err(|e| UsageError(e.0))?
            .config
            .blocks();
        let whole = parameters(&workload.config.with_blocks(blocks));
        let checked = FileWeights::open(&args.weights, &parameters(&workload.config), Some(&whole))
            .map_err(|e| UsageError(format!("--weights: {e:#}")))?;
        weights = checked.shard_paths();
        eprintln!("weights: {}", checked.describe());
        for note in checked.notes() {
            eprintln!("weights: {note}");
        }
    }
    if let Some(path) = &args.inputs {
        let missing = match (passes.contains(&Pass::Train), args.seeded_targets) {
            (true, false) => MissingTarget::Refuse,
            (true, true) => MissingTarget::Seeded,
            (false, _) => MissingTarget::Unused,
        };
        let file = load_inputs(path, &workload.config, args.seed, missing)
            .map_err(|e| UsageError(format!("--inputs: {e:#}")))?;
        eprintln!(
            "inputs: {}; training targets: {}",
            path.display(),
            file.targets.describe()
        );
    }
    let absolute = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    Ok(DataFiles {
        weights,
        inputs: args.inputs.as_deref().map(absolute),
        seeded_targets: args.seeded_targets,
        dump_outputs: args.dump_outputs.clone(),
        ..DataFiles::default()
    })
}

/// The devices named by `--devices` (or every CPU and GPU available), each
/// one that some selected backend can use here. A software device runs only
/// when named: its times measure the CPU under a GPU API, not any GPU.
fn devices(requested: &[String], available: &[DeviceName]) -> Result<Vec<DeviceName>, UsageError> {
    if requested.is_empty() {
        return Ok(available
            .iter()
            .copied()
            .filter(|d| *d != DeviceName::Software)
            .collect());
    }
    dedup(requested)
        .iter()
        .map(|name| {
            available
                .iter()
                .copied()
                .find(|d| d.to_string() == *name)
                .ok_or_else(|| {
                    let names: Vec<String> = available.iter().map(ToString::to_string).collect();
                    UsageError(format!(
                        "device '{name}' is not available to the selected backends on this machine; available: {}",
                        names.join(", ")
                    ))
                })
        })
        .collect()
}

/// `run --plan` prepares a GPU run on a machine without that GPU: each
/// named `cuda:N` this machine lacks goes to the backends built for NVIDIA
/// GPUs, with a note (nothing runs in a plan).
fn plan_absent_gpus(requested: &[String], backends: &mut [PlannedBackend]) {
    for name in dedup(requested) {
        let Ok(gpu @ DeviceName::Cuda(_)) = name.parse::<DeviceName>() else {
            continue;
        };
        if backends.iter().any(|b| b.devices.contains(&gpu)) {
            continue;
        }
        let mut planned = Vec::new();
        for b in backends
            .iter_mut()
            .filter(|b| b.backend.runs_on_nvidia_gpus())
        {
            b.devices.push(gpu);
            planned.push(b.backend.name());
        }
        if !planned.is_empty() {
            eprintln!(
                "note: {gpu} is not on this machine: planned for the backends built for NVIDIA GPUs ({})",
                planned.join(", ")
            );
        }
    }
}

/// The backends with at least one of the run's `devices` (each runs on those
/// of its own devices). A backend named with `--backends` that has none is
/// refused; one chosen by default is left out, with a note.
fn backends_on(
    backends: Vec<PlannedBackend>,
    devices: &[DeviceName],
    named: bool,
) -> Result<Vec<PlannedBackend>, UsageError> {
    let mut kept = Vec::new();
    for b in backends {
        if b.devices.iter().any(|d| devices.contains(d)) {
            kept.push(b);
            continue;
        }
        let own: Vec<String> = b.devices.iter().map(ToString::to_string).collect();
        let own = if own.is_empty() {
            "none on this machine".to_string()
        } else {
            own.join(", ")
        };
        let chosen: Vec<String> = devices.iter().map(ToString::to_string).collect();
        let chosen = if chosen.is_empty() {
            "none: the selected backends have no CPU or GPU here".to_string()
        } else {
            chosen.join(", ")
        };
        let why = format!(
            "{} runs on none of the run's devices ({chosen}); its devices: {own}",
            b.backend.name()
        );
        if named {
            return Err(UsageError(format!("{why} (name one with --devices)")));
        }
        let hint = if b.devices.contains(&DeviceName::Software) {
            "; a software device runs only when named (--devices software)"
        } else {
            ""
        };
        eprintln!("note: {why}{hint}");
    }
    Ok(kept)
}

/// The presets of `--suite real-scale`: a real clip, a real image and two
/// real LLM prefills, at their real token counts.
pub const REAL_SCALE_PRESETS: [&str; 4] = [
    "wan2.1-1.3b-480p",
    "wan2.1-1.3b-image-1024",
    "llama-2-7b",
    "llama-2-70b",
];

/// Denoising steps of a video at most (samplers use 1 to a few hundred).
const MAX_STEPS: u32 = 10_000;
/// Forwards per step at most (classifier-free guidance uses 2, some 3).
const MAX_CFG_PASSES: u32 = 8;
/// Tokens of an LLM request's prompt, or of its generated part, at most:
/// above every preset's context window (128 Ki tokens), and small enough
/// that a prompt and its generated tokens add up without overflow.
const MAX_REQUEST_TOKENS: u64 = 1 << 20;

/// The figures that turn a pass into a video, image or request, validated
/// (`run` and `report` alike).
pub fn scale_settings(a: &GenerationArgs) -> Result<ScaleSettings, UsageError> {
    if !(1..=MAX_STEPS).contains(&a.steps) || !(1..=MAX_CFG_PASSES).contains(&a.cfg_passes) {
        return Err(UsageError(format!(
            "--steps must be 1 to {MAX_STEPS} and --cfg-passes 1 to {MAX_CFG_PASSES}, got {} and {}",
            a.steps, a.cfg_passes
        )));
    }
    if a.llm_prompt == Some(0) {
        return Err(UsageError("--llm-prompt must be at least 1".into()));
    }
    for (flag, tokens) in [
        ("--llm-prompt", a.llm_prompt),
        ("--llm-tokens", Some(a.llm_tokens)),
    ] {
        if let Some(n) = tokens.filter(|&n| n > MAX_REQUEST_TOKENS) {
            return Err(UsageError(format!(
                "{flag} {n} is more than {MAX_REQUEST_TOKENS} tokens, longer than any model's context"
            )));
        }
    }
    if let Some(p) = a.price_per_hour
        && !(p.is_finite() && p >= 0.0)
    {
        return Err(UsageError(format!(
            "--price-per-hour must be a finite, non-negative number of US dollars, got {p}"
        )));
    }
    Ok(ScaleSettings {
        steps: a.steps,
        cfg_passes: a.cfg_passes,
        llm_prompt_tokens: a.llm_prompt,
        llm_generated_tokens: a.llm_tokens,
        price_per_hour_usd: a.price_per_hour,
    })
}

/// The workloads to run: the presets (or the suite's) with their sweeps,
/// and with `extrapolate`, each partial workload's rest (no blocks) first.
/// The workloads of `names` with `sweeps` (as `run`, `list` and `data` build
/// them): every dimension within its ceiling, every count the cost model
/// makes from them within 64 bits.
pub fn expand(
    names: &[String],
    sweeps: &BTreeMap<Dimension, Vec<usize>>,
) -> Result<Vec<Workload>, UsageError> {
    check_expansion(names.len(), sweeps)?;
    let workloads = expand_workloads(names, sweeps).map_err(|e| UsageError(e.0))?;
    for w in &workloads {
        check_counts(&w.config).map_err(|e| UsageError(format!("{}: {e}", w.label())))?;
    }
    Ok(workloads)
}

/// The most workloads one command may expand its presets and sweeps to:
/// far more than a day of cases, and planned in well under a second.
pub const MAX_WORKLOADS: usize = 1024;

/// Refuse `presets` x the sweeps' values above [`MAX_WORKLOADS`] before
/// building any of them, naming the product.
fn check_expansion(
    presets: usize,
    sweeps: &BTreeMap<Dimension, Vec<usize>>,
) -> Result<(), UsageError> {
    let count = sweeps
        .values()
        .try_fold(presets, |n, values| n.checked_mul(values.len().max(1)));
    if count.is_some_and(|n| n <= MAX_WORKLOADS) {
        return Ok(());
    }
    let factors: Vec<String> = std::iter::once(format!("{presets} preset(s)"))
        .chain(
            sweeps
                .iter()
                .filter(|(_, v)| v.len() > 1)
                .map(|(d, v)| format!("{} --{} values", v.len(), d.name())),
        )
        .collect();
    let product = count.map_or("more than 2^64".to_string(), |n| n.to_string());
    Err(UsageError(format!(
        "{} = {product} workloads; one command expands to at most {MAX_WORKLOADS} (split the sweep over several runs)",
        factors.join(" x ")
    )))
}

fn workloads(args: &RunArgs, extrapolate: bool) -> Result<Vec<Workload>, UsageError> {
    let mut sweeps = sweeps(&args.overrides);
    let preset_names: Vec<String> = match args.suite {
        Some(Suite::RealScale) => {
            sweeps.insert(Dimension::Layers, vec![1]);
            REAL_SCALE_PRESETS.iter().map(|s| s.to_string()).collect()
        }
        None if args.presets.is_empty() => DEFAULT_PRESETS.iter().map(|s| s.to_string()).collect(),
        None => stage_presets(&args.presets),
    };
    let measured = expand(&preset_names, &sweeps)?;
    if !extrapolate {
        return Ok(measured);
    }
    let mut out: Vec<Workload> = Vec::new();
    for w in measured {
        if w.is_partial().map_err(|e| UsageError(e.0))? {
            let rest = w.rest().map_err(|e| UsageError(e.0))?;
            if !out.contains(&rest) {
                out.push(rest);
            }
        }
        if !out.contains(&w) {
            out.push(w);
        }
    }
    if !out.iter().any(|w| w.config.blocks() == 0) {
        return Err(UsageError(
            "--extrapolate needs a workload with --layers below its preset's block count (and above 0); every workload runs its whole model".into(),
        ));
    }
    Ok(out)
}

/// Training is the DiT's and the LLM's pass (the text encoder and the VAE
/// decoder skip it; asked for by name, some workload must take it).
fn check_train(passes: &[Pass], named: bool, workloads: &[Workload]) -> Result<(), UsageError> {
    if !named || !passes.contains(&Pass::Train) {
        return Ok(());
    }
    if workloads.iter().any(|w| Pass::Train.applies_to(&w.config)) {
        return Ok(());
    }
    let names: Vec<String> = workloads.iter().map(|w| w.label()).collect();
    Err(UsageError(format!(
        "--passes train runs only for Wan and Llama presets (the text encoder and the VAE decoder run forward only), and {} {} neither",
        names.join(", "),
        if names.len() == 1 { "is" } else { "are" }
    )))
}

/// Decode is an LLM's pass (Wan workloads skip it; asked for by name, some
/// workload must be an LLM), and needs a context of a prompt and the
/// decoded token.
fn check_decode(passes: &[Pass], named: bool, workloads: &[Workload]) -> Result<(), UsageError> {
    if !passes.contains(&Pass::Decode) {
        return Ok(());
    }
    let llms: Vec<&Workload> = workloads
        .iter()
        .filter(|w| Pass::Decode.applies_to(&w.config))
        .collect();
    if llms.is_empty() && named {
        let names: Vec<String> = workloads.iter().map(|w| w.label()).collect();
        return Err(UsageError(format!(
            "--passes decode runs only for Llama presets, and {} {} none",
            names.join(", "),
            if names.len() == 1 { "is" } else { "are" }
        )));
    }
    for w in llms {
        if let ModelConfig::Llama(c) = &w.config
            && c.seq_len < 2
        {
            return Err(UsageError(format!(
                "decode needs a context of at least 2 tokens (a prompt and the decoded token), and {} has seq-len {}",
                w.label(),
                c.seq_len
            )));
        }
    }
    Ok(())
}

/// An LLM request must fit its model's context window: the prompt given
/// (or at least one token) and the generated tokens. `models` are
/// (label, configuration): a run's workloads, or a report's LLMs.
pub fn check_request<'a>(
    scale: &ScaleSettings,
    models: impl IntoIterator<Item = (String, &'a ModelConfig)>,
) -> Result<(), UsageError> {
    for (label, config) in models {
        let ModelConfig::Llama(c) = config else {
            continue;
        };
        let prompt = scale.llm_prompt_tokens.unwrap_or(1);
        let context = prompt + scale.llm_generated_tokens;
        if context > c.max_position_embeddings as u64 {
            return Err(UsageError(format!(
                "an LLM request of {} prompt and {} generated tokens needs a context of {context}, longer than {}'s {} (max_position_embeddings)",
                scale
                    .llm_prompt_tokens
                    .map_or("at least 1".to_string(), |p| p.to_string()),
                scale.llm_generated_tokens,
                label,
                c.max_position_embeddings
            )));
        }
    }
    Ok(())
}

/// The validated plan of `args`; with parity checked and no user files, the
/// parity-checked workloads' seeded data are made once, in `--out`'s cache.
pub fn plan(args: &RunArgs) -> Result<Plan> {
    // Before any data is generated: the binary and its libraries alone.
    let runtime_bytes = memory::current_rss_bytes().unwrap_or(0);
    let extrapolate = args.scale.extrapolate || args.suite.is_some();
    let scale = scale_settings(&args.scale.generation)?;
    let workloads = workloads(args, extrapolate)?;
    let compiled = compiled_backends();
    let backends = resolve_backends(&compiled, &args.backends)?;
    let timing = timing(&args.timing)?;
    let limits = limits(args)?;
    let allowed = allowed_cpus().unwrap_or_else(|| (0..default_threads()).collect());
    let cpus = match &args.cpus {
        Some(list) => Some(parse_cpu_list(list, &allowed).map_err(UsageError)?),
        None => None,
    };
    let (threads, source) =
        thread_count(args.threads, cpus.as_deref(), &allowed, args.oversubscribe)?;
    let threads = ThreadSettings::new(threads, source, thread_variables(&compiled));
    let worker = WorkerCommand {
        program: std::env::current_exe().context("cannot locate the ditbench executable")?,
        args: vec!["worker".into()],
    };
    let mut backends: Vec<PlannedBackend> = backends.into_iter().map(PlannedBackend::new).collect();
    if args.plan {
        plan_absent_gpus(&args.devices, &mut backends);
    }
    let devices = devices(&args.devices, &available_devices(&backends))?;
    let backends = backends_on(backends, &devices, !args.backends.is_empty())?;
    let passes = passes(args);
    check_decode(&passes, !args.passes.is_empty(), &workloads)?;
    check_train(&passes, !args.passes.is_empty(), &workloads)?;
    check_request(&scale, workloads.iter().map(|w| (w.label(), &w.config)))?;
    writable_dir("--out", &args.out)?;
    let data = data_files(args, &workloads, &passes)?;
    let environment = env::capture(&build_info(), frameworks(&compiled), threads.clone());
    let (cases, shard) = cases(args, &workloads, &backends, &devices, &passes);
    let run = RunPlan {
        backends,
        timing: timing.clone(),
        threads,
        limits,
        // Cases whose estimate exceeds RAM are skipped unless --force.
        memory_limit: (!args.force)
            .then_some(environment.ram_bytes)
            .filter(|&b| b > 0),
        data,
        parity_max_params: (!args.no_parity).then_some(args.parity_max_params),
        runtime_bytes,
        cpus: cpus.clone(),
    };
    let settings = RunSettings {
        timing,
        seed: args.seed,
        memory_check: !args.force,
        scale,
        attention: args.attention,
        extrapolate,
        cpus,
        oversubscribe: args.oversubscribe,
        shard,
    };
    let mut plan = Plan {
        run,
        worker,
        cases,
        environment,
        settings,
    };
    if !args.plan {
        share_data(args, &mut plan, &workloads)?;
    }
    Ok(plan)
}

/// Every backend loads the same weight and input files for the workloads
/// checked for parity; larger ones initialise in the worker. The parent
/// builds them only within its own budget (--mem-limit, and a quarter of
/// RAM), and not at all where the user gives files or parity is off.
fn share_data(args: &RunArgs, plan: &mut Plan, workloads: &[Workload]) -> Result<()> {
    let data = &plan.run.data;
    if !data.weights.is_empty() || data.inputs.is_some() || args.no_parity {
        return Ok(());
    }
    let budget = (args.mem_limit.unwrap_or(u64::MAX)).min(plan.environment.ram_bytes / 4);
    let cache = args.out.join("cache");
    share_seeded_data(
        plan,
        workloads,
        &cache,
        budget,
        args.parity_max_params,
        args.seed,
    )
}

/// `--passes`, or the suite's (the default: forward, train and decode).
fn passes(args: &RunArgs) -> Vec<Pass> {
    match (args.passes.is_empty(), args.suite) {
        (false, _) => dedup(&args.passes),
        (true, Some(Suite::RealScale)) => vec![Pass::Forward, Pass::Decode],
        (true, None) => vec![Pass::Forward, Pass::Train, Pass::Decode],
    }
}

/// Every case of the run, parity references before the backends they
/// check; with `--shard`, only this shard's, and the shard's record.
fn cases(
    args: &RunArgs,
    workloads: &[Workload],
    backends: &[PlannedBackend],
    devices: &[DeviceName],
    passes: &[Pass],
) -> (Vec<CaseSpec>, Option<ShardRecord>) {
    let mut names: Vec<String> = backends
        .iter()
        .map(|b| b.backend.name().to_string())
        .collect();
    reference_first(&registry_reference_order(), &mut names);
    let ordered: Vec<PlannedBackend> = names
        .iter()
        .filter_map(|n| backends.iter().find(|b| b.backend.name() == n).cloned())
        .collect();
    let dtypes = dedup(&args.dtypes);
    let cases = plan_cases(
        workloads,
        &ordered,
        devices,
        &dtypes,
        passes,
        args.seed,
        args.attention,
    );
    let Some(s) = args.shard else {
        return (cases, None);
    };
    let (mine, record) = select(cases, s, args.shard_set.clone());
    if mine.is_empty() {
        eprintln!(
            "note: shard {s} holds no cases (the plan has {} unit(s) for {} shards); its results file records that",
            record.units.len(),
            s.count
        );
    }
    (mine, Some(record))
}

/// The most threads per available CPU `--oversubscribe` allows: enough to
/// measure time-slicing, and far below where a framework's thread pool
/// (100,000 threads) would take minutes to start.
const MAX_OVERSUBSCRIPTION: usize = 8;

/// The threads every framework gets and where the number came from: more
/// than the CPUs available (`cpus`, else every CPU this process may use)
/// only with `--oversubscribe`.
fn thread_count(
    asked: Option<usize>,
    cpus: Option<&[usize]>,
    allowed: &[usize],
    oversubscribe: bool,
) -> Result<(usize, &'static str), UsageError> {
    let available = cpus.map_or(allowed.len(), <[usize]>::len).max(1);
    match asked {
        Some(0) => Err(UsageError("--threads must be at least 1".into())),
        Some(n) if n > available && !oversubscribe => Err(UsageError(match cpus {
            Some(c) => format!(
                "--threads {n} is more than the {available} CPU(s) of --cpus {}; pass --oversubscribe to run them anyway",
                cpu_list_text(c)
            ),
            None => format!(
                "--threads {n} is more than the {available} logical CPU(s) this machine gives ditbench; pass --oversubscribe to run them anyway"
            ),
        })),
        Some(n) if n > MAX_OVERSUBSCRIPTION * available => Err(UsageError(format!(
            "--threads {n} is more than {MAX_OVERSUBSCRIPTION} per CPU available ({available}); even with --oversubscribe at most {}",
            MAX_OVERSUBSCRIPTION * available
        ))),
        Some(n) => Ok((n, "--threads")),
        None => Ok(match cpus {
            Some(c) => (c.len(), "default: the CPUs of --cpus"),
            // A process confined to fewer CPUs (taskset, a cgroup) gets no more.
            None => (default_threads().min(available), "default: physical cores"),
        }),
    }
}

fn limits(args: &RunArgs) -> Result<WorkerLimits, UsageError> {
    let t = args.case_timeout;
    if !(t >= 0.0 && t.is_finite()) {
        return Err(UsageError(format!(
            "--case-timeout must be a number of seconds (0 for no limit), got {t}"
        )));
    }
    // Duration cannot hold more than about 5.8e11 years of seconds.
    let case_timeout = match t {
        0.0 => None,
        t => Some(Duration::try_from_secs_f64(t).map_err(|_| {
            UsageError(format!(
                "--case-timeout {t} is too large for a duration; 0 means no limit"
            ))
        })?),
    };
    Ok(WorkerLimits {
        case_timeout,
        mem_limit_bytes: args.mem_limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn run_args(line: &[&str]) -> RunArgs {
        match Cli::try_parse_from(line).unwrap().command {
            Command::Run(args) => *args,
            _ => unreachable!("a run command line"),
        }
    }

    #[test]
    fn threads_stay_within_the_cpus_unless_oversubscribed() {
        let two = [0, 1];
        // A process confined to one CPU gets one thread by default.
        assert_eq!(thread_count(None, None, &[3], false).unwrap().0, 1);
        assert_eq!(
            thread_count(None, Some(&[1]), &two, false).unwrap(),
            (1, "default: the CPUs of --cpus")
        );
        assert_eq!(
            thread_count(Some(2), None, &two, false).unwrap(),
            (2, "--threads")
        );
        let e = thread_count(Some(3), None, &two, false).unwrap_err().0;
        assert!(
            e.contains("more than the 2 logical CPU(s)") && e.contains("--oversubscribe"),
            "{e}"
        );
        assert_eq!(thread_count(Some(3), None, &two, true).unwrap().0, 3);
        assert_eq!(thread_count(Some(16), None, &two, true).unwrap().0, 16);
        let e = thread_count(Some(17), None, &two, true).unwrap_err().0;
        assert!(e.contains("even with --oversubscribe at most 16"), "{e}");
        let e = thread_count(Some(100_000), Some(&[0]), &two, true)
            .unwrap_err()
            .0;
        assert!(e.contains("at most 8"), "{e}");
        let e = thread_count(Some(2), Some(&[0]), &two, false)
            .unwrap_err()
            .0;
        assert!(e.contains("of --cpus 0"), "{e}");
        assert!(thread_count(Some(0), None, &two, true).is_err());
    }

    #[test]
    fn the_real_scale_suite_is_one_block_of_each_real_model_and_its_rest() {
        let args = run_args(&["ditbench", "run", "--suite", "real-scale"]);
        let labels: Vec<String> = workloads(&args, true)
            .unwrap()
            .iter()
            .map(Workload::label)
            .collect();
        let expected: Vec<String> = REAL_SCALE_PRESETS
            .iter()
            .flat_map(|p| [format!("{p}[layers=0]"), format!("{p}[layers=1]")])
            .collect();
        assert_eq!(labels, expected);
    }

    #[test]
    fn extrapolation_adds_one_rest_per_partial_workload_and_none_for_whole_models() {
        let args = run_args(&[
            "ditbench",
            "run",
            "-p",
            "wan-tiny,llama-tiny",
            "--layers",
            "1,2",
            "--frames",
            "1,5",
        ]);
        let labels: Vec<String> = workloads(&args, true)
            .unwrap()
            .iter()
            .map(Workload::label)
            .collect();
        assert_eq!(
            labels,
            [
                "wan-tiny[frames=1,layers=0]",
                "wan-tiny[frames=1,layers=1]",
                "wan-tiny[frames=5,layers=0]",
                "wan-tiny[frames=5,layers=1]",
                "wan-tiny[frames=1,layers=2]",
                "wan-tiny[frames=5,layers=2]",
                "llama-tiny[layers=0]",
                "llama-tiny[layers=1]",
                "llama-tiny[layers=2]",
            ]
        );
    }
}
