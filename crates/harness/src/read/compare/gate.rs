//! A whole comparison: every case of the candidate against the baseline.
//!
//! Each case's time is judged by [`super::rule`]: the 95% interval of the
//! ratio of medians against a band, with the Mann-Whitney rank test as a
//! second opinion; the band comes from the case's own run-to-run noise where
//! a history of earlier runs has it ([`super::history`]). A change beside a
//! contended side is inconclusive: the machine may have made it. Peak memory
//! has one figure per case (a peak, not samples), so a memory regression
//! needs size and floor only; beside a contended side it is not judged either.

use std::collections::BTreeMap;

use serde::Serialize;

use super::history::{History, RunNoise};
use super::rule::{
    MemoryChange, Rule, Thresholds, TimeChange, Verdict, memory_change, time_change,
};
use crate::record::confidence;
use crate::record::results::{CaseResult, RunResults, Status, shard_sets};
use crate::stats;

/// One case measured in both runs.
#[derive(Debug, Clone, Serialize)]
pub struct CaseChange {
    /// `workload backend device dtype pass`.
    pub case: String,
    pub backend: String,
    pub time: TimeChange,
    /// `None` when either side has no peak RSS.
    pub memory: Option<MemoryChange>,
    /// Whether others took more of the machine than allowed on each side.
    pub baseline_contended: bool,
    pub candidate_contended: bool,
}

impl CaseChange {
    pub fn regressed(&self) -> bool {
        self.time.verdict == Verdict::Regression
            || self
                .memory
                .as_ref()
                .is_some_and(|m| m.verdict == Verdict::Regression)
    }
}

/// A case that cannot be compared, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Unmatched {
    pub case: String,
    pub why: String,
}

/// One environment fact that differs between the runs.
#[derive(Debug, Clone, Serialize)]
pub struct EnvChange {
    pub what: String,
    pub baseline: String,
    pub candidate: String,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub thresholds: Thresholds,
    pub cases: Vec<CaseChange>,
    /// Present on one side only, or not measured on one side.
    pub unmatched: Vec<Unmatched>,
    pub environment: Vec<EnvChange>,
    pub regressions: usize,
    pub improvements: usize,
    /// Matched cases whose time could not be judged (and did not regress in memory).
    pub inconclusive: usize,
    /// What the history held, when one was given.
    pub history: Option<HistoryUse>,
    /// Which backends regressed, read as a hint: all of them points at the
    /// machine or a shared dependency, one at that framework.
    pub diagnosis: Option<String>,
    /// Each side's shard sets (`run --shard`): whole, or which shards are
    /// missing (their cases are then "only in" the other side).
    pub shards: Vec<String>,
}

impl Comparison {
    /// Matched cases that neither regressed nor improved, judged so.
    pub fn unchanged(&self) -> usize {
        self.cases.len() - self.regressions - self.improvements - self.inconclusive
    }

    /// The gate's outcome: a regression fails; otherwise an inconclusive
    /// case asks for a rerun; otherwise it passes.
    pub fn outcome(&self) -> Outcome {
        if self.regressions > 0 {
            Outcome::Regression
        } else if self.inconclusive > 0 {
            Outcome::Inconclusive
        } else {
            Outcome::Pass
        }
    }
}

/// How much of the comparison the history could judge.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryUse {
    /// Earlier runs read (the candidate's own left out).
    pub runs: usize,
    /// Compared cases whose band came from their run-to-run spread; the
    /// others had too few earlier runs and were judged by the interval alone.
    pub cases_with_band: usize,
}

/// What a nightly job does with a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Regression,
    Inconclusive,
}

/// Cases of one side keyed by `workload backend device dtype pass`, each
/// with the machine it ran on; where a key appears in several runs, the
/// latest run's case wins.
fn index(runs: &[RunResults]) -> BTreeMap<String, (&CaseResult, &str)> {
    let mut ordered: Vec<&RunResults> = runs.iter().collect();
    ordered.sort_by(|a, b| a.started_at.cmp(&b.started_at));
    let mut cases = BTreeMap::new();
    for run in ordered {
        for c in &run.cases {
            cases.insert(case_key(c), (c, run.environment.host.as_str()));
        }
    }
    cases
}

/// The id a case is matched by across runs (see [`crate::CaseKey`]).
pub fn case_key(c: &CaseResult) -> String {
    c.key().to_string()
}

