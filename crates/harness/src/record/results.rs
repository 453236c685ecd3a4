//! The results file: one JSON document per run, described by
//! `results/schema.json`. Fields are only ever added within a schema version.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use ditbench_core::util::units::terminal_text;
use serde::{Deserialize, Serialize};

use crate::measure::energy::EnergyFigures;
use crate::measure::env::Environment;
use crate::measure::gpu::GpuFigures;
use crate::measure::interference::Interference;
use crate::measure::memory::MemoryFigures;
use crate::measure::peak::Efficiency;
use crate::measure::timing::{StopReason, TimingConfig};
use crate::record::confidence::{self, Confidence};
use crate::record::document::MAX_TEXT_BYTES;
use crate::record::scale::{FullModel, ScaleSettings};
use crate::record::shard::{ShardRecord, ShardSet};
use crate::stats::Stats;
use ditbench_core::check::parity::Parity;
use ditbench_core::compute::tensors::DataSource;
use ditbench_core::machine::threads::ThreadUse;
use ditbench_core::model::case::{AttentionChoice, CaseKey, Dtype, Pass};
use ditbench_core::model::cost::{CostFigures, MemoryEstimate};
use ditbench_core::model::workload::{Family, ModelConfig};
use ditbench_core::util::write;

pub const SCHEMA_VERSION: u32 = 1;

pub const DEFINITIONS: &[(&str, &str)] = &[
    (
        "throughput.samples_per_s",
        "batch / stats.median_s: clips (Wan) or sequences (Llama) per second",
    ),
    (
        "throughput.tokens_per_s",
        "cost.tokens / stats.median_s, where cost.tokens = batch * tokens_per_sample",
    ),
    (
        "throughput.tflops",
        "achieved TFLOP/s: cost-model FLOPs of the pass (forward_flops, or train_flops for train) / stats.median_s / 1e12",
    ),
    (
        "phases",
        "train only: seconds of the forward (incl. loss) and backward phase of each timed iteration, device synchronized at the boundary; their sum is within timing noise of samples_s",
    ),
    (
        "build_s",
        "seconds to build the model (generate or load weights, copy to the device) and upload inputs; not part of any timed figure",
    ),
    (
        "outputs",
        "the pass run once more after timing, for the parity check and --dump-outputs; file (with --dump-outputs) holds `output` (and for train `loss`, `grad_norm`, `grad_norm.<parameter>`)",
    ),
    (
        "outputs.loss",
        "train: Wan flow-matching MSE against the target, or Llama mean next-token cross-entropy, computed in f32",
    ),
    (
        "outputs.grad_norm",
        "train: global L2 norm of the gradients of all parameters",
    ),
    (
        "failure",
        "why a failed case failed: crash (the worker died from a signal, named in error), error (the framework reported an error, or the worker exited non-zero; its last lines are in error), oom (an allocation failed under --mem-limit, or the framework's device allocator ran out), timeout (killed after --case-timeout)",
    ),
    (
        "stop_reason",
        "why timing stopped: converged (95% CI of the median within the target), budget (per-case time budget spent), max_iters",
    ),
];

/// Every definition of every figure, keyed by its JSON path.
pub fn all_definitions<S: AsRef<str>>(reference_order: &[S]) -> BTreeMap<String, String> {
    let mut all: BTreeMap<String, String> = crate::stats::DEFINITIONS
        .iter()
        .chain(crate::measure::memory::DEFINITIONS)
        .chain(ditbench_core::model::cost::DEFINITIONS)
        .chain(ditbench_core::check::parity::DEFINITIONS)
        .chain(ditbench_core::machine::threads::DEFINITIONS)
        .chain(crate::measure::energy::DEFINITIONS)
        .chain(crate::measure::gpu::DEFINITIONS)
        .chain(crate::record::scale::DEFINITIONS)
        .chain(crate::measure::peak::DEFINITIONS)
        .chain(crate::measure::interference::DEFINITIONS)
        .chain(crate::record::confidence::DEFINITIONS)
        .chain(DEFINITIONS)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    all.insert(
        "parity".into(),
        ditbench_core::check::parity::definition(reference_order),
    );
    all
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
    pub git_commit: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    pub timing: TimingConfig,
    pub seed: u64,
    /// Whether cases whose estimated memory exceeds RAM were skipped.
    pub memory_check: bool,
    /// What a video, image and LLM request are, and the machine's price
    /// (defaults in files written before it existed).
    #[serde(default)]
    pub scale: ScaleSettings,
    /// The attention asked for (`--attention`); `auto` in older files.
    #[serde(default = "auto_attention")]
    pub attention: AttentionChoice,
    /// Whether rest cases were planned for extrapolation (`--extrapolate`).
    #[serde(default)]
    pub extrapolate: bool,
    /// The CPUs every worker was pinned to (`--cpus`); null: not pinned.
    #[serde(default)]
    pub cpus: Option<Vec<usize>>,
    /// Whether `--threads` above the available CPUs was allowed.
    #[serde(default)]
    pub oversubscribe: bool,
    /// `--shard K/N`: which part of the planned cases this file holds, and
    /// the whole partition; null for an unsharded run.
    #[serde(default)]
    pub shard: Option<ShardRecord>,
}

