//! End-to-end tests of weight, input and output files: `ditbench data`,
//! `run --weights/--inputs` and `run --dump-outputs`.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::{ditbench, fails_with, files_in, result_files};
use ditbench_harness::HostTensor;
use ditbench_harness::files::{SafetensorsFile, encode};
use serde_json::Value;

const QUICK: [&str; 6] = ["--budget", "0.3", "--min-time", "0.05", "--min-iters", "2"];

/// Run wan-tiny forward and train, dumping outputs; returns (results JSON, output files).
fn run_dumping(root: &Path, name: &str, extra: &[&str]) -> (Value, Vec<PathBuf>) {
    let out = root.join(format!("{name}-results"));
    let dump = root.join(format!("{name}-outputs"));
    ditbench()
        .args(["run", "--presets", "wan-tiny", "--backends", "candle"])
        .args(QUICK)
        .args(extra)
        .arg("--out")
        .arg(&out)
        .arg("--dump-outputs")
        .arg(&dump)
        .assert()
        .success();
    let results = result_files(&out);
    let json = serde_json::from_str(&std::fs::read_to_string(&results[0]).unwrap()).unwrap();
    (json, files_in(&dump))
}

fn tensor(path: &Path, name: &str) -> Vec<f32> {
    SafetensorsFile::open(path)
        .unwrap()
        .float(name)
        .unwrap()
        .as_f32()
        .unwrap()
        .to_vec()
}

#[test]
fn exported_data_reproduces_the_seeded_run_and_a_perturbed_weight_does_not() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let printed = ditbench()
        .args(["data", "--preset", "wan-tiny", "--seed", "0", "--out"])
        .arg(&data)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let printed = String::from_utf8(printed).unwrap();
    let weights = data.join("wan-tiny-seed0.weights.safetensors");
    let inputs = data.join("wan-tiny-seed0.inputs.safetensors");
    assert!(
        printed.contains("wan-tiny-seed0.weights.safetensors"),
        "{printed}"
    );
    let config = ditbench_harness::workload::find_preset("wan-tiny")
        .unwrap()
        .config;
    let expected = ditbench_harness::params::parameters(&config).len();
    assert_eq!(
        SafetensorsFile::open(&weights).unwrap().names().len(),
        expected
    );

    let (seeded, seeded_files) = run_dumping(root.path(), "seeded", &[]);
    let w = weights.to_str().unwrap();
    let i = inputs.to_str().unwrap();
    let (from_files, file_files) =
        run_dumping(root.path(), "files", &["--weights", w, "--inputs", i]);
    assert_eq!(seeded_files.len(), 2);
    assert_eq!(file_files.len(), 2);
    for (a, b) in seeded_files.iter().zip(&file_files) {
        assert_eq!(a.file_name(), b.file_name());
        assert_eq!(tensor(a, "output"), tensor(b, "output"), "{}", a.display());
    }
    let train = |j: &Value| j["cases"][1]["outputs"].clone();
    for key in ["loss", "grad_norm"] {
        assert_eq!(train(&seeded)[key], train(&from_files)[key], "{key}");
    }
    assert!(train(&seeded)["loss"].as_f64().unwrap() > 0.0);
    assert!(train(&seeded)["grad_norm"].as_f64().unwrap() > 0.0);
    assert!(
        from_files["cases"][0]["data"]["weights"]
            .as_str()
            .unwrap()
            .starts_with("file ")
    );
    let train_file = &file_files[1];
    assert_eq!(
        tensor(train_file, "loss")[0] as f64,
        train(&seeded)["loss"].as_f64().unwrap() as f32 as f64
    );
    assert!(tensor(train_file, "grad_norm.blocks.1.ffn.2.weight")[0] > 0.0);

    // Change one weight by a little: the outputs must change.
    let file = SafetensorsFile::open(&weights).unwrap();
    let mut tensors: Vec<(String, HostTensor)> = file
        .names()
        .into_iter()
        .map(|n| (n.clone(), file.float(&n).unwrap()))
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let (_, t) = tensors
        .iter_mut()
        .find(|(n, _)| n == "blocks.0.ffn.0.weight")
        .unwrap();
    let mut values = t.as_f32().unwrap().to_vec();
    values[0] += 0.5;
    *t = HostTensor::f32(t.shape.clone(), values);
    let perturbed = root.path().join("perturbed.safetensors");
    std::fs::write(&perturbed, encode(&tensors, HashMap::new()).unwrap()).unwrap();
    let (_, changed) = run_dumping(
        root.path(),
        "perturbed",
        &[
            "--weights",
            perturbed.to_str().unwrap(),
            "--passes",
            "forward",
        ],
    );
    let (a, b) = (
        tensor(&seeded_files[0], "output"),
        tensor(&changed[0], "output"),
    );
    let diff: f32 = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(
        diff > 1e-4,
        "a perturbed weight left the output unchanged (max diff {diff})"
    );
}

