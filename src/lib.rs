//! The library half of the `ditbench` package: which framework backends this
//! build contains, shared by the command line and the criterion benches.

use ditbench_harness::Backend;

/// Every backend this build contains, in the default run order: one push
/// per enabled backend feature.
#[allow(unused_mut, clippy::vec_init_then_push)]
pub fn compiled_backends() -> Vec<&'static dyn Backend> {
    let mut backends: Vec<&'static dyn Backend> = Vec::new();
    // libtorch first: it is the parity reference when compiled in.
    #[cfg(feature = "tch")]
    backends.push(&ditbench_tch::TchBackend);
    #[cfg(feature = "candle")]
    backends.push(&ditbench_candle::CandleBackend);
    #[cfg(feature = "burn")]
    backends.push(&ditbench_burn::FLEX);
    #[cfg(feature = "burn")]
    backends.push(&ditbench_burn::NDARRAY);
    #[cfg(feature = "burn-cuda")]
    backends.push(&ditbench_burn::CUDA);
    #[cfg(feature = "burn-wgpu")]
    backends.push(&ditbench_burn::WGPU);
    backends
}
