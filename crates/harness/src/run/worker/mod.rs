//! The worker side of the process boundary: every case runs in a fresh
//! process of this binary, which reads a [`WorkerRequest`], builds the model,
//! times it and writes a [`WorkerResponse`]. Nothing here runs in the parent
//! except the serde of the two messages.
//!
//! - [`guards`]: the memory limit, dying with the parent, test faults.

pub mod guards;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::measure::energy::{self, EnergyCounter};
use crate::measure::gpu::{self, GpuSource};
use crate::measure::interference;
use crate::measure::memory::{self, MemoryFigures, heap};
use crate::measure::peak::{BandwidthRate, GemmRate};
use crate::measure::timing::{Instruments, Measurement, TimingConfig, measure, measure_with};
use crate::stats::median;
use ditbench_core::compute::backend::{Backend, PreparedCase};
use ditbench_core::compute::kernels::{
    CALIBRATION_SUM_ELEMENTS, Kernel, KernelSpec, calibration_matmul,
};
use ditbench_core::compute::tensors::{
    DataSource, HostTensor, Inputs, SeededWeights, WeightSource, seeded_inputs,
};
use ditbench_core::io::checkpoint::FileWeights;
use ditbench_core::io::files::{encode, global_grad_norm, output_tensors};
use ditbench_core::io::input_file::{MissingTarget, load_inputs};
use ditbench_core::machine::threads::ThreadUse;
use ditbench_core::machine::threads::worker_threads;
use ditbench_core::model::case::{CaseSpec, DeviceName, Pass};
use ditbench_core::model::params::{ParamSpec, parameters};

/// What the parent asks a worker to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerRequest {
    pub case: CaseSpec,
    pub timing: TimingConfig,
    /// Weights from these safetensors files (one checkpoint, perhaps
    /// sharded) instead of the seeded source.
    #[serde(default)]
    pub weights_files: Vec<PathBuf>,
    /// Inputs from this safetensors file instead of the seeded source.
    pub inputs_file: Option<PathBuf>,
    /// A training target the inputs file lacks is seeded (`--seeded-targets`),
    /// not refused.
    #[serde(default)]
    pub seeded_targets: bool,
    /// After timing, run the pass once more and write its outputs here.
    pub outputs_file: Option<PathBuf>,
    /// Limit of the worker's data segment (`--mem-limit`), bytes.
    #[serde(default)]
    pub mem_limit_bytes: Option<u64>,
    /// The parent's process id: the worker dies with it.
    #[serde(default)]
    pub parent_pid: Option<u32>,
    /// After timing, measure the framework's matmul rate at the model's
    /// largest matmul shape ([`calibration_matmul`]).
    #[serde(default)]
    pub calibrate_gemm: bool,
    /// After timing, measure the framework's read bandwidth (the sum of
    /// [`CALIBRATION_SUM_ELEMENTS`]).
    #[serde(default)]
    pub calibrate_bandwidth: bool,
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
    /// The framework's matmul rate, when asked for.
    #[serde(default)]
    pub gemm: Option<GemmRate>,
    /// The framework's memory bandwidth, when asked for.
    #[serde(default)]
    pub bandwidth: Option<BandwidthRate>,
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
        gemm: None,
        bandwidth: None,
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
        guards::die_with_parent(parent);
    }
    if let Some(bytes) = request.mem_limit_bytes {
        guards::limit_memory(bytes)?;
    }
    let case = &request.case;
    let fault = guards::requested_fault(&case.backend)?;
    let backend = backends
        .iter()
        .copied()
        .find(|b| b.name() == case.backend)
        .with_context(|| {
            format!(
                "backend '{}' is not compiled into this binary",
                case.backend
            )
        })?;
    out.framework = Some(backend.framework_version());
    // The baseline before any weights or inputs are read.
    let rss_before = memory::current_rss_bytes();
    let weights = weights(request, out)?;
    let (inputs, inputs_source) = inputs(request, out)?;
    out.data = Some(DataSource {
        weights: weights.describe(),
        inputs: inputs_source,
    });
    let (mut prepared, build_peak_rss) = prepare(backend, case, weights, inputs, out)?;
    if let Some(fault) = fault {
        guards::inject(fault, request.mem_limit_bytes.is_some())?;
    }
    out.measurement = measure_with(prepared.as_mut(), &request.timing, instruments(case))?;
    // Asked after the passes ran: a backend may report the kernels it saw.
    out.attention = Some(prepared.attention_impl());
    let threads = ThreadUse::new(
        worker_threads(),
        prepared.thread_pools(),
        out.measurement.threads,
    );
    out.notes.extend(threads.mismatches());
    out.threads = Some(threads);
    out.memory = Some(MemoryFigures {
        framework: prepared.framework_memory(),
        ..memory_figures(rss_before, build_peak_rss, prepared.heap_measured())
    });
    if let Some(path) = &request.outputs_file {
        out.outputs = Some(write_outputs(prepared.as_mut(), case, path)?);
    }
    // The model's memory is not needed any more.
    drop(prepared);
    calibrate(request, backend, out);
    Ok(())
}

