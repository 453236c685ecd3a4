//! Regression gate: compare a candidate run with a baseline, case by case.
//!
//! A time regression needs three things at once, so that a noisy machine
//! does not raise false alarms and a real slowdown is not missed:
//! 1. significance: the two-sided Mann-Whitney U test on the raw samples
//!    rejects "same distribution" at `alpha`, and the bootstrap 95% CI of the
//!    ratio of medians lies wholly above 1;
//! 2. size: the ratio of medians exceeds 1 + the relative threshold;
//! 3. an absolute floor: the medians differ by more than `time_floor_s`.
//!
//! Memory has one figure per case (a peak, not samples), so a memory
//! regression needs size and floor only; beside a contended side it is not
//! judged (a busy machine moves peaks too).
//!
//! A case's time is inconclusive, neither verdict, when it cannot be judged:
//! too few samples for any data to reach `alpha`, or either side contended
//! or of low confidence ([`crate::record::confidence`]). A nightly job reruns those.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::measure::timing::TimingConfig;
use crate::record::results::{CaseResult, RunResults, Status, shard_sets};
use crate::stats::{bootstrap_ratio_ci, mann_whitney_p, median};
use ditbench_core::util::units::{format_seconds, md_escape};

/// What counts as a regression.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Thresholds {
    /// Relative time change that matters (0.05: 5%).
    pub time_relative: f64,
    /// Absolute change of the median below which time never regresses.
    pub time_floor_s: f64,
    pub memory_relative: f64,
    pub memory_floor_bytes: u64,
    /// Significance level of the Mann-Whitney test.
    pub alpha: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            time_relative: 0.05,
            time_floor_s: 1e-3,
            memory_relative: 0.05,
            memory_floor_bytes: 16 << 20,
            alpha: 0.05,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Regression,
    Improvement,
    Unchanged,
    /// The case cannot be judged (see [`TimeChange::inconclusive`]).
    Inconclusive,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Regression => "regression",
            Verdict::Improvement => "improvement",
            Verdict::Unchanged => "unchanged",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// The time of one case in both runs.
#[derive(Debug, Clone, Serialize)]
pub struct TimeChange {
    pub baseline_median_s: f64,
    pub candidate_median_s: f64,
    /// candidate median / baseline median (above 1: slower).
    pub ratio: f64,
    /// 95% bootstrap confidence interval of `ratio`.
    pub ratio_ci95: [f64; 2],
    /// Two-sided Mann-Whitney U p-value.
    pub p_value: f64,
    pub verdict: Verdict,
    /// Why the case cannot be judged; empty when it can.
    pub inconclusive: Vec<String>,
}

/// The peak memory of one case in both runs.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryChange {
    pub baseline_bytes: u64,
    pub candidate_bytes: u64,
    pub ratio: f64,
    pub verdict: Verdict,
}

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

/// What a nightly job does with a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Regression,
    Inconclusive,
}

/// Cases of one side keyed by `workload backend device dtype pass`, each
/// with its run's timing settings; where a key appears in several runs, the
/// latest run's case wins.
fn index(runs: &[RunResults]) -> BTreeMap<String, (&CaseResult, &TimingConfig)> {
    let mut ordered: Vec<&RunResults> = runs.iter().collect();
    ordered.sort_by(|a, b| a.started_at.cmp(&b.started_at));
    let mut cases = BTreeMap::new();
    for run in ordered {
        for c in &run.cases {
            cases.insert(case_key(c), (c, &run.settings.timing));
        }
    }
    cases
}

/// Why one side's figure cannot be judged: contended or low confidence.
fn side_doubts(side: &str, c: &CaseResult, timing: &TimingConfig) -> Vec<String> {
    match c.confidence_under(timing) {
        Some(k) if !k.is_good() => vec![format!("{side} low confidence: {}", k.reasons.join("; "))],
        _ => Vec::new(),
    }
}

/// The id a case is matched by across runs (see [`crate::CaseKey`]).
pub fn case_key(c: &CaseResult) -> String {
    c.key().to_string()
}

