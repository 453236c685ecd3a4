//! `ditbench run`: validate the request, run every case in a worker process,
//! write results after each case, print the summary.

use ditbench_core::util::write::{file_stem, write_new};
use ditbench_harness::read::report::{LoadedRun, Report, ReportOptions, render_html};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use ditbench::registry::{reference_order as registry_reference_order, thread_variables};
use ditbench_core::check::parity::{ParityStatus, reference_first};
use ditbench_core::compute::tensors::{WeightSource, seeded_data_bytes};
use ditbench_core::io::checkpoint::FileWeights;
use ditbench_core::io::files::cached_seeded_data;
use ditbench_core::io::input_file::{MissingTarget, load_inputs};
use ditbench_core::machine::threads::ThreadSettings;
use ditbench_core::machine::threads::{cpu_list_text, parse_cpu_list};
use ditbench_core::spec::cost::check_counts;
use ditbench_core::spec::params::{parameter_count, parameters};
use ditbench_core::spec::workload::{
    DEFAULT_PRESETS, Dimension, ModelConfig, Workload, expand_workloads, find_preset,
};
use ditbench_core::{CaseSpec, DeviceName, Pass};
use ditbench_harness::measure::env::{self, default_threads};
use ditbench_harness::measure::interference::allowed_cpus;
use ditbench_harness::measure::memory;
use ditbench_harness::measure::timing::TimingConfig;
use ditbench_harness::record::extrapolate;
use ditbench_harness::record::results::{
    ResultsFile, RunResults, RunSettings, SCHEMA_VERSION, Status, ToolInfo, all_definitions,
};
use ditbench_harness::record::scale::ScaleSettings;
use ditbench_harness::record::shard::{Shard, ShardRecord, select};
use ditbench_harness::run::runner::{
    DataFiles, PlannedBackend, ReferenceStore, RunPlan, Runner, WorkerCommand, WorkerLimits,
    available_devices, plan_cases,
};
use indicatif::{ProgressBar, ProgressStyle};

use crate::backends::{compiled_backends, frameworks, resolve_backends};
use crate::cli::{Cli, Command, GenerationArgs, OverrideArgs, RunArgs, Suite, TimingArgs};
use crate::format;
use crate::{UsageError, build_info, reference_order};