fn auto_attention() -> AttentionChoice {
    AttentionChoice::Auto
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResults {
    pub schema_version: u32,
    pub tool: ToolInfo,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339; null while the run is in progress or was interrupted.
    pub finished_at: Option<String>,
    /// The command line, argument by argument.
    pub command: Vec<String>,
    pub environment: Environment,
    pub settings: RunSettings,
    /// Definition of every figure, keyed by its path in a case.
    pub definitions: BTreeMap<String, String>,
    pub cases: Vec<CaseResult>,
    /// RFC 3339 times at which `ditbench run --resume` continued this run.
    #[serde(default)]
    pub resumed_at: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadRecord {
    pub preset: String,
    /// `preset` or `preset[dim=value,...]`.
    pub label: String,
    pub family: Family,
    pub overrides: BTreeMap<String, usize>,
    pub config: ModelConfig,
    pub cost: CostFigures,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Skipped,
    Failed,
}

/// How a failed case failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Failure {
    /// The worker died from a signal (named in `error`).
    Crash,
    /// The framework reported an error, or the worker exited non-zero.
    Error,
    /// Memory ran out: an allocation failed under `--mem-limit`, or the
    /// framework's device allocator failed.
    Oom,
    /// Killed after `--case-timeout`.
    Timeout,
}

impl Failure {
    pub fn name(self) -> &'static str {
        match self {
            Failure::Crash => "crash",
            Failure::Error => "error",
            Failure::Oom => "oom",
            Failure::Timeout => "timeout",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    pub samples_per_s: f64,
    pub tokens_per_s: f64,
    pub tflops: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseSamples {
    pub forward_s: Vec<f64>,
    pub backward_s: Vec<f64>,
    pub forward_median_s: f64,
    pub backward_median_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    /// `workload backend device dtype pass`, unique within a run.
    pub id: String,
    pub workload: WorkloadRecord,
    pub backend: String,
    /// Framework and version, e.g. `candle-core 0.11.1`.
    pub framework: Option<String>,
    pub device: String,
    /// The device as the framework names it.
    pub device_name: Option<String>,
    pub dtype: Dtype,
    pub pass: Pass,
    pub status: Status,
    /// How a failed case failed; null otherwise (and in files written before it existed).
    #[serde(default)]
    pub failure: Option<Failure>,
    /// Why a case was skipped.
    pub reason: Option<String>,
    /// What failed.
    pub error: Option<String>,
    /// Attention implementation that ran.
    pub attention: Option<String>,
    pub notes: Vec<String>,
    pub data: DataSource,
    pub estimated_memory: MemoryEstimate,
    pub build_s: Option<f64>,
    pub stop_reason: Option<StopReason>,
    pub warmup_samples_s: Vec<f64>,
    pub samples_s: Vec<f64>,
    pub phases: Option<PhaseSamples>,
    pub stats: Option<Stats>,
    pub throughput: Option<Throughput>,
    pub memory: Option<MemoryFigures>,
    /// Results of one more pass after timing (for parity and `--dump-outputs`).
    pub outputs: Option<OutputsRecord>,
    /// Agreement with the reference backend; null when not checked.
    pub parity: Option<Parity>,
    /// Thread pools and what the threads ran while timed; null for cases
    /// not measured (and in files written before it existed).
    #[serde(default)]
    pub threads: Option<ThreadUse>,
    /// Energy of the timed iterations, or why it was not measured.
    #[serde(default)]
    pub energy: Option<EnergyFigures>,
    /// NVML readings of a GPU case's device while timed (power, device
    /// memory, clocks, throttling), or why there are none; null on CPUs.
    #[serde(default)]
    pub gpu: Option<GpuFigures>,
    /// The preset's whole model from this case: measured or extrapolated,
    /// per video, image or request, and what it costs.
    #[serde(default)]
    pub full_model: Option<FullModel>,
    /// The pass's rate against the framework's matmul rate and the device's peak.
    #[serde(default)]
    pub efficiency: Option<Efficiency>,
    /// What else the machine did while the case was timed; null for cases
    /// not measured (and in files written before it existed).
    #[serde(default)]
    pub interference: Option<Interference>,
    /// How sure the figure is; null for cases not measured (files written
    /// before it existed get one from [`CaseResult::confidence_under`]).
    #[serde(default)]
    pub confidence: Option<Confidence>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputsRecord {
    /// The safetensors file holding the outputs.
    pub file: Option<String>,
    pub loss: Option<f64>,
    pub grad_norm: Option<f64>,
}

/// `text` cut to at most [`MAX_TEXT_BYTES`] bytes (on a character
/// boundary), saying how much was cut: what a results file may hold.
fn bounded(text: &mut String) {
    const MARK: usize = 64;
    if text.len() <= MAX_TEXT_BYTES {
        return;
    }
    let mut end = MAX_TEXT_BYTES - MARK;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = text.len() - end;
    text.truncate(end);
    text.push_str(&format!(" [... {} KiB cut]", cut.div_ceil(1024)));
}

impl CaseResult {
    /// Cut the texts a worker or framework wrote (an error, notes) to what a
    /// results file may hold, so that every file ditbench writes reads back.
    pub fn bound_texts(&mut self) {
        let parity = self.parity.iter_mut().filter_map(|p| p.detail.as_mut());
        let texts = self.error.iter_mut().chain(self.reason.iter_mut());
        for text in texts.chain(parity).chain(self.notes.iter_mut()) {
            bounded(text);
        }
    }

    /// The case's identity (its `id` is this key's text).
    pub fn key(&self) -> CaseKey {
        CaseKey {
            workload: self.workload.label.clone(),
            backend: self.backend.clone(),
            device: self.device.clone(),
            dtype: self.dtype,
            pass: self.pass,
        }
    }

    /// `ok`, `skipped`, `failed`, or with the failure kind, `failed (oom)`.
    pub fn status_label(&self) -> String {
        match (self.status, self.failure) {
            (Status::Ok, _) => "ok".into(),
            (Status::Skipped, _) => "skipped".into(),
            (Status::Failed, None) => "failed".into(),
            (Status::Failed, Some(kind)) => format!("failed ({})", kind.name()),
        }
    }

    /// Whether others took more of the machine than the case allowed.
    pub fn contended(&self) -> bool {
        self.interference.as_ref().is_some_and(|i| i.contended)
    }

    /// The recorded confidence, else one assessed from the samples under
    /// `timing` (files written before it was recorded); `None` for cases
    /// without statistics.
    pub fn confidence_under(&self, timing: &TimingConfig) -> Option<Confidence> {
        self.confidence.clone().or_else(|| {
            self.stats.as_ref().map(|s| {
                confidence::assess(
                    s,
                    self.stop_reason,
                    timing,
                    self.interference.as_ref(),
                    crate::stats::drift(&self.samples_s).as_ref(),
                )
            })
        })
    }

    /// Throughput figures from the median and the cost model.
    pub fn throughput_from(
        cost: &CostFigures,
        batch: usize,
        pass: Pass,
        median_s: f64,
    ) -> Throughput {
        let (flops, tokens) = match pass {
            Pass::Forward => (cost.forward_flops, cost.tokens),
            Pass::Train => (cost.train_flops, cost.tokens),
            // One new token per sequence.
            Pass::Decode => (cost.decode_flops, batch as u64),
        };
        Throughput {
            samples_per_s: batch as f64 / median_s,
            tokens_per_s: tokens as f64 / median_s,
            tflops: flops / median_s / 1e12,
        }
    }
}

/// The shard sets (`run --shard`) among `runs`: whole, or which shards are
/// missing or unfinished. Unsharded runs belong to none.
pub fn shard_sets<'a>(runs: impl IntoIterator<Item = &'a RunResults>) -> Vec<ShardSet> {
    crate::record::shard::shard_sets(
        runs.into_iter()
            .filter_map(|r| Some((r.settings.shard.as_ref()?, r.finished_at.is_some()))),
    )
}

impl RunResults {
    /// This run's cases with each case once: its last record, as `compare`
    /// takes it (a file that repeats a case is one point of a history, not
    /// many). In recorded order.
    pub fn latest_cases(&self) -> Vec<&CaseResult> {
        let mut seen = std::collections::HashSet::new();
        let mut latest: Vec<&CaseResult> = self
            .cases
            .iter()
            .rev()
            .filter(|c| seen.insert(c.key().to_string()))
            .collect();
        latest.reverse();
        latest
    }

    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Load and check a results file.
    pub fn load(path: &Path) -> Result<Self> {
        let size = ditbench_core::io::files::regular_file(path)?;
        if size > MAX_RESULTS_BYTES {
            bail!(
                "{} is {} MiB; a results file is at most {} MiB (is it one?)",
                path.display(),
                size >> 20,
                MAX_RESULTS_BYTES >> 20
            );
        }
        let text =
            fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let value = crate::record::document::parse(&text).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => {
                anyhow::anyhow!("{} is not a file ditbench wrote: {e}", path.display())
            }
            _ => anyhow::anyhow!("{} is not valid JSON: {e}", path.display()),
        })?;
        match value.get("schema_version").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(SCHEMA_VERSION) => {}
            Some(v) => bail!(
                "{} has schema version {v}; this ditbench reads version {SCHEMA_VERSION}",
                path.display()
            ),
            None => bail!("{} is not a ditbench results file", path.display()),
        }
        // The error names the field (`cases[3].stats.median_s`), not only
        // what was wrong with it.
        let results: RunResults = serde_path_to_error::deserialize(value).map_err(|e| {
            anyhow::anyhow!(
                "{} does not match the results schema at {}: {}",
                path.display(),
                e.path(),
                e.inner()
            )
        })?;
        results
            .check_timings()
            .and_then(|()| results.check_dates())
            .and_then(|()| match &results.settings.shard {
                Some(shard) => shard.check(),
                None => Ok(()),
            })
            .map_err(|why| anyhow::anyhow!("{}: {why}", path.display()))?;
        Ok(results)
    }

    /// Every recorded time of day is one (RFC 3339, as ditbench writes it):
    /// the report orders runs and the history by them.
    fn check_dates(&self) -> Result<(), String> {
        let named = [
            ("started_at", Some(&self.started_at)),
            ("finished_at", self.finished_at.as_ref()),
        ];
        let resumed = self.resumed_at.iter().map(|t| ("resumed_at", Some(t)));
        for (field, text) in named.into_iter().chain(resumed) {
            if let Some(text) = text
                && chrono::DateTime::parse_from_rfc3339(text).is_err()
            {
                return Err(format!(
                    "{field} is \"{}\", not a date and time (RFC 3339, as 2026-12-07T03:16:40+00:00)",
                    terminal_text(text)
                ));
            }
        }
        Ok(())
    }

    /// Every timed figure a reader compares is a duration: positive and
    /// finite. A negative or zero sample would read as a speed-up.
    fn check_timings(&self) -> Result<(), String> {
        for (i, c) in self.cases.iter().enumerate() {
            let phases = c
                .phases
                .iter()
                .flat_map(|p| p.forward_s.iter().chain(&p.backward_s));
            let stats = c.stats.iter().map(|s| s.median_s);
            let bad = c.samples_s.iter().chain(phases).copied().chain(stats);
            if let Some(s) = bad.into_iter().find(|s| !(s.is_finite() && *s > 0.0)) {
                return Err(format!(
                    "case {} ({}) records a time of {s} s; timings must be positive and finite",
                    i + 1,
                    terminal_text(&c.id)
                ));
            }
        }
        Ok(())
    }
}

