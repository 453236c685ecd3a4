//! `run --shard K/N`: one run's planned cases split over N jobs, and the
//! check that a set of shard files is whole.
//!
//! The partition works on *units*, not cases: every case whose figures
//! depend on another case runs in that case's shard, on the same machine,
//! so no figure mixes two machines' measurements and nothing needs to be
//! recomputed when the files are merged:
//! - every backend of a workload, dtype and pass (the parity reference and
//!   the backends it checks; the "vs reference" speed-ups);
//! - every depth of a model (`--layers`, the rest case): the extrapolation;
//! - for an LLM, its prefills and decode steps at every `--seq-len`: one
//!   request is a prefill plus a decode fit over the contexts.
//!
//! Units leave out the backend and the device, so the partition depends
//! only on the workloads, dtypes and passes asked for: machines with other
//! backends or GPUs put the same unit in the same shard.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use ditbench_core::model::case::{CaseSpec, Pass};
use ditbench_core::model::workload::{Dimension, ModelConfig, workload_label};

/// Shard `index` of `count` (both from 1), as `K/N` on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// The most shards a run may be split into.
pub const MAX_SHARDS: u32 = 10_000;

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("expected K/N (shard K of N, e.g. 2/4), got '{s}'"))?;
        let number = |t: &str, what: &str| {
            t.trim().parse::<u32>().map_err(|_| {
                format!("expected K/N with whole numbers, got '{s}' ({what} '{t}' is not one)")
            })
        };
        let (index, count) = (number(k, "K")?, number(n, "N")?);
        if count == 0 || count > MAX_SHARDS {
            return Err(format!(
                "the shard count N must be 1 to {MAX_SHARDS}, got '{s}'"
            ));
        }
        if index == 0 || index > count {
            return Err(format!(
                "shards count from 1 to N: K must be 1 to {count}, got '{s}'"
            ));
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The unit `case` belongs to (see the module's comment), e.g.
/// `wan-small[frames=5] f32 train` or `llama-tiny f32 forward+decode`.
pub fn unit_of(case: &CaseSpec) -> String {
    let w = &case.workload;
    let llm_request = matches!(w.config, ModelConfig::Llama(_)) && case.pass != Pass::Train;
    let leave_out: &[Dimension] = if llm_request {
        &[Dimension::Layers, Dimension::SeqLen]
    } else {
        &[Dimension::Layers]
    };
    let model = workload_label(&w.preset, &w.overrides, leave_out);
    let pass = if llm_request {
        "forward+decode".to_string()
    } else {
        case.pass.to_string()
    };
    format!("{model} {} {pass}", case.dtype)
}

/// One unit of a partition and the shard it went to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardUnit {
    pub unit: String,
    pub shard: u32,
    /// Its workload-passes: the unit runs this many cases on each backend and device.
    pub weight: usize,
}

/// Every unit of `cases` (in plan order) and its shard of `count`: the
/// heaviest first, each to the least loaded shard (the lowest on a tie),
/// so shards differ by at most one unit's weight.
pub fn partition(cases: &[CaseSpec], count: u32) -> Vec<ShardUnit> {
    let mut units: Vec<(String, Vec<String>)> = Vec::new();
    for case in cases {
        let unit = unit_of(case);
        let pass = format!("{} {} {}", case.workload.label(), case.dtype, case.pass);
        match units.iter_mut().find(|(u, _)| *u == unit) {
            Some((_, passes)) if !passes.contains(&pass) => passes.push(pass),
            Some(_) => {}
            None => units.push((unit, vec![pass])),
        }
    }
    let mut order: Vec<usize> = (0..units.len()).collect();
    // Stable: equal weights keep plan order.
    order.sort_by_key(|&i| std::cmp::Reverse(units[i].1.len()));
    let mut load = vec![0usize; count.max(1) as usize];
    let mut shard_of = vec![0u32; units.len()];
    for i in order {
        let (lightest, _) = load
            .iter()
            .enumerate()
            .min_by_key(|&(k, &l)| (l, k))
            .expect("at least one shard");
        load[lightest] += units[i].1.len();
        shard_of[i] = lightest as u32 + 1;
    }
    units
        .into_iter()
        .zip(shard_of)
        .map(|((unit, passes), shard)| ShardUnit {
            unit,
            shard,
            weight: passes.len(),
        })
        .collect()
}

/// What a shard's results file records of its partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRecord {
    pub index: u32,
    pub count: u32,
    /// `--shard-set`: the launch this shard belongs to (a Slurm array job,
    /// a workflow run); null when none was named.
    #[serde(default)]
    pub set: Option<String>,
    /// The partition's identity: the first 16 hex digits of the SHA-256 of
    /// every unit and its shard. Equal in every shard of one partition.
    pub plan: String,
    /// Every unit of the whole run with its shard, so a merge can say what a missing shard held.
    pub units: Vec<ShardUnit>,
}