/// What a finished run reports to `main`.
pub struct RunOutcome {
    pub failed: usize,
    pub parity_failed: usize,
}

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
fn writable_dir(flag: &str, dir: &Path) -> Result<(), UsageError> {
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

pub fn run(args: &RunArgs) -> Result<RunOutcome> {
    match &args.resume {
        Some(file) => resume(file, args.shard),
        None => start(args),
    }
}

/// Everything a run needs, validated once from the arguments before anything
/// runs or is written; `run` and `run --resume` both build the runner from it.
struct Plan {
    run: RunPlan,
    worker: WorkerCommand,
    cases: Vec<CaseSpec>,
    environment: env::Environment,
    settings: RunSettings,
}

/// The devices named by `--devices` (or all available), each one that some
/// selected backend can use here.
fn devices(requested: &[String], available: &[DeviceName]) -> Result<Vec<DeviceName>, UsageError> {
    if requested.is_empty() {
        return Ok(available.to_vec());
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
    let workloads = expand_workloads(names, sweeps).map_err(|e| UsageError(e.0))?;
    for w in &workloads {
        check_counts(&w.config).map_err(|e| UsageError(format!("{}: {e}", w.label())))?;
    }
    Ok(workloads)
}

fn workloads(args: &RunArgs, extrapolate: bool) -> Result<Vec<Workload>, UsageError> {
    let mut sweeps = sweeps(&args.overrides);
    let preset_names: Vec<String> = match args.suite {
        Some(Suite::RealScale) => {
            sweeps.insert(Dimension::Layers, vec![1]);
            REAL_SCALE_PRESETS.iter().map(|s| s.to_string()).collect()
        }
        None if args.presets.is_empty() => DEFAULT_PRESETS.iter().map(|s| s.to_string()).collect(),
        None => dedup(&args.presets),
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
    if out.iter().all(|w| w.config.blocks() > 0) {
        return Err(UsageError(
            "--extrapolate needs a workload with --layers below its preset's block count (and above 0); every workload runs its whole model".into(),
        ));
    }
    Ok(out)
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
/// (or at least one token) and the generated tokens.
fn check_request(scale: &ScaleSettings, workloads: &[Workload]) -> Result<(), UsageError> {
    for w in workloads {
        let ModelConfig::Llama(c) = &w.config else {
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
                w.label(),
                c.max_position_embeddings
            )));
        }
    }
    Ok(())
}

fn plan(args: &RunArgs) -> Result<Plan> {
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
    let backends: Vec<PlannedBackend> = backends.into_iter().map(PlannedBackend::new).collect();
    let devices = devices(&args.devices, &available_devices(&backends))?;
    let dtypes = dedup(&args.dtypes);
    let passes = match (args.passes.is_empty(), args.suite) {
        (false, _) => dedup(&args.passes),
        (true, Some(Suite::RealScale)) => vec![Pass::Forward, Pass::Decode],
        (true, None) => vec![Pass::Forward, Pass::Train, Pass::Decode],
    };
    check_decode(&passes, !args.passes.is_empty(), &workloads)?;
    check_request(&scale, &workloads)?;
    writable_dir("--out", &args.out)?;
    let data = data_files(args, &workloads, &passes)?;

    let environment = env::capture(&build_info(), frameworks(&compiled), threads.clone());
    // The parity reference of each group must run before the backends it checks.
    let mut backend_names: Vec<String> = backends
        .iter()
        .map(|b| b.backend.name().to_string())
        .collect();
    reference_first(&registry_reference_order(), &mut backend_names);
    let ordered: Vec<PlannedBackend> = backend_names
        .iter()
        .filter_map(|n| backends.iter().find(|b| b.backend.name() == n).cloned())
        .collect();
    let cases = plan_cases(
        &workloads,
        &ordered,
        &devices,
        &dtypes,
        &passes,
        args.seed,
        args.attention,
    );
    let (cases, shard) = match args.shard {
        Some(s) => {
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
        None => (cases, None),
    };
    let mut run = RunPlan {
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
    // Every backend loads the same weight and input files for the workloads
    // checked for parity; larger ones initialise in the worker.
    // The parent builds them only within its own budget (--mem-limit, and a
    // quarter of RAM): past it, each worker seeds its own, identically.
    if run.data.weights.is_empty() && run.data.inputs.is_none() && !args.no_parity && !args.plan {
        let cache = args.out.join("cache");
        let budget = args
            .mem_limit
            .unwrap_or(u64::MAX)
            .min(environment.ram_bytes / 4);
        for w in &workloads {
            // Nothing for a workload whose every case is skipped (too big
            // for the memory estimate, an unsupported pass...).
            let starts = cases.iter().any(|c| c.workload == *w && run.starts(c));
            if !starts || parameter_count(&w.config) > args.parity_max_params {
                continue;
            }
            let bytes = seeded_data_bytes(&w.config);
            if bytes > budget {
                eprintln!(
                    "note: {}'s weights and inputs ({}) are larger than the parent may hold ({}); each worker seeds its own",
                    w.label(),
                    ditbench_core::util::units::bytes(bytes, 1),
                    ditbench_core::util::units::bytes(budget, 1)
                );
                continue;
            }
            let files = cached_seeded_data(&cache, &w.config, &w.label(), args.seed)?;
            run.data.shared.insert(w.label(), files);
        }
    }
    Ok(Plan {
        run,
        worker,
        cases,
        environment,
        settings: RunSettings {
            timing,
            seed: args.seed,
            memory_check: !args.force,
            scale,
            attention: args.attention,
            extrapolate,
            cpus,
            oversubscribe: args.oversubscribe,
            shard,
        },
    })
}

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

/// Where a run keeps its parity references' outputs until it finishes.
fn reference_dir(results_file: &Path) -> std::path::PathBuf {
    let dir = results_file.parent().unwrap_or(Path::new("."));
    let stem = results_file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join("cache").join("references").join(stem)
}

fn start(args: &RunArgs) -> Result<RunOutcome> {
    let plan = plan(args)?;
    if args.plan {
        print_plan(&plan);
        return Ok(RunOutcome {
            failed: 0,
            parity_failed: 0,
        });
    }
    let build = build_info();
    let started = chrono::Local::now();
    let results = RunResults {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo {
            name: "ditbench".into(),
            version: build.tool_version.clone(),
            git_commit: build.git_commit.clone(),
        },
        started_at: started.to_rfc3339(),
        finished_at: None,
        command: std::env::args().collect(),
        environment: plan.environment,
        settings: plan.settings,
        definitions: all_definitions(&registry_reference_order()),
        cases: Vec::new(),
        resumed_at: Vec::new(),
    };
    let shard = match args.shard {
        Some(s) => format!("-shard{}of{}", s.index, s.count),
        None => String::new(),
    };
    let stem = format!(
        "ditbench-{}-{}{shard}",
        started.format("%Y%m%d-%H%M%S"),
        file_stem(&results.environment.host, "host")
    );
    let file = ResultsFile::create(&args.out, &stem, &results.to_json()?)?;
    let store = ReferenceStore {
        dir: reference_dir(file.path()),
        recorded: HashMap::new(),
    };
    let runner = Runner::new(plan.run, plan.worker, store);
    execute(runner, plan.cases, results, file, args.report)
}

/// `run --plan`: every planned case, and why the parent would skip one.
fn print_plan(plan: &Plan) {
    let skipped: Vec<Option<String>> = plan
        .cases
        .iter()
        .map(|c| plan.run.skip_reason(c, &plan.run.estimate(c).1))
        .collect();
    let runs = skipped.iter().filter(|s| s.is_none()).count();
    let shard = match &plan.settings.shard {
        Some(r) => format!(
            " in shard {} (partition {}, {} of its {} units)",
            r.shard(),
            r.plan,
            r.units_of(r.index).count(),
            r.units.len()
        ),
        None => String::new(),
    };
    println!(
        "plan: {} case(s){shard}, {runs} to run, {} skipped; nothing was run or written",
        plan.cases.len(),
        plan.cases.len() - runs
    );
    for (case, skip) in plan.cases.iter().zip(&skipped) {
        match skip {
            None => println!("  {}", case.label()),
            Some(why) => println!("  {}: skipped: {why}", case.label()),
        }
    }
}

/// An exclusive lock on `.NAME.lock` beside `path` (not on the file itself,
/// which every case replaces by a rename), released when the returned file
/// closes, also when the process dies.
fn lock_beside(path: &Path) -> Result<std::fs::File> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lock_path = path.with_file_name(format!(".{name}.lock"));
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| {
            UsageError(format!(
                "--resume: cannot create {}: {e}",
                lock_path.display()
            ))
        })?;
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor this function owns.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(UsageError(format!(
            "--resume: another ditbench is already resuming {} (it holds {}); wait for it to finish",
            path.display(),
            lock_path.display()
        ))
        .into());
    }
    Ok(lock)
}

