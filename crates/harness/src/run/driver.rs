//! The run driver: a validated [`Plan`] becomes a results file, then the
//! case loop fills it. `start` opens a new file, [`Resumable`] continues an
//! interrupted one, [`Execution::execute`] runs the cases (extrapolation and
//! the file rewritten after each), and [`Summary`] counts what happened. The
//! command line only builds the plan and prints.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use ditbench_core::CaseSpec;
use ditbench_core::check::parity::ParityStatus;
use ditbench_core::compute::tensors::seeded_data_bytes;
use ditbench_core::io::files::{CachePathError, cached_seeded_data};
use ditbench_core::model::params::parameter_count;
use ditbench_core::model::workload::Workload;
use ditbench_core::util::units;
use ditbench_core::util::write::{file_stem, write_new};

use crate::measure::env::{self, BuildInfo, Environment};
use crate::read::report::{LoadedRun, Report, ReportOptions, render_html};
use crate::record::extrapolate;
use crate::record::results::{
    CaseResult, ResultsFile, RunResults, RunSettings, SCHEMA_VERSION, Status, ToolInfo,
    all_definitions,
};
use crate::record::shard::{Shard, ShardRecord};
use crate::run::runner::{ReferenceStore, RunPlan, Runner, WorkerCommand};

/// Bad input from the user: exit code 2, nothing run or written.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Everything a run needs, validated once from the arguments before anything
/// runs or is written; a new run and `run --resume` both build the runner
/// from it.
pub struct Plan {
    pub run: RunPlan,
    pub worker: WorkerCommand,
    pub cases: Vec<CaseSpec>,
    pub environment: Environment,
    pub settings: RunSettings,
}

/// What the binary says of itself, recorded in every results file.
pub struct Identity {
    pub build: BuildInfo,
    /// The command line, argument by argument.
    pub command: Vec<String>,
    /// Backends in the order parity references are chosen.
    pub reference_order: Vec<String>,
}

/// Give the parity-checked workloads of `plan` one set of seeded weight and
/// input files each, in `cache`, shared by every backend. Only within
/// `budget` bytes: past it, each worker seeds its own, identically.
pub fn share_seeded_data(
    plan: &mut Plan,
    workloads: &[Workload],
    cache: &Path,
    budget: u64,
    parity_max_params: u64,
    seed: u64,
) -> Result<()> {
    for w in workloads {
        // Nothing for a workload whose every case is skipped (too big for
        // the memory estimate, an unsupported pass...).
        let starts = plan
            .cases
            .iter()
            .any(|c| c.workload == *w && plan.run.starts(c));
        if !starts || parameter_count(&w.config) > parity_max_params {
            continue;
        }
        let bytes = seeded_data_bytes(&w.config);
        if bytes > budget {
            eprintln!(
                "note: {}'s weights and inputs ({}) are larger than the parent may hold ({}); each worker seeds its own",
                w.label(),
                units::bytes(bytes, 1),
                units::bytes(budget, 1)
            );
            continue;
        }
        let files =
            cached_seeded_data(cache, &w.config, &w.label(), seed).map_err(cache_refusal)?;
        plan.run.data.shared.insert(w.label(), files);
    }
    Ok(())
}

/// Something at a cache path the user must remove is a usage error (exit 2).
fn cache_refusal(e: anyhow::Error) -> anyhow::Error {
    match e.downcast_ref::<CachePathError>() {
        Some(refused) => UsageError(refused.to_string()).into(),
        None => e,
    }
}

/// A run ready to execute: its runner, the cases still to run, the document
/// and the file it is written to.
pub struct Execution {
    runner: Runner,
    cases: Vec<CaseSpec>,
    results: RunResults,
    /// Locked until the execution ends.
    file: ResultsFile,
}

/// A new run: its results document is written under a fresh name in `out`
/// before the first case runs.
pub fn start(plan: Plan, out: &Path, identity: &Identity) -> Result<Execution> {
    let started = chrono::Local::now();
    let build = &identity.build;
    let results = RunResults {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo {
            name: "ditbench".into(),
            version: build.tool_version.clone(),
            git_commit: build.git_commit.clone(),
        },
        started_at: started.to_rfc3339(),
        finished_at: None,
        command: identity.command.clone(),
        environment: plan.environment,
        settings: plan.settings,
        definitions: all_definitions(&identity.reference_order),
        cases: Vec::new(),
        resumed_at: Vec::new(),
    };
    let shard = match &results.settings.shard {
        Some(s) => format!("-shard{}of{}", s.index, s.count),
        None => String::new(),
    };
    let stem = format!(
        "ditbench-{}-{}{shard}",
        started.format("%Y%m%d-%H%M%S"),
        file_stem(&results.environment.host, "host")
    );
    let file = ResultsFile::create(out, &stem, &results.to_json()?)?;
    let store = ReferenceStore {
        dir: reference_dir(file.path()),
        recorded: HashMap::new(),
    };
    Ok(Execution {
        runner: Runner::new(plan.run, plan.worker, store),
        cases: plan.cases,
        results,
        file,
    })
}

