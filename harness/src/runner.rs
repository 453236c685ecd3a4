//! Running cases: the adaptive timing loop (inside a worker), the worker
//! protocol, and the parent side that runs every case in its own process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::backend::PassOutput;
use crate::backend::{Backend, CaseSpec, Dtype, Pass, PreparedCase};
use crate::cost::{cost, estimate_memory};
use crate::env::{ThreadSettings, worker_threads};
use crate::files::{
    FileWeights, encode, file_stem, global_grad_norm, load_inputs, output_tensors, read_outputs,
    write_new_file,
};
use crate::memory::{self, MemoryFigures, heap};
use crate::params::{ParamSpec, parameter_count, parameters};
use crate::parity::{self, Parity, ParityStatus};
use crate::results::{CaseResult, Failure, OutputsRecord, PhaseSamples, Status, WorkloadRecord};
use crate::stats::{self, median, summarize};
use crate::tensors::HostTensor;
use crate::tensors::{DataSource, SeededWeights, WeightSource, seeded_inputs};
use crate::threads::{self, ThreadActivity, ThreadTimes, ThreadUse};
use crate::worker::{
    self, Exit, WorkerFailure, classify_exit, classify_reported_error, format_bytes,
};

/// How long and how often a case is timed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimingConfig {
    /// Warm-up iterations at least (excluded from every figure).
    pub warmup_iters: usize,
    /// Warm-up seconds at least (capped at a quarter of the budget).
    pub warmup_s: f64,
    /// Timed iterations at least, unless the budget runs out first.
    pub min_iters: usize,
    /// Timed seconds at least before convergence may stop timing.
    pub min_time_s: f64,
    /// Timed iterations at most.
    pub max_iters: usize,
    /// Seconds of warm-up plus timing per case, at most (model build excluded).
    pub budget_s: f64,
    /// Stop once the 95% CI of the median is within ± this fraction of it.
    pub target_rel_ci: f64,
}

impl Default for TimingConfig {
    fn default() -> Self {
        TimingConfig {
            warmup_iters: 1,
            warmup_s: 0.2,
            min_iters: 5,
            min_time_s: 1.0,
            max_iters: 100_000,
            budget_s: 8.0,
            target_rel_ci: 0.01,
        }
    }
}

impl TimingConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.min_iters == 0 || self.max_iters < self.min_iters {
            return Err("min-iters must be at least 1 and at most max-iters".into());
        }
        if !(self.budget_s > 0.0 && self.budget_s.is_finite()) {
            return Err("budget must be a positive number of seconds".into());
        }
        if !(self.min_time_s >= 0.0 && self.warmup_s >= 0.0) {
            return Err("min-time and warmup time must not be negative".into());
        }
        if !(self.target_rel_ci > 0.0 && self.target_rel_ci < 1.0) {
            return Err("target-ci must be a fraction between 0 and 1 (e.g. 0.01 for 1%)".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    Converged,
    Budget,
    MaxIters,
}

/// Raw timings of one case.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub warmup_samples_s: Vec<f64>,
    pub samples_s: Vec<f64>,
    pub forward_s: Vec<f64>,
    pub backward_s: Vec<f64>,
    pub stop_reason: Option<StopReason>,
    /// What the worker's threads ran during the timed iterations.
    #[serde(default)]
    pub threads: Option<ThreadActivity>,
}

/// Resamples of the bootstrap that decides when to stop (the reported CI uses more).
const STOPPING_RESAMPLES: usize = 400;

/// Check convergence at every sample early on, then at ~5% growth steps so
/// the bootstrap never dominates fast cases.
fn check_due(n: usize) -> bool {
    n < 100 || n.is_multiple_of((n / 20).max(1))
}