impl ShardRecord {
    /// The record is one ditbench could write: shard `index` of `count`
    /// (1 <= index <= count), every unit in one of the `count` shards.
    pub fn check(&self) -> Result<(), String> {
        if self.count == 0 || self.index == 0 || self.index > self.count {
            return Err(format!(
                "settings.shard records shard {} of {}; a shard is 1 to N of N >= 1",
                self.index, self.count
            ));
        }
        match self
            .units
            .iter()
            .find(|u| u.shard == 0 || u.shard > self.count)
        {
            Some(u) => Err(format!(
                "settings.shard puts unit {} in shard {} of {}",
                ditbench_core::util::units::terminal_text(&u.unit),
                u.shard,
                self.count
            )),
            None => Ok(()),
        }
    }

    pub fn shard(&self) -> Shard {
        Shard {
            index: self.index,
            count: self.count,
        }
    }

    /// Units of shard `index`.
    pub fn units_of(&self, index: u32) -> impl Iterator<Item = &ShardUnit> {
        self.units.iter().filter(move |u| u.shard == index)
    }
}

/// The cases of `shard` among `cases`, and the record its file keeps.
pub fn select(
    cases: Vec<CaseSpec>,
    shard: Shard,
    set: Option<String>,
) -> (Vec<CaseSpec>, ShardRecord) {
    let units = partition(&cases, shard.count);
    let mut hash = Sha256::new();
    hash.update(shard.count.to_le_bytes());
    for u in &units {
        hash.update(u.unit.as_bytes());
        hash.update([0]);
        hash.update(u.shard.to_le_bytes());
    }
    let plan: String = hash
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let mine: Vec<&str> = units
        .iter()
        .filter(|u| u.shard == shard.index)
        .map(|u| u.unit.as_str())
        .collect();
    let selected = cases
        .into_iter()
        .filter(|c| mine.contains(&unit_of(c).as_str()))
        .collect();
    let record = ShardRecord {
        index: shard.index,
        count: shard.count,
        set,
        plan,
        units,
    };
    (selected, record)
}

/// The shard files of one partition and launch found among a run's inputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShardSet {
    pub plan: String,
    pub set: Option<String>,
    pub count: u32,
    /// Shards with no file, with the units they held.
    pub missing: BTreeMap<u32, Vec<String>>,
    /// Shards whose file says the run did not finish.
    pub unfinished: Vec<u32>,
}

impl ShardSet {
    pub fn is_whole(&self) -> bool {
        self.missing.is_empty() && self.unfinished.is_empty()
    }

