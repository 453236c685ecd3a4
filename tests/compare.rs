//! `ditbench compare`: the regression gate, on real runs (A/A) and on
//! committed results with samples shifted in the test.

mod common;

use std::path::{Path, PathBuf};

use common::ditbench;
use serde_json::Value;

/// A real sweep on a 2-core VM: 28 cases of 12 samples each.
fn sweep() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cpu-vm-sweep.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every sample (and median) of every case times `factor`.
fn scaled(mut json: Value, factor: f64) -> Value {
    for c in json["cases"].as_array_mut().unwrap() {
        for s in c["samples_s"].as_array_mut().unwrap() {
            *s = (s.as_f64().unwrap() * factor).into();
        }
        let m = c["stats"]["median_s"].as_f64().unwrap();
        c["stats"]["median_s"] = (m * factor).into();
    }
    json
}

fn write(dir: &Path, name: &str, json: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, json.to_string()).unwrap();
    path
}

fn compare(args: &[&str]) -> (Option<i32>, String, String) {
    let out = ditbench().arg("compare").args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn json_compare(base: &Path, cand: &Path, extra: &[&str]) -> (Option<i32>, Value) {
    let mut args = vec![
        base.to_str().unwrap(),
        cand.to_str().unwrap(),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = compare(&args);
    assert!(matches!(code, Some(0 | 1 | 3)), "{stderr}");
    (code, serde_json::from_str(&stdout).unwrap())
}

#[test]
fn ten_percent_slower_is_flagged_and_two_percent_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let base = write(dir.path(), "base.json", &sweep());
    let slower = write(dir.path(), "slower.json", &scaled(sweep(), 1.10));
    let slightly = write(dir.path(), "slightly.json", &scaled(sweep(), 1.02));
    let faster = write(dir.path(), "faster.json", &scaled(sweep(), 0.85));
    // These cases take 0.5 to 12 ms: drop the 1 ms floor to see the statistics.
    let no_floor = ["--time-floor-ms", "0"];

    let (code, json) = json_compare(&base, &slower, &no_floor);
    assert_eq!(code, Some(1));
    let cases = json["cases"].as_array().unwrap().len();
    assert_eq!(cases, 28);
    assert!(
        json["regressions"].as_u64().unwrap() >= 20,
        "{}",
        json["regressions"]
    );
    assert!(
        json["diagnosis"]
            .as_str()
            .unwrap()
            .starts_with("every backend regressed"),
        "{}",
        json["diagnosis"]
    );

    // Four of the sweep's cases have a CI wider than ±5% (12 samples at most):
    // they cannot be judged, so the gate asks for a rerun (exit 3), not a pass.
    let (code, json) = json_compare(&base, &slightly, &no_floor);
    assert_eq!(code, Some(3), "+2% flagged: {json}");
    assert_eq!(json["regressions"], 0);
    assert_eq!(json["inconclusive"], 4);
    for c in json["cases"].as_array().unwrap() {
        if c["time"]["verdict"] == "inconclusive" {
            assert!(
                c["time"]["inconclusive"][0]
                    .as_str()
                    .unwrap()
                    .contains("wider than 5x --target-ci"),
                "{c}"
            );
        }
    }

    let (code, json) = json_compare(&base, &faster, &no_floor);
    assert_eq!(code, Some(3));
    assert!(json["improvements"].as_u64().unwrap() >= 20);

    // With the default 1 ms floor, only cases slower by more than 1 ms count.
    let (_, json) = json_compare(&base, &slower, &[]);
    for c in json["cases"].as_array().unwrap() {
        let t = &c["time"];
        if t["verdict"] == "regression" {
            let delta = t["candidate_median_s"].as_f64().unwrap()
                - t["baseline_median_s"].as_f64().unwrap();
            assert!(delta > 1e-3, "{c}");
        }
    }
    // The terminal table and Markdown say the same.
    let (code, table, _) = compare(&[
        base.to_str().unwrap(),
        slower.to_str().unwrap(),
        "--time-floor-ms",
        "0",
    ]);
    assert_eq!(code, Some(1));
    assert!(table.contains("regression(s)") && table.contains("every backend regressed"));
    let (_, md, _) = compare(&[
        base.to_str().unwrap(),
        slower.to_str().unwrap(),
        "--time-floor-ms",
        "0",
        "--format",
        "md",
    ]);
    assert!(
        md.contains("regression(s)**") && md.contains("| case |"),
        "{md}"
    );
}

#[test]
fn only_one_backend_slower_points_at_that_framework() {
    let dir = tempfile::tempdir().unwrap();
    let base = write(dir.path(), "base.json", &sweep());
    let mut json = sweep();
    for c in json["cases"].as_array_mut().unwrap() {
        if c["backend"] == "candle" {
            for s in c["samples_s"].as_array_mut().unwrap() {
                *s = (s.as_f64().unwrap() * 1.3).into();
            }
        }
    }
    for f in json["environment"]["frameworks"].as_array_mut().unwrap() {
        if f["backend"] == "candle" {
            f["version"] = "candle-core 9.9.9".into();
            // A build with other speed features shows in the diff too.
            f["build_features"] = serde_json::json!(["cpu matmul: gemm crate, one thread"]);
        }
    }
    let cand = write(dir.path(), "cand.json", &json);
    let (code, table, _) = compare(&[
        base.to_str().unwrap(),
        cand.to_str().unwrap(),
        "--time-floor-ms",
        "0",
    ]);
    assert_eq!(code, Some(1));
    assert!(table.contains("only candle"), "{table}");
    assert!(table.contains("environment changes:"), "{table}");
    assert!(table.contains("candle-core 9.9.9"), "{table}");
    assert!(
        table.contains("candle build") && table.contains("gemm crate, one thread"),
        "{table}"
    );
}

#[test]
fn cases_on_one_side_only_are_listed_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let base = write(dir.path(), "base.json", &sweep());
    let mut json = sweep();
    let cases = json["cases"].as_array_mut().unwrap();
    let removed = cases.remove(0);
    cases[0]["status"] = "failed".into();
    cases[0]["error"] = "worker crashed".into();
    let cand = write(dir.path(), "cand.json", &json);
    let (code, json) = json_compare(&base, &cand, &[]);
    assert_ne!(code, Some(1));
    let unmatched = json["unmatched"].as_array().unwrap();
    assert_eq!(unmatched.len(), 2, "{unmatched:?}");
    assert!(unmatched.iter().any(|u| {
        u["why"] == "only in the baseline"
            && u["case"]
                .as_str()
                .unwrap()
                .starts_with(removed["workload"]["label"].as_str().unwrap())
    }));
    assert!(
        unmatched
            .iter()
            .any(|u| u["why"].as_str().unwrap().contains("worker crashed"))
    );
    assert_eq!(json["cases"].as_array().unwrap().len(), 26);
}