/// Time `case` adaptively: warm up, then iterate with the device
/// synchronized around each iteration until the median's CI is tight
/// enough, the budget is spent or `max_iters` is reached.
pub fn measure(case: &mut dyn PreparedCase, cfg: &TimingConfig) -> Result<Measurement> {
    let start = Instant::now();
    let mut m = Measurement::default();
    case.synchronize()?;
    loop {
        let t = Instant::now();
        case.step()?;
        case.synchronize()?;
        m.warmup_samples_s.push(t.elapsed().as_secs_f64());
        let elapsed = start.elapsed().as_secs_f64();
        if m.warmup_samples_s.len() >= cfg.warmup_iters
            && (elapsed >= cfg.warmup_s || elapsed >= cfg.budget_s / 4.0)
        {
            break;
        }
    }
    let threads_before = ThreadTimes::now();
    let timed_start = Instant::now();
    let mut phases_complete = true;
    loop {
        let t = Instant::now();
        let phases = case.step()?;
        case.synchronize()?;
        m.samples_s.push(t.elapsed().as_secs_f64());
        match (phases.forward_s, phases.backward_s) {
            (Some(f), Some(b)) if phases_complete => {
                m.forward_s.push(f);
                m.backward_s.push(b);
            }
            _ => phases_complete = false,
        }
        let n = m.samples_s.len();
        if n >= cfg.max_iters {
            m.stop_reason = Some(StopReason::MaxIters);
            break;
        }
        if n >= cfg.min_iters
            && timed_start.elapsed().as_secs_f64() >= cfg.min_time_s
            && check_due(n)
            && stats::relative_ci_half_width(&m.samples_s, STOPPING_RESAMPLES) <= cfg.target_rel_ci
        {
            m.stop_reason = Some(StopReason::Converged);
            break;
        }
        if start.elapsed().as_secs_f64() >= cfg.budget_s {
            m.stop_reason = Some(StopReason::Budget);
            break;
        }
    }
    let timed_s = timed_start.elapsed().as_secs_f64();
    m.threads = threads_before
        .zip(ThreadTimes::now())
        .map(|(before, after)| threads::activity(&after.since(&before), timed_s));
    if !phases_complete {
        m.forward_s.clear();
        m.backward_s.clear();
    }
    Ok(m)
}

/// What the parent asks a worker to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerRequest {
    pub case: CaseSpec,
    pub timing: TimingConfig,
    /// Weights from this safetensors file instead of the seeded source.
    pub weights_file: Option<PathBuf>,
    /// Inputs from this safetensors file instead of the seeded source.
    pub inputs_file: Option<PathBuf>,
    /// After timing, run the pass once more and write its outputs here.
    pub outputs_file: Option<PathBuf>,
    /// Limit of the worker's data segment (`--mem-limit`), bytes.
    #[serde(default)]
    pub mem_limit_bytes: Option<u64>,
    /// The parent's process id: the worker dies with it.
    #[serde(default)]
    pub parent_pid: Option<u32>,
}

/// Loss and gradient norm of a pass whose outputs were written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputSummary {
    pub loss: Option<f64>,
    pub grad_norm: Option<f64>,
}

/// What a worker reports back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerResponse {
    /// Set when the case failed inside the worker.
    pub error: Option<String>,
    pub framework: Option<String>,
    pub device_name: Option<String>,
    pub attention: Option<String>,
    pub notes: Vec<String>,
    pub data: Option<DataSource>,
    pub build_s: Option<f64>,
    pub measurement: Measurement,
    pub memory: Option<MemoryFigures>,
    pub outputs: Option<OutputSummary>,
    /// The thread pools and what the threads ran while timed.
    #[serde(default)]
    pub threads: Option<ThreadUse>,
}

fn find_backend<'a>(backends: &[&'a dyn Backend], name: &str) -> Option<&'a dyn Backend> {
    backends.iter().copied().find(|b| b.name() == name)
}

/// Run one case in this process (the worker side of the protocol).
pub fn serve(request: &WorkerRequest, backends: &[&dyn Backend]) -> WorkerResponse {
    let mut response = WorkerResponse {
        error: None,
        framework: None,
        device_name: None,
        attention: None,
        notes: Vec::new(),
        data: None,
        build_s: None,
        measurement: Measurement::default(),
        memory: None,
        outputs: None,
        threads: None,
    };
    if let Err(e) = serve_into(request, backends, &mut response) {
        response.error = Some(format!("{e:#}"));
    }
    response
}

