//! The backends compiled into this binary (one cargo feature each).

use ditbench_harness::Backend;
use ditbench_harness::env::Framework;

use crate::UsageError;

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

pub fn frameworks(backends: &[&dyn Backend]) -> Vec<Framework> {
    backends
        .iter()
        .map(|b| Framework {
            backend: b.name().to_string(),
            version: b.framework_version(),
        })
        .collect()
}

/// The backends named on the command line, or all compiled ones.
pub fn resolve_backends(
    compiled: &[&'static dyn Backend],
    requested: &[String],
) -> Result<Vec<&'static dyn Backend>, UsageError> {
    let names: Vec<&str> = compiled.iter().map(|b| b.name()).collect();
    if compiled.is_empty() {
        return Err(UsageError(
            "this binary was built without any backend; enable a cargo feature such as `candle`"
                .into(),
        ));
    }
    if requested.is_empty() {
        return Ok(compiled.to_vec());
    }
    let mut out: Vec<&'static dyn Backend> = Vec::new();
    for name in requested {
        let backend = compiled.iter().find(|b| b.name() == name).ok_or_else(|| {
            UsageError(format!(
                "backend '{name}' is not compiled into this binary; compiled backends: {}",
                names.join(", ")
            ))
        })?;
        if !out.iter().any(|b| b.name() == backend.name()) {
            out.push(*backend);
        }
    }
    Ok(out)
}
