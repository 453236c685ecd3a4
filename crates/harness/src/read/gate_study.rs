//! How well the regression gate works on one machine: every ordered pair of
//! repeated runs of one suite is an A/A pair (nothing changed), and known
//! slowdowns are injected by scaling the candidate's samples, so the false
//! alarms and the detection rate of each case come from data, not hope.
//!
//! With history, each pair's history is every run but the candidate
//! (leave-one-out: the runs are interchangeable repeats, and none holds a
//! regression), so the band a case gets is the one a nightly job with that
//! many earlier runs would.

use serde::Serialize;

use std::collections::BTreeMap;

use crate::read::compare::{
    CaseChange, Evidence, History, RunNoise, Tally, Thresholds, Verdict, judge, match_cases,
};
use crate::record::results::RunResults;
use crate::stats::median;

/// What one injected factor did to one case over every pair.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CaseFactor {
    pub factor: f64,
    pub pairs: usize,
    pub regressions: usize,
    pub improvements: usize,
    pub inconclusive: usize,
}

impl CaseFactor {
    /// Share of pairs flagged as a regression.
    pub fn detected(&self) -> f64 {
        self.regressions as f64 / self.pairs.max(1) as f64
    }
}

/// One case over the study.
#[derive(Debug, Clone, Serialize)]
pub struct CaseStudy {
    pub case: String,
    /// Median over the runs of each run's median.
    pub median_s: f64,
    /// Robust run-to-run spread of the median over every run (see
    /// [`crate::read::compare::RunNoise::spread`]).
    pub spread: Option<f64>,
    /// The largest A/A ratio of medians seen over the pairs, either way
    /// (max of r and 1/r).
    pub widest_a_a_ratio: f64,
    /// Median upper edge of the band (a ratio) the case was judged against
    /// over the A/A pairs.
    pub band_up: f64,
    pub factors: Vec<CaseFactor>,
    /// The smallest injected slowdown flagged in at least 19 of 20 pairs.
    pub smallest_detected: Option<f64>,
}

/// What one injected factor did to whole pairs, as a nightly job sees them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PairFactor {
    pub factor: f64,
    pub pairs: usize,
    /// Pairs with at least one regression (a failed night).
    pub pairs_failed: usize,
    /// Pairs with no regression but an inconclusive case (exit 3: rerun).
    pub pairs_inconclusive: usize,
    /// Cases flagged as regressions, most and in all, over the pairs.
    pub most_regressions: usize,
    pub regressions: usize,
    /// Inconclusive cases, most in one pair and in all.
    pub most_inconclusive: usize,
    pub inconclusive: usize,
    /// Cases compared in each pair.
    pub cases: usize,
}

/// The whole study.
#[derive(Debug, Clone, Serialize)]
pub struct GateStudy {
    pub runs: usize,
    /// Ordered pairs of distinct runs.
    pub pairs: usize,
    /// Whether each pair had the other runs as history.
    pub with_history: bool,
    pub thresholds: Thresholds,
    pub factors: Vec<PairFactor>,
    pub cases: Vec<CaseStudy>,
}

/// Share of pairs an injected slowdown must be flagged in to count as
/// detected: 19 of 20.
pub const DETECTED_SHARE: f64 = 0.95;