fn serve_into(
    request: &WorkerRequest,
    backends: &[&dyn Backend],
    out: &mut WorkerResponse,
) -> Result<()> {
    if let Some(parent) = request.parent_pid {
        worker::die_with_parent(parent);
    }
    if let Some(bytes) = request.mem_limit_bytes {
        worker::limit_memory(bytes)?;
    }
    let case = &request.case;
    let fault = worker::requested_fault(&case.backend)?;
    let backend = find_backend(backends, &case.backend).with_context(|| {
        format!(
            "backend '{}' is not compiled into this binary",
            case.backend
        )
    })?;
    out.framework = Some(backend.framework_version());
    let config = &case.workload.config;
    // The baseline before any weights or inputs are read.
    let rss_before = memory::current_rss_bytes();
    let mut weights: Box<dyn WeightSource> = match &request.weights_file {
        Some(path) => Box::new(FileWeights::open(path, &parameters(config))?),
        None => Box::new(SeededWeights { seed: case.seed }),
    };
    if std::env::var(PERTURB_ENV).is_ok_and(|b| b == case.backend) {
        weights = Box::new(Perturbed(weights));
        out.notes.push(format!(
            "TEST FAULT: weights scaled by 1.001 ({PERTURB_ENV})"
        ));
    }
    let (inputs, inputs_source) = match &request.inputs_file {
        Some(path) => {
            let (inputs, notes) = load_inputs(path, config, case.seed)?;
            out.notes.extend(notes);
            (inputs, format!("file {}", path.display()))
        }
        None => (
            seeded_inputs(config, case.seed),
            format!("seeded({})", case.seed),
        ),
    };
    out.data = Some(DataSource {
        weights: weights.describe(),
        inputs: inputs_source,
    });

    let t = Instant::now();
    let mut prepared = backend.prepare(case, weights.as_ref(), &inputs)?;
    prepared.synchronize()?;
    out.build_s = Some(t.elapsed().as_secs_f64());
    // Peaks describe the passes, not the loader: free the host copies (a
    // weight file is held in memory while loading), then restart the marks.
    drop(weights);
    drop(inputs);
    if !memory::reset_peak_rss() {
        out.notes
            .push("peak RSS includes the model build (this kernel cannot reset VmHWM)".into());
    }
    heap::reset_peak();
    out.device_name = Some(prepared.device_name());
    let mut notes = prepared.notes();
    notes.append(&mut out.notes);
    out.notes = notes;

    if let Some(fault) = fault {
        worker::inject(fault, request.mem_limit_bytes.is_some())?;
    }
    out.measurement = measure(prepared.as_mut(), &request.timing)?;
    // Asked after the passes ran: a backend may report the kernels it saw.
    out.attention = Some(prepared.attention_impl());
    let threads = ThreadUse::new(
        worker_threads(),
        prepared.thread_pools(),
        out.measurement.threads,
    );
    out.notes.extend(threads.mismatches());
    out.threads = Some(threads);

    let peak_rss = memory::peak_rss_bytes();
    out.memory = Some(MemoryFigures {
        peak_rss_bytes: peak_rss,
        rss_before_build_bytes: rss_before,
        rss_growth_bytes: match (peak_rss, rss_before) {
            (Some(p), Some(b)) => Some(p.saturating_sub(b)),
            _ => None,
        },
        peak_heap_bytes: (heap::installed() && prepared.heap_measured())
            .then(|| heap::peak_bytes() as u64),
    });

    if let Some(path) = &request.outputs_file {
        let result = prepared.output()?;
        let metadata = [("case".to_string(), case.label())].into_iter().collect();
        std::fs::write(path, encode(&output_tensors(&result), metadata)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        out.outputs = Some(OutputSummary {
            loss: result.loss,
            grad_norm: global_grad_norm(&result),
        });
    }
    Ok(())
}

/// Test-only fault switch: a worker whose backend is named here scales every
/// weight by 1.001, so tests can show that the parity check fails.
pub const PERTURB_ENV: &str = "DITBENCH_TEST_PERTURB_WEIGHTS";

struct Perturbed(Box<dyn WeightSource>);

impl WeightSource for Perturbed {
    fn load(&self, spec: &ParamSpec) -> Result<HostTensor> {
        let t = self.0.load(spec)?;
        let values = t.as_f32()?.iter().map(|v| v * 1.001).collect();
        Ok(HostTensor::f32(t.shape, values))
    }

    fn describe(&self) -> String {
        format!("{} perturbed for a test", self.0.describe())
    }
}

/// How the parent starts a worker: this binary with a subcommand.
#[derive(Debug, Clone)]
pub struct WorkerCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
}