    /// One sentence for a report or a gate: whole, or what is absent.
    pub fn describe(&self) -> String {
        let name = match &self.set {
            Some(s) => format!("shard set {s} (partition {})", self.plan),
            None => format!("shard set of partition {}", self.plan),
        };
        if self.is_whole() {
            return format!("{name}: all {} shards present", self.count);
        }
        let mut parts = Vec::new();
        if !self.missing.is_empty() {
            let list: Vec<String> = self
                .missing
                .iter()
                .map(|(k, units)| {
                    if units.is_empty() {
                        format!("{k} (no cases)")
                    } else {
                        format!("{k} ({})", units.join("; "))
                    }
                })
                .collect();
            parts.push(format!(
                "shard{} {} of {} missing, so {} cases are absent",
                if self.missing.len() == 1 { "" } else { "s" },
                list.join(", "),
                self.count,
                if self.missing.len() == 1 {
                    "its"
                } else {
                    "their"
                }
            ));
        }
        if !self.unfinished.is_empty() {
            let list: Vec<String> = self.unfinished.iter().map(u32::to_string).collect();
            parts.push(format!(
                "shard{} {} did not finish (some cases may be absent)",
                if list.len() == 1 { "" } else { "s" },
                list.join(", ")
            ));
        }
        format!("{name}: {}", parts.join("; "))
    }
}

