//! The interface every framework implements. No framework type appears here:
//! backends receive host tensors and return host tensors and plain numbers.

use anyhow::Result;

use crate::compute::kernels::KernelSpec;
use crate::compute::tensors::{HostTensor, Inputs, WeightSource};
use crate::machine::threads::ThreadPool;
use crate::model::attention::{ScoreMemory, written_path_memory};
use crate::model::case::{AttentionPath, CaseSpec, DeviceName, Dtype, Pass};

/// Seconds of the phases of one iteration, measured by the backend with the
/// device synchronized at each boundary. `None` where not separable.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PhaseTimes {
    pub forward_s: Option<f64>,
    pub backward_s: Option<f64>,
}

/// Time a training step's phases, synchronizing the device after each:
/// `forward` returns the loss, `backward` its gradients, which are dropped
/// only after the clock stops.
pub fn time_train_step<L, G>(
    sync: impl Fn() -> Result<()>,
    forward: impl FnOnce() -> Result<L>,
    backward: impl FnOnce(L) -> Result<G>,
) -> Result<PhaseTimes> {
    let t = std::time::Instant::now();
    let loss = forward()?;
    sync()?;
    let forward_s = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let grads = backward(loss)?;
    sync()?;
    let backward_s = t.elapsed().as_secs_f64();
    drop(grads);
    Ok(PhaseTimes {
        forward_s: Some(forward_s),
        backward_s: Some(backward_s),
    })
}

/// What one pass computed, for correctness checks (not timed).
#[derive(Debug, Clone)]
pub struct PassOutput {
    /// Forward output as f32: Wan [B, C_out, F, H, W]; Llama logits [B, S, vocab].
    pub output: HostTensor,
    /// Training loss (Wan flow-matching MSE, Llama next-token cross-entropy).
    pub loss: Option<f64>,
    /// L2 norm of each parameter's gradient, by reference name (train only).
    pub grad_norms: Vec<(String, f64)>,
}

/// Device memory as the framework's own allocator reports it, after the
/// timed passes (each figure `None` where the framework does not say it).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct FrameworkMemory {
    /// The most bytes the framework's tensors held at once since the model
    /// was built (libtorch's `max_memory_allocated`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_allocated_bytes: Option<u64>,
    /// Bytes the framework's tensors hold now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocated_bytes: Option<u64>,
    /// Bytes the framework's allocator holds from the device now, reuse
    /// pools included (a caching allocator keeps its high-water mark).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_bytes: Option<u64>,
    /// Which call gave the figures, e.g. `burn Device::memory_pool_usage`.
    pub source: String,
}

/// A built model with its inputs on a device, ready to run one pass repeatedly.
pub trait PreparedCase {
    /// Run one iteration of the pass. The runner synchronizes the device
    /// before and after; the backend times forward/backward phases itself.
    fn step(&mut self) -> Result<PhaseTimes>;
    /// Wait until all queued device work is finished.
    fn synchronize(&self) -> Result<()>;
    /// Run the pass once more and return its results as host data.
    fn output(&mut self) -> Result<PassOutput>;
    /// The device as the framework names it (e.g. `cpu`, `NVIDIA H100 80GB HBM3`).
    fn device_name(&self) -> String;
    /// Which attention implementation ran, e.g. `composite: matmul + fused softmax`.
    /// Asked after the timed passes.
    fn attention_impl(&self) -> String;
    /// Other facts a reader of the results needs (dtype emulation, fallbacks).
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
    /// The thread pools the framework computes with, their sizes read back
    /// from the framework (asked after the timed passes).
    fn thread_pools(&self) -> Vec<ThreadPool> {
        Vec::new()
    }
    /// Whether the framework's host memory goes through Rust's global
    /// allocator, so `peak_heap_bytes` covers it. False for C++ runtimes.
    fn heap_measured(&self) -> bool {
        true
    }
    /// Device memory as the framework's allocator reports it (asked after
    /// the timed passes); `None` where it reports none (CPU backends).
    fn framework_memory(&self) -> Option<FrameworkMemory> {
        None
    }
}