/// Compare `candidate` with `baseline`. Both must be non-empty.
pub fn compare(baseline: &[RunResults], candidate: &[RunResults], t: &Thresholds) -> Comparison {
    let base = index(baseline);
    let cand = index(candidate);
    let mut cases = Vec::new();
    let mut unmatched = Vec::new();
    for (key, &(b, b_timing)) in &base {
        let Some(&(c, c_timing)) = cand.get(key) else {
            unmatched.push(Unmatched {
                case: key.clone(),
                why: "only in the baseline".into(),
            });
            continue;
        };
        match case_change(key, (b, b_timing), (c, c_timing), t) {
            Ok(change) => cases.push(change),
            Err(why) => unmatched.push(why),
        }
    }
    for key in cand.keys().filter(|k| !base.contains_key(*k)) {
        unmatched.push(Unmatched {
            case: key.clone(),
            why: "only in the candidate".into(),
        });
    }
    let regressions = cases.iter().filter(|c| c.regressed()).count();
    let improvements = cases
        .iter()
        .filter(|c| !c.regressed() && c.time.verdict == Verdict::Improvement)
        .count();
    let inconclusive = cases
        .iter()
        .filter(|c| !c.regressed() && c.time.verdict == Verdict::Inconclusive)
        .count();
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
        environment: environment_changes(baseline, candidate),
        cases,
        unmatched,
        regressions,
        improvements,
        inconclusive,
        diagnosis,
    }
}

/// One case of both runs judged: its time and peak memory change, or why
/// it cannot be (a side did not measure it).
fn case_change(
    key: &str,
    (b, b_timing): (&CaseResult, &TimingConfig),
    (c, c_timing): (&CaseResult, &TimingConfig),
    t: &Thresholds,
) -> Result<CaseChange, Unmatched> {
    let measured = |x: &CaseResult| x.status == Status::Ok && !x.samples_s.is_empty();
    if !measured(b) || !measured(c) {
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
        return Err(Unmatched {
            case: key.to_string(),
            why: format!("baseline {}; candidate {}", side(b), side(c)),
        });
    }
    let mut time = time_change(&b.samples_s, &c.samples_s, t);
    let doubts: Vec<String> = side_doubts("baseline", b, b_timing)
        .into_iter()
        .chain(side_doubts("candidate", c, c_timing))
        .collect();
    if !doubts.is_empty() {
        time.inconclusive.extend(doubts);
        time.verdict = Verdict::Inconclusive;
    }
    let peak = |x: &CaseResult| x.memory.as_ref().and_then(|m| m.peak_rss_bytes);
    let mut memory = match (peak(b), peak(c)) {
        (Some(pb), Some(pc)) => Some(memory_change(pb, pc, t)),
        _ => None,
    };
    // A busy machine moves peaks too (Candle's llama-small train step
    // peaked 11% higher beside two busy loops): not judged either.
    if let Some(m) = memory.as_mut().filter(|_| b.contended() || c.contended())
        && m.verdict != Verdict::Unchanged
    {
        m.verdict = Verdict::Inconclusive;
    }
    Ok(CaseChange {
        case: key.to_string(),
        backend: c.backend.clone(),
        time,
        memory,
        baseline_contended: b.contended(),
        candidate_contended: c.contended(),
    })
}

/// The smallest two-sided p-value the exact Mann-Whitney test can give
/// samples of `n1` and `n2`: both orderings of completely separated
/// samples, 2 / C(n1 + n2, n1). At or above `alpha`, no data can be significant.
pub fn smallest_p(n1: usize, n2: usize) -> f64 {
    let (n, k) = (n1 + n2, n1.min(n2));
    // C(n, k) as a running product; it only needs to be compared with 2 / alpha.
    let mut ways = 1.0f64;
    for i in 0..k {
        ways = ways * (n - i) as f64 / (i + 1) as f64;
        if ways > 1e12 {
            break;
        }
    }
    (2.0 / ways).min(1.0)
}

