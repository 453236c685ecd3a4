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

/// The sweep's first case in a comparison's or a study's `cases`, by its id.
fn first_case(json: &Value) -> &Value {
    let id = sweep()["cases"][0]["id"].clone();
    json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["case"] == id)
        .unwrap()
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
    // These cases take 0.5 to 12 ms: no floor hides them (1 us guards the timer).
    let no_floor: [&str; 0] = [];

    let (code, json) = json_compare(&base, &slower, &no_floor);
    assert_eq!(code, Some(1));
    let cases = json["cases"].as_array().unwrap().len();
    assert_eq!(cases, 28);
    // 17 of 28: the others' intervals (12 samples, up to ±9%) reach below
    // 1.05, so they straddle the band and stay inconclusive.
    assert!(
        json["regressions"].as_u64().unwrap() >= 15,
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

    // Each case says which rule decided and against what band.
    for c in json["cases"].as_array().unwrap() {
        let t = &c["time"];
        assert_eq!(t["band"], serde_json::json!([1.0 / 1.05, 1.05]), "{c}");
        if t["verdict"] == "regression" {
            assert_eq!(t["rule"], "interval", "{c}");
            assert!(t["ratio_ci95"][0].as_f64().unwrap() > 1.05, "{c}");
        }
    }
    // Sub-millisecond cases count too (the old 1 ms floor hid them).
    assert!(json["cases"].as_array().unwrap().iter().any(|c| {
        c["time"]["verdict"] == "regression"
            && c["time"]["baseline_median_s"].as_f64().unwrap() < 1e-3
    }));

    // +2%: nothing regresses; every case is judged unchanged, by its interval
    // or because the rank test finds no difference.
    let (code, json) = json_compare(&base, &slightly, &no_floor);
    assert_eq!(json["regressions"], 0, "+2% flagged: {json}");
    assert!(matches!(code, Some(0 | 3)));
    for c in json["cases"].as_array().unwrap() {
        let t = &c["time"];
        if t["verdict"] == "inconclusive" {
            let why = t["inconclusive"][0].as_str().unwrap();
            assert!(why.contains("straddles the band"), "{c}");
        }
    }

    // 15% faster: improvements, and the widest intervals straddle the band.
    let (code, json) = json_compare(&base, &faster, &no_floor);
    assert!(matches!(code, Some(0 | 3)), "{json}");
    assert_eq!(json["regressions"], 0);
    assert!(
        json["improvements"].as_u64().unwrap() >= 15,
        "{}",
        json["improvements"]
    );
    // The terminal table and Markdown say the same.
    // On an 80-column terminal: the deciding columns, every line within 80.
    let narrow = ditbench()
        .env("COLUMNS", "80")
        .args(["compare", base.to_str().unwrap(), slower.to_str().unwrap()])
        .output()
        .unwrap();
    let narrow = String::from_utf8(narrow.stdout).unwrap();
    // The borderless table's lines start with a space; the notes under it
    // are sentences.
    let rows: Vec<&str> = narrow.lines().filter(|l| l.starts_with(' ')).collect();
    assert!(rows.len() > 28, "{narrow}");
    assert!(rows.iter().all(|l| l.chars().count() <= 80), "{narrow}");
    assert!(
        rows[0].contains("rule") && !rows[0].contains("95% CI"),
        "{narrow}"
    );
    let (code, table, _) = compare(&[base.to_str().unwrap(), slower.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(table.contains("95% CI"), "{table}");
    assert!(table.contains("regression(s)") && table.contains("every backend regressed"));
    assert!(table.contains("no history was given"), "{table}");
    let (_, md, _) = compare(&[
        base.to_str().unwrap(),
        slower.to_str().unwrap(),
        "--format",
        "md",
    ]);
    assert!(
        md.contains("regression(s)**") && md.contains("| band | time | rule |"),
        "{md}"
    );
    assert!(
        md.contains("| 0.952–1.050 | **regression** | interval |"),
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
    let case = first_case(&json);
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

    // A contended baseline looks like a speed-up of every case: the machine's,
    // so none is called an improvement.
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
    let (code, json) = json_compare(&busy, &base, &[]);
    assert_eq!(code, Some(3));
    assert_eq!(json["improvements"], 0);
    assert_eq!(json["inconclusive"], 28);
    assert_eq!(json["cases"][0]["time"]["rule"], "contended");
    assert!(
        json["cases"][0]["time"]["inconclusive"][0]
            .as_str()
            .unwrap()
            .contains("but the baseline was contended"),
        "{json}"
    );
    // The other way round, each slowdown of a contended candidate is
    // inconclusive too, not a regression.
    let (code, json) = json_compare(&base, &busy, &[]);
    assert_eq!((code, &json["regressions"]), (Some(3), &0.into()));
    assert_eq!(json["cases"][0]["candidate_contended"], true);
    // A busy machine moves memory peaks too: not judged either.
    assert_eq!(json["cases"][0]["memory"]["verdict"], "inconclusive");
}

#[test]
fn a_real_run_compared_with_itself_passes() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("results/examples/cpu-2core-vm-default.json");
    let (code, json) = json_compare(&path, &path, &[]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json["cases"].as_array().unwrap().len(), 40);
    assert_eq!(json["inconclusive"], 0);
}

/// The sweep as run `index` of a history: its own start time, and the
/// first case's samples moved by `level` (run-to-run noise).
fn nightly(index: usize, level: f64) -> Value {
    let mut json = sweep();
    json["started_at"] = format!("2026-11-{:02}T02:00:00Z", index + 1).into();
    let c = &mut json["cases"][0];
    for s in c["samples_s"].as_array_mut().unwrap() {
        *s = (s.as_f64().unwrap() * level).into();
    }
    let m = c["stats"]["median_s"].as_f64().unwrap();
    c["stats"]["median_s"] = (m * level).into();
    json
}

#[test]
fn history_widens_a_noisy_case_s_band_and_leaves_out_the_candidate() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history");
    std::fs::create_dir(&history).unwrap();
    // Six earlier nights: the first case moves by up to 25% from night to night.
    for (i, level) in [1.0, 1.25, 0.9, 1.15, 0.95, 1.2].into_iter().enumerate() {
        write(&history, &format!("night-{i}.json"), &nightly(i, level));
    }
    let base = write(dir.path(), "base.json", &nightly(10, 1.0));
    // Tonight: that case 15% slower, as on a noisy night, and every other case 10%.
    let tonight = scaled(nightly(11, 1.15 / 1.10), 1.10);
    let tonight_path = write(dir.path(), "tonight.json", &tonight);
    // The nightly job files tonight into the history before it compares.
    write(&history, "tonight.json", &tonight);
    let (without_code, without) = json_compare(&base, &tonight_path, &[]);
    let (code, with) = json_compare(
        &base,
        &tonight_path,
        &["--history", history.to_str().unwrap()],
    );
    assert_eq!((without_code, code), (Some(1), Some(1)));
    assert_eq!(
        with["history"]["runs"], 6,
        "tonight left out: {}",
        with["history"]
    );
    assert_eq!(with["history"]["cases_with_band"], 28);
    let first = &first_case(&with)["time"];
    assert_eq!(first["rule"], "history_band", "{first}");
    assert_eq!(first["run_noise"]["runs"], 6);
    assert!(first["band"][1].as_f64().unwrap() > 1.3, "{first}");
    assert_eq!(first["verdict"], "unchanged", "{first}");
    assert_eq!(first_case(&without)["time"]["verdict"], "regression");
    // The steady cases keep the 5% band and still regress at +10%.
    assert_eq!(
        with["regressions"],
        without["regressions"].as_u64().unwrap() - 1
    );
    let (_, md, _) = compare(&[
        base.to_str().unwrap(),
        tonight_path.to_str().unwrap(),
        "--history",
        history.to_str().unwrap(),
        "--format",
        "md",
    ]);
    assert!(md.contains("for 28 of 28 cases"), "{md}");
    assert!(md.contains("| history band |"), "{md}");
}

#[test]
fn the_gate_study_counts_false_alarms_and_found_slowdowns() {
    let dir = tempfile::tempdir().unwrap();
    for (i, level) in [1.0, 1.25, 0.9, 1.15, 0.95, 1.2].into_iter().enumerate() {
        write(dir.path(), &format!("run-{i}.json"), &nightly(i, level));
    }
    let out = ditbench()
        .args([
            "gate-study",
            dir.path().to_str().unwrap(),
            "--format",
            "json",
            "--factors",
            "1.1,2",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let with = &json["with_history"];
    assert_eq!((&with["runs"], &with["pairs"]), (&6.into(), &30.into()));
    // The A/A pairs (factor 1, added) of a steady copy fail no night.
    assert_eq!(with["factors"][0]["factor"], 1.0);
    assert_eq!(
        with["factors"][0]["pairs_failed"], 0,
        "{}",
        with["factors"][0]
    );
    assert!(
        json["without_history"]["factors"][0]["pairs_failed"]
            .as_u64()
            .unwrap()
            > 0
    );
    // 2x is found in every pair in each of the 27 steady cases; the first
    // case moves by up to 1.39x between nights, and its band says so.
    assert!(with["factors"][2]["regressions"].as_u64().unwrap() >= 30 * 27);
    let wobbly = first_case(with);
    assert!(
        wobbly["widest_a_a_ratio"].as_f64().unwrap() > 1.38,
        "{wobbly}"
    );
    assert!(wobbly["band_up"].as_f64().unwrap() > 1.38, "{wobbly}");
    let md = ditbench()
        .args(["gate-study", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    let md = String::from_utf8(md.stdout).unwrap();
    assert!(
        md.contains("## With history: cases") && md.contains("smallest found"),
        "{md}"
    );
    // One run is no study.
    let one = ditbench()
        .args([
            "gate-study",
            dir.path().join("run-0.json").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(one.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&one.stderr).contains("two or more runs"));
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
        (vec![b, b, "--history-min-runs", "1"], "--history-min-runs"),
        (
            vec![b, b, "--history", "/nonexistent"],
            "history: cannot read",
        ),
    ] {
        let (code, _, stderr) = compare(&args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}