/// Continue the run recorded in `path`: the same command line, only the
/// cases the file lacks, written into the same file.
fn resume(path: &Path, shard: Option<Shard>) -> Result<RunOutcome> {
    // Held until the run ends: a second `--resume` of the file would run the
    // same cases on the same cores, and the last writer would win.
    let _lock = lock_beside(path)?;
    let mut results = RunResults::load(path).map_err(|e| UsageError(format!("--resume: {e:#}")))?;
    let recorded_shard = results.settings.shard.as_ref().map(ShardRecord::shard);
    if let Some(asked) = shard
        && recorded_shard != Some(asked)
    {
        return Err(UsageError(format!(
            "--resume: {} is {}, not shard {asked}",
            path.display(),
            match recorded_shard {
                Some(s) => format!("shard {s}"),
                None => "an unsharded run".into(),
            }
        ))
        .into());
    }
    if let Some(finished) = &results.finished_at {
        return Err(UsageError(format!(
            "--resume: {} is a finished run (finished at {finished}); nothing to resume",
            path.display()
        ))
        .into());
    }
    // One results file holds one machine and one build.
    let build = build_info();
    let recorded = &results.environment;
    let here = env::host_name();
    let mismatch = if recorded.host != here {
        Some(format!("it ran on host {}, this is {here}", recorded.host))
    } else if results.tool.git_commit != build.git_commit
        || recorded.cargo_features != build.cargo_features
    {
        Some(format!(
            "it ran ditbench {} with features [{}]; this is {} with [{}]",
            results.tool.git_commit,
            recorded.cargo_features.join(", "),
            build.git_commit,
            build.cargo_features.join(", ")
        ))
    } else {
        None
    };
    if let Some(why) = mismatch {
        return Err(UsageError(format!(
            "--resume: {} cannot be continued here: {why}",
            path.display()
        ))
        .into());
    }
    let mut args = match Cli::try_parse_from(&results.command) {
        Ok(Cli {
            command: Command::Run(args),
        }) if args.resume.is_none() => args,
        _ => {
            return Err(UsageError(format!(
                "--resume: {} does not record a `ditbench run` command line this ditbench understands: {}",
                path.display(),
                results.command.join(" ")
            ))
            .into());
        }
    };
    // Results, cache and references stay next to the file, wherever it was moved.
    args.out = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let plan = plan(&args)?;
    let done: HashSet<&str> = results.cases.iter().map(|c| c.id.as_str()).collect();
    let Plan {
        run, worker, cases, ..
    } = plan;
    let missing: Vec<CaseSpec> = cases
        .into_iter()
        .filter(|c| !done.contains(c.label().as_str()))
        .collect();
    let references = results
        .cases
        .iter()
        .filter(|c| {
            c.parity
                .as_ref()
                .is_some_and(|p| p.status == ParityStatus::Reference)
        })
        .map(|c| (c.key().parity_group(), c.backend.clone()))
        .collect();
    let store = ReferenceStore {
        dir: reference_dir(path),
        recorded: references,
    };
    eprintln!(
        "resuming {}: {} cases recorded, {} to run",
        path.display(),
        results.cases.len(),
        missing.len()
    );
    let lost = store.missing();
    if !lost.is_empty() {
        eprintln!(
            "warning: the kept outputs of {} parity reference(s) are missing from {} (was the file copied without its cache/references?): the remaining cases of {} run without a parity check",
            lost.len(),
            store.dir.display(),
            lost.join(", ")
        );
    }
    results.resumed_at.push(chrono::Local::now().to_rfc3339());
    let file = ResultsFile::open(path);
    file.update(&results.to_json()?)?;
    execute(
        Runner::new(run, worker, store),
        missing,
        results,
        file,
        args.report,
    )
}