/// The gate's verdict on one case's time: baseline samples against candidate samples.
/// Samples per side that the rank test and the bootstrap use at most: a
/// hostile or huge file (10 million samples) would otherwise take minutes.
/// Beyond it every k-th sample in recorded order is used, spanning the run.
pub const MAX_COMPARED_SAMPLES: usize = 20_000;

/// At most [`MAX_COMPARED_SAMPLES`] of `samples`, evenly strided.
pub fn thinned(samples: &[f64]) -> std::borrow::Cow<'_, [f64]> {
    if samples.len() <= MAX_COMPARED_SAMPLES {
        return std::borrow::Cow::Borrowed(samples);
    }
    let stride = samples.len().div_ceil(MAX_COMPARED_SAMPLES);
    std::borrow::Cow::Owned(samples.iter().step_by(stride).copied().collect())
}

pub fn time_change(base: &[f64], cand: &[f64], t: &Thresholds) -> TimeChange {
    let (mb, mc) = (median(base), median(cand));
    let ratio = mc / mb;
    let (tb, tc) = (thinned(base), thinned(cand));
    let ratio_ci95 = bootstrap_ratio_ci(&tb, &tc, 2000, 0);
    let p_value = mann_whitney_p(&tb, &tc);
    let significant = p_value < t.alpha;
    let floor = smallest_p(base.len(), cand.len());
    let mut inconclusive = Vec::new();
    if floor >= t.alpha {
        inconclusive.push(format!(
            "too few samples ({} and {}): the smallest p they can give is {floor:.3}, not below --alpha {}",
            base.len(),
            cand.len(),
            t.alpha
        ));
    }
    let verdict = if !inconclusive.is_empty() {
        Verdict::Inconclusive
    } else if significant
        && ratio_ci95[0] > 1.0
        && ratio > 1.0 + t.time_relative
        && mc - mb > t.time_floor_s
    {
        Verdict::Regression
    } else if significant
        && ratio_ci95[1] < 1.0
        && ratio < 1.0 / (1.0 + t.time_relative)
        && mb - mc > t.time_floor_s
    {
        Verdict::Improvement
    } else {
        Verdict::Unchanged
    };
    TimeChange {
        baseline_median_s: mb,
        candidate_median_s: mc,
        ratio,
        ratio_ci95,
        p_value,
        verdict,
        inconclusive,
    }
}