/// One case measured on both sides, matched by its key.
pub struct Matched<'a> {
    pub key: String,
    pub baseline: &'a CaseResult,
    pub candidate: &'a CaseResult,
    /// The machine the candidate ran on.
    pub host: &'a str,
}

/// The cases both sides measured, and those that cannot be compared:
/// present on one side only, or not measured on one.
pub fn match_cases<'a>(
    baseline: &'a [RunResults],
    candidate: &'a [RunResults],
) -> (Vec<Matched<'a>>, Vec<Unmatched>) {
    let base = index(baseline);
    let cand = index(candidate);
    let mut matched = Vec::new();
    let mut unmatched = Vec::new();
    for (key, &(b, _)) in &base {
        let Some(&(c, host)) = cand.get(key) else {
            unmatched.push(Unmatched {
                case: key.clone(),
                why: "only in the baseline".into(),
            });
            continue;
        };
        match not_measured(key, b, c) {
            Some(why) => unmatched.push(why),
            None => matched.push(Matched {
                key: key.clone(),
                baseline: b,
                candidate: c,
                host,
            }),
        }
    }
    for key in cand.keys().filter(|k| !base.contains_key(*k)) {
        unmatched.push(Unmatched {
            case: key.clone(),
            why: "only in the candidate".into(),
        });
    }
    (matched, unmatched)
}

/// Compare `candidate` with `baseline`, each case against its band from
/// `history` where that has enough earlier runs of it. Both sides must be
/// non-empty.
pub fn compare(
    baseline: &[RunResults],
    candidate: &[RunResults],
    history: Option<&History>,
    t: &Thresholds,
) -> Comparison {
    let (matched, unmatched) = match_cases(baseline, candidate);
    let cases: Vec<CaseChange> = matched
        .iter()
        .map(|m| {
            let (b, c) = (&m.baseline.samples_s, &m.candidate.samples_s);
            let noise = m.noise(history, t);
            m.judged(time_change(b, c, t, noise.as_ref(), m.drift()), history, t)
        })
        .collect();
    let history = history.map(|h| HistoryUse {
        runs: h.runs,
        cases_with_band: cases.iter().filter(|c| c.time.run_noise.is_some()).count(),
    });
    let Tally {
        regressions,
        improvements,
        inconclusive,
    } = Tally::of(&cases);
    let diagnosis = diagnose(&cases);
    let shards = [("baseline", baseline), ("candidate", candidate)]
        .into_iter()
        .flat_map(|(side, runs)| {
            shard_sets(runs)
                .into_iter()
                .map(move |set| format!("{side}: {}", set.describe()))
        })
        .collect();
    Comparison {
        shards,
        thresholds: *t,
        history,
        environment: environment_changes(baseline, candidate),
        cases,
        unmatched,
        regressions,
        improvements,
        inconclusive,
        diagnosis,
    }
}

/// What a set of judged cases adds up to, as the gate counts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// In time or memory.
    pub regressions: usize,
    /// Time improvements of cases that did not regress.
    pub improvements: usize,
    /// Cases whose time could not be judged (and did not regress in memory).
    pub inconclusive: usize,
}

impl Tally {
    pub fn of(cases: &[CaseChange]) -> Tally {
        let count = |verdict: Verdict| {
            cases
                .iter()
                .filter(|c| !c.regressed() && c.time.verdict == verdict)
                .count()
        };
        Tally {
            regressions: cases.iter().filter(|c| c.regressed()).count(),
            improvements: count(Verdict::Improvement),
            inconclusive: count(Verdict::Inconclusive),
        }
    }
}

/// Which side was contended (others took its CPUs), if any.
fn contended(b: &CaseResult, c: &CaseResult) -> Option<&'static str> {
    match (b.contended(), c.contended()) {
        (true, true) => Some("both sides were"),
        (true, false) => Some("the baseline was"),
        (false, true) => Some("the candidate was"),
        (false, false) => None,
    }
}

/// The larger drift of an unsteady side (its level moved while it was
/// timed, [`confidence::unsteady`]): the band widens by it.
pub fn unsteady_drift(sides: [&[f64]; 2]) -> Option<f64> {
    sides
        .iter()
        .filter_map(|samples| stats::drift(samples))
        .filter(confidence::unsteady)
        .map(|d| d.ratio)
        .reduce(f64::max)
}

