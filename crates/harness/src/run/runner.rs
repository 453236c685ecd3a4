//! The parent side of the process boundary: runs every case in a fresh
//! worker process ([`crate::run::worker`]), turns its response or its death into a
//! [`CaseResult`] ([`crate::run::outcome`]), and checks parity across backends.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::measure::peak::{BandwidthRate, Efficiency, GemmRate, MemoryRoofline};
use crate::measure::timing::TimingConfig;
use crate::record::results::{
    CaseResult, Failure, OutputsRecord, PhaseSamples, Status, WorkloadRecord,
};
use crate::run::outcome::{Exit, WorkerFailure, classify_exit, classify_reported_error};
use crate::run::worker::{OutputSummary, WorkerRequest, WorkerResponse};
use crate::stats::{median, summarize};
use ditbench_core::check::parity::{self, Parity, ParityStatus};
use ditbench_core::compute::backend::{Backend, PassOutput};
use ditbench_core::compute::kernels::calibration_matmul;
use ditbench_core::compute::tensors::DataSource;
use ditbench_core::io::files::read_outputs;
use ditbench_core::machine::threads::ThreadSettings;
use ditbench_core::model::attention::{self, ScoreMemory, TILE_SCORE_BYTES};
use ditbench_core::model::case::{AttentionChoice, CaseSpec, DeviceName, Dtype, Pass};
use ditbench_core::model::cost::{MemoryEstimate, cost, estimate_memory};
use ditbench_core::model::params::parameter_count;
use ditbench_core::model::workload::Workload;
use ditbench_core::util::units;
use ditbench_core::util::write::{file_stem, write_numbered};

/// How the parent starts a worker: this binary with a subcommand.
#[derive(Debug, Clone)]
pub struct WorkerCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
}

/// A selected backend and the devices it can use here, queried once (a GPU
/// probe is not free).
#[derive(Clone)]
pub struct PlannedBackend {
    pub backend: &'static dyn Backend,
    pub devices: Vec<DeviceName>,
}

impl PlannedBackend {
    pub fn new(backend: &'static dyn Backend) -> Self {
        PlannedBackend {
            backend,
            devices: backend.devices(),
        }
    }
}

/// Devices any of `backends` can use, in first-seen order.
pub fn available_devices(backends: &[PlannedBackend]) -> Vec<DeviceName> {
    let mut all: Vec<DeviceName> = Vec::new();
    for &d in backends.iter().flat_map(|b| &b.devices) {
        if !all.contains(&d) {
            all.push(d);
        }
    }
    all
}

/// What every case of a run is run with, validated before anything runs:
/// the parent's half of a run plan (the cases themselves are the other).
pub struct RunPlan {
    pub backends: Vec<PlannedBackend>,
    pub timing: TimingConfig,
    pub threads: ThreadSettings,
    pub limits: WorkerLimits,
    /// Skip CPU cases whose estimated memory exceeds this many bytes (RAM,
    /// unless `--force`).
    pub memory_limit: Option<u64>,
    pub data: DataFiles,
    /// Check parity for workloads of at most this many parameters; `None`
    /// with `--no-parity`.
    pub parity_max_params: Option<u64>,
    /// A worker's resident size before it builds anything (the parent's own
    /// at start: the same binary and libraries), for the memory estimate.
    pub runtime_bytes: u64,
    /// Pin every worker to these CPUs (`--cpus`); `None`: the parent's affinity.
    pub cpus: Option<Vec<usize>>,
}

/// Everything the parent needs to run cases.
pub struct Runner {
    plan: RunPlan,
    worker: WorkerCommand,
    /// Outputs of the parity reference of each parity group.
    references: HashMap<String, (String, PassOutput)>,
    /// Where references' outputs are kept on disk, so a resumed run can
    /// check against references that ran before the interruption.
    reference_store: ReferenceStore,
    /// Matmul rates measured so far, by [`gemm_key`]: each backend, device,
    /// dtype and shape is calibrated once per run.
    gemm_rates: HashMap<String, GemmRate>,
    /// Memory bandwidths measured so far, by [`bandwidth_key`]: each
    /// backend, device and dtype that runs a decode case, once per run.
    bandwidth_rates: HashMap<String, BandwidthRate>,
}