/// The largest results file ditbench reads: a suite of thousands of cases
/// with every raw sample is tens of MiB.
pub const MAX_RESULTS_BYTES: u64 = 1 << 30;

/// A results file being written: first created under a fresh name (never
/// replacing a file), then replaced atomically after every case, so that a
/// reader or an interrupted run always sees a complete document.
#[derive(Debug)]
pub struct ResultsFile {
    /// The file's real path (symbolic links resolved): what is locked,
    /// replaced and has references kept beside it.
    path: PathBuf,
    /// Held from creation (or resume) until the run ends; see [`lock_beside`].
    lock: (fs::File, PathBuf),
}

/// Why a results file could not be opened for writing.
#[derive(Debug, thiserror::Error)]
pub enum ResultsFileError {
    #[error("another ditbench is writing {0} (it holds {1}); wait for it to finish")]
    InUse(PathBuf, PathBuf),
    #[error(
        "{0} has {1} hard links; a run replaces its file after every case, which would leave the other names behind with old results and outside the lock: resume a copy (cp) or remove the other links"
    )]
    HardLinked(PathBuf, u64),
    #[error("{0} is not a regular file")]
    NotAFile(PathBuf),
    #[error("cannot read {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("cannot lock {0}: {1}")]
    Lock(PathBuf, std::io::Error),
}