/// Run `cases`, adding each result to `results` and rewriting `file` after
/// every case; then mark the run finished and print the summary.
fn execute(
    mut runner: Runner,
    cases: Vec<CaseSpec>,
    mut results: RunResults,
    file: ResultsFile,
    report: bool,
) -> Result<RunOutcome> {
    let width = format::terminal_width();
    let progress = Progress::new(cases.len() as u64);
    for case in &cases {
        progress.start(&case.label());
        let result = runner.run_case(case);
        progress.finish(&format::case_line(&result, width));
        results.cases.push(result);
        extrapolate::attach(&mut results.cases, &results.settings.scale);
        file.update(&results.to_json()?)?;
    }
    progress.done();
    results.finished_at = Some(chrono::Local::now().to_rfc3339());
    file.update(&results.to_json()?)?;
    // Kept only so that an interrupted run could be resumed.
    let references = reference_dir(file.path());
    if references.exists() {
        std::fs::remove_dir_all(&references).ok();
    }

    println!("{}", format::summary_text(&results.cases, width));
    if let Some(mut full) = format::full_model_table(&results.cases) {
        if let Some(w) = width {
            full.set_width(w.try_into().unwrap_or(u16::MAX));
        }
        println!("{full}");
        println!(
            "{}",
            format::wrap_words(
                &format!(
                    "Extrapolated rows are labelled so: T(k) + (L - k) x (T(k) - T(j)) / (k - j) from k measured blocks and the deepest depth j < k that ran (j = 0: the workload without blocks); per unit = a video or image's {} steps x {} DiT forwards; an LLM prefill = a request's prompt at the prefill rate; an LLM request (decode rows) = that prefill plus its generated tokens' decode steps.",
                    results.settings.scale.steps, results.settings.scale.cfg_passes
                ),
                width,
                0
            )
        );
    }
    let count = |s: Status| results.cases.iter().filter(|c| c.status == s).count();
    let (ok, skipped, failed) = (
        count(Status::Ok),
        count(Status::Skipped),
        count(Status::Failed),
    );
    let parity_failed = results
        .cases
        .iter()
        .filter(|c| {
            c.parity
                .as_ref()
                .is_some_and(|p| p.status == ParityStatus::Fail)
        })
        .count();
    let checked = results.cases.iter().filter(|c| c.parity.is_some()).count();
    println!(
        "{}",
        format::wrap(
            &[
                format!("{ok} ok, {skipped} skipped, {failed} failed;"),
                format!(
                    "parity: {} of {checked} checked cases agree.",
                    checked - parity_failed
                ),
                format!("Results: {}", file.path().display()),
            ],
            " ",
            width,
            0
        )
    );
    if report {
        let path = file.path().with_extension("html");
        let runs = [LoadedRun {
            path: file.path().to_path_buf(),
            results,
        }];
        let now = chrono::Local::now().to_rfc3339();
        let options = ReportOptions {
            reference_order: reference_order(),
            ..ReportOptions::default()
        };
        let html = render_html(&Report::build(&runs, &options, &now)?)?;
        write_new(&path, html.as_bytes())?;
        println!("Report: {}", path.display());
    }
    Ok(RunOutcome {
        failed,
        parity_failed,
    })
}

/// A progress bar on a terminal, plain lines otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    done: std::cell::Cell<u64>,
}

impl Progress {
    fn new(total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                // Fits 80 columns with a short case label; the ETA is
                // indicatif's, from the mean time per finished case.
                ProgressStyle::with_template(
                    "{spinner} [{bar:20}] {pos}/{len} {elapsed} ETA {eta} {wide_msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress {
            bar,
            total,
            done: std::cell::Cell::new(0),
        }
    }

    fn start(&self, label: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(label.to_string()),
            None => eprintln!("[{}/{}] {label} ...", self.done.get() + 1, self.total),
        }
    }

    fn finish(&self, line: &str) {
        self.done.set(self.done.get() + 1);
        match &self.bar {
            Some(bar) => {
                bar.println(line);
                bar.inc(1);
            }
            None => eprintln!("{line}"),
        }
    }

    fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