/// The case's weights: seeded, or the checkpoint's files (uploaded as stored
/// where their dtype is the case's); scaled by the test fault when asked.
fn weights(request: &WorkerRequest, out: &mut WorkerResponse) -> Result<Box<dyn WeightSource>> {
    let case = &request.case;
    let mut weights: Box<dyn WeightSource> = match request.weights_files.as_slice() {
        [] => Box::new(SeededWeights { seed: case.seed }),
        files => {
            let specs = parameters(&case.workload.config);
            let file = FileWeights::open(files, &specs, None)?;
            let stored = file.stored_in(&specs, case.dtype);
            if stored > 0 {
                let how_many = if stored == specs.len() {
                    "every tensor".to_string()
                } else {
                    format!("{stored} of {} tensors (the rest through f32)", specs.len())
                };
                out.notes.push(format!(
                    "weights uploaded as stored ({}): {how_many}, no f32 copy",
                    case.dtype
                ));
            }
            Box::new(file)
        }
    };
    if std::env::var(PERTURB_ENV).is_ok_and(|b| b == case.backend) {
        weights = Box::new(Perturbed(weights));
        out.notes.push(format!(
            "TEST FAULT: weights scaled by 1.001 ({PERTURB_ENV})"
        ));
    }
    Ok(weights)
}

/// The case's inputs and where they came from: the inputs file (with its
/// training targets, or seeded ones where allowed), or seeded.
fn inputs(request: &WorkerRequest, out: &mut WorkerResponse) -> Result<(Inputs, String)> {
    let case = &request.case;
    let config = &case.workload.config;
    let Some(path) = &request.inputs_file else {
        return Ok((
            seeded_inputs(config, case.seed),
            format!("seeded({})", case.seed),
        ));
    };
    let missing = match (case.pass, request.seeded_targets) {
        (Pass::Train, false) => MissingTarget::Refuse,
        (Pass::Train, true) => MissingTarget::Seeded,
        _ => MissingTarget::Unused,
    };
    let file = load_inputs(path, config, case.seed, missing)?;
    if case.pass == Pass::Train {
        out.notes
            .push(format!("training targets: {}", file.targets.describe()));
    }
    Ok((file.inputs, format!("file {}", path.display())))
}

/// Build the backend's model and inputs (timed, synchronized), free the host
/// copies and restart the memory marks; the peak RSS while building.
fn prepare(
    backend: &dyn Backend,
    case: &CaseSpec,
    weights: Box<dyn WeightSource>,
    inputs: Inputs,
    out: &mut WorkerResponse,
) -> Result<(Box<dyn PreparedCase>, Option<u64>)> {
    let t = Instant::now();
    let prepared = backend.prepare(case, weights.as_ref(), &inputs)?;
    prepared.synchronize()?;
    out.build_s = Some(t.elapsed().as_secs_f64());
    // Peaks describe the passes, not the loader: free the host copies (a
    // weight file is held in memory while loading), then restart the marks.
    drop(weights);
    drop(inputs);
    let build_peak_rss = memory::peak_rss_bytes();
    if !memory::reset_peak_rss() {
        out.notes
            .push("peak RSS includes the model build (this kernel cannot reset VmHWM)".into());
    }
    heap::reset_peak();
    out.device_name = Some(prepared.device_name());
    let mut notes = prepared.notes();
    notes.append(&mut out.notes);
    out.notes = notes;
    Ok((prepared, build_peak_rss))
}

/// The energy counters, interference probes and GPU sampler of the case's
/// device; a GPU's NVML device is both its energy counter and its sampler.
fn instruments(case: &CaseSpec) -> Instruments {
    let (energy, gpu) = match case.device {
        // A software device is the CPU under a GPU API: the CPU's counters.
        DeviceName::Cpu | DeviceName::Software => (energy::cpu_counters(), None),
        DeviceName::Cuda(index) => match gpu::nvml_device(index) {
            Ok(device) => (
                Ok(vec![device.clone() as Arc<dyn EnergyCounter>]),
                Some(Ok(device as Arc<dyn GpuSource>)),
            ),
            Err(why) => (Err(why.clone()), Some(Err(why))),
        },
    };
    Instruments {
        energy: Some(energy),
        interference: interference::probes_for(case.device, worker_threads()),
        gpu,
    }
}

