//! `ditbench reference-check`: each backend beside its framework's own model
//! code, at tiny sizes (parity is the point here; speed is for the script).

mod common;

use std::path::Path;
use std::process::Command as Process;

use common::{ditbench, fails_with, files_in};
use serde_json::Value;

/// Quick: one warm-up round, two timed ones, one thread.
const QUICK: [&str; 8] = [
    "--budget",
    "0",
    "--min-rounds",
    "2",
    "--warmup-rounds",
    "1",
    "--threads",
    "1",
];

fn check(out: &Path, backends: &str) -> (Value, String) {
    let assert = ditbench()
        .args([
            "reference-check",
            "-p",
            "llama-tiny,wan-tiny",
            "-b",
            backends,
        ])
        .args(QUICK)
        .args(["--python", "/nonexistent/python", "-o"])
        .arg(out)
        .assert()
        .success();
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    let json = files_in(out)
        .into_iter()
        .rfind(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a JSON file");
    (
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap(),
        stdout,
    )
}

fn pairs<'a>(json: &'a Value, backend: &str) -> Vec<&'a Value> {
    json["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["backend"] == backend)
        .collect()
}

#[test]
fn candle_and_burn_compute_what_their_frameworks_own_code_does() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rc");
    let (json, stdout) = check(&out, "candle,burn-flex,burn-ndarray");
    for backend in ["burn-flex", "burn-ndarray"] {
        let measured = pairs(&json, backend);
        // wan-tiny forward and train, llama-tiny forward, train and decode.
        assert_eq!(measured.len(), 5, "{backend}");
        for p in measured {
            assert_eq!(p["status"], "measured", "{p}");
        }
    }
    let candle = pairs(&json, "candle");
    let measured: Vec<_> = candle
        .iter()
        .filter(|p| p["status"] == "measured")
        .collect();
    if cfg!(feature = "reference") {
        // candle-transformers has a Llama (prefill, decode), no Wan and no training step.
        assert_eq!(measured.len(), 2, "{candle:?}");
        assert!(
            measured
                .iter()
                .all(|p| p["workload"] == "llama-tiny" && p["pass"] != "train")
        );
    }
    for p in candle.iter().filter(|p| p["status"] == "skipped") {
        assert!(!p["reason"].as_str().unwrap().is_empty(), "{p}");
    }
    for p in json["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["status"] == "measured")
    {
        assert_eq!(p["parity"]["status"], "pass", "{p}");
        assert!(
            p["parity"]["output_rel_error"].as_f64().unwrap() <= 1e-5,
            "{p}"
        );
        let (ours, theirs) = (
            p["ours_samples_s"].as_array().unwrap(),
            p["theirs_samples_s"].as_array().unwrap(),
        );
        assert_eq!((ours.len(), theirs.len()), (2, 2), "{p}");
        let ratio = p["ratio"].as_f64().unwrap();
        let ci = p["ratio_ci95"].as_array().unwrap();
        let expected =
            p["ours"]["median_s"].as_f64().unwrap() / p["theirs"]["median_s"].as_f64().unwrap();
        assert!((ratio - expected).abs() <= 1e-12 * expected, "{p}");
        assert!(
            ci[0].as_f64().unwrap() <= ratio && ratio <= ci[1].as_f64().unwrap(),
            "{p}"
        );
        if p["pass"] == "train" {
            assert!(
                p["parity"]["loss_rel_diff"].as_f64().unwrap() <= 1e-5,
                "{p}"
            );
            assert!(
                p["parity"]["grad_norm_rel_diff"].as_f64().unwrap() <= 1e-5,
                "{p}"
            );
        }
    }
    assert!(
        stdout.contains("| model | pass | shape | backend | their code |"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            &json["environment"]["cpu_model"]
                .as_str()
                .unwrap()
                .replace('|', "\\|")
        )
    );

    // A second check is a second pair of files; the first stays as it was.
    let first: Vec<_> = files_in(&out).into_iter().filter(|p| p.is_file()).collect();
    let before: Vec<Vec<u8>> = first.iter().map(|p| std::fs::read(p).unwrap()).collect();
    check(&out, "burn-flex");
    let after: Vec<_> = files_in(&out).into_iter().filter(|p| p.is_file()).collect();
    assert_eq!(after.len(), first.len() + 2, "{after:?}");
    for (path, bytes) in first.iter().zip(before) {
        assert_eq!(
            std::fs::read(path).unwrap(),
            bytes,
            "{} changed",
            path.display()
        );
    }
}

#[cfg(feature = "tch")]
#[test]
fn libtorch_pairs_without_their_python_packages_say_how_to_add_them() {
    let dir = tempfile::tempdir().unwrap();
    let (json, stdout) = check(&dir.path().join("rc"), "tch");
    let tch = pairs(&json, "tch");
    // Llama: eager and SDPA on three passes; Wan: forward and train.
    assert_eq!(tch.len(), 8, "{tch:?}");
    for p in tch {
        assert_eq!(p["status"], "skipped", "{p}");
        assert!(
            p["reason"]
                .as_str()
                .unwrap()
                .contains("cannot run /nonexistent/python"),
            "{p}"
        );
    }
    assert!(stdout.contains("Not run:"), "{stdout}");
}

#[test]
fn a_bad_budget_or_preset_is_refused_before_anything_runs() {
    for budget in [
        "--budget=-1",
        "--budget=nan",
        "--budget=inf",
        "--budget=1e300",
    ] {
        fails_with(
            &["reference-check", "-p", "llama-tiny", budget],
            "--budget must be a finite number of seconds, 0 or more",
        );
    }
    fails_with(
        &["reference-check", "-p", "llama-tiny", "--min-rounds", "0"],
        "--min-rounds must be at least 1",
    );
    fails_with(&["reference-check", "-p", "no-such-model"], "no-such-model");
}

/// The Python reference's map from ditbench's (Wan2.1's) parameter names
/// to diffusers' WanTransformer3DModel's, against diffusers' own names for
/// wan-tiny (kept in tests/fixtures; checked against diffusers itself where
/// .venv has it). Needs .venv's Python (scripts/setup-libtorch.sh).
#[test]
fn every_wan_parameter_maps_onto_one_diffusers_parameter() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python");
    if !python.is_file() {
        eprintln!("skipped: no .venv/bin/python (scripts/setup-libtorch.sh makes it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    ditbench()
        .args(["data", "-p", "wan-tiny", "-o"])
        .arg(dir.path())
        .assert()
        .success();
    let weights = files_in(dir.path())
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(".weights.safetensors"))
        .unwrap();
    let output = Process::new(&python)
        .arg(root.join("scripts/reference/check_wan_names.py"))
        .arg(&weights)
        .arg(root.join("tests/fixtures/diffusers-wan-tiny-parameters.txt"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains("wan-tiny: 69 parameters map onto 69 diffusers parameters"),
        "{text}"
    );
}