/// Why a matched key cannot be compared: a side did not measure it.
fn not_measured(key: &str, b: &CaseResult, c: &CaseResult) -> Option<Unmatched> {
    let measured = |x: &CaseResult| x.status == Status::Ok && !x.samples_s.is_empty();
    if measured(b) && measured(c) {
        return None;
    }
    let side = |x: &CaseResult| {
        format!(
            "{}{}",
            format!("{:?}", x.status).to_lowercase(),
            x.error
                .as_ref()
                .or(x.reason.as_ref())
                .map(|w| format!(": {w}"))
                .unwrap_or_default()
        )
    };
    Some(Unmatched {
        case: key.to_string(),
        why: format!("baseline {}; candidate {}", side(b), side(c)),
    })
}

impl Matched<'_> {
    /// The case's run-to-run noise in `history`, when it has enough runs.
    pub fn noise(&self, history: Option<&History>, t: &Thresholds) -> Option<RunNoise> {
        history.and_then(|h| h.noise(self.host, &self.key, t.history_lookback, t.history_min_runs))
    }

    /// The larger drift of an unsteady side, if any ([`unsteady_drift`]).
    pub fn drift(&self) -> Option<f64> {
        unsteady_drift([&self.baseline.samples_s, &self.candidate.samples_s])
    }

    /// The case judged: its time verdict `time` (from [`time_change`] or
    /// [`super::rule::judge`]) checked against contention, and its peak
    /// memory change against the range `history` has seen.
    pub fn judged(
        &self,
        mut time: TimeChange,
        history: Option<&History>,
        t: &Thresholds,
    ) -> CaseChange {
        let (b, c) = (self.baseline, self.candidate);
        // A change beside a contended side may be the machine's (a busy run
        // measured 0.66x to 113x a quiet one): a rerun decides. "Unchanged"
        // stands: contention did not move the case past its band.
        if matches!(time.verdict, Verdict::Regression | Verdict::Improvement)
            && let Some(side) = contended(b, c)
        {
            time.inconclusive.push(format!(
                "{} {:.3}x, but {side} contended: others took more of the machine than the case allowed",
                time.verdict.name(),
                time.ratio
            ));
            time.verdict = Verdict::Inconclusive;
            time.rule = Rule::Contended;
        }
        let peak = |x: &CaseResult| x.memory.as_ref().and_then(|m| m.peak_rss_bytes);
        let mut memory = match (peak(b), peak(c)) {
            (Some(pb), Some(pc)) => {
                let peaks = history.and_then(|h| {
                    h.peaks(self.host, &self.key, t.history_lookback, t.history_min_runs)
                });
                Some(memory_change(pb, pc, t, peaks.as_ref()))
            }
            _ => None,
        };
        // A busy machine moves peaks too (Candle's llama-small train step
        // peaked 11% higher beside two busy loops): not judged either.
        if let Some(m) = memory.as_mut().filter(|_| contended(b, c).is_some())
            && m.verdict != Verdict::Unchanged
        {
            m.verdict = Verdict::Inconclusive;
        }
        CaseChange {
            case: self.key.clone(),
            backend: c.backend.clone(),
            time,
            memory,
            baseline_contended: b.contended(),
            candidate_contended: c.contended(),
        }
    }
}

fn diagnose(cases: &[CaseChange]) -> Option<String> {
    let mut backends: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for c in cases {
        let entry = backends.entry(&c.backend).or_default();
        entry.1 += 1;
        if c.regressed() {
            entry.0 += 1;
        }
    }
    let regressed: Vec<&str> = backends
        .iter()
        .filter(|(_, (r, _))| *r > 0)
        .map(|(b, _)| *b)
        .collect();
    if regressed.is_empty() {
        return None;
    }
    if backends.len() == 1 {
        let (b, (r, n)) = backends.iter().next()?;
        return Some(format!(
            "{b} regressed in {r} of {n} cases; with one backend compared, the machine and the framework cannot be told apart"
        ));
    }
    Some(if regressed.len() == backends.len() {
        format!(
            "every backend regressed ({}): look at what they share, the machine, its drivers or a common dependency",
            regressed.join(", ")
        )
    } else {
        let detail: Vec<String> = regressed
            .iter()
            .map(|b| {
                let (r, n) = backends[b];
                format!("{b} ({r} of {n} cases)")
            })
            .collect();
        format!(
            "only {} regressed: look at that framework first",
            detail.join(", ")
        )
    })
}