/// Our model and the framework's own model code for one case, both built
/// from the same weights and inputs, for `ditbench reference-check`.
pub struct ReferencePair {
    /// Our model, doing the reference's work (where the reference computes
    /// less than the suite's case, e.g. only the last position's logits,
    /// ours does the same; `notes` says so).
    pub ours: Box<dyn PreparedCase>,
    /// The framework's own model code.
    pub theirs: Box<dyn PreparedCase>,
    /// What theirs is: crate, version and item
    /// (`candle-transformers 0.11.1 models::llama::Llama`).
    pub reference: String,
    /// How the two compute differently, in words.
    pub notes: Vec<String>,
}

/// A framework. Implementations live in `backends/*`, one crate each.
pub trait Backend: Sync {
    /// Backend name used on the command line and in results (`candle`).
    fn name(&self) -> &'static str;
    /// Framework name and version (`candle-core 0.11.1`).
    fn framework_version(&self) -> String;
    /// How this build of the framework computes on a CPU, where that changes
    /// its speed: threading, SIMD kernels, BLAS (`gemm: rayon threads`).
    fn build_features(&self) -> Vec<String> {
        Vec::new()
    }
    /// Environment variables that size this framework's thread pools; the
    /// parent sets each to `--threads` in every worker.
    fn thread_variables(&self) -> &'static [&'static str] {
        &[]
    }
    /// Lowercase phrases of this framework's out-of-memory errors, beyond
    /// the runtime's own (see `ditbench_harness::run::outcome`); a worker that dies or
    /// fails saying one is recorded as `oom`.
    fn out_of_memory_phrases(&self) -> &'static [&'static str] {
        &[]
    }
    /// Devices this build can use on this machine (`cpu`, `cuda:0`, ...).
    fn devices(&self) -> Vec<DeviceName>;
    /// Whether this build can run on NVIDIA GPUs (`cuda:N`) at all, present
    /// or not: `run --plan` plans such a backend for a GPU this machine
    /// lacks (a GPU run prepared on a CPU machine).
    fn runs_on_nvidia_gpus(&self) -> bool {
        false
    }
    /// The attention paths this framework offers on `device` for `pass`,
    /// its best first (what `--attention auto` takes when it fits).
    fn attention_paths(&self, device: DeviceName, pass: Pass) -> Vec<AttentionPath>;
    /// How much of the scores `path` keeps alive in `pass` (for the memory
    /// estimate); the default describes paths written with framework ops
    /// and a fused kernel that keeps none.
    fn score_memory(&self, path: AttentionPath, pass: Pass) -> ScoreMemory {
        written_path_memory(path, pass == Pass::Train)
    }
    /// Why a combination cannot run (recorded as `skipped`), or `None`.
    fn unsupported(&self, device: DeviceName, dtype: Dtype, pass: Pass) -> Option<String>;
    /// Build the model and upload the inputs.
    fn prepare(
        &self,
        case: &CaseSpec,
        weights: &dyn WeightSource,
        inputs: &Inputs,
    ) -> Result<Box<dyn PreparedCase>>;
    /// The framework's own model code for `case` (what
    /// [`prepare_reference`](Backend::prepare_reference) builds), or why
    /// there is none.
    fn reference_code(&self, case: &CaseSpec) -> Result<String, String> {
        let _ = case;
        Err(format!(
            "ditbench has no reference model code for {}",
            self.name()
        ))
    }
    /// Build our model and the framework's own model code for `case` from
    /// the same weights and inputs.
    fn prepare_reference(
        &self,
        case: &CaseSpec,
        weights: &dyn WeightSource,
        inputs: &Inputs,
    ) -> Result<ReferencePair> {
        let _ = (weights, inputs);
        match self.reference_code(case) {
            Ok(code) => anyhow::bail!("{code} is named but not built by {}", self.name()),
            Err(why) => anyhow::bail!(why),
        }
    }
    /// Build one building block on its own (criterion benches, kernel parity
    /// tests), its operands read from `operands` by the names
    /// [`Kernel::operands`](crate::compute::kernels::Kernel::operands) lists. `output`
    /// reports the operands' gradients of [`TRAIN_LOSS`](crate::compute::kernels::TRAIN_LOSS).
    fn prepare_kernel(
        &self,
        spec: &KernelSpec,
        operands: &dyn WeightSource,
    ) -> Result<Box<dyn PreparedCase>>;
}
