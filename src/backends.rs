//! Choosing among the backends compiled into this binary.

pub use ditbench::compiled_backends;
use ditbench::registry::registry;
use ditbench_core::Backend;
use ditbench_harness::measure::env::Framework;

use crate::UsageError;

pub fn frameworks(backends: &[&dyn Backend]) -> Vec<Framework> {
    backends
        .iter()
        .map(|b| Framework {
            backend: b.name().to_string(),
            version: b.framework_version(),
            build_features: b.build_features(),
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
            let all = registry();
            let known: Vec<&str> = all.iter().map(|r| r.name).collect();
            UsageError(match all.iter().find(|r| r.name == name) {
                Some(&ditbench::registry::Registered { feature, .. }) => format!(
                    "backend '{name}' is not compiled into this binary; build with the cargo feature \
                     `{feature}` (e.g. cargo run --release --features {feature} -- run ...); \
                     compiled backends: {}",
                    names.join(", ")
                ),
                None => format!(
                    "unknown backend '{name}'; known backends: {}",
                    known.join(", ")
                ),
            })
        })?;
        if !out.iter().any(|b| b.name() == backend.name()) {
            out.push(*backend);
        }
    }
    Ok(out)
}