/// The bandwidth calibration a decode case needs: backend, device, dtype.
fn bandwidth_key(case: &CaseSpec) -> String {
    format!("{} {} {}", case.backend, case.device, case.dtype)
}

/// The calibration a case needs: backend, device, dtype and matmul shape.
fn gemm_key(case: &CaseSpec) -> String {
    let kernel = calibration_matmul(&case.workload.config);
    format!(
        "{} {} {} {}",
        case.backend,
        case.device,
        case.dtype,
        kernel.shape_label()
    )
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
    /// Parity group ([`CaseKey::parity_group`](crate::CaseKey::parity_group))
    /// -> reference backend, from recorded cases.
    pub recorded: HashMap<String, String>,
}

impl ReferenceStore {
    /// Where the reference outputs of group `key` are kept.
    fn path(&self, key: &str) -> PathBuf {
        self.dir
            .join(format!("{}.safetensors", file_stem(key, "reference")))
    }

    /// The recorded groups whose kept outputs are gone (a results file
    /// copied without its `cache/references`): their later cases cannot be
    /// checked, sorted.
    pub fn missing(&self) -> Vec<String> {
        let mut gone: Vec<String> = self
            .recorded
            .keys()
            .filter(|key| !self.path(key).is_file())
            .cloned()
            .collect();
        gone.sort();
        gone
    }
}

/// User-supplied data files and where to keep each case's outputs.
#[derive(Debug, Clone, Default)]
pub struct DataFiles {
    /// The shard files of `--weights` (one for an unsharded checkpoint).
    pub weights: Vec<PathBuf>,
    pub inputs: Option<PathBuf>,
    /// `--seeded-targets`: train on seeded targets where the inputs file has none.
    pub seeded_targets: bool,
    /// Directory for each case's outputs (`--dump-outputs`).
    pub dump_outputs: Option<PathBuf>,
    /// Cached seeded (weights, inputs) files by workload label, shared by
    /// every backend; used where no user file is given.
    pub shared: HashMap<String, (PathBuf, PathBuf)>,
}

