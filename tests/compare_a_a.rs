//! A/A: two real runs of the same build, compared, show no regression.
//!
//! Alone in its test binary on purpose: cargo runs the tests of one binary
//! in parallel threads, and a neighbouring test's processes on this 2-core
//! machine slowed one run by up to 1.9x, which the gate rightly flagged as a
//! real slowdown. Test binaries run one after another, so here the two runs
//! have the machine to themselves, as a nightly benchmark would.

mod common;

use std::path::Path;

use common::{ditbench, result_files};
use serde_json::Value;

fn json_compare(base: &Path, cand: &Path) -> (Option<i32>, Value) {
    let out = ditbench()
        .arg("compare")
        .args([base, cand])
        .args(["--format", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{stderr}");
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap(),
    )
}

#[test]
fn two_real_runs_of_the_same_build_do_not_regress() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for side in ["a", "b"] {
        let out_dir = dir.path().join(side);
        let status = ditbench()
            .args([
                "run",
                "--presets",
                "wan-tiny,llama-tiny",
                "--backends",
                "candle",
                "--budget",
                "0.5",
                "--min-time",
                "0.2",
                "--min-iters",
                "10",
                "--no-parity",
                "--out",
            ])
            .arg(&out_dir)
            .output()
            .unwrap();
        assert!(status.status.success(), "{status:?}");
        files.push(result_files(&out_dir).remove(0));
    }
    let (code, json) = json_compare(&files[0], &files[1]);
    assert_eq!(code, Some(0), "A/A comparison flagged a regression: {json}");
    assert_eq!(json["cases"].as_array().unwrap().len(), 4);
    assert!(json["unmatched"].as_array().unwrap().is_empty());
}
