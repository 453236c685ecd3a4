//! A video's other stages end to end: the UMT5 text encoder and the Wan-VAE
//! decoder run in every CPU backend with parity (the decode in f32 and
//! bf16), the pipelines plan their three stages, and bad input is refused.

mod common;

use common::{cpu_frameworks, ditbench, fails_with, result_files, schema};
use serde_json::Value;

/// umt5-tiny and wan-vae-tiny on every compiled CPU backend, f32 and bf16:
/// every case runs (Burn-NdArray skips bf16) and agrees with the reference.
#[test]
fn the_text_encoder_and_the_vae_decode_agree_across_every_cpu_backend() {
    let dir = tempfile::tempdir().unwrap();
    ditbench()
        .args([
            "run",
            "--presets",
            "umt5-tiny,wan-vae-tiny",
            "--dtypes",
            "f32,bf16",
            "--budget",
            "0.3",
            "--min-time",
            "0.05",
            "--min-iters",
            "2",
            "--out",
        ])
        .arg(dir.path())
        .assert()
        .success();
    let file = &result_files(dir.path())[0];
    let json: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let errors: Vec<String> = schema().iter_errors(&json).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let frameworks = cpu_frameworks(&json);
    assert!(frameworks.len() >= 3, "{frameworks:?}");
    let cases = json["cases"].as_array().unwrap();
    for preset in ["umt5-tiny", "wan-vae-tiny"] {
        for backend in &frameworks {
            for dtype in ["f32", "bf16"] {
                let case = cases
                    .iter()
                    .find(|c| {
                        c["workload"]["preset"] == preset
                            && c["backend"] == backend.as_str()
                            && c["dtype"] == dtype
                    })
                    .unwrap_or_else(|| panic!("{preset} {backend} {dtype} planned"));
                let label = format!("{preset} {backend} {dtype}");
                if case["status"] == "skipped" {
                    assert_eq!(
                        (backend.as_str(), dtype),
                        ("burn-ndarray", "bf16"),
                        "{label}"
                    );
                    continue;
                }
                assert_eq!(case["status"], "ok", "{label}: {case}");
                assert_eq!(case["pass"], "forward", "{label}");
                let parity = case["parity"]["status"].as_str().unwrap();
                assert!(
                    parity == "pass" || parity == "reference",
                    "{label}: {}",
                    case["parity"]
                );
            }
        }
    }
    // Candle's decode says how it convolves in 3-D without a conv3d.
    let candle_vae = cases
        .iter()
        .find(|c| c["workload"]["preset"] == "wan-vae-tiny" && c["backend"] == "candle")
        .unwrap();
    assert!(
        candle_vae["notes"]
            .to_string()
            .contains("sum over its temporal taps of a conv2d"),
        "{}",
        candle_vae["notes"]
    );
}

/// A pipeline's name runs its three stages; with --layers 1 --extrapolate
/// each stage gets its rest case (a VAE's rest is its first chunk).
#[test]
fn a_pipeline_plans_its_three_stages_with_their_rest_cases() {
    let assert = ditbench()
        .args([
            "run",
            "-p",
            "wan2.1-1.3b-480p-video",
            "--layers",
            "1",
            "--extrapolate",
            "-b",
            "candle",
            "--passes",
            "forward",
            "--plan",
        ])
        .assert()
        .success();
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap()
        + &String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    for case in [
        "umt5-xxl[layers=0] candle cpu f32 forward",
        "umt5-xxl[layers=1] candle cpu f32 forward",
        "wan2.1-1.3b-480p[layers=0] candle cpu f32 forward",
        "wan2.1-1.3b-480p[layers=1] candle cpu f32 forward",
        "wan2.1-vae-480p[layers=0] candle cpu f32 forward",
        "wan2.1-vae-480p[layers=1] candle cpu f32 forward",
    ] {
        assert!(stdout.contains(case), "{case} in:\n{stdout}");
    }
    assert!(stdout.contains("6 case(s)"), "{stdout}");
}

/// `list` shows the new presets with their counts, and the pipelines with
/// FLOPs per video by stage.
#[test]
fn list_shows_the_stages_and_the_pipelines() {
    let assert = ditbench()
        .args(["list", "-p", "mlperf-t2v,umt5-xxl"])
        .env("COLUMNS", "400")
        .assert()
        .success();
    let out = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    for text in [
        "umt5-xxl",
        "5.68B",
        "wan2.1-vae-720p",
        "73.3M",
        "wan2.2-t2v-a14b-720p x40",
        "umt5-xxl x2",
        "mlperf-t2v",
        "inference_config.yaml",
    ] {
        assert!(out.contains(text), "{text} in:\n{out}");
    }
}

#[test]
fn overrides_a_stage_cannot_take_are_refused() {
    // The text encoder and the VAE have no training pass.
    fails_with(
        &[
            "run",
            "-p",
            "umt5-tiny",
            "--passes",
            "train",
            "-b",
            "candle",
        ],
        "train",
    );
    // A VAE's frames come from --layers.
    fails_with(
        &["run", "-p", "wan-vae-tiny", "--frames", "5", "-b", "candle"],
        "does not apply",
    );
    fails_with(
        &[
            "run",
            "-p",
            "wan-vae-tiny",
            "--height",
            "36",
            "-b",
            "candle",
        ],
        "multiple of the VAE's spatial stride 8",
    );
    fails_with(
        &[
            "run",
            "-p",
            "wan2.1-vae-480p",
            "--layers",
            "21",
            "-b",
            "candle",
        ],
        "more than wan2.1-vae-480p's 20 blocks",
    );
}
