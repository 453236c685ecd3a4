//! Regression gate: compare a candidate run with a baseline, case by case.
//!
//! Layers, lowest first: [`history`] (each case's run-to-run noise from
//! earlier runs), [`rule`] (the verdict on one case), [`gate`] (a whole
//! comparison), [`markdown`] (it as Markdown).

mod gate;
mod history;
mod markdown;
mod rule;

pub use gate::{
    CaseChange, Comparison, EnvChange, HistoryUse, Matched, Outcome, Tally, Unmatched, case_key,
    compare, match_cases, unsteady_drift,
};
pub use history::{History, PeakRange, RunNoise, run_noise};
pub use markdown::{band_text, history_line, render_markdown};
pub use rule::{
    Evidence, MAX_COMPARED_SAMPLES, MemoryChange, Rule, Thresholds, TimeChange, Verdict, judge,
    memory_change, smallest_p, thinned, time_change,
};