/// Study the gate on `runs` (repeats of one suite on one machine, at least
/// two), injecting each of `factors` into the candidate of every pair. Each
/// pair's evidence is measured once; a factor scales it
/// ([`Evidence::slowed`]), which is what measuring the scaled samples gives.
pub fn study(
    runs: &[RunResults],
    factors: &[f64],
    thresholds: &Thresholds,
    with_history: bool,
) -> GateStudy {
    let mut pair_factors: Vec<PairFactor> = factors
        .iter()
        .map(|&factor| PairFactor {
            factor,
            ..PairFactor::default()
        })
        .collect();
    let mut cases: BTreeMap<String, CaseAccumulator> = BTreeMap::new();
    let mut pairs = 0;
    for (j, candidate) in runs.iter().enumerate() {
        let history =
            with_history.then(|| History::new(runs, std::slice::from_ref(candidate), None));
        for baseline in runs
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != j)
            .map(|(_, r)| r)
        {
            pairs += 1;
            let (matched, _) = match_cases(
                std::slice::from_ref(baseline),
                std::slice::from_ref(candidate),
            );
            let judged: Vec<(Evidence, Option<RunNoise>, Option<f64>)> = matched
                .iter()
                .map(|m| {
                    let e = Evidence::measure(&m.baseline.samples_s, &m.candidate.samples_s);
                    (e, m.noise(history.as_ref(), thresholds), m.drift())
                })
                .collect();
            for (k, &factor) in factors.iter().enumerate() {
                let changes: Vec<CaseChange> = matched
                    .iter()
                    .zip(&judged)
                    .map(|(m, (e, noise, drift))| {
                        let e = e.slowed(&m.baseline.samples_s, &m.candidate.samples_s, factor);
                        let time = judge(&e, thresholds, noise.as_ref(), *drift);
                        m.judged(time, history.as_ref(), thresholds)
                    })
                    .collect();
                tally_pair(&mut pair_factors[k], &changes);
                for c in &changes {
                    cases
                        .entry(c.case.clone())
                        .or_insert_with(|| CaseAccumulator::new(factors))
                        .add(k, factor, c);
                }
            }
        }
    }
    let cases = cases
        .into_iter()
        .map(|(case, acc)| acc.finish(case, runs))
        .collect();
    GateStudy {
        runs: runs.len(),
        pairs,
        with_history,
        thresholds: *thresholds,
        factors: pair_factors,
        cases,
    }
}

fn tally_pair(t: &mut PairFactor, cases: &[CaseChange]) {
    let Tally {
        regressions,
        inconclusive,
        ..
    } = Tally::of(cases);
    t.pairs += 1;
    t.cases = t.cases.max(cases.len());
    t.regressions += regressions;
    t.most_regressions = t.most_regressions.max(regressions);
    t.inconclusive += inconclusive;
    t.most_inconclusive = t.most_inconclusive.max(inconclusive);
    if regressions > 0 {
        t.pairs_failed += 1;
    } else if inconclusive > 0 {
        t.pairs_inconclusive += 1;
    }
}

/// One case's verdicts as the pairs come in.
struct CaseAccumulator {
    factors: Vec<CaseFactor>,
    a_a_ratios: Vec<f64>,
    a_a_bands: Vec<f64>,
}

impl CaseAccumulator {
    fn new(factors: &[f64]) -> Self {
        CaseAccumulator {
            factors: factors
                .iter()
                .map(|&factor| CaseFactor {
                    factor,
                    ..CaseFactor::default()
                })
                .collect(),
            a_a_ratios: Vec::new(),
            a_a_bands: Vec::new(),
        }
    }

    fn add(&mut self, k: usize, factor: f64, c: &CaseChange) {
        let f = &mut self.factors[k];
        f.pairs += 1;
        // As the gate counts them: a memory regression fails a night too.
        match c.time.verdict {
            _ if c.regressed() => f.regressions += 1,
            Verdict::Improvement => f.improvements += 1,
            Verdict::Inconclusive => f.inconclusive += 1,
            Verdict::Regression | Verdict::Unchanged => {}
        }
        if factor == 1.0 {
            self.a_a_ratios.push(c.time.ratio.max(1.0 / c.time.ratio));
            self.a_a_bands.push(c.time.band[1]);
        }
    }

