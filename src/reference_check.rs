//! `ditbench reference-check`: each backend's model beside its framework's
//! own model code, timed in turns in one process (a Python process for
//! libtorch's), with parity; written as JSON and Markdown.

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use ditbench_core::check::parity::{self, ParityStatus};
use ditbench_core::compute::tensors::{SeededWeights, seeded_inputs};
use ditbench_core::io::files::cached_seeded_data;
use ditbench_core::machine::threads::{THREADS_ENV, ThreadSettings};
use ditbench_core::model::workload::ModelConfig;
use ditbench_core::util::write::{replace, write_new, write_numbered};
use ditbench_core::{AttentionChoice, Backend, CaseSpec, DeviceName, Dtype, Pass, Workload};
use ditbench_harness::measure::env::{self, default_threads};
use ditbench_harness::read::reference_check::markdown;
use ditbench_harness::record::reference_check::{
    DEFINITIONS, Measured, PARITY_TOLERANCE_F32, PairOutcome, PairRecord, ReferenceCheck,
    SCHEMA_VERSION,
};
use ditbench_harness::run::pair::{InProcess, PairTiming, Python, SETTLE, Side, interleave};
use ditbench_harness::run::runner::{PlannedBackend, plan_cases};

use crate::backends::{compiled_backends, frameworks, resolve_backends};
use crate::cli::ReferenceCheckArgs;
use crate::plan::{expand, sweeps, writable_dir};
use crate::{UsageError, build_info, out};

/// The PyTorch references, run by this script (kept in the binary).
const TORCH_REFERENCE: &str = include_str!("../scripts/reference/torch_reference.py");

const DEFAULT_PRESETS: [&str; 2] = ["wan-small", "llama-small"];

/// One pair to run: our case and which code is theirs.
struct PlannedPair {
    case: CaseSpec,
    backend: &'static dyn Backend,
    theirs: Theirs,
}

enum Theirs {
    /// The backend's own crate builds it (`Backend::prepare_reference`).
    Rust(String),
    /// The Python script with `--impl`, described.
    Python {
        implementation: &'static str,
        what: String,
    },
    None(String),
}

/// The check's arguments, validated.
struct Plan {
    settings: ThreadSettings,
    backends: Vec<&'static dyn Backend>,
    pairs: Vec<PlannedPair>,
    timing: PairTiming,
    python: PathBuf,
    out: PathBuf,
}

/// Runs the check; `Ok(false)` where a pair failed or missed parity.
pub fn reference_check(args: &ReferenceCheckArgs) -> Result<bool> {
    let plan = plan(args)?;
    let script = tempfile::Builder::new().suffix(".py").tempfile()?;
    std::fs::write(script.path(), TORCH_REFERENCE)?;
    let build = build_info();
    let mut check = ReferenceCheck {
        schema_version: SCHEMA_VERSION,
        tool_version: build.tool_version.clone(),
        git_commit: build.git_commit.clone(),
        started: chrono::Local::now().to_rfc3339(),
        command: std::env::args().collect(),
        environment: env::capture(&build, frameworks(&plan.backends), plan.settings.clone()),
        definitions: DEFINITIONS
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        pairs: Vec::with_capacity(plan.pairs.len()),
    };
    // The file is written before the first pair and replaced after each,
    // so an interrupted check keeps the pairs it measured.
    let stem = format!(
        "reference-check-{}",
        chrono::Local::now().format("%Y%m%d-%H%M%S")
    );
    let json = write_numbered(&plan.out, &stem, "json", out::json_text(&check)?.as_bytes())?;
    for (k, pair) in plan.pairs.iter().enumerate() {
        eprintln!(
            "[{}/{}] {} {} {}: {}",
            k + 1,
            plan.pairs.len(),
            pair.case.workload.label(),
            pair.case.pass,
            pair.backend.name(),
            pair.theirs.describe()
        );
        let outcome = match &pair.theirs {
            Theirs::None(reason) => PairOutcome::Skipped {
                reason: reason.clone(),
            },
            _ => match run_pair(&plan, pair, script.path()) {
                Ok(m) => PairOutcome::Measured(Box::new(m)),
                Err(e) => PairOutcome::Failed {
                    error: format!("{e:#}"),
                },
            },
        };
        eprintln!("    {}", outcome_line(&outcome));
        check.pairs.push(PairRecord {
            workload: pair.case.workload.label(),
            shape: shape(&pair.case.workload),
            pass: pair.case.pass,
            backend: pair.backend.name().to_string(),
            dtype: pair.case.dtype.to_string(),
            reference: pair.theirs.describe(),
            outcome,
        });
        replace(&json, out::json_text(&check)?.as_bytes())?;
    }
    let md = markdown(&check);
    let md_path = json.with_extension("md");
    write_new(&md_path, md.as_bytes())?;
    out::text(&md)?;
    eprintln!("wrote {} and {}", json.display(), md_path.display());
    Ok(check.pairs.iter().all(|p| match &p.outcome {
        PairOutcome::Measured(m) => m.parity.status == ParityStatus::Pass,
        PairOutcome::Skipped { .. } => true,
        PairOutcome::Failed { .. } => false,
    }))
}