/// The sweep's first case made a one-sample measurement `factor` times
/// slower, as a busy machine gives (the budget runs out after one iteration).
fn one_sample(factor: f64) -> Value {
    let mut json = sweep();
    let c = &mut json["cases"][0];
    let m = c["stats"]["median_s"].as_f64().unwrap() * factor;
    c["samples_s"] = serde_json::json!([m]);
    c["stats"]["n"] = 1.into();
    c["stats"]["median_s"] = m.into();
    c["stats"]["ci95_median_s"] = serde_json::json!([m, m]);
    c["stop_reason"] = "budget".into();
    json
}

#[test]
fn one_sample_or_a_contended_side_is_inconclusive_not_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let base = write(dir.path(), "base.json", &sweep());
    let slow = write(dir.path(), "slow.json", &one_sample(552.0));
    let (code, json) = json_compare(&base, &slow, &[]);
    assert_eq!(code, Some(3), "{json}");
    let first = sweep()["cases"][0]["id"].as_str().unwrap().to_string();
    let case = json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["case"] == first.as_str())
        .unwrap()
        .clone();
    assert_eq!(case["time"]["verdict"], "inconclusive");
    let why: Vec<&str> = case["time"]["inconclusive"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    // 12 against 1 sample: at best p = 2/13 = 0.154.
    assert!(
        why[0].starts_with("too few samples (12 and 1): the smallest p they can give is 0.154"),
        "{why:?}"
    );
    assert!(
        why.iter()
            .any(|w| w.starts_with("candidate low confidence: 1 sample, fewer than --min-iters 3")),
        "{why:?}"
    );
    // The table lists it and says what exit 3 means.
    let (code, table, _) = compare(&[base.to_str().unwrap(), slow.to_str().unwrap()]);
    assert_eq!(code, Some(3));
    assert!(
        table.contains(&format!("inconclusive: {first} (too few samples")),
        "{table}"
    );
    assert!(table.contains("(exit 3: rerun)"), "{table}");
    let (_, md, _) = compare(&[
        base.to_str().unwrap(),
        slow.to_str().unwrap(),
        "--format",
        "md",
    ]);
    assert!(
        md.contains("**Inconclusive: rerun.**")
            && md.contains("**Inconclusive** (cannot be judged"),
        "{md}"
    );

    // A contended baseline: its cases are not judged whatever the data.
    let mut busy = scaled(sweep(), 1.5);
    for c in busy["cases"].as_array_mut().unwrap() {
        // A busy machine moves memory peaks too: not judged either.
        let peak = c["memory"]["peak_rss_bytes"].as_u64().unwrap();
        c["memory"]["peak_rss_bytes"] = (peak + (64 << 20)).into();
        c["interference"] = serde_json::json!({
            "cpu": null,
            "contended": true,
            "reasons": ["others took 1.90 of the 2 CPU(s) asked for (95%; other processes 1.90, steal 0.00)"],
            "unavailable": []
        });
    }
    let busy = write(dir.path(), "busy.json", &busy);
    let (code, json) = json_compare(&busy, &base, &["--time-floor-ms", "0"]);
    assert_eq!(code, Some(3));
    assert_eq!(json["improvements"], 0);
    assert_eq!(json["inconclusive"], 28);
    assert_eq!(json["cases"][0]["baseline_contended"], true);
    assert_eq!(json["cases"][0]["memory"]["verdict"], "inconclusive");
}