    fn finish(self, case: String, runs: &[RunResults]) -> CaseStudy {
        let medians: Vec<f64> = runs
            .iter()
            .filter_map(|r| {
                r.cases
                    .iter()
                    .rev()
                    .find(|c| crate::read::compare::case_key(c) == case)
                    .and_then(|c| c.stats.as_ref().map(|s| s.median_s))
            })
            .collect();
        let smallest_detected = self
            .factors
            .iter()
            .filter(|f| f.factor > 1.0 && f.pairs > 0 && f.detected() >= DETECTED_SHARE)
            .map(|f| f.factor)
            .reduce(f64::min);
        CaseStudy {
            median_s: if medians.is_empty() {
                f64::NAN
            } else {
                median(&medians)
            },
            spread: crate::read::compare::run_noise(&medians).map(|n| n.spread),
            widest_a_a_ratio: self.a_a_ratios.iter().copied().fold(f64::NAN, f64::max),
            band_up: if self.a_a_bands.is_empty() {
                f64::NAN
            } else {
                median(&self.a_a_bands)
            },
            factors: self.factors,
            smallest_detected,
            case,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::results::{CaseResult, Status};

    /// A run of two cases: a steady one and one that moves 20% between runs.
    fn run(index: usize) -> RunResults {
        let mut run: RunResults =
            serde_json::from_str(include_str!("../../../../tests/fixtures/cpu-vm-sweep.json"))
                .unwrap();
        run.started_at = format!("2026-12-0{}T00:00:00Z", index + 1);
        run.cases.truncate(2);
        let wobble = [1.0, 1.2, 0.9, 1.15, 0.95, 1.1][index];
        for (n, c) in run.cases.iter_mut().enumerate() {
            let base = if n == 0 { 0.010 } else { 0.020 * wobble };
            // 40 samples within ±1% of the run's level, different per run.
            c.samples_s = (0..40)
                .map(|s| base * (1.0 + 0.01 * (((s * 7 + index * 13) % 21) as f64 - 10.0) / 10.0))
                .collect();
            c.stats = Some(crate::stats::summarize(&c.samples_s));
            c.status = Status::Ok;
            c.interference = None;
        }
        run
    }

    fn case(s: &GateStudy, n: usize) -> &CaseStudy {
        &s.cases[n]
    }

    #[test]
    fn injected_slowdowns_are_found_and_the_history_band_absorbs_run_to_run_noise() {
        let runs: Vec<RunResults> = (0..6).map(run).collect();
        let key = |c: &CaseResult| crate::read::compare::case_key(c);
        let (steady, wobbly) = (key(&runs[0].cases[0]), key(&runs[0].cases[1]));
        let factors = [1.0, 1.10, 2.0];
        let t = Thresholds::default();
        let without = study(&runs, &factors, &t, false);
        assert_eq!((without.runs, without.pairs), (6, 30));
        let [s, w] =
            [&steady, &wobbly].map(|k| without.cases.iter().position(|c| &c.case == k).unwrap());
        // Without history the wobbly case raises false alarms in A/A pairs.
        assert!(case(&without, w).factors[0].regressions > 0);
        assert!(without.factors[0].pairs_failed > 0);
        // The steady case: none, and 1.10x found in every pair.
        assert_eq!(case(&without, s).factors[0].regressions, 0);
        assert_eq!(case(&without, s).smallest_detected, Some(1.10));

        let with = study(&runs, &factors, &t, true);
        assert_eq!(with.factors[0].pairs_failed, 0, "{:?}", with.factors[0]);
        assert_eq!(case(&with, s).smallest_detected, Some(1.10));
        // The wobbly case's band covers the range of its runs (1.33x: its
        // 14% spread alone would give 2.2x): 1.10x is mostly noise for it,
        // and 2x is found in every pair.
        let wobbly = case(&with, w);
        assert!(wobbly.band_up > 1.25 && wobbly.band_up < 1.5, "{wobbly:?}");
        assert!(wobbly.factors[1].regressions < 10, "{wobbly:?}");
        assert_eq!(wobbly.factors[2].regressions, 30);
        assert_eq!(wobbly.smallest_detected, Some(2.0));
        assert!(case(&with, w).spread.unwrap() > 0.05);
        assert!(case(&with, w).widest_a_a_ratio > 1.25);
    }
}