fn memory_change(base: u64, cand: u64, t: &Thresholds) -> MemoryChange {
    let ratio = cand as f64 / base as f64;
    let verdict = if ratio > 1.0 + t.memory_relative && cand > base + t.memory_floor_bytes {
        Verdict::Regression
    } else if ratio < 1.0 / (1.0 + t.memory_relative) && base > cand + t.memory_floor_bytes {
        Verdict::Improvement
    } else {
        Verdict::Unchanged
    };
    MemoryChange {
        baseline_bytes: base,
        candidate_bytes: cand,
        ratio,
        verdict,
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

/// A Markdown summary for CI job summaries: the verdict first, then the
/// regressions and improvements, then everything else.
pub fn render_markdown(c: &Comparison) -> String {
    let mut md = String::new();
    markdown_summary(c, &mut md);
    markdown_cases(c, &mut md);
    markdown_notes(c, &mut md);
    ditbench_core::util::units::visible_controls(&md)
}

/// The outcome with its counts, the diagnosis and the shard sets.
fn markdown_summary(c: &Comparison, md: &mut String) {
    md.push_str("# ditbench compare\n\n");
    let unchanged = c.unchanged();
    let counts = format!(
        "{} improvement(s), {unchanged} unchanged, {} inconclusive, {} not compared.",
        c.improvements,
        c.inconclusive,
        c.unmatched.len()
    );
    md.push_str(&match c.outcome() {
        Outcome::Regression => format!("**{} regression(s)**, {counts}\n\n", c.regressions),
        Outcome::Inconclusive => {
            format!("**Inconclusive: rerun.** No regression among the cases judged: {counts}\n\n")
        }
        Outcome::Pass => format!("No regression: {counts}\n\n"),
    });
    if let Some(d) = &c.diagnosis {
        md.push_str(&format!("{}\n\n", md_escape(d)));
    }
    for s in &c.shards {
        md.push_str(&format!("- {}\n", md_escape(s)));
    }
    if !c.shards.is_empty() {
        md.push('\n');
    }
}

/// One row per compared case: regressions first, then improvements.
fn markdown_cases(c: &Comparison, md: &mut String) {
    md.push_str(
        "| case | baseline | candidate | ratio | 95% CI | p | time | peak RSS ratio | memory |\n",
    );
    md.push_str("|---|---:|---:|---:|---:|---:|---|---:|---|\n");
    let mut rows: Vec<&CaseChange> = c.cases.iter().collect();
    // Regressions first, then improvements, then the rest.
    rows.sort_by_key(|r| match (r.regressed(), r.time.verdict) {
        (true, _) => 0,
        (false, Verdict::Improvement) => 1,
        (false, Verdict::Inconclusive) => 2,
        _ => 3,
    });
    for r in rows {
        let t = &r.time;
        let (ratio, verdict) = match &r.memory {
            Some(m) => (format!("{:.3}x", m.ratio), m.verdict.name()),
            None => ("-".into(), "-"),
        };
        md.push_str(&format!(
            "| {} | {} | {} | {:.3}x | {:.3}–{:.3} | {:.3} | {} | {ratio} | {verdict} |\n",
            md_escape(&r.case),
            format_seconds(t.baseline_median_s),
            format_seconds(t.candidate_median_s),
            t.ratio,
            t.ratio_ci95[0],
            t.ratio_ci95[1],
            t.p_value,
            if t.verdict == Verdict::Regression {
                "**regression**"
            } else {
                t.verdict.name()
            },
        ));
    }
}

/// The cases that cannot be judged, those not compared, and what changed
/// in the environment.
fn markdown_notes(c: &Comparison, md: &mut String) {
    let doubtful: Vec<&CaseChange> = c
        .cases
        .iter()
        .filter(|r| !r.time.inconclusive.is_empty())
        .collect();
    if !doubtful.is_empty() {
        md.push_str("\n**Inconclusive** (cannot be judged: rerun them)\n\n");
        for r in doubtful {
            md.push_str(&format!(
                "- {}: {}\n",
                md_escape(&r.case),
                md_escape(&r.time.inconclusive.join("; "))
            ));
        }
    }
    if !c.unmatched.is_empty() {
        md.push_str("\n**Not compared**\n\n");
        for u in &c.unmatched {
            md.push_str(&format!(
                "- {}: {}\n",
                md_escape(&u.case),
                md_escape(&u.why)
            ));
        }
    }
    if !c.environment.is_empty() {
        md.push_str("\n**Environment changes**\n\n");
        for e in &c.environment {
            md.push_str(&format!(
                "- {}: {} → {}\n",
                md_escape(&e.what),
                md_escape(&e.baseline),
                md_escape(&e.candidate)
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::{Rng, SeedableRng};

    /// Deterministic noise: `n` samples around `center` with ±`spread`.
    fn noisy(center: f64, spread: f64, n: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                center
                    * (1.0 + spread * (f64::from(rng.next_u32()) / f64::from(u32::MAX) - 0.5) * 2.0)
            })
            .collect()
    }

    #[test]
    fn huge_sample_sets_are_thinned_evenly_and_still_judged() {
        let few = vec![1.0; 10];
        assert!(matches!(thinned(&few), std::borrow::Cow::Borrowed(_)));
        let many: Vec<f64> = (0..1_000_000).map(f64::from).collect();
        let t = thinned(&many);
        assert!(t.len() <= MAX_COMPARED_SAMPLES && t.len() > MAX_COMPARED_SAMPLES / 2);
        // It spans the whole run, not its start.
        assert!(t[t.len() - 1] > 990_000.0);
        let base = noisy(0.050, 0.02, 1_000_000, 1);
        let slower: Vec<f64> = noisy(0.050, 0.02, 1_000_000, 2)
            .iter()
            .map(|x| x * 1.10)
            .collect();
        let change = time_change(&base, &slower, &Thresholds::default());
        assert_eq!(change.verdict, Verdict::Regression, "{change:?}");
    }

    #[test]
    fn ten_percent_slower_is_a_regression_and_two_percent_is_not() {
        let t = Thresholds::default();
        let base = noisy(0.050, 0.02, 30, 1);
        let slower: Vec<f64> = noisy(0.050, 0.02, 30, 2).iter().map(|x| x * 1.10).collect();
        let change = time_change(&base, &slower, &t);
        assert_eq!(change.verdict, Verdict::Regression, "{change:?}");
        assert!(change.ratio_ci95[0] > 1.05 && change.ratio_ci95[1] < 1.15);
        let slightly: Vec<f64> = noisy(0.050, 0.02, 30, 2).iter().map(|x| x * 1.02).collect();
        assert_eq!(
            time_change(&base, &slightly, &t).verdict,
            Verdict::Unchanged
        );
        let faster: Vec<f64> = noisy(0.050, 0.02, 30, 2).iter().map(|x| x * 0.85).collect();
        assert_eq!(
            time_change(&base, &faster, &t).verdict,
            Verdict::Improvement
        );
    }

    #[test]
    fn the_absolute_floor_and_few_samples_prevent_false_alarms() {
        let t = Thresholds::default();
        // 20% slower but only 0.1 ms: under the 1 ms floor.
        let base = noisy(0.000_5, 0.01, 30, 3);
        let slower: Vec<f64> = noisy(0.000_5, 0.01, 30, 4)
            .iter()
            .map(|x| x * 1.2)
            .collect();
        assert_eq!(time_change(&base, &slower, &t).verdict, Verdict::Unchanged);
        // Three samples a side cannot be significant at 5%: not judged.
        let change = time_change(&[0.1, 0.1, 0.1], &[0.2, 0.2, 0.2], &t);
        assert!((change.p_value - 0.1).abs() < 1e-12);
        assert_eq!(change.verdict, Verdict::Inconclusive);
    }

    #[test]
    fn too_few_samples_for_alpha_are_inconclusive_not_unchanged() {
        assert!((smallest_p(3, 3) - 0.1).abs() < 1e-12);
        assert_eq!(smallest_p(1, 1), 1.0);
        // One candidate sample against 23: at best p = 2/24 = 0.083.
        assert!((smallest_p(23, 1) - 2.0 / 24.0).abs() < 1e-12);
        assert!(smallest_p(10, 10) < 1e-4);
        let t = Thresholds::default();
        let base = noisy(0.010, 0.02, 23, 5);
        // 552x slower, one sample: cannot be significant at 5%.
        let change = time_change(&base, &[5.52], &t);
        assert_eq!(change.verdict, Verdict::Inconclusive, "{change:?}");
        assert!((change.p_value - 2.0 / 24.0).abs() < 1e-9);
        assert!(
            change.inconclusive[0].starts_with("too few samples (23 and 1)"),
            "{:?}",
            change.inconclusive
        );
        // Five a side can reach 5%: judged as before.
        let change = time_change(&noisy(0.1, 0.01, 5, 1), &noisy(0.2, 0.01, 5, 2), &t);
        assert_eq!(change.verdict, Verdict::Regression);
        assert!(change.inconclusive.is_empty());
    }

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

    #[test]
    fn memory_needs_both_the_relative_and_absolute_threshold() {
        let t = Thresholds::default();
        let mib = 1u64 << 20;
        assert_eq!(
            memory_change(100 * mib, 120 * mib, &t).verdict,
            Verdict::Regression
        );
        // +10% of 100 MiB is 10 MiB: under the 16 MiB floor.
        assert_eq!(
            memory_change(100 * mib, 110 * mib, &t).verdict,
            Verdict::Unchanged
        );
        // +3% of 1 GiB is 30 MiB: under 5%.
        assert_eq!(
            memory_change(1024 * mib, 1055 * mib, &t).verdict,
            Verdict::Unchanged
        );
        assert_eq!(
            memory_change(200 * mib, 100 * mib, &t).verdict,
            Verdict::Improvement
        );
    }
}
