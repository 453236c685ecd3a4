//! ditbench core: everything but the frameworks, in five layers: a module
//! imports from its own layer and the layers listed before it, never after.
//!
//! - What is measured: [`workload`] (Wan2.1 DiT and Llama configurations,
//!   presets, overrides), [`params`] and [`cost`] (parameter inventory,
//!   analytic cost model), [`tables`], [`tensors`] (host tensors, the seeded
//!   weights and inputs), [`layout`] (each model's parameters as typed
//!   structs), [`case`] (dtype, pass, device, attention, case and its key),
//!   [`attention`] (which attention path a case runs, and its memory),
//!   [`shard`] (a run's cases split over N jobs, and whether a set of shard
//!   files is whole).
//! - Plain tools: [`stats`] (one-sample and two-sample statistics), [`units`]
//!   (how figures are written), [`nonfinite`] (NaN and infinities in JSON), [`write`](mod@write) (files that never replace one),
//!   [`memory`], [`energy`], [`interference`] (what else ran while a case was timed), [`peak`] (GPUs' dense peaks, MFU), [`threads`], [`env`](mod@env) (what was measured on which machine).
//! - The frameworks' side: [`backend`] (the trait each framework crate
//!   implements), [`kernels`] (a DiT block, attention and matmuls alone),
//!   [`files`] (safetensors weights, inputs, outputs), [`parity`],
//!   [`conformance`] (the tests every backend crate runs).
//! - Across the process boundary: [`timing`] (the adaptive timing loop),
//!   [`worker`] (everything inside a worker process), [`confidence`] (how sure each case's figure is), [`results`] (the
//!   versioned results file, with [`scale`]'s full-model figures), [`extrapolate`]
//!   (those figures from a run's cases), [`outcome`] (how a worker's end becomes
//!   a result), [`runner`] (the parent: a run plan, one worker per case).
//! - What users read: [`compare`] (the regression gate), [`report`], and
//!   [`export`] (files for benchmark trackers).

pub mod attention;
pub mod backend;
pub mod case;
pub mod checkpoint;
pub mod compare;
pub mod confidence;
pub mod conformance;
pub mod cost;
pub mod energy;
pub mod env;
pub mod export;
pub mod extrapolate;
pub mod files;
pub mod gpu;
pub mod input_file;
pub mod interference;
pub mod kernels;
pub mod layout;
pub mod memory;
pub mod nonfinite;
pub mod outcome;
pub mod params;
pub mod parity;
pub mod peak;
pub mod report;
pub mod results;
pub mod runner;
pub mod scale;
pub mod shard;
pub mod stats;
pub mod tables;
pub mod tensors;
pub mod threads;
pub mod timing;
pub mod units;
pub mod worker;
pub mod workload;
pub mod write;

pub use backend::{Backend, PassOutput, PhaseTimes, PreparedCase};
pub use case::{
    AttentionChoice, AttentionPath, AttentionPlan, CaseKey, CaseSpec, DeviceName, Dtype, Pass,
};
pub use tensors::{HostData, HostTensor, Inputs, WeightSource};
pub use workload::{ModelConfig, Workload};
