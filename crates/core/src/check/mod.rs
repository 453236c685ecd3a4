//! Is every backend computing the same thing: the parity check between a
//! backend and its reference ([`parity`]), and the tests every backend crate runs
//! ([`conformance`]).

pub mod conformance;
pub mod parity;
