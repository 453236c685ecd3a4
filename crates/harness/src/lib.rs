//! ditbench harness: running cases and reading their results, over
//! `ditbench-core`. Four layers above a plain tool; a module imports from its
//! own layer, the layers listed before it and `ditbench-core`, never after:
//!
//! 0. [`stats`]: one-sample and two-sample statistics, as plain functions.
//! 1. [`measure`]: inside a worker: the timing loop, memory, energy, GPUs
//!    through NVML, interference, vendors' peaks, the machine's description.
//! 2. [`record`]: the versioned results file, how sure each figure is,
//!    shards, full-model figures and their extrapolation.
//! 3. [`read`]: what users read: the report, the regression gate, exports.
//! 4. [`run`]: the worker process, the parent that runs one worker per case,
//!    and the run driver (start, resume, execute, summarize).

pub mod measure;
pub mod read;
pub mod record;
pub mod run;
pub mod stats;