/// The memory figures after the timed passes.
fn memory_figures(
    rss_before: Option<u64>,
    build_peak_rss: Option<u64>,
    heap_measured: bool,
) -> MemoryFigures {
    let peak_rss = memory::peak_rss_bytes();
    MemoryFigures {
        peak_rss_bytes: peak_rss,
        rss_before_build_bytes: rss_before,
        build_peak_rss_bytes: build_peak_rss,
        rss_growth_bytes: match (peak_rss, rss_before) {
            (Some(p), Some(b)) => Some(p.saturating_sub(b)),
            _ => None,
        },
        peak_heap_bytes: (heap::installed() && heap_measured).then(|| heap::peak_bytes() as u64),
        framework: None,
    }
}

/// Write one more pass's outputs to `path` (safetensors) and summarize them.
fn write_outputs(
    prepared: &mut dyn PreparedCase,
    case: &CaseSpec,
    path: &Path,
) -> Result<OutputSummary> {
    let result = prepared.output()?;
    let metadata = [("case".to_string(), case.label())].into_iter().collect();
    std::fs::write(path, encode(&output_tensors(&result), metadata)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(OutputSummary {
        loss: result.loss,
        grad_norm: global_grad_norm(&result),
    })
}

/// The GEMM and bandwidth calibrations asked for; a failed one is a note.
fn calibrate(request: &WorkerRequest, backend: &dyn Backend, out: &mut WorkerResponse) {
    let case = &request.case;
    if request.calibrate_gemm {
        match calibrate_gemm(backend, case) {
            Ok(rate) => out.gemm = Some(rate),
            Err(e) => out.notes.push(format!("GEMM calibration failed: {e:#}")),
        }
    }
    if request.calibrate_bandwidth {
        match calibrate_bandwidth(backend, case) {
            Ok(rate) => out.bandwidth = Some(rate),
            Err(e) => out
                .notes
                .push(format!("bandwidth calibration failed: {e:#}")),
        }
    }
}

/// Time a calibration kernel forward on the case's device and dtype, with
/// seeded operands: one warm-up, then at least `min_iters` iterations,
/// stopping at a 2% CI after `min_time_s` or at `budget_s`.
fn time_calibration(
    backend: &dyn Backend,
    case: &CaseSpec,
    kernel: Kernel,
    (min_iters, min_time_s, budget_s): (usize, f64, f64),
) -> Result<Vec<f64>> {
    let spec = KernelSpec {
        kernel,
        device: case.device,
        dtype: case.dtype,
        pass: Pass::Forward,
    };
    let mut prepared = backend.prepare_kernel(&spec, &SeededWeights { seed: case.seed })?;
    let timing = TimingConfig {
        warmup_iters: 1,
        warmup_s: 0.05,
        min_iters,
        min_time_s,
        max_iters: 1000,
        budget_s,
        target_rel_ci: 0.02,
    };
    Ok(measure(prepared.as_mut(), &timing)?.samples_s)
}

/// The framework's read bandwidth: the sum of a large tensor, at least five
/// iterations within 0.5-10 s.
fn calibrate_bandwidth(backend: &dyn Backend, case: &CaseSpec) -> Result<BandwidthRate> {
    let elements = CALIBRATION_SUM_ELEMENTS;
    let kernel = Kernel::Sum { elements };
    let samples = time_calibration(backend, case, kernel, (5, 0.5, 10.0))?;
    let median_s = median(&samples);
    let bytes_per_iteration = elements as u64 * case.dtype.bytes();
    Ok(BandwidthRate {
        elements,
        bytes_per_iteration,
        samples: samples.len(),
        median_s,
        gb_s: bytes_per_iteration as f64 / median_s / 1e9,
    })
}

/// The model's largest matmul on its own, briefly: at least three
/// iterations, within 0.1 s (small shapes) to 30 s (the largest).
fn calibrate_gemm(backend: &dyn Backend, case: &CaseSpec) -> Result<GemmRate> {
    let kernel = calibration_matmul(&case.workload.config);
    let Kernel::Matmul { site, m, k, n } = kernel.clone() else {
        unreachable!("the calibration kernel is a matmul");
    };
    let samples = time_calibration(backend, case, kernel, (3, 0.1, 30.0))?;
    let median_s = median(&samples);
    Ok(GemmRate {
        site: site.to_string(),
        m,
        k,
        n,
        samples: samples.len(),
        median_s,
        tflops: 2.0 * (m * k * n) as f64 / median_s / 1e12,
    })
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