#[test]
fn mismatched_or_broken_data_files_exit_2_before_running() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    ditbench()
        .args(["data", "--preset", "llama-tiny", "--out"])
        .arg(&data)
        .assert()
        .success();
    let llama = data.join("llama-tiny-seed0.weights.safetensors");
    let llama = llama.to_str().unwrap();
    let llama_inputs = data.join("llama-tiny-seed0.inputs.safetensors");
    let llama_inputs = llama_inputs.to_str().unwrap();
    fails_with(
        &["run", "--presets", "wan-tiny", "--weights", llama],
        "does not match the workload's parameters",
    );
    // Weights of a one-layer llama-tiny lack the second layer's.
    let one_layer = root.path().join("one-layer");
    ditbench()
        .args(["data", "--preset", "llama-tiny", "--layers", "1", "--out"])
        .arg(&one_layer)
        .assert()
        .success();
    let short = files_in(&one_layer)
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(".weights.safetensors"))
        .unwrap();
    fails_with(
        &[
            "run",
            "--presets",
            "llama-tiny",
            "--weights",
            short.to_str().unwrap(),
        ],
        "missing 'model.layers.1.self_attn.q_proj.weight'",
    );
    fails_with(
        &["run", "--presets", "llama-tiny", "--layers", "3"],
        "--layers 3 is more than llama-tiny's 2 blocks",
    );
    fails_with(
        &["run", "--presets", "wan-tiny", "--inputs", llama_inputs],
        "has no tensor 'latents'",
    );
    fails_with(
        &[
            "run",
            "--presets",
            "llama-tiny,wan-tiny",
            "--weights",
            llama,
        ],
        "describe one model",
    );
    fails_with(
        &[
            "run",
            "--presets",
            "llama-tiny",
            "--inputs",
            "/nonexistent.safetensors",
        ],
        "cannot read /nonexistent.safetensors",
    );
    let junk = root.path().join("junk.safetensors");
    std::fs::write(&junk, b"junk").unwrap();
    fails_with(
        &[
            "run",
            "--presets",
            "llama-tiny",
            "--weights",
            junk.to_str().unwrap(),
        ],
        "not a valid safetensors file",
    );
    fails_with(
        &[
            "run",
            "--presets",
            "llama-tiny",
            "--dump-outputs",
            junk.to_str().unwrap(),
        ],
        "is not a directory",
    );
    // The right shapes in an integer type: refused up front, not in every worker.
    let mut bytes = std::fs::read(data.join("llama-tiny-seed0.weights.safetensors")).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = String::from_utf8(bytes[8..8 + header_len].to_vec()).unwrap();
    let at = 8 + header.find("\"F32\"").unwrap();
    bytes[at..at + 5].copy_from_slice(b"\"I32\"");
    let ints = root.path().join("ints.safetensors");
    std::fs::write(&ints, &bytes).unwrap();
    fails_with(
        &[
            "run",
            "--presets",
            "llama-tiny",
            "--weights",
            ints.to_str().unwrap(),
        ],
        "is I32, not a float type",
    );
    fails_with(
        &["data", "--preset", "wan-tiny", "--frames", "5,9"],
        "exports one workload",
    );
    fails_with(&["data", "--preset", "llama-2-70b"], "writes at most");
}

#[test]
fn exports_never_overwrite() {
    let root = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        ditbench()
            .args(["data", "--preset", "llama-tiny", "--out"])
            .arg(root.path())
            .assert()
            .success();
    }
    let names: Vec<String> = files_in(root.path())
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "llama-tiny-seed0.inputs-2.safetensors",
            "llama-tiny-seed0.inputs.safetensors",
            "llama-tiny-seed0.weights-2.safetensors",
            "llama-tiny-seed0.weights.safetensors"
        ]
    );
}