/// The run that started last.
fn latest_run(runs: &[RunResults]) -> Option<&RunResults> {
    runs.iter().max_by(|a, b| a.started_at.cmp(&b.started_at))
}

/// The environment facts that differ between the latest run of each side.
fn environment_changes(baseline: &[RunResults], candidate: &[RunResults]) -> Vec<EnvChange> {
    let (Some(b), Some(c)) = (latest_run(baseline), latest_run(candidate)) else {
        return Vec::new();
    };
    let facts = |r: &RunResults| -> Vec<(String, String)> {
        let e = &r.environment;
        let mut f = vec![
            ("host".to_string(), e.host.clone()),
            ("CPU".into(), e.cpu_model.clone()),
            ("logical cores".into(), e.logical_cores.to_string()),
            ("OS".into(), format!("{} ({})", e.os, e.kernel)),
            ("rustc".into(), e.rustc.clone()),
            ("build".into(), e.build_profile.clone()),
            // Sorted: builds before the backend registry recorded another order.
            ("features".into(), {
                let mut features = e.cargo_features.clone();
                features.sort();
                features.join(", ")
            }),
            ("threads".into(), e.threads.threads.to_string()),
            (
                "GPUs".into(),
                e.gpus
                    .iter()
                    .map(|g| g.name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            (
                "ditbench".into(),
                format!("{} ({})", r.tool.version, r.tool.git_commit),
            ),
        ];
        f.push(("CPU SIMD".into(), e.cpu_simd.join(", ")));
        let exposed = |v: &Option<String>| v.clone().unwrap_or_else(|| "not exposed".into());
        f.push(("CPU governor".into(), exposed(&e.cpu_governor)));
        f.push(("CPU boost".into(), exposed(&e.cpu_boost)));
        f.push((
            "pinned CPUs".into(),
            r.settings.cpus.as_deref().map_or(
                "not pinned".into(),
                ditbench_core::machine::threads::cpu_list_text,
            ),
        ));
        for fw in &e.frameworks {
            f.push((format!("{} version", fw.backend), fw.version.clone()));
            f.push((
                format!("{} build", fw.backend),
                fw.build_features.join("; "),
            ));
        }
        f
    };
    let (fb, fc) = (facts(b), facts(c));
    // The baseline's facts in order, then any only the candidate has.
    let keys = fb.iter().map(|(k, _)| k).chain(
        fc.iter()
            .map(|(k, _)| k)
            .filter(|k| !fb.iter().any(|(b, _)| b == *k)),
    );
    let mut out = Vec::new();
    for k in keys {
        let get = |f: &[(String, String)]| {
            f.iter()
                .find(|(key, _)| key == k)
                .map_or_else(|| "(absent)".to_string(), |(_, v)| v.clone())
        };
        let (vb, vc) = (get(&fb), get(&fc));
        if vb != vc {
            out.push(EnvChange {
                what: k.clone(),
                baseline: vb,
                candidate: vc,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(backend: &str, verdict: Verdict) -> CaseChange {
        CaseChange {
            case: format!("wan-tiny {backend} cpu f32 forward"),
            backend: backend.into(),
            time: TimeChange {
                baseline_median_s: 1.0,
                candidate_median_s: 1.0,
                ratio: 1.0,
                ratio_ci95: [1.0, 1.0],
                p_value: 1.0,
                verdict,
                rule: Rule::Interval,
                band: [1.0 / 1.05, 1.05],
                run_noise: None,
                inconclusive: Vec::new(),
            },
            memory: None,
            baseline_contended: false,
            candidate_contended: false,
        }
    }

    #[test]
    fn diagnosis_tells_a_machine_from_a_framework() {
        use Verdict::*;
        assert_eq!(
            diagnose(&[case("candle", Unchanged), case("tch", Unchanged)]),
            None
        );
        let all = diagnose(&[case("candle", Regression), case("tch", Regression)]).unwrap();
        assert!(
            all.starts_with("every backend regressed (candle, tch)"),
            "{all}"
        );
        let one = diagnose(&[
            case("candle", Regression),
            case("candle", Unchanged),
            case("tch", Unchanged),
        ])
        .unwrap();
        assert!(
            one.starts_with("only candle (1 of 2 cases) regressed"),
            "{one}"
        );
        let alone = diagnose(&[case("tch", Regression)]).unwrap();
        assert!(alone.contains("cannot be told apart"), "{alone}");
    }
}
