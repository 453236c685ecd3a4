//! `run --shard K/N`: bad input, and shards that together run every planned case once.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{QUICK, ditbench, fails_with, result_files};
use serde_json::Value;

#[test]
fn bad_shards_exit_2_and_write_nothing() {
    for (shard, message) in [
        ("0/2", "shards count from 1"),
        ("3/2", "K must be 1 to 2"),
        ("1/0", "the shard count N must be 1 to"),
        ("one/2", "whole numbers"),
        ("2", "expected K/N"),
    ] {
        fails_with(&["run", "-p", "wan-tiny", "--shard", shard], message);
    }
    fails_with(&["run", "-p", "wan-tiny", "--shard-set", "x"], "--shard");
}

fn planned(args: &[&str]) -> Vec<String> {
    let out = ditbench()
        .args(["run", "--plan"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.trim().to_string())
        .collect()
}

fn cases_of(file: &Path) -> (Value, Vec<String>) {
    let json: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    let ids = json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    (json, ids)
}

#[test]
fn shards_run_every_case_once_and_a_resume_must_name_its_own_shard() {
    let suite = [
        "-p",
        "wan-tiny,llama-tiny",
        "-b",
        "candle,tch",
        "--layers",
        "0,1",
    ];
    let all = planned(&suite);
    // Every planned case falls in exactly one of three shards.
    let mut union = Vec::new();
    for k in 1..=3 {
        union.extend(planned(
            &[&suite[..], &["--shard", &format!("{k}/3")]].concat(),
        ));
    }
    union.sort();
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(union, sorted);

    let dir = tempfile::tempdir().unwrap();
    for k in 1..=2 {
        ditbench()
            .args([
                "run",
                "-p",
                "wan-tiny,llama-tiny",
                "-b",
                "candle,tch",
                "--passes",
                "forward",
            ])
            .args(["--shard", &format!("{k}/2"), "--shard-set", "t"])
            .args(QUICK)
            .arg("--out")
            .arg(dir.path())
            .assert()
            .success();
    }
    let files = result_files(dir.path());
    assert_eq!(files.len(), 2);
    let mut ids = BTreeSet::new();
    let mut plans = BTreeSet::new();
    for f in &files {
        let (json, cases) = cases_of(f);
        let shard = &json["settings"]["shard"];
        plans.insert(shard["plan"].as_str().unwrap().to_string());
        assert_eq!(shard["set"], "t");
        for c in cases {
            assert!(ids.insert(c.clone()), "{c} ran twice");
        }
        // A parity reference and what it checks share the shard.
        for c in json["cases"].as_array().unwrap() {
            assert_ne!(c["parity"]["status"], "skipped", "{}", c["id"]);
        }
    }
    assert_eq!(plans.len(), 1, "one partition");
    assert_eq!(ids.len(), 4);

    // The merged report says the set is whole; without shard 2, what is missing.
    let md = ditbench()
        .args(["report", "--format", "md"])
        .arg(dir.path())
        .output()
        .unwrap();
    let md = String::from_utf8(md.stdout).unwrap();
    assert!(
        md.contains("Merged shard set t") && md.contains("all 2 shards present"),
        "{md}"
    );
    let only_first = files
        .iter()
        .find(|f| f.to_string_lossy().contains("shard1of2"))
        .unwrap();
    let md = ditbench()
        .args(["report", "--format", "md"])
        .arg(only_first)
        .output()
        .unwrap();
    let md = String::from_utf8(md.stdout).unwrap();
    assert!(
        md.contains("Incomplete: shard set t") && md.contains("shard 2 ("),
        "{md}"
    );
    let out = ditbench()
        .arg("compare")
        .arg(dir.path())
        .arg(only_first)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("candidate: shard set t") && text.contains("of 2 missing"),
        "{text}"
    );

    // Resuming shard 1's file as shard 2 is refused, with the file untouched.
    let before = std::fs::read(only_first).unwrap();
    let assert = ditbench()
        .args(["run", "--shard", "2/2", "--resume"])
        .arg(only_first)
        .assert()
        .code(2);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("is shard 1/2, not shard 2/2"), "{stderr}");
    assert_eq!(std::fs::read(only_first).unwrap(), before);
    // --resume takes no option but --shard.
    let assert = ditbench()
        .args(["run", "--budget", "3", "--resume"])
        .arg(only_first)
        .assert()
        .code(2);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(
        stderr.contains("no other option but --shard") && stderr.contains("--budget"),
        "{stderr}"
    );
}
