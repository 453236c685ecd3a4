//! Plain tools every layer uses: how figures are written ([`units`]), NaN and
//! infinities in JSON ([`nonfinite`]), files that never replace one ([`write`]).

pub mod nonfinite;
pub mod units;
pub mod write;