/// Everything the parent needs to run cases.
pub struct Runner<'a> {
    backends: Vec<&'a dyn Backend>,
    /// Devices of each backend, queried once (a GPU probe is not free).
    devices: Vec<Vec<String>>,
    timing: TimingConfig,
    threads: ThreadSettings,
    worker: WorkerCommand,
    /// Skip cases whose estimated memory exceeds this many bytes (CPU RAM).
    memory_limit: Option<u64>,
    data: DataFiles,
    /// Check parity for workloads of at most this many parameters.
    parity_max_params: Option<u64>,
    /// Outputs of the parity reference of each (workload, device, dtype, pass).
    references: HashMap<String, (String, PassOutput)>,
    /// Where references' outputs are kept on disk, so a resumed run can
    /// check against references that ran before the interruption.
    reference_store: Option<ReferenceStore>,
    limits: WorkerLimits,
}

/// Limits every worker runs under.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WorkerLimits {
    /// Kill a worker after this long, model build included (`--case-timeout`).
    pub case_timeout: Option<Duration>,
    /// Limit of each worker's data segment in bytes (`--mem-limit`).
    pub mem_limit_bytes: Option<u64>,
}

/// Parity references' outputs on disk, and which backend each group's
/// reference was in the part of the run already recorded.
#[derive(Debug, Clone)]
pub struct ReferenceStore {
    pub dir: PathBuf,
    /// Group key (see [`parity_key`]) -> reference backend, from recorded cases.
    pub recorded: HashMap<String, String>,
}

impl ReferenceStore {
    /// Where the reference outputs of group `key` are kept.
    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{}.safetensors", file_stem(key)))
    }
}

/// The group a case's parity is checked within: same workload, device,
/// dtype and pass.
pub fn parity_key(workload_label: &str, device: &str, dtype: Dtype, pass: Pass) -> String {
    format!("{workload_label} {device} {dtype} {pass}")
}

/// User-supplied data files and where to keep each case's outputs.
#[derive(Debug, Clone, Default)]
pub struct DataFiles {
    pub weights: Option<PathBuf>,
    pub inputs: Option<PathBuf>,
    /// Directory for each case's outputs (`--dump-outputs`).
    pub dump_outputs: Option<PathBuf>,
    /// Cached seeded (weights, inputs) files by workload label, shared by
    /// every backend; used where no user file is given.
    pub shared: HashMap<String, (PathBuf, PathBuf)>,
}