/// Check every argument before anything runs, set the threads, plan the pairs.
fn plan(args: &ReferenceCheckArgs) -> Result<Plan> {
    let threads = args.threads.unwrap_or_else(default_threads);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads == 0 || threads > cpus {
        return Err(UsageError(format!(
            "--threads must be from 1 to the {cpus} CPU(s) this process may use, not {threads}"
        ))
        .into());
    }
    let budget = Duration::try_from_secs_f64(args.budget).map_err(|_| {
        UsageError(format!(
            "--budget must be a finite number of seconds, 0 or more, not {:?}",
            args.budget
        ))
    })?;
    if args.min_rounds == 0 {
        return Err(UsageError("--min-rounds must be at least 1".into()).into());
    }
    writable_dir("--out", &args.out)?;
    let compiled = compiled_backends();
    let backends: Vec<&'static dyn Backend> = resolve_backends(&compiled, &args.backends)?
        .into_iter()
        .filter(|b| {
            args.backends.iter().any(|n| n == b.name()) || b.devices().contains(&DeviceName::Cpu)
        })
        .collect();
    let presets: Vec<String> = if args.presets.is_empty() {
        DEFAULT_PRESETS.iter().map(|s| s.to_string()).collect()
    } else {
        args.presets.clone()
    };
    let workloads = expand(&presets, &sweeps(&args.overrides))?;
    let settings = ThreadSettings::new(
        threads,
        if args.threads.is_some() {
            "--threads"
        } else {
            "default: physical cores"
        },
        backends.iter().flat_map(|b| b.thread_variables()).copied(),
    );
    ensure_thread_environment(&settings)?;
    let passes = if args.passes.is_empty() {
        vec![Pass::Forward, Pass::Train, Pass::Decode]
    } else {
        args.passes.clone()
    };
    let python = python_program(args.python.as_deref());
    Ok(Plan {
        pairs: plan_pairs(&workloads, &backends, &passes, args, &python),
        settings,
        backends,
        timing: PairTiming {
            warmup_rounds: args.warmup_rounds,
            budget,
            min_rounds: args.min_rounds,
            max_rounds: 100_000,
            settle: SETTLE,
        },
        python,
        out: args.out.clone(),
    })
}

/// Thread pools are sized from the environment when a framework starts:
/// set it, once, by starting this command again with it.
fn ensure_thread_environment(settings: &ThreadSettings) -> Result<()> {
    let wanted = settings.threads.to_string();
    if std::env::var(THREADS_ENV).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(());
    }
    let program = std::env::current_exe().context("cannot find this program to restart it")?;
    let error = Command::new(program)
        .args(std::env::args_os().skip(1))
        .envs(&settings.env)
        .exec();
    Err(error).context("cannot restart with the thread settings")
}