/// An interrupted run's file, locked and checked: same machine, same build,
/// not finished. Its recorded command line is re-planned by the caller.
pub struct Resumable {
    file: ResultsFile,
    pub results: RunResults,
}

impl Resumable {
    /// Lock and check `path`; `shard`, when given, must be the file's shard.
    pub fn open(path: &Path, shard: Option<Shard>, build: &BuildInfo) -> Result<Self> {
        // Locked until the run ends: a second writer of the file would run
        // the same cases on the same cores, and the last writer would win.
        let file = ResultsFile::open(path).map_err(|e| UsageError(format!("--resume: {e}")))?;
        let results =
            RunResults::load(file.path()).map_err(|e| UsageError(format!("--resume: {e:#}")))?;
        let refuse = |why: String| -> Result<Self> {
            Err(UsageError(format!("--resume: {} {why}", path.display())).into())
        };
        let recorded_shard = results.settings.shard.as_ref().map(ShardRecord::shard);
        if let Some(asked) = shard
            && recorded_shard != Some(asked)
        {
            return refuse(match recorded_shard {
                Some(s) => format!("is shard {s}, not shard {asked}"),
                None => format!("is an unsharded run, not shard {asked}"),
            });
        }
        if let Some(finished) = &results.finished_at {
            return refuse(format!(
                "is a finished run (finished at {finished}); nothing to resume"
            ));
        }
        if let Some(why) = other_machine_or_build(&results, build) {
            return refuse(format!("cannot be continued here: {why}"));
        }
        Ok(Resumable { file, results })
    }

    /// The directory the run writes into: the file's own (a link's target's),
    /// wherever it was moved, so results, cache and references stay together.
    pub fn out_dir(&self) -> PathBuf {
        self.file
            .path()
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf()
    }

    /// Continue with `plan` (the recorded command line, planned again): only
    /// the cases the file lacks run, into the same file.
    pub fn continue_with(self, plan: Plan) -> Result<Execution> {
        let Resumable { file, mut results } = self;
        if let Some(why) = disagreement(&results, &plan)? {
            return Err(UsageError(format!(
                "--resume: {} does not plan its own run again: {why} (was its command line edited?)",
                file.path().display()
            ))
            .into());
        }
        let done: HashSet<&str> = results.cases.iter().map(|c| c.id.as_str()).collect();
        let missing: Vec<CaseSpec> = plan
            .cases
            .into_iter()
            .filter(|c| !done.contains(c.label().as_str()))
            .collect();
        let store = ReferenceStore {
            dir: reference_dir(file.path()),
            recorded: recorded_references(&results.cases),
        };
        eprintln!(
            "resuming {}: {} cases recorded, {} to run",
            file.path().display(),
            results.cases.len(),
            missing.len()
        );
        let lost = store.missing();
        if !lost.is_empty() {
            eprintln!(
                "warning: the kept outputs of {} parity reference(s) are missing from {} (was the file copied without its cache/references?): the remaining cases of {} run without a parity check",
                lost.len(),
                store.dir.display(),
                units::terminal_text(&lost.join(", "))
            );
        }
        results.resumed_at.push(chrono::Local::now().to_rfc3339());
        file.update(&results.to_json()?)?;
        Ok(Execution {
            runner: Runner::new(plan.run, plan.worker, store),
            cases: missing,
            results,
            file,
        })
    }
}

/// Where `plan` (the file's recorded command line, planned again) is not
/// the run the file records: other settings (a shard, a seed, timing), or
/// a recorded case it would not run (an edited preset list).
fn disagreement(results: &RunResults, plan: &Plan) -> Result<Option<String>> {
    let recorded = serde_json::to_value(&results.settings)?;
    let planned = serde_json::to_value(&plan.settings)?;
    if let (Some(recorded), Some(planned)) = (recorded.as_object(), planned.as_object()) {
        let keys = recorded.keys().chain(planned.keys());
        if let Some(key) = keys
            .into_iter()
            .find(|k| recorded.get(*k) != planned.get(*k))
        {
            return Ok(Some(format!(
                "its settings.{key} is not what the command line it records plans"
            )));
        }
    }
    let planned: HashSet<String> = plan.cases.iter().map(CaseSpec::label).collect();
    Ok(results
        .cases
        .iter()
        .find(|c| !planned.contains(&c.id))
        .map(|c| {
            format!(
                "it records case '{}', which the command line it records does not plan",
                units::terminal_text(&c.id)
            )
        }))
}