#[test]
fn unusable_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let base = write(dir.path(), "base.json", &sweep());
    let mut other_schema = sweep();
    other_schema["schema_version"] = 999.into();
    let other_schema = write(dir.path(), "v999.json", &other_schema);
    let mut disjoint = sweep();
    for c in disjoint["cases"].as_array_mut().unwrap() {
        c["backend"] = "elsewhere".into();
    }
    let disjoint = write(dir.path(), "disjoint.json", &disjoint);
    let truncated = dir.path().join("truncated.json");
    let text = std::fs::read_to_string(&base).unwrap();
    std::fs::write(&truncated, &text[..text.len() / 2]).unwrap();
    let foreign = dir.path().join("foreign.json");
    std::fs::write(&foreign, "[1, 2, 3]").unwrap();
    let b = base.to_str().unwrap();
    for (args, message) in [
        (vec![b, other_schema.to_str().unwrap()], "schema"),
        (vec![truncated.to_str().unwrap(), b], "not valid JSON"),
        (
            vec![b, foreign.to_str().unwrap()],
            "not a ditbench results file",
        ),
        (vec![b, "/nonexistent.json"], "candidate: cannot read"),
        (
            vec![b, disjoint.to_str().unwrap()],
            "no measured case in common",
        ),
        (vec![b, b, "--time-threshold=-1"], "--time-threshold"),
        (vec![b, b, "--alpha", "1.5"], "--alpha"),
    ] {
        let (code, _, stderr) = compare(&args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}