/// Wait for `child`; with a timeout, kill it when the time is up and return
/// `None`.
fn wait_with_timeout(
    child: &mut std::process::Child,
    timeout: Option<Duration>,
) -> std::io::Result<Option<std::process::ExitStatus>> {
    let Some(timeout) = timeout else {
        return child.wait().map(Some);
    };
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            child.kill()?;
            child.wait()?;
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl<'a> Runner<'a> {
    pub fn new(
        backends: Vec<&'a dyn Backend>,
        timing: TimingConfig,
        threads: ThreadSettings,
        worker: WorkerCommand,
    ) -> Self {
        let devices = backends.iter().map(|b| b.devices()).collect();
        Runner {
            backends,
            devices,
            timing,
            threads,
            worker,
            memory_limit: None,
            data: DataFiles::default(),
            parity_max_params: None,
            references: HashMap::new(),
            reference_store: None,
            limits: WorkerLimits::default(),
        }
    }

    /// Time and memory limits of every worker.
    pub fn with_limits(mut self, limits: WorkerLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Keep references' outputs in `store.dir`, and use those recorded there.
    pub fn with_reference_store(mut self, store: ReferenceStore) -> Self {
        self.reference_store = Some(store);
        self
    }

    /// Check parity for workloads of at most `max_params` parameters.
    pub fn with_parity(mut self, max_params: Option<u64>) -> Self {
        self.parity_max_params = max_params;
        self
    }

    fn parity_applies(&self, case: &CaseSpec) -> bool {
        self.parity_max_params
            .is_some_and(|max| parameter_count(&case.workload.config) <= max)
    }

    /// Use these data files for every case.
    pub fn with_data(mut self, data: DataFiles) -> Self {
        self.data = data;
        self
    }

    /// Skip CPU cases whose estimated memory exceeds `limit` bytes.
    pub fn with_memory_limit(mut self, limit: Option<u64>) -> Self {
        self.memory_limit = limit;
        self
    }

    /// Devices any backend can use, in first-seen order.
    pub fn available_devices(&self) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        for d in self.devices.iter().flatten() {
            if !all.contains(d) {
                all.push(d.clone());
            }
        }
        all
    }

    fn backend(&self, name: &str) -> Option<&dyn Backend> {
        find_backend(&self.backends, name)
    }

    /// Why the parent will not start a worker for this case, if so.
    fn skip_reason(&self, case: &CaseSpec) -> Option<String> {
        let Some(index) = self.backends.iter().position(|b| b.name() == case.backend) else {
            return Some(format!("backend '{}' is not compiled in", case.backend));
        };
        let backend = self.backends[index];
        if !self.devices[index].contains(&case.device) {
            return Some(format!(
                "device {} is not available to {} in this build",
                case.device, case.backend
            ));
        }
        if let Some(reason) = backend.unsupported(&case.device, case.dtype, case.pass) {
            return Some(reason);
        }
        if let Some(limit) = self.memory_limit.filter(|_| case.device == "cpu") {
            let est = estimate_memory(
                &case.workload.config,
                case.pass == Pass::Train,
                case.dtype.bytes(),
            );
            if est.total_bytes > limit {
                return Some(format!(
                    "estimated memory {} exceeds this machine's {} RAM (--force runs it anyway)",
                    format_bytes(est.total_bytes),
                    format_bytes(limit)
                ));
            }
        }
        None
    }

    /// Run one case in a fresh worker process and assemble its result.
    pub fn run_case(&mut self, case: &CaseSpec) -> CaseResult {
        let mut result = empty_result(case);
        result.framework = self.backend(&case.backend).map(|b| b.framework_version());
        if let Some(reason) = self.skip_reason(case) {
            result.status = Status::Skipped;
            result.reason = Some(reason);
            return result;
        }
        let parity = self.parity_applies(case);
        if !parity {
            let why = match self.parity_max_params {
                Some(max) => format!("more than --parity-max-params {max} parameters"),
                None => "--no-parity".to_string(),
            };
            result.notes.push(format!(
                "parity not checked: {why}; weights initialised in the worker"
            ));
        }
        let want_outputs = parity || self.data.dump_outputs.is_some();
        // The temporary directory lives until the outputs are read.
        let outcome = tempfile::tempdir()
            .map_err(|e| {
                WorkerFailure::new(
                    Failure::Error,
                    format!("cannot create a temporary directory: {e}"),
                )
            })
            .and_then(|dir| {
                let outputs = want_outputs.then(|| dir.path().join("outputs.safetensors"));
                let response = self.spawn_worker(case, dir.path(), outputs.clone())?;
                Ok((response, outputs, dir))
            });
        let (response, outputs, _dir) = match outcome {
            Ok(o) => o,
            Err(failure) => {
                result.status = Status::Failed;
                result.failure = Some(failure.kind);
                result.error = Some(failure.message);
                return result;
            }
        };
        let summary = response.outputs.clone();
        fill_from_response(&mut result, response);
        let (Some(path), Some(summary)) = (outputs, summary) else {
            return result;
        };
        let mut record = OutputsRecord {
            file: None,
            loss: summary.loss,
            grad_norm: summary.grad_norm,
        };
        if let Some(dir) = &self.data.dump_outputs {
            let kept = std::fs::read(&path)
                .map_err(anyhow::Error::from)
                .and_then(|bytes| {
                    write_new_file(dir, &file_stem(&result.id), "safetensors", &bytes)
                });
            match kept {
                Ok(kept) => record.file = Some(kept.display().to_string()),
                Err(e) => result.notes.push(format!("outputs not kept: {e:#}")),
            }
        }
        result.outputs = Some(record);
        if parity {
            let key = parity_key(&case.workload.label(), &case.device, case.dtype, case.pass);
            match read_outputs(&path) {
                Ok(out) => match self.check_parity(case, &key, out) {
                    Ok(p) => {
                        if p.status == ParityStatus::Reference
                            && let Err(e) = self.keep_reference(&key, &path)
                        {
                            result.notes.push(format!("{e:#}"));
                        }
                        result.parity = Some(p);
                    }
                    Err(e) => result.notes.push(format!("parity not checked: {e:#}")),
                },
                Err(e) => {
                    result.status = Status::Failed;
                    result.failure = Some(Failure::Error);
                    result.error = Some(format!(
                        "cannot read the outputs for the parity check: {e:#}"
                    ));
                }
            }
        }
        result
    }

    /// Compare with the reference of the case's group `key`, or become it.
    fn check_parity(&mut self, case: &CaseSpec, key: &str, out: PassOutput) -> Result<Parity> {
        if !self.references.contains_key(key)
            && let Some(store) = &self.reference_store
            && let Some(backend) = store.recorded.get(key)
        {
            // The reference ran before this run was interrupted.
            let reference = read_outputs(&store.path(key)).with_context(|| {
                format!("the kept outputs of reference {backend} for {key} are not readable")
            })?;
            self.references
                .insert(key.to_string(), (backend.clone(), reference));
        }
        if let Some((backend, reference)) = self.references.get(key) {
            return Ok(parity::compare(backend, reference, &out, case.dtype));
        }
        self.references
            .insert(key.to_string(), (case.backend.clone(), out));
        Ok(parity::reference_record(&case.backend, case.dtype))
    }

    /// Keep the outputs file of group `key`'s reference in the store, for `run --resume`.
    fn keep_reference(&self, key: &str, outputs: &Path) -> Result<()> {
        let Some(store) = &self.reference_store else {
            return Ok(());
        };
        std::fs::create_dir_all(&store.dir)
            .and_then(|()| std::fs::copy(outputs, store.path(key)))
            .with_context(|| {
                format!(
                    "reference outputs not kept in {}; a resumed run cannot check against them",
                    store.dir.display()
                )
            })?;
        Ok(())
    }

    fn spawn_worker(
        &self,
        case: &CaseSpec,
        dir: &Path,
        outputs_file: Option<PathBuf>,
    ) -> Result<WorkerResponse, WorkerFailure> {
        let io = |e: anyhow::Error| WorkerFailure::new(Failure::Error, format!("{e:#}"));
        let response_path = dir.join("response.json");
        let stderr_path = dir.join("stderr.log");
        let mut child = self
            .start_worker(case, dir, outputs_file, &response_path, &stderr_path)
            .map_err(io)?;
        let status = wait_with_timeout(&mut child, self.limits.case_timeout)
            .context("cannot wait for the worker")
            .map_err(io)?;
        let Some(status) = status else {
            let limit = self.limits.case_timeout.unwrap_or_default().as_secs_f64();
            return Err(WorkerFailure::new(
                Failure::Timeout,
                format!("worker killed after --case-timeout {limit} s (model build included)"),
            ));
        };
        let stderr_text = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        if let Ok(bytes) = std::fs::read(&response_path)
            && let Ok(response) = serde_json::from_slice::<WorkerResponse>(&bytes)
        {
            return Ok(response);
        }
        #[cfg(unix)]
        let exit = {
            use std::os::unix::process::ExitStatusExt;
            match (status.signal(), status.code()) {
                (Some(sig), _) => Exit::Signal(sig),
                (None, code) => Exit::Code(code.unwrap_or(-1)),
            }
        };
        #[cfg(not(unix))]
        let exit = Exit::Code(status.code().unwrap_or(-1));
        Err(classify_exit(
            exit,
            &stderr_text,
            self.limits.mem_limit_bytes,
        ))
    }
}

impl Runner<'_> {
    /// Write the worker's request and start it, its stderr going to `stderr_path`.
    fn start_worker(
        &self,
        case: &CaseSpec,
        dir: &Path,
        outputs_file: Option<PathBuf>,
        response_path: &Path,
        stderr_path: &Path,
    ) -> Result<std::process::Child> {
        let request_path = dir.join("request.json");
        let shared = self.data.shared.get(&case.workload.label());
        let request = WorkerRequest {
            case: case.clone(),
            timing: self.timing.clone(),
            weights_file: self
                .data
                .weights
                .clone()
                .or_else(|| shared.map(|s| s.0.clone())),
            inputs_file: self
                .data
                .inputs
                .clone()
                .or_else(|| shared.map(|s| s.1.clone())),
            outputs_file,
            mem_limit_bytes: self.limits.mem_limit_bytes,
            parent_pid: Some(std::process::id()),
        };
        std::fs::write(&request_path, serde_json::to_vec(&request)?)
            .context("cannot write the worker request")?;
        let stderr =
            std::fs::File::create(stderr_path).context("cannot create the worker's log")?;
        Command::new(&self.worker.program)
            .args(&self.worker.args)
            .arg("--request")
            .arg(&request_path)
            .arg("--response")
            .arg(response_path)
            .envs(&self.threads.env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("cannot start worker {}", self.worker.program.display()))
    }
}

