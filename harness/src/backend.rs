//! The interface every framework implements. No framework type appears here:
//! backends receive host tensors and return host tensors and plain numbers.

use std::fmt;
use std::str::FromStr;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::kernels::KernelSpec;
use crate::tensors::{HostTensor, Inputs, WeightSource};
use crate::threads::ThreadPool;
use crate::workload::Workload;

/// Element type the model computes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    F32,
    Bf16,
    F16,
}

impl Dtype {
    pub const ALL: [Dtype; 3] = [Dtype::F32, Dtype::Bf16, Dtype::F16];

    pub fn bytes(self) -> u64 {
        match self {
            Dtype::F32 => 4,
            Dtype::Bf16 | Dtype::F16 => 2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::Bf16 => "bf16",
            Dtype::F16 => "f16",
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Dtype {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Dtype::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| format!("unknown dtype '{s}'; known dtypes: f32, bf16, f16"))
    }
}

/// A device as the command line and results name it: `cpu` or `cuda:N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceName {
    Cpu,
    /// The N-th CUDA GPU.
    Cuda(usize),
}

impl FromStr for DeviceName {
    type Err = anyhow::Error;
    fn from_str(name: &str) -> Result<Self> {
        if name == "cpu" {
            return Ok(DeviceName::Cpu);
        }
        match name.strip_prefix("cuda:").map(str::parse) {
            Some(Ok(ordinal)) => Ok(DeviceName::Cuda(ordinal)),
            _ => anyhow::bail!("unknown device '{name}'; devices are named cpu or cuda:N"),
        }
    }
}

/// What one timed iteration does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pass {
    /// One inference forward: a DiT denoising step, or an LLM prefill.
    Forward,
    /// Forward + loss + backward (gradients of every parameter); no optimizer step.
    Train,
}

impl Pass {
    pub const ALL: [Pass; 2] = [Pass::Forward, Pass::Train];

    pub fn name(self) -> &'static str {
        match self {
            Pass::Forward => "forward",
            Pass::Train => "train",
        }
    }
}

impl fmt::Display for Pass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Pass {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Pass::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown pass '{s}'; known passes: forward, train"))
    }
}

/// One benchmark case: workload × backend × device × dtype × pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseSpec {
    pub workload: Workload,
    pub backend: String,
    /// `cpu`, or `cuda:N`.
    pub device: String,
    pub dtype: Dtype,
    pub pass: Pass,
    /// Seed of the weights and inputs.
    pub seed: u64,
}

impl CaseSpec {
    pub fn label(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.workload.label(),
            self.backend,
            self.device,
            self.dtype,
            self.pass
        )
    }
}

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
    /// Devices this build can use on this machine (`cpu`, `cuda:0`, ...).
    fn devices(&self) -> Vec<String>;
    /// Why a combination cannot run (recorded as `skipped`), or `None`.
    fn unsupported(&self, device: &str, dtype: Dtype, pass: Pass) -> Option<String>;
    /// Build the model and upload the inputs.
    fn prepare(
        &self,
        case: &CaseSpec,
        weights: &dyn WeightSource,
        inputs: &Inputs,
    ) -> Result<Box<dyn PreparedCase>>;
    /// Build one building block on its own (criterion benches, kernel parity
    /// tests), its operands read from `operands` by the names
    /// [`Kernel::operands`](crate::kernels::Kernel::operands) lists. `output`
    /// reports the operands' gradients of [`TRAIN_LOSS`](crate::kernels::TRAIN_LOSS).
    fn prepare_kernel(
        &self,
        spec: &KernelSpec,
        operands: &dyn WeightSource,
    ) -> Result<Box<dyn PreparedCase>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_parse_or_say_what_is_expected() {
        assert_eq!("cpu".parse::<DeviceName>().unwrap(), DeviceName::Cpu);
        assert_eq!("cuda:3".parse::<DeviceName>().unwrap(), DeviceName::Cuda(3));
        for bad in ["gpu", "cuda:", "cuda:x", "cuda:-1", "CPU"] {
            let e = bad.parse::<DeviceName>().unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains("cuda:N"), "{e}");
        }
    }
}
