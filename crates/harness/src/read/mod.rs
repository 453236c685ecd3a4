//! What users read from results files: the regression gate ([`compare`]), the
//! report in HTML, Markdown and CSV ([`report`]), and files for benchmark
//! trackers ([`export`]).

pub mod compare;
pub mod export;
pub mod gate_study;
pub mod reference_check;
pub mod report;
