//! Measuring one case inside a worker: the adaptive timing loop ([`timing`]),
//! memory ([`memory`]), energy ([`energy`]), NVIDIA GPUs through NVML ([`gpu`]),
//! what else ran meanwhile ([`interference`]), vendors' dense peaks ([`peak`]),
//! and the machine and software a run measured ([`env`](mod@env)).

pub mod energy;
pub mod env;
pub mod gpu;
pub mod interference;
pub mod memory;
pub mod peak;
pub mod timing;