impl ResultsFile {
    /// Create `dir/stem.json` (or `stem-2.json`, ... if taken or in use)
    /// holding `contents`, locked before it exists.
    pub fn create(dir: &Path, stem: &str, contents: &str) -> Result<Self> {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for name in write::numbered_names(stem, ".json") {
            let path = dir.join(name);
            if fs::symlink_metadata(&path).is_ok() {
                continue;
            }
            let lock = match lock_beside(&path) {
                Ok(lock) => lock,
                Err(ResultsFileError::InUse(..)) => continue,
                Err(e) => return Err(e.into()),
            };
            match write::write_new(&path, contents.as_bytes()) {
                Ok(()) => return Ok(ResultsFile { path, lock }),
                // Taken between the check and the write: the next name.
                Err(_) if fs::symlink_metadata(&path).is_ok() => continue,
                Err(e) => return Err(e),
            }
        }
        bail!("no free file name for {stem}.json in {}", dir.display())
    }

    /// An existing results file, to continue writing (`run --resume`): its
    /// real path, locked. A symbolic link is followed (the file it names
    /// is written, the link stays); a file with other hard links is refused.
    pub fn open(path: &Path) -> Result<Self, ResultsFileError> {
        let io = |e| ResultsFileError::Io(path.to_path_buf(), e);
        let real = fs::canonicalize(path).map_err(io)?;
        let meta = fs::metadata(&real).map_err(io)?;
        if !meta.is_file() {
            return Err(ResultsFileError::NotAFile(path.to_path_buf()));
        }
        use std::os::unix::fs::MetadataExt;
        if meta.nlink() > 1 {
            return Err(ResultsFileError::HardLinked(
                path.to_path_buf(),
                meta.nlink(),
            ));
        }
        let lock = lock_beside(&real)?;
        Ok(ResultsFile { path: real, lock })
    }