fn empty_result(case: &CaseSpec) -> CaseResult {
    let w = &case.workload;
    CaseResult {
        id: case.label(),
        workload: WorkloadRecord {
            preset: w.preset.clone(),
            label: w.label(),
            family: w.config.family(),
            overrides: w.overrides.clone(),
            config: w.config.clone(),
            cost: cost(&w.config),
        },
        backend: case.backend.clone(),
        framework: None,
        device: case.device.clone(),
        device_name: None,
        dtype: case.dtype,
        pass: case.pass,
        status: Status::Failed,
        failure: None,
        reason: None,
        error: None,
        attention: None,
        notes: Vec::new(),
        data: DataSource {
            weights: format!("seeded({})", case.seed),
            inputs: format!("seeded({})", case.seed),
        },
        estimated_memory: estimate_memory(&w.config, case.pass == Pass::Train, case.dtype.bytes()),
        build_s: None,
        stop_reason: None,
        warmup_samples_s: Vec::new(),
        samples_s: Vec::new(),
        phases: None,
        stats: None,
        throughput: None,
        memory: None,
        outputs: None,
        parity: None,
        threads: None,
    }
}

fn fill_from_response(result: &mut CaseResult, r: WorkerResponse) {
    if r.framework.is_some() {
        result.framework = r.framework;
    }
    result.device_name = r.device_name;
    result.attention = r.attention;
    result.notes = r.notes;
    if let Some(data) = r.data {
        result.data = data;
    }
    result.build_s = r.build_s;
    result.memory = r.memory;
    result.threads = r.threads;
    let m = r.measurement;
    result.stop_reason = m.stop_reason;
    result.warmup_samples_s = m.warmup_samples_s;
    if let Some(error) = r.error {
        result.status = Status::Failed;
        result.failure = Some(classify_reported_error(&error));
        result.error = Some(error);
        return;
    }
    if m.samples_s.is_empty() {
        result.status = Status::Failed;
        result.failure = Some(Failure::Error);
        result.error = Some("worker returned no timed samples".into());
        return;
    }
    let s = summarize(&m.samples_s);
    result.throughput = Some(CaseResult::throughput_from(
        &result.workload.cost,
        result.workload.config.batch(),
        result.pass,
        s.median_s,
    ));
    result.stats = Some(s);
    if !m.forward_s.is_empty() && m.forward_s.len() == m.samples_s.len() {
        result.phases = Some(PhaseSamples {
            forward_median_s: median(&m.forward_s),
            backward_median_s: median(&m.backward_s),
            forward_s: m.forward_s,
            backward_s: m.backward_s,
        });
    }
    result.samples_s = m.samples_s;
    result.status = Status::Ok;
}