/// The shard sets among the shard files described by `files` (each file's
/// record and whether its run finished), grouped by partition and launch,
/// in order of first appearance.
pub fn shard_sets<'a>(files: impl IntoIterator<Item = (&'a ShardRecord, bool)>) -> Vec<ShardSet> {
    // Per set: its first record, and each shard found with whether any of
    // its files finished (a shard run again counts once).
    let mut found: Vec<(&ShardRecord, BTreeMap<u32, bool>)> = Vec::new();
    for (record, finished) in files {
        let i = match found
            .iter()
            .position(|(r, _)| r.plan == record.plan && r.set == record.set)
        {
            Some(i) => i,
            None => {
                found.push((record, BTreeMap::new()));
                found.len() - 1
            }
        };
        *found[i].1.entry(record.index).or_default() |= finished;
    }
    found
        .into_iter()
        .map(|(record, shards)| ShardSet {
            plan: record.plan.clone(),
            set: record.set.clone(),
            count: record.count,
            missing: (1..=record.count)
                .filter(|k| !shards.contains_key(k))
                .map(|k| (k, record.units_of(k).map(|u| u.unit.clone()).collect()))
                .collect(),
            unfinished: shards
                .iter()
                .filter(|&(_, &done)| !done)
                .map(|(&k, _)| k)
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ditbench_core::model::attention::TILE_SCORE_BYTES;
    use ditbench_core::model::case::{AttentionChoice, DeviceName, Dtype};
    use ditbench_core::model::workload::expand_workloads;

    fn cases(
        presets: &[&str],
        sweeps: &[(Dimension, Vec<usize>)],
        backends: &[&str],
    ) -> Vec<CaseSpec> {
        let names: Vec<String> = presets.iter().map(|s| s.to_string()).collect();
        let sweeps: BTreeMap<Dimension, Vec<usize>> = sweeps.iter().cloned().collect();
        let mut out = Vec::new();
        for w in expand_workloads(&names, &sweeps).unwrap() {
            for b in backends {
                for pass in [Pass::Forward, Pass::Train, Pass::Decode] {
                    if !pass.applies_to(&w.config) {
                        continue;
                    }
                    out.push(CaseSpec {
                        workload: w.clone(),
                        backend: b.to_string(),
                        device: DeviceName::Cpu,
                        dtype: Dtype::F32,
                        pass,
                        seed: 0,
                        attention: ditbench_core::model::attention::plan(
                            AttentionChoice::Auto,
                            &[],
                            &w.config,
                            TILE_SCORE_BYTES,
                        ),
                    });
                }
            }
        }
        out
    }

    #[test]
    fn shard_arguments_are_checked() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        assert_eq!("1/1".parse::<Shard>().unwrap().to_string(), "1/1");
        for bad in ["0/2", "3/2", "1/0", "a/2", "1/b", "2", "", "-1/2", "1/2/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad} was accepted");
        }
        assert!("0/2".parse::<Shard>().unwrap_err().contains("count from 1"));
        assert!("1/0".parse::<Shard>().unwrap_err().contains("must be 1 to"));
    }

    #[test]
    fn every_case_lands_in_exactly_one_shard_with_its_dependants() {
        let all = cases(
            &["wan-tiny", "llama-tiny"],
            &[
                (Dimension::Layers, vec![0, 1, 2]),
                (Dimension::SeqLen, vec![8, 16]),
            ],
            &["tch", "candle", "burn-flex"],
        );
        for n in 1..=7 {
            let mut seen = vec![0usize; all.len()];
            let mut shard_of_unit: BTreeMap<String, u32> = BTreeMap::new();
            for k in 1..=n {
                let (mine, record) = select(all.clone(), Shard { index: k, count: n }, None);
                for c in &mine {
                    let i = all.iter().position(|a| a == c).unwrap();
                    seen[i] += 1;
                    // A unit's cases all go to one shard.
                    let prior = shard_of_unit.insert(unit_of(c), k);
                    assert!(prior.is_none() || prior == Some(k));
                }
                assert_eq!(record.units, partition(&all, n));
            }
            assert!(seen.iter().all(|&s| s == 1), "n={n}: {seen:?}");
        }
        // Depths, backends, and an LLM's prefills and decodes at every length share a unit.
        let units: Vec<String> = partition(&all, 1).into_iter().map(|u| u.unit).collect();
        assert_eq!(
            units,
            [
                "wan-tiny f32 forward",
                "wan-tiny f32 train",
                "llama-tiny f32 forward+decode",
                "llama-tiny[seq-len=8] f32 train",
                "llama-tiny[seq-len=16] f32 train",
            ]
        );
    }

    #[test]
    fn the_partition_ignores_backends_and_devices_and_balances_weight() {
        let one = cases(&["wan-tiny", "wan-small", "llama-tiny"], &[], &["candle"]);
        let three = cases(
            &["wan-tiny", "wan-small", "llama-tiny"],
            &[],
            &["tch", "candle", "burn-flex"],
        );
        let (_, a) = select(one, Shard { index: 1, count: 2 }, None);
        let (_, b) = select(three, Shard { index: 2, count: 2 }, Some("x".into()));
        assert_eq!(a.plan, b.plan);
        assert_eq!(a.units, b.units);
        let load = |k: u32| a.units_of(k).map(|u| u.weight).sum::<usize>();
        // 6 units: llama-tiny forward+decode weighs 2, the five others 1
        // (two passes of each Wan, llama-tiny train): 7 split as 4 and 3.
        assert_eq!((load(1), load(2)), (4, 3));
        // The heaviest unit is dealt first, to shard 1.
        assert!(
            a.units_of(1)
                .any(|u| u.unit == "llama-tiny f32 forward+decode")
        );
    }

    #[test]
    fn a_set_names_its_missing_and_unfinished_shards() {
        let all = cases(&["wan-tiny", "llama-tiny"], &[], &["candle"]);
        let records: Vec<ShardRecord> = (1..=3)
            .map(|k| select(all.clone(), Shard { index: k, count: 3 }, Some("7".into())).1)
            .collect();
        let whole = shard_sets(records.iter().map(|r| (r, true)));
        assert_eq!(whole.len(), 1);
        assert!(whole[0].is_whole(), "{}", whole[0].describe());
        let partial = shard_sets([(&records[0], true), (&records[2], false)]);
        let text = partial[0].describe();
        assert!(!partial[0].is_whole());
        assert_eq!(partial[0].missing.keys().copied().collect::<Vec<_>>(), [2]);
        assert_eq!(partial[0].unfinished, [3]);
        assert!(
            text.contains("shard 2 (") && text.contains("of 3 missing"),
            "{text}"
        );
        assert!(text.contains("shard 3 did not finish"), "{text}");
        // Another launch of the same partition is another set.
        let mut other = records[1].clone();
        other.set = Some("8".into());
        let two = shard_sets([(&records[0], true), (&other, true)]);
        assert_eq!(two.len(), 2);
    }
}