    /// Replace the file's contents atomically.
    pub fn update(&self, contents: &str) -> Result<()> {
        write::replace(&self.path, contents.as_bytes())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The run is over and recorded as finished: remove the lock file, then
    /// release the lock. Whoever takes a lock after this reads a finished
    /// run, which nothing may continue.
    pub fn finish(self) {
        let (lock, lock_path) = self.lock;
        fs::remove_file(&lock_path).ok();
        drop(lock);
    }
}

/// An exclusive lock on `.NAME.lock` beside `path` (not on the file itself,
/// which every case replaces by a rename) and that file's path; released
/// when the returned file closes, also when the process dies. Removed only
/// by [`ResultsFile::finish`]: a lock file unlinked under an unfinished
/// run would let a second writer lock a new one.
fn lock_beside(path: &Path) -> Result<(fs::File, PathBuf), ResultsFileError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lock_path = path.with_file_name(format!(".{name}.lock"));
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| ResultsFileError::Lock(lock_path.clone(), e))?;
    match lock.try_lock() {
        Ok(()) => Ok((lock, lock_path)),
        Err(fs::TryLockError::WouldBlock) => {
            Err(ResultsFileError::InUse(path.to_path_buf(), lock_path))
        }
        Err(fs::TryLockError::Error(e)) => Err(ResultsFileError::Lock(lock_path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_files_never_replace_existing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let a = ResultsFile::create(dir.path(), "run", "{\"a\":1}").unwrap();
        let b = ResultsFile::create(dir.path(), "run", "{\"b\":2}").unwrap();
        assert_ne!(a.path(), b.path());
        assert_eq!(fs::read_to_string(a.path()).unwrap(), "{\"a\":1}");
        a.update("{\"a\":3}").unwrap();
        assert_eq!(fs::read_to_string(a.path()).unwrap(), "{\"a\":3}");
        assert_eq!(fs::read_to_string(b.path()).unwrap(), "{\"b\":2}");
        // No temporary files are left behind; each file has its lock
        // until its run finishes.
        let names = || {
            let mut names: Vec<_> = fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            names.sort();
            names
        };
        assert_eq!(
            names(),
            [
                ".run-2.json.lock",
                ".run.json.lock",
                "run-2.json",
                "run.json"
            ]
        );
        a.finish();
        b.finish();
        assert_eq!(names(), ["run-2.json", "run.json"]);
    }

    #[test]
    fn a_file_in_use_is_neither_reopened_nor_taken_by_a_new_run() {
        let dir = tempfile::tempdir().unwrap();
        let first = ResultsFile::create(dir.path(), "run", "{}").unwrap();
        let e = ResultsFile::open(first.path()).err().unwrap().to_string();
        assert!(e.contains("another ditbench is writing"), "{e}");
        // A name whose lock is held (a run about to create it) is skipped.
        let held = lock_beside(&dir.path().join("next.json")).unwrap();
        let next = ResultsFile::create(dir.path(), "next", "{}").unwrap();
        assert!(next.path().ends_with("next-2.json"), "{:?}", next.path());
        drop((first, held));
        let path = dir.path().join("run.json");
        ResultsFile::open(&path).unwrap();
    }

    #[test]
    fn texts_are_cut_to_what_a_results_file_may_hold() {
        let mut long = "é".repeat(MAX_TEXT_BYTES);
        bounded(&mut long);
        assert!(long.len() <= MAX_TEXT_BYTES, "{}", long.len());
        assert!(long.ends_with(" KiB cut]"), "{}", &long[long.len() - 40..]);
        let mut short = "fits".to_string();
        bounded(&mut short);
        assert_eq!(short, "fits");
    }

    #[test]
    fn recorded_floats_read_back_to_the_last_bit() {
        // What `--resume` relies on: every sample it reads and writes again
        // is the same f64 (serde_json's float_roundtrip).
        let mut x = 0.000_123_456_789_f64;
        for _ in 0..10_000 {
            x = (x * 1.618_033_988_749_895 + 1e-7) % 7.0;
            let back: f64 = serde_json::from_str(&serde_json::to_string(&x).unwrap()).unwrap();
            assert_eq!(back.to_bits(), x.to_bits(), "{x}");
        }
    }

    #[test]
    fn loading_rejects_other_files_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        fs::write(&p, "{\"schema_version\": 99}").unwrap();
        assert!(
            RunResults::load(&p)
                .unwrap_err()
                .to_string()
                .contains("schema version 99")
        );
        fs::write(&p, "{\"hello\": 1}").unwrap();
        assert!(
            RunResults::load(&p)
                .unwrap_err()
                .to_string()
                .contains("not a ditbench")
        );
        fs::write(&p, "{trunc").unwrap();
        assert!(
            RunResults::load(&p)
                .unwrap_err()
                .to_string()
                .contains("not valid JSON")
        );
    }

    #[test]
    fn every_definition_key_is_unique() {
        let n = crate::stats::DEFINITIONS.len()
            + crate::measure::memory::DEFINITIONS.len()
            + ditbench_core::model::cost::DEFINITIONS.len()
            + ditbench_core::check::parity::DEFINITIONS.len()
            + ditbench_core::machine::threads::DEFINITIONS.len()
            + crate::measure::energy::DEFINITIONS.len()
            + crate::measure::gpu::DEFINITIONS.len()
            + crate::record::scale::DEFINITIONS.len()
            + crate::measure::peak::DEFINITIONS.len()
            + crate::measure::interference::DEFINITIONS.len()
            + crate::record::confidence::DEFINITIONS.len()
            + DEFINITIONS.len()
            // `parity`, from the reference order.
            + 1;
        let all = all_definitions(&["tch", "candle", "burn-flex"]);
        assert_eq!(all.len(), n);
        assert!(all["parity"].contains("first available of tch, candle, burn-flex"));
    }
}