/// Why a results file cannot be continued by this binary on this machine:
/// one file holds one machine and one build.
fn other_machine_or_build(results: &RunResults, build: &BuildInfo) -> Option<String> {
    let recorded = &results.environment;
    let here = env::host_name();
    if recorded.host != here {
        return Some(format!("it ran on host {}, this is {here}", recorded.host));
    }
    if results.tool.git_commit != build.git_commit
        || recorded.cargo_features != build.cargo_features
    {
        return Some(format!(
            "it ran ditbench {} with features [{}]; this is {} with [{}]",
            results.tool.git_commit,
            recorded.cargo_features.join(", "),
            build.git_commit,
            build.cargo_features.join(", ")
        ));
    }
    None
}

/// Parity group -> reference backend, of the references already recorded.
fn recorded_references(cases: &[CaseResult]) -> HashMap<String, String> {
    cases
        .iter()
        .filter(|c| {
            c.parity
                .as_ref()
                .is_some_and(|p| p.status == ParityStatus::Reference)
        })
        .map(|c| (c.key().parity_group(), c.backend.clone()))
        .collect()
}

/// What the case loop tells whoever watches it (a progress bar, a log).
pub trait Progress {
    fn started(&mut self, case: &CaseSpec);
    fn finished(&mut self, result: &CaseResult);
}

impl Execution {
    /// The cases this execution will run, in order.
    pub fn cases(&self) -> &[CaseSpec] {
        &self.cases
    }

    /// Run every case, adding each result to the document, attaching the
    /// full-model figures and rewriting the file after every case; then mark
    /// the run finished and drop the references kept for a resume.
    pub fn execute(mut self, progress: &mut dyn Progress) -> Result<Summary> {
        for case in &self.cases {
            progress.started(case);
            let mut result = self.runner.run_case(case);
            result.bound_texts();
            progress.finished(&result);
            self.results.cases.push(result);
            extrapolate::attach(&mut self.results.cases, &self.results.settings.scale);
            self.file.update(&self.results.to_json()?)?;
        }
        self.results.finished_at = Some(chrono::Local::now().to_rfc3339());
        self.file.update(&self.results.to_json()?)?;
        // Kept only so that an interrupted run could be resumed.
        let references = reference_dir(self.file.path());
        if references.exists() {
            std::fs::remove_dir_all(&references).ok();
        }
        let path = self.file.path().to_path_buf();
        self.file.finish();
        Ok(Summary::of(LoadedRun {
            path,
            results: self.results,
        }))
    }
}

/// A finished run: its document and where it was written, and its counts.
pub struct Summary {
    pub run: LoadedRun,
    pub ok: usize,
    pub skipped: usize,
    pub failed: usize,
    /// Cases with a parity check (references included).
    pub parity_checked: usize,
    pub parity_failed: usize,
}

impl Summary {
    fn of(run: LoadedRun) -> Self {
        let results = &run.results;
        let count = |s: Status| results.cases.iter().filter(|c| c.status == s).count();
        let parity = |c: &CaseResult| c.parity.as_ref().map(|p| p.status);
        Summary {
            ok: count(Status::Ok),
            skipped: count(Status::Skipped),
            failed: count(Status::Failed),
            parity_checked: results.cases.iter().filter(|c| c.parity.is_some()).count(),
            parity_failed: results
                .cases
                .iter()
                .filter(|c| parity(c) == Some(ParityStatus::Fail))
                .count(),
            run,
        }
    }

    /// Write the run's HTML report beside its results file; its path.
    pub fn write_report(&self, reference_order: &[String]) -> Result<PathBuf> {
        let path = self.run.path.with_extension("html");
        let runs = std::slice::from_ref(&self.run);
        let now = chrono::Local::now().to_rfc3339();
        let options = ReportOptions {
            reference_order: reference_order.to_vec(),
            ..ReportOptions::default()
        };
        let html = render_html(&Report::build(runs, &options, &now)?)?;
        write_new(&path, html.as_bytes())?;
        Ok(path)
    }
}

/// Where a run keeps its parity references' outputs until it finishes.
fn reference_dir(results_file: &Path) -> PathBuf {
    let dir = results_file.parent().unwrap_or(Path::new("."));
    let stem = results_file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join("cache").join("references").join(stem)
}
