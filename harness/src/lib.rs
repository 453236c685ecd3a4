//! ditbench core: everything but the frameworks.
//!
//! - [`workload`]: Wan2.1 DiT and Llama configurations, presets, overrides.
//! - [`params`] and [`cost`]: parameter inventory and analytic cost model.
//! - [`tensors`]: host tensors and the seeded source of weights and inputs.
//! - [`backend`]: the trait each framework crate implements.
//! - [`kernels`]: a DiT block, attention and matmuls on their own, for the benches.
//! - [`runner`] and [`stats`]: timing, worker processes, statistics.
//! - [`worker`]: worker limits, test faults, and how a worker's end is classified.
//! - [`memory`], [`threads`], [`env`]: what was measured on which machine.
//! - [`results`]: the versioned results file.
//! - [`report`], [`compare`] and [`export`]: what users read, the regression
//!   gate, and files for benchmark trackers.

pub mod backend;
pub mod compare;
pub mod conformance;
pub mod cost;
pub mod env;
pub mod export;
pub mod files;
pub mod kernels;
pub mod memory;
pub mod params;
pub mod parity;
pub mod report;
pub mod results;
pub mod runner;
pub mod stats;
pub mod tables;
pub mod tensors;
pub mod threads;
pub mod worker;
pub mod workload;

pub use backend::{Backend, CaseSpec, Dtype, Pass, PassOutput, PhaseTimes, PreparedCase};
pub use tensors::{HostData, HostTensor, Inputs, WeightSource};
pub use workload::{ModelConfig, Workload};