/// The case's achieved rate against its device's peak and GEMM rate and,
/// for a decode step, its memory roofline; `None` without a throughput.
fn efficiency(
    case: &CaseSpec,
    result: &CaseResult,
    gemm: Option<GemmRate>,
    bandwidth: Option<BandwidthRate>,
) -> Option<Efficiency> {
    let (tp, device) = (result.throughput.as_ref()?, result.device_name.as_ref()?);
    let mut efficiency = Efficiency::new(tp.tflops, gemm, device, case.dtype);
    if let (Pass::Decode, Some(stats)) = (case.pass, &result.stats) {
        let bytes = result.workload.cost.decode_read_elements * case.dtype.bytes() as f64;
        efficiency.memory = Some(MemoryRoofline::new(
            bytes,
            stats.median_s,
            bandwidth,
            device,
        ));
    }
    Some(efficiency)
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

impl RunPlan {
    pub fn planned(&self, name: &str) -> Option<&PlannedBackend> {
        self.backends.iter().find(|b| b.backend.name() == name)
    }

    /// Why the parent will not start a worker for this case, if so;
    /// `estimate` is the case's estimated memory.
    pub fn skip_reason(&self, case: &CaseSpec, estimate: &MemoryEstimate) -> Option<String> {
        let Some(planned) = self.planned(&case.backend) else {
            return Some(format!("backend '{}' is not compiled in", case.backend));
        };
        let backend = planned.backend;
        if !planned.devices.contains(&case.device) {
            return Some(format!(
                "device {} is not available to {} in this build",
                case.device, case.backend
            ));
        }
        if let Some(reason) = backend.unsupported(case.device, case.dtype, case.pass) {
            return Some(reason);
        }
        let offered = backend.attention_paths(case.device, case.pass);
        if let Some(reason) = attention::unoffered(&case.backend, case.attention.path, &offered) {
            return Some(reason);
        }
        if let Some(limit) = self.memory_limit.filter(|_| case.device.uses_host_memory())
            && estimate.total_bytes > limit
        {
            return Some(format!(
                "estimated memory {} exceeds this machine's {} RAM (--force runs it anyway)",
                units::bytes(estimate.total_bytes, 1),
                units::bytes(limit, 1)
            ));
        }
        None
    }

    /// The memory estimate of `case` on the attention path its backend takes.
    pub fn estimate(&self, case: &CaseSpec) -> (ScoreMemory, MemoryEstimate) {
        let scores = self.planned(&case.backend).map_or(ScoreMemory::Full, |b| {
            b.backend.score_memory(case.attention.path, case.pass)
        });
        let w = &case.workload;
        let estimate = estimate_memory(
            &w.config,
            case.pass,
            case.dtype.bytes(),
            scores,
            case.attention.tile_score_bytes,
            self.runtime_bytes,
        );
        (scores, estimate)
    }

    /// Whether the parent will start a worker for `case` (it is not skipped).
    pub fn starts(&self, case: &CaseSpec) -> bool {
        self.skip_reason(case, &self.estimate(case).1).is_none()
    }
}

impl Runner {
    pub fn new(plan: RunPlan, worker: WorkerCommand, reference_store: ReferenceStore) -> Self {
        Runner {
            plan,
            worker,
            references: HashMap::new(),
            reference_store,
            gemm_rates: HashMap::new(),
            bandwidth_rates: HashMap::new(),
        }
    }

    fn parity_applies(&self, case: &CaseSpec) -> bool {
        self.plan
            .parity_max_params
            .is_some_and(|max| parameter_count(&case.workload.config) <= max)
    }

    fn planned(&self, name: &str) -> Option<&PlannedBackend> {
        self.plan.planned(name)
    }

    /// Run one case in a fresh worker process and assemble its result.
    /// The case's GEMM and bandwidth rates: measured by this worker (and
    /// kept for later cases of the same backend, device and dtype), or
    /// kept from an earlier one.
    fn calibrations(
        &mut self,
        case: &CaseSpec,
        response: &WorkerResponse,
    ) -> (Option<GemmRate>, Option<BandwidthRate>) {
        if let Some(rate) = &response.gemm {
            self.gemm_rates.insert(gemm_key(case), rate.clone());
        }
        if let Some(rate) = &response.bandwidth {
            self.bandwidth_rates
                .insert(bandwidth_key(case), rate.clone());
        }
        (
            self.gemm_rates.get(&gemm_key(case)).cloned(),
            self.bandwidth_rates.get(&bandwidth_key(case)).cloned(),
        )
    }

    pub fn run_case(&mut self, case: &CaseSpec) -> CaseResult {
        let planned = self.planned(&case.backend).map(|b| b.backend);
        let (scores, _) = self.plan.estimate(case);
        let mut result = empty_result(case, scores, self.plan.runtime_bytes);
        result.framework = planned.map(|b| b.framework_version());
        if let Some(reason) = self.plan.skip_reason(case, &result.estimated_memory) {
            result.status = Status::Skipped;
            result.reason = Some(reason);
            return result;
        }
        let parity = self.parity_applies(case);
        if !parity {
            let why = match self.plan.parity_max_params {
                Some(max) => format!("more than --parity-max-params {max} parameters"),
                None => "--no-parity".to_string(),
            };
            result.notes.push(format!(
                "parity not checked: {why}; weights initialised in the worker"
            ));
        }
        let want_outputs = parity || self.plan.data.dump_outputs.is_some();
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
        let (gemm, bandwidth) = self.calibrations(case, &response);
        fill_from_response(
            &mut result,
            response,
            &self.plan.timing,
            self.oom_phrases(&case.backend),
        );
        result.efficiency = efficiency(case, &result, gemm, bandwidth);
        let (Some(path), Some(summary)) = (outputs, summary) else {
            return result;
        };
        self.keep_outputs(&mut result, &path, &summary);
        if parity {
            self.record_parity(case, &mut result, &path);
        }
        result
    }

    /// The loss and gradient norm of the case's outputs, and with
    /// `--dump-outputs` a copy of its outputs file.
    fn keep_outputs(&self, result: &mut CaseResult, path: &Path, summary: &OutputSummary) {
        let mut record = OutputsRecord {
            file: None,
            loss: summary.loss,
            grad_norm: summary.grad_norm,
        };
        if let Some(dir) = &self.plan.data.dump_outputs {
            let kept = std::fs::read(path)
                .map_err(anyhow::Error::from)
                .and_then(|bytes| {
                    write_numbered(dir, &file_stem(&result.id, "case"), "safetensors", &bytes)
                });
            match kept {
                Ok(kept) => record.file = Some(kept.display().to_string()),
                Err(e) => result.notes.push(format!("outputs not kept: {e:#}")),
            }
        }
        result.outputs = Some(record);
    }

    /// Check the case's outputs against its parity group's reference (or
    /// make them the reference) and record the outcome.
    fn record_parity(&mut self, case: &CaseSpec, result: &mut CaseResult, path: &Path) {
        let key = case.key().parity_group();
        match read_outputs(path) {
            Ok(out) => match self.check_parity(case, &key, out) {
                Ok(p) => {
                    if p.status == ParityStatus::Reference
                        && let Err(e) = self.keep_reference(&key, path)
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

    /// Compare with the reference of the case's group `key`, or become it.
    fn check_parity(&mut self, case: &CaseSpec, key: &str, out: PassOutput) -> Result<Parity> {
        if !self.references.contains_key(key)
            && let Some(backend) = self.reference_store.recorded.get(key)
        {
            // The reference ran before this run was interrupted.
            let reference = read_outputs(&self.reference_store.path(key)).with_context(|| {
                format!("the kept outputs of reference {backend} for {key} are not readable")
            })?;
            self.references
                .insert(key.to_string(), (backend.clone(), reference));
        }
        if let Some((backend, reference)) = self.references.get(key) {
            return Ok(parity::compare(backend, reference, &out, case.dtype));
        }
        let record = parity::reference_record(&case.backend, case.dtype, &out);
        if record.status == ParityStatus::Reference {
            self.references
                .insert(key.to_string(), (case.backend.clone(), out));
        }
        Ok(record)
    }

    /// Keep the outputs file of group `key`'s reference in the store, for `run --resume`.
    fn keep_reference(&self, key: &str, outputs: &Path) -> Result<()> {
        let store = &self.reference_store;
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
        let status = wait_with_timeout(&mut child, self.plan.limits.case_timeout)
            .context("cannot wait for the worker")
            .map_err(io)?;
        let Some(status) = status else {
            let limit = self
                .plan
                .limits
                .case_timeout
                .unwrap_or_default()
                .as_secs_f64();
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
            self.plan.limits.mem_limit_bytes,
            self.oom_phrases(&case.backend),
        ))
    }
}

impl Runner {
    /// The out-of-memory phrases of a backend's framework.
    fn oom_phrases(&self, backend: &str) -> &'static [&'static str] {
        self.planned(backend)
            .map_or(&[], |b| b.backend.out_of_memory_phrases())
    }

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
        let data = &self.plan.data;
        let shared = data.shared.get(&case.workload.label());
        let request = WorkerRequest {
            case: case.clone(),
            timing: self.plan.timing.clone(),
            weights_files: match (data.weights.is_empty(), shared) {
                (true, Some(s)) => vec![s.0.clone()],
                _ => data.weights.clone(),
            },
            inputs_file: data.inputs.clone().or_else(|| shared.map(|s| s.1.clone())),
            seeded_targets: data.seeded_targets,
            outputs_file,
            mem_limit_bytes: self.plan.limits.mem_limit_bytes,
            parent_pid: Some(std::process::id()),
            calibrate_gemm: !self.gemm_rates.contains_key(&gemm_key(case)),
            calibrate_bandwidth: case.pass == Pass::Decode
                && !self.bandwidth_rates.contains_key(&bandwidth_key(case)),
        };
        std::fs::write(&request_path, serde_json::to_vec(&request)?)
            .context("cannot write the worker request")?;
        let stderr =
            std::fs::File::create(stderr_path).context("cannot create the worker's log")?;
        let mut command = Command::new(&self.worker.program);
        if let Some(cpus) = &self.plan.cpus {
            pin(&mut command, cpus);
        }
        command
            .args(&self.worker.args)
            .arg("--request")
            .arg(&request_path)
            .arg("--response")
            .arg(response_path)
            .envs(&self.plan.threads.env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("cannot start worker {}", self.worker.program.display()))
    }
}

/// Start `command`'s process on `cpus` only: its affinity is set between
/// fork and exec, so every thread the worker ever starts inherits it.
fn pin(command: &mut Command, cpus: &[usize]) {
    use std::os::unix::process::CommandExt;
    // SAFETY: cpu_set_t is plain data, filled here, before the fork.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        // SAFETY: CPU_SET bounds-checks against the set's size.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: the closure only makes one system call, which is safe
    // between fork and exec (no allocation, no lock).
    unsafe {
        command.pre_exec(move || {
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}

pub(crate) fn empty_result(case: &CaseSpec, scores: ScoreMemory, runtime_bytes: u64) -> CaseResult {
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
        device: case.device.to_string(),
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
        estimated_memory: estimate_memory(
            &w.config,
            case.pass,
            case.dtype.bytes(),
            scores,
            case.attention.tile_score_bytes,
            runtime_bytes,
        ),
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
        energy: None,
        gpu: None,
        full_model: None,
        efficiency: None,
        interference: None,
        confidence: None,
    }
}

fn fill_from_response(
    result: &mut CaseResult,
    r: WorkerResponse,
    timing: &TimingConfig,
    oom_phrases: &[&str],
) {
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
    let mut m = r.measurement;
    result.energy = m.energy.take();
    result.gpu = m.gpu.take();
    result.interference = m.interference.take();
    result.stop_reason = m.stop_reason;
    result.warmup_samples_s = m.warmup_samples_s;
    if let Some(error) = r.error {
        result.status = Status::Failed;
        result.failure = Some(classify_reported_error(&error, oom_phrases));
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
    result.confidence = Some(crate::record::confidence::assess(
        &s,
        m.stop_reason,
        timing,
        result.interference.as_ref(),
        crate::stats::drift(&m.samples_s).as_ref(),
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

/// Cases in run order: workload-major, then backend (in the order given),
/// device, dtype, pass (the passes its model has: decode for LLMs only);
/// each with its attention planned from `attention` and the paths its
/// backend offers.
pub fn plan_cases(
    workloads: &[Workload],
    backends: &[PlannedBackend],
    devices: &[DeviceName],
    dtypes: &[Dtype],
    passes: &[Pass],
    seed: u64,
    attention: AttentionChoice,
) -> Vec<CaseSpec> {
    let mut cases = Vec::new();
    for w in workloads {
        for b in backends {
            // Each backend on the run's devices it has.
            for &device in devices.iter().filter(|d| b.devices.contains(d)) {
                for &dtype in dtypes {
                    for &pass in passes.iter().filter(|p| p.applies_to(&w.config)) {
                        let offered = b.backend.attention_paths(device, pass);
                        cases.push(CaseSpec {
                            workload: w.clone(),
                            backend: b.backend.name().to_string(),
                            device,
                            dtype,
                            pass,
                            seed,
                            attention: attention::plan(
                                attention,
                                &offered,
                                &w.config,
                                TILE_SCORE_BYTES,
                            ),
                        });
                    }
                }
            }
        }
    }
    cases
}