/// Cases in run order: workload-major, then backend, device, dtype, pass.
pub fn plan_cases(
    workloads: &[crate::workload::Workload],
    backends: &[String],
    devices: &[String],
    dtypes: &[Dtype],
    passes: &[Pass],
    seed: u64,
) -> Vec<CaseSpec> {
    let mut cases = Vec::new();
    for w in workloads {
        for b in backends {
            for d in devices {
                for &dtype in dtypes {
                    for &pass in passes {
                        cases.push(CaseSpec {
                            workload: w.clone(),
                            backend: b.clone(),
                            device: d.clone(),
                            dtype,
                            pass,
                            seed,
                        });
                    }
                }
            }
        }
    }
    cases
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{PassOutput, PhaseTimes};
    use crate::tensors::HostTensor;
    use std::time::Duration;

    /// A fake case that sleeps a fixed time per step.
    struct Sleeper {
        step: Duration,
        steps: usize,
    }

    impl PreparedCase for Sleeper {
        fn step(&mut self) -> Result<PhaseTimes> {
            std::thread::sleep(self.step);
            self.steps += 1;
            Ok(PhaseTimes {
                forward_s: Some(self.step.as_secs_f64() / 3.0),
                backward_s: Some(self.step.as_secs_f64() * 2.0 / 3.0),
            })
        }
        fn synchronize(&self) -> Result<()> {
            Ok(())
        }
        fn output(&mut self) -> Result<PassOutput> {
            Ok(PassOutput {
                output: HostTensor::f32(vec![1], vec![0.0]),
                loss: None,
                grad_norms: vec![],
            })
        }
        fn device_name(&self) -> String {
            "test".into()
        }
        fn attention_impl(&self) -> String {
            "none".into()
        }
    }

    #[test]
    fn timing_respects_minimums_budget_and_iteration_cap() {
        let mut case = Sleeper {
            step: Duration::from_millis(2),
            steps: 0,
        };
        let cfg = TimingConfig {
            warmup_iters: 2,
            warmup_s: 0.0,
            min_iters: 5,
            min_time_s: 0.0,
            max_iters: 12,
            budget_s: 10.0,
            target_rel_ci: 1e-9,
        };
        let m = measure(&mut case, &cfg).unwrap();
        assert_eq!(m.warmup_samples_s.len(), 2);
        assert_eq!(m.samples_s.len(), 12);
        assert_eq!(m.stop_reason, Some(StopReason::MaxIters));
        assert_eq!(case.steps, 14);
        assert_eq!(m.forward_s.len(), 12);
        assert!(m.samples_s.iter().all(|&s| s >= 0.002));

        let budget = TimingConfig {
            max_iters: 1_000_000,
            budget_s: 0.1,
            ..cfg.clone()
        };
        let t = Instant::now();
        let m = measure(&mut case, &budget).unwrap();
        assert_eq!(m.stop_reason, Some(StopReason::Budget));
        // Far below the 2,000 s a million iterations would take; loose
        // enough for a loaded machine.
        assert!(t.elapsed().as_secs_f64() < 2.0);

        let converge = TimingConfig {
            max_iters: 1_000_000,
            target_rel_ci: 0.5,
            ..cfg
        };
        let m = measure(&mut case, &converge).unwrap();
        assert_eq!(m.stop_reason, Some(StopReason::Converged));
        // At the minimum of 5 on a quiet machine; a few more when the
        // scheduler stretches a 2 ms sleep (the CI is then wider).
        assert!(
            (5..=30).contains(&m.samples_s.len()),
            "{}",
            m.samples_s.len()
        );
    }

    #[test]
    fn timing_config_rejects_nonsense() {
        let ok = TimingConfig::default();
        assert!(ok.validate().is_ok());
        assert!(
            TimingConfig {
                min_iters: 0,
                ..ok.clone()
            }
            .validate()
            .is_err()
        );
        assert!(
            TimingConfig {
                budget_s: 0.0,
                ..ok.clone()
            }
            .validate()
            .is_err()
        );
        assert!(
            TimingConfig {
                target_rel_ci: 2.0,
                ..ok
            }
            .validate()
            .is_err()
        );
    }
}
