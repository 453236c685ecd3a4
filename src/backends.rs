//! Choosing among the backends compiled into this binary.

pub use ditbench::compiled_backends;
use ditbench_harness::Backend;
use ditbench_harness::env::Framework;

use crate::UsageError;

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
