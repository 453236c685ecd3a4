//! Running cases: how a worker's end becomes a result ([`outcome`]), the worker
//! process ([`worker`]), and the parent that plans a run and starts one worker
//! per case ([`runner`]).

pub mod driver;
pub mod outcome;
pub mod pair;
pub mod runner;
pub mod worker;
