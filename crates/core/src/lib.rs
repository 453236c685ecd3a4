//! ditbench core: what the framework crates compile against, and nothing
//! else. Six layers, one folder each; a module imports from its own layer and
//! the layers listed before it, never after:
//!
//! 1. [`util`]: how figures are written, NaN in JSON, files that never
//!    replace one.
//! 2. [`machine`]: thread pools and the NVIDIA GPUs present.
//! 3. [`model`]: what is measured: workloads and presets, cases, the parameter
//!    inventory and layout, the analytic cost model, attention paths.
//! 4. [`compute`]: host tensors, kernels, and the [`Backend`] trait.
//! 5. [`io`]: safetensors weights, inputs, outputs and checkpoints.
//! 6. [`check`]: parity between backends and the conformance tests every
//!    backend crate runs.
//!
//! Running, recording and reporting live in `ditbench-harness`, above this
//! crate; editing them never rebuilds a framework crate.

pub mod check;
pub mod compute;
pub mod io;
pub mod machine;
pub mod model;
pub mod util;

pub use compute::backend::{
    Backend, FrameworkMemory, PassOutput, PhaseTimes, PreparedCase, ReferencePair,
};
pub use compute::tensors::{HostData, HostTensor, Inputs, WeightSource};
pub use model::case::{
    AttentionChoice, AttentionPath, AttentionPlan, CaseKey, CaseSpec, DeviceName, Dtype, Pass,
};
pub use model::workload::{ModelConfig, Workload};
