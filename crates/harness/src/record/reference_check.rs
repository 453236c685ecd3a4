//! The results of `ditbench reference-check`: each backend's model timed in
//! turns with its framework's own model code, and their parity.

use ditbench_core::Pass;
use ditbench_core::check::parity::Parity;
use serde::{Deserialize, Serialize};

use crate::measure::env::Environment;
use crate::stats::{self, BOOTSTRAP_RESAMPLES, Stats};

pub const SCHEMA_VERSION: u32 = 1;

/// Ours may be this much slower than the framework's own code and still
/// count as matching it (the bar, and the gate's default band).
pub const MATCH_RATIO: f64 = 1.05;

/// The relative error of outputs (and loss, gradient norm) that passes in
/// f32: ours and theirs compute the same math in the same framework.
pub const PARITY_TOLERANCE_F32: f64 = 1e-5;

/// Definitions written into every file, next to the figures.
pub const DEFINITIONS: &[(&str, &str)] = &[
    (
        "samples_s",
        "seconds of each timed iteration, device synchronized before and after (a Python reference measures its own, so the pipe's round trip is not counted); ours and theirs run in turns, ours first in even rounds and theirs first in odd ones, each step 10 ms after the other's (so the other's idle threads are asleep); warm-up rounds excluded",
    ),
    ("median_s", "median of samples_s"),
    ("ratio", "our median / their median: below 1 ours is faster"),
    (
        "ratio_ci95",
        "95% percentile-bootstrap interval of the ratio, both sides resampled independently, 2,000 resamples, fixed seed",
    ),
    (
        "verdict",
        "matches: the ratio is at most 1.05; faster: the whole interval is below 1; slower: the ratio is above 1.05",
    ),
    (
        "parity",
        "theirs against ours: relative L2 error of the outputs, relative differences of the loss and global gradient norm; f32 passes within 1e-5",
    ),
];

/// The whole check: where it ran and every pair.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReferenceCheck {
    pub schema_version: u32,
    pub tool_version: String,
    pub git_commit: String,
    /// RFC 3339 time the check started.
    pub started: String,
    pub command: Vec<String>,
    pub environment: Environment,
    pub definitions: Vec<(String, String)>,
    pub pairs: Vec<PairRecord>,
}

/// One case of one backend beside its framework's own code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PairRecord {
    /// The workload's label (`llama-small`, `wan2.1-1.3b-480p layers=1`).
    pub workload: String,
    /// The dimensions that set its cost, in words (`320 tokens, 6 layers`).
    pub shape: String,
    pub pass: Pass,
    pub backend: String,
    pub dtype: String,
    /// The framework's own code, or what was asked for where none ran.
    pub reference: String,
    #[serde(flatten)]
    pub outcome: PairOutcome,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PairOutcome {
    Measured(Box<Measured>),
    /// No reference for this case (the framework has none, a package is missing).
    Skipped {
        reason: String,
    },
    Failed {
        error: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Matches,
    Faster,
    Slower,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measured {
    pub ours: Stats,
    pub theirs: Stats,
    pub ours_samples_s: Vec<f64>,
    pub theirs_samples_s: Vec<f64>,
    pub ratio: f64,
    pub ratio_ci95: [f64; 2],
    pub verdict: Verdict,
    pub ours_attention: String,
    pub theirs_attention: String,
    pub parity: Parity,
    /// How the two compute differently, in words.
    pub notes: Vec<String>,
}

impl Measured {
    /// The figures of two sides' samples (neither empty).
    pub fn new(
        ours_samples_s: Vec<f64>,
        theirs_samples_s: Vec<f64>,
        attention: [String; 2],
        parity: Parity,
        notes: Vec<String>,
    ) -> Self {
        let ours = stats::summarize(&ours_samples_s);
        let theirs = stats::summarize(&theirs_samples_s);
        let ratio = ours.median_s / theirs.median_s;
        let ratio_ci95 =
            stats::bootstrap_ratio_ci(&theirs_samples_s, &ours_samples_s, BOOTSTRAP_RESAMPLES, 0);
        let [ours_attention, theirs_attention] = attention;
        Measured {
            verdict: verdict(ratio, ratio_ci95),
            ours,
            theirs,
            ours_samples_s,
            theirs_samples_s,
            ratio,
            ratio_ci95,
            ours_attention,
            theirs_attention,
            parity,
            notes,
        }
    }
}

/// How ours compares with theirs (see [`DEFINITIONS`]).
pub fn verdict(ratio: f64, ci: [f64; 2]) -> Verdict {
    if ci[1] < 1.0 {
        Verdict::Faster
    } else if ratio <= MATCH_RATIO {
        Verdict::Matches
    } else {
        Verdict::Slower
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ratio_is_ours_over_theirs_with_its_interval_around_it() {
        let ours: Vec<f64> = (0..40).map(|i| 2.0 + 0.01 * f64::from(i % 5)).collect();
        let theirs: Vec<f64> = (0..40).map(|i| 1.0 + 0.01 * f64::from(i % 5)).collect();
        let parity = ditbench_core::check::parity::reference_record(
            "x",
            ditbench_core::Dtype::F32,
            &ditbench_core::PassOutput {
                output: ditbench_core::HostTensor::f32(vec![1], vec![1.0]),
                loss: None,
                grad_norms: Vec::new(),
            },
        );
        let m = Measured::new(ours, theirs, [String::new(), String::new()], parity, vec![]);
        assert!((m.ratio - 2.02 / 1.02).abs() < 1e-9, "{}", m.ratio);
        assert!(m.ratio_ci95[0] <= m.ratio && m.ratio <= m.ratio_ci95[1]);
        assert_eq!(m.verdict, Verdict::Slower);
    }

    #[test]
    fn matching_needs_the_ratio_within_five_percent_and_faster_a_whole_interval_below_one() {
        assert_eq!(verdict(1.04, [0.98, 1.10]), Verdict::Matches);
        assert_eq!(verdict(1.06, [1.00, 1.12]), Verdict::Slower);
        assert_eq!(verdict(0.80, [0.75, 0.85]), Verdict::Faster);
        assert_eq!(verdict(0.97, [0.90, 1.02]), Verdict::Matches);
    }
}
