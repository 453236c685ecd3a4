//! What a run records: how sure each case's figure is ([`confidence`]), a run's
//! cases split over N jobs ([`shard`]), full-model figures ([`scale`]), the
//! versioned results file ([`results`]) read strictly ([`document`]), and those figures computed from a run's
//! cases ([`extrapolate`]).

pub mod confidence;
pub mod document;
pub mod extrapolate;
pub mod reference_check;
pub mod results;
pub mod scale;
pub mod shard;
