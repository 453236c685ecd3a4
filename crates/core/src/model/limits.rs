//! What a configuration may hold: the error a configuration that cannot be
//! built gives, and the ceiling of every dimension. Below every family's
//! configuration, so each family validates itself with these.

use thiserror::Error;

/// A configuration that cannot be built, with a message for the user.
#[derive(Debug, Error, PartialEq)]
#[error("{0}")]
pub struct ConfigError(pub String);

pub(crate) fn bail<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

/// The largest value of each dimension: far above any published model,
/// and low enough that every count the cost model and the tensors make
/// from them (parameters, tokens, elements) fits in 64 bits.
pub fn ceiling(name: &str) -> usize {
    match name {
        "layers" => 10_000,
        "heads" | "kv-heads" => 1 << 14,
        "frames" | "batch" => 1 << 16,
        "height" | "width" => 1 << 17,
        "seq-len" | "vocab" => 1 << 24,
        // dim, ffn, text-len, the embedding widths
        _ => 1 << 20,
    }
}

/// Each of `dims` at least 1 and within its ceiling (layers, checked on
/// their own, may be 0: the model without blocks).
pub(crate) fn positive_within_ceilings(dims: &[(&str, usize)]) -> Result<(), ConfigError> {
    if let Some((name, _)) = dims.iter().find(|(_, value)| *value == 0) {
        return bail(format!("{name} must be at least 1, got 0"));
    }
    within_ceilings(dims)
}

pub(crate) fn within_ceilings(dims: &[(&str, usize)]) -> Result<(), ConfigError> {
    for &(name, value) in dims {
        let max = ceiling(name);
        if value > max {
            return bail(format!("{name} must be at most {max}, got {value}"));
        }
    }
    Ok(())
}
