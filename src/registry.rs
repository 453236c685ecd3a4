//! The one table of framework backends. The command line, the benches, the
//! build facts and the parity reference order all derive from it, so a new
//! framework touches its own crate, `Cargo.toml` (its feature) and this file.
//!
//! What a backend says about itself at run time (its version, devices,
//! thread variables, out-of-memory phrases) comes from its crate through the
//! [`Backend`] trait; this table says what the crate cannot: whether it is
//! compiled into this binary, under which cargo feature, and how it ranks
//! as the parity reference.

use ditbench_core::Backend;

/// One backend ditbench has, compiled into this build or not.
#[derive(Clone, Copy)]
pub struct Registered {
    /// The name on the command line and in results (`burn-flex`).
    pub name: &'static str,
    /// The cargo feature that compiles it in.
    pub feature: &'static str,
    /// Its place in the order of preference as the parity reference
    /// (first is preferred); `None`: never the reference.
    pub reference_rank: Option<u8>,
    /// The backend, where this build contains it.
    pub backend: Option<&'static dyn Backend>,
}

/// `Some(&backend)` where the cargo feature is on, else `None`.
macro_rules! compiled {
    ($feature:literal, $backend:expr) => {{
        #[cfg(feature = $feature)]
        let backend: Option<&'static dyn Backend> = Some(&$backend);
        #[cfg(not(feature = $feature))]
        let backend: Option<&'static dyn Backend> = None;
        backend
    }};
}

const fn entry(
    name: &'static str,
    feature: &'static str,
    reference_rank: Option<u8>,
    backend: Option<&'static dyn Backend>,
) -> Registered {
    Registered {
        name,
        feature,
        reference_rank,
        backend,
    }
}

/// Every backend, in the default run order. libtorch leads: it is the
/// preferred parity reference, and a reference runs before the backends
/// it checks.
#[rustfmt::skip] // a table: one backend a line
pub fn registry() -> [Registered; 6] {
    [
        entry("tch", "tch", Some(0), compiled!("tch", ditbench_tch::TchBackend)),
        entry("candle", "candle", Some(1), compiled!("candle", ditbench_candle::CandleBackend)),
        entry("burn-flex", "burn", Some(2), compiled!("burn", ditbench_burn::FLEX)),
        entry("burn-ndarray", "burn", None, compiled!("burn", ditbench_burn::NDARRAY)),
        entry("burn-cuda", "burn-cuda", None, compiled!("burn-cuda", ditbench_burn::CUDA)),
        entry("burn-wgpu", "burn-wgpu", None, compiled!("burn-wgpu", ditbench_burn::WGPU)),
    ]
}

/// Cargo features that change how a compiled backend computes, beside the
/// backends' own: results record them with the backends' features.
pub const BUILD_OPTIONS: [(&str, bool); 3] = [
    ("cuda", cfg!(feature = "cuda")),
    ("tch-cuda", cfg!(feature = "tch-cuda")),
    ("x86-v4", cfg!(feature = "x86-v4")),
];

/// Every backend this build contains, in the default run order.
pub fn compiled_backends() -> Vec<&'static dyn Backend> {
    registry().iter().filter_map(|r| r.backend).collect()
}

/// The backends that can be the parity reference, most preferred first.
pub fn reference_order() -> Vec<&'static str> {
    let mut ranked: Vec<(u8, &'static str)> = registry()
        .iter()
        .filter_map(|r| Some((r.reference_rank?, r.name)))
        .collect();
    ranked.sort();
    ranked.into_iter().map(|(_, name)| name).collect()
}

/// The cargo features this binary was built with that ditbench records:
/// its compiled backends' and its build options, sorted.
pub fn cargo_features() -> Vec<String> {
    let backends = registry();
    let mut features: Vec<String> = backends
        .iter()
        .filter(|r| r.backend.is_some())
        .map(|r| r.feature)
        .chain(BUILD_OPTIONS.iter().filter(|(_, on)| *on).map(|(f, _)| *f))
        .map(str::to_string)
        .collect();
    features.sort();
    features.dedup();
    features
}

/// The environment variables that size the thread pools of `backends`
/// (a variable two frameworks share is listed twice; `ThreadSettings` keys
/// them).
pub fn thread_variables(backends: &[&dyn Backend]) -> Vec<&'static str> {
    backends
        .iter()
        .flat_map(|b| b.thread_variables())
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_compiled_backend_answers_to_its_registered_name() {
        for r in registry() {
            if let Some(backend) = r.backend {
                assert_eq!(backend.name(), r.name);
            }
        }
        let names: Vec<&str> = registry().iter().map(|r| r.name).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
    }

    #[test]
    fn the_reference_order_is_the_ranked_backends() {
        assert_eq!(reference_order(), ["tch", "candle", "burn-flex"]);
        let features = cargo_features();
        let mut sorted = features.clone();
        sorted.sort();
        assert_eq!(features, sorted);
        assert_eq!(
            cfg!(feature = "candle"),
            features.contains(&"candle".into())
        );
    }
}