/// `--python`, else the active virtual environment's, else `./.venv`'s, else `python3`.
fn python_program(asked: Option<&Path>) -> PathBuf {
    if let Some(p) = asked {
        return p.to_path_buf();
    }
    let candidates = [
        std::env::var_os("VIRTUAL_ENV").map(|v| PathBuf::from(v).join("bin/python")),
        Some(PathBuf::from(".venv/bin/python")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// Whether `python` imports `modules`; the reason where it does not.
fn python_has(python: &Path, modules: &str) -> Result<(), String> {
    let status = Command::new(python)
        .args(["-c", &format!("import {modules}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(_) => Err(format!(
            "{} cannot import {modules} (scripts/reference-check.sh --install adds them)",
            python.display()
        )),
        Err(e) => Err(format!("cannot run {}: {e}", python.display())),
    }
}

impl Theirs {
    fn describe(&self) -> String {
        match self {
            Theirs::Rust(what) | Theirs::Python { what, .. } => what.clone(),
            Theirs::None(_) => "none".into(),
        }
    }
}

/// Every (workload, pass, backend) case with each of its references.
fn plan_pairs(
    workloads: &[Workload],
    backends: &[&'static dyn Backend],
    passes: &[Pass],
    args: &ReferenceCheckArgs,
    python: &Path,
) -> Vec<PlannedPair> {
    let mut imports: HashMap<&str, Result<(), String>> = HashMap::new();
    let mut pairs = Vec::new();
    for &backend in backends {
        let planned = [PlannedBackend::new(backend)];
        let cases = plan_cases(
            workloads,
            &planned,
            &[DeviceName::Cpu],
            &[args.dtype],
            passes,
            args.seed,
            AttentionChoice::Auto,
        );
        for case in cases {
            let references = if backend.name() == "tch" {
                torch_references(&case)
                    .into_iter()
                    .map(|(implementation, modules, what)| {
                        let found = imports
                            .entry(modules)
                            .or_insert_with(|| python_has(python, modules));
                        match found {
                            Ok(()) => Theirs::Python {
                                implementation,
                                what,
                            },
                            Err(why) => Theirs::None(format!("{what}: {why}")),
                        }
                    })
                    .collect()
            } else {
                vec![match backend.reference_code(&case) {
                    Ok(what) => Theirs::Rust(what),
                    Err(why) => Theirs::None(why),
                }]
            };
            for theirs in references {
                pairs.push(PlannedPair {
                    case: case.clone(),
                    backend,
                    theirs,
                });
            }
        }
    }
    pairs
}

/// PyTorch eager references of a case: (--impl, modules it imports, what it is).
fn torch_references(case: &CaseSpec) -> Vec<(&'static str, &'static str, String)> {
    match &case.workload.config {
        ModelConfig::Llama(_) => ["eager", "sdpa"]
            .into_iter()
            .map(|attn| {
                let implementation = if attn == "eager" {
                    "hf-eager"
                } else {
                    "hf-sdpa"
                };
                (
                    implementation,
                    "torch, transformers",
                    format!("transformers LlamaForCausalLM ({attn})"),
                )
            })
            .collect(),
        ModelConfig::Wan(_) => vec![(
            "diffusers",
            "torch, diffusers",
            "diffusers WanTransformer3DModel".into(),
        )],
        // No Python reference is wired for these yet.
        ModelConfig::Umt5(_) | ModelConfig::WanVae(_) => Vec::new(),
    }
}

fn run_pair(plan: &Plan, pair: &PlannedPair, script: &Path) -> Result<Measured> {
    let case = &pair.case;
    let config = &case.workload.config;
    let weights = SeededWeights { seed: case.seed };
    let inputs = seeded_inputs(config, case.seed);
    let (mut ours, mut theirs_side, notes): (Box<dyn Side>, Box<dyn Side>, Vec<String>) =
        match &pair.theirs {
            Theirs::Rust(_) => {
                let built = pair.backend.prepare_reference(case, &weights, &inputs)?;
                (
                    Box::new(InProcess(built.ours)),
                    Box::new(InProcess(built.theirs)),
                    built.notes,
                )
            }
            Theirs::Python { implementation, .. } => {
                let ours = pair.backend.prepare(case, &weights, &inputs)?;
                let (weights_file, inputs_file) = cached_seeded_data(
                    &plan.out.join("cache"),
                    config,
                    &case.workload.label(),
                    case.seed,
                )?;
                let mut command = Command::new(&plan.python);
                command
                    .arg(script)
                    .args(["--impl", implementation, "--pass", &case.pass.to_string()])
                    .arg("--weights")
                    .arg(&weights_file)
                    .arg("--inputs")
                    .arg(&inputs_file)
                    .args([
                        "--threads",
                        &plan.settings.threads.to_string(),
                        "--dtype",
                        &case.dtype.to_string(),
                    ]);
                let python = Python::start(command)?;
                (Box::new(InProcess(ours)), Box::new(python), Vec::new())
            }
            Theirs::None(why) => anyhow::bail!("{why}"),
        };
    let samples = interleave(ours.as_mut(), theirs_side.as_mut(), &plan.timing)?;
    let our_output = ours.output()?;
    let their_output = theirs_side.output()?;
    let tolerance = match case.dtype {
        Dtype::F32 => PARITY_TOLERANCE_F32,
        other => parity::tolerance(other),
    };
    let parity = parity::compare_within("ours", &our_output, &their_output, tolerance);
    Ok(Measured::new(
        samples.ours,
        samples.theirs,
        [ours.attention_impl(), theirs_side.attention_impl()],
        parity,
        notes,
    ))
}

/// The dimensions that set a workload's cost, in words.
fn shape(w: &Workload) -> String {
    match &w.config {
        ModelConfig::Wan(c) => {
            let [f, h, wd] = c.grid();
            format!(
                "{} tokens ({f}x{h}x{wd}), {} blocks, dim {}",
                f * h * wd,
                c.num_layers,
                c.dim
            )
        }
        ModelConfig::Llama(c) => format!(
            "{} tokens, {} layers, hidden {}, vocab {}",
            c.seq_len, c.num_hidden_layers, c.hidden_size, c.vocab_size
        ),
        ModelConfig::Umt5(c) => format!(
            "{} tokens, {} layers, dim {}",
            c.text_len, c.num_layers, c.dim
        ),
        ModelConfig::WanVae(c) => format!(
            "{} frames at {}x{}, base width {}",
            c.frames, c.height, c.width, c.dim
        ),
    }
}

fn outcome_line(outcome: &PairOutcome) -> String {
    match outcome {
        PairOutcome::Measured(m) => format!(
            "ours/theirs {:.3} [{:.3}, {:.3}], parity {:?} ({:.1e})",
            m.ratio, m.ratio_ci95[0], m.ratio_ci95[1], m.parity.status, m.parity.output_rel_error
        ),
        PairOutcome::Skipped { reason } => format!("not run: {reason}"),
        PairOutcome::Failed { error } => format!("failed: {error}"),
    }
}
