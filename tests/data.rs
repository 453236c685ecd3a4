//! End-to-end tests of weight, input and output files: `ditbench data`,
//! `run --weights/--inputs` and `run --dump-outputs`.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::{cpu_frameworks, ditbench, fails_with, files_in, result_files};
use ditbench_core::HostTensor;
use ditbench_core::io::files::{SafetensorsFile, encode};
use serde_json::Value;

const QUICK: [&str; 6] = ["--budget", "0.3", "--min-time", "0.05", "--min-iters", "2"];

/// Run wan-tiny forward and train, dumping outputs; returns (results JSON, output files).
fn run_dumping(root: &Path, name: &str, extra: &[&str]) -> (Value, Vec<PathBuf>) {
    let out = root.join(format!("{name}-results"));
    let dump = root.join(format!("{name}-outputs"));
    run_dumping_into(&out, &dump, extra)
}

/// [`run_dumping`] with its results written into `out` and outputs into `dump`.
fn run_dumping_into(out: &Path, dump: &Path, extra: &[&str]) -> (Value, Vec<PathBuf>) {
    ditbench()
        .args(["run", "--presets", "wan-tiny", "--backends", "candle"])
        .args(QUICK)
        .args(extra)
        .arg("--out")
        .arg(out)
        .arg("--dump-outputs")
        .arg(dump)
        .assert()
        .success();
    (results(out), files_in(dump))
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
    let config = ditbench_core::model::workload::find_preset("wan-tiny")
        .unwrap()
        .config;
    let expected = ditbench_core::model::params::parameters(&config).len();
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
        "a Wan workload takes latents (or x), timesteps (or timestep, t), context, target",
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

#[test]
fn dumped_outputs_are_named_as_documented_and_never_replaced() {
    let root = tempfile::tempdir().unwrap();
    let dump = root.path().join("outputs");
    let recorded: Vec<String> = (0..2)
        .map(|run| {
            let out = root.path().join(format!("results{run}"));
            let (json, _) = run_dumping_into(&out, &dump, &["--passes", "forward"]);
            json["cases"][0]["outputs"]["file"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let names: Vec<String> = files_in(&dump)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // docs/guide.md, "Outputs": the id's spaces as underscores; `-2` when taken.
    let first = "wan-tiny_candle_cpu_f32_forward.safetensors";
    let second = "wan-tiny_candle_cpu_f32_forward-2.safetensors";
    assert_eq!(names, [second, first]);
    assert!(recorded[0].ends_with(first), "{recorded:?}");
    assert!(recorded[1].ends_with(second), "{recorded:?}");
}

/// The one results file `out` holds.
fn results(out: &Path) -> Value {
    let files = result_files(out);
    serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap()
}

/// Every case ran, and every backend agrees with the reference.
fn every_case_ok_with_parity(json: &Value) {
    let cases = json["cases"].as_array().unwrap();
    let frameworks = cpu_frameworks(json).len();
    assert!(cases.len() >= 2 * frameworks.min(2), "{cases:?}");
    for c in cases {
        // A backend without the dtype (burn-ndarray has no bf16) is skipped.
        let unsupported = c["reason"]
            .as_str()
            .is_some_and(|r| r.contains("does not support"));
        if c["status"] == "skipped" && unsupported {
            continue;
        }
        assert_eq!(c["status"], "ok", "{}: {}", c["id"], c["error"]);
        let parity = c["parity"]["status"].as_str().unwrap();
        assert!(
            matches!(parity, "pass" | "reference"),
            "{}: {}",
            c["id"],
            c["parity"]
        );
    }
}

fn run_with(out: &Path, args: &[&str]) -> (Value, String) {
    let done = ditbench()
        .arg("run")
        .args(args)
        .args(QUICK)
        .arg("--out")
        .arg(out)
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&done.get_output().stderr).into_owned();
    (results(out), stderr)
}

/// The first sample of a batched tensor, without its batch axis.
fn unbatched(t: &HostTensor) -> HostTensor {
    HostTensor::f32(t.shape[1..].to_vec(), t.as_f32().unwrap().to_vec())
}

#[test]
fn a_sharded_bf16_checkpoint_with_reference_inputs_runs_in_every_backend_with_parity() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    for preset in ["wan-tiny", "llama-tiny"] {
        ditbench()
            .args([
                "data",
                "-p",
                preset,
                "--weights-dtype",
                "bf16",
                "--shards",
                "3",
                "--out",
            ])
            .arg(&data)
            .assert()
            .success();
    }
    let checkpoint = |preset: &str| data.join(format!("{preset}-seed0.weights"));
    let shards = files_in(&checkpoint("wan-tiny"));
    let names: Vec<String> = shards
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "model-00001-of-00003.safetensors",
            "model-00002-of-00003.safetensors",
            "model-00003-of-00003.safetensors",
            "model.safetensors.index.json"
        ]
    );
    let shard = SafetensorsFile::open(&shards[0]).unwrap();
    let first = shard.names()[0].clone();
    assert_eq!(format!("{:?}", shard.dtype(&first).unwrap()), "BF16");

    // Wan as WanModel.forward takes it: an unbatched latent `x`, one
    // timestep `t`, a 3-token context (of text_len 8) as a list, and the
    // unbatched training target.
    let seeded = data.join("wan-tiny-seed0.inputs.safetensors");
    let file = SafetensorsFile::open(&seeded).unwrap();
    let context = file.float("context").unwrap();
    let width = context.shape[2];
    let short = HostTensor::f32(
        vec![3, width],
        context.as_f32().unwrap()[..3 * width].to_vec(),
    );
    let reference_inputs: Vec<(String, HostTensor)> = vec![
        ("x".into(), unbatched(&file.float("latents").unwrap())),
        ("t".into(), file.float("timesteps").unwrap()),
        ("context.0".into(), short),
        ("target".into(), unbatched(&file.float("target").unwrap())),
    ];
    let wan_inputs = root.path().join("wan-reference-inputs.safetensors");
    std::fs::write(
        &wan_inputs,
        encode(&reference_inputs, HashMap::new()).unwrap(),
    )
    .unwrap();
    let (json, stderr) = run_with(
        &root.path().join("wan"),
        &[
            "-p",
            "wan-tiny",
            "--passes",
            "forward,train",
            "--weights",
            checkpoint("wan-tiny").to_str().unwrap(),
            "--inputs",
            wan_inputs.to_str().unwrap(),
        ],
    );
    every_case_ok_with_parity(&json);
    assert!(stderr.contains("weights: 3 shards in"), "{stderr}");
    assert!(
        stderr.contains("training targets: 'target' from the file"),
        "{stderr}"
    );
    // In bf16, every backend uploads the stored bf16 values as they are.
    let (json, _) = run_with(
        &root.path().join("wan-bf16"),
        &[
            "-p",
            "wan-tiny",
            "--passes",
            "forward",
            "--dtypes",
            "bf16",
            "--weights",
            checkpoint("wan-tiny").to_str().unwrap(),
            "--inputs",
            wan_inputs.to_str().unwrap(),
        ],
    );
    every_case_ok_with_parity(&json);
    for c in json["cases"].as_array().unwrap() {
        if c["status"] != "ok" {
            continue;
        }
        let notes = c["notes"].to_string();
        assert!(
            notes.contains("weights uploaded as stored (bf16): every tensor"),
            "{}: {notes}",
            c["id"]
        );
    }

    // Llama as Hugging Face takes it: input_ids and labels, the first ten
    // positions ignored (-100), through the index file.
    let seeded = SafetensorsFile::open(&data.join("llama-tiny-seed0.inputs.safetensors")).unwrap();
    let ids = seeded.tokens("tokens", 256).unwrap();
    let mut labels = ids.as_u32().unwrap().to_vec();
    labels[..10].fill(ditbench_core::compute::tensors::IGNORED_TARGET);
    let hf: Vec<(String, HostTensor)> = vec![
        ("input_ids".into(), ids.clone()),
        ("labels".into(), HostTensor::u32(ids.shape.clone(), labels)),
    ];
    let llama_inputs = root.path().join("hf-inputs.safetensors");
    std::fs::write(&llama_inputs, encode(&hf, HashMap::new()).unwrap()).unwrap();
    let index = checkpoint("llama-tiny").join("model.safetensors.index.json");
    let llama = |name: &str, inputs: &Path| {
        run_with(
            &root.path().join(name),
            &[
                "-p",
                "llama-tiny",
                "--passes",
                "train",
                "--weights",
                index.to_str().unwrap(),
                "--inputs",
                inputs.to_str().unwrap(),
            ],
        )
    };
    let (labelled, stderr) = llama("labels", &llama_inputs);
    every_case_ok_with_parity(&labelled);
    assert!(
        stderr.contains("Hugging Face 'labels' from the file, shifted by one"),
        "{stderr}"
    );
    // input_ids alone: their own next tokens, not seeded targets.
    let ids_only = root.path().join("ids-only.safetensors");
    std::fs::write(&ids_only, encode(&hf[..1], HashMap::new()).unwrap()).unwrap();
    let (own, stderr) = llama("ids", &ids_only);
    every_case_ok_with_parity(&own);
    assert!(
        stderr.contains("the next token of the file's 'input_ids'"),
        "{stderr}"
    );
    let loss = |j: &Value| j["cases"][0]["outputs"]["loss"].as_f64().unwrap();
    // Ignoring ten more positions changes the mean; the seeded targets
    // (the sequence's 49th token counted) differ again.
    assert_ne!(loss(&labelled), loss(&own));
    let (seeded_run, _) = run_with(
        &root.path().join("seeded"),
        &[
            "-p",
            "llama-tiny",
            "--passes",
            "train",
            "-b",
            "candle",
            "--weights",
            index.to_str().unwrap(),
        ],
    );
    assert_ne!(loss(&seeded_run), loss(&own));
}

#[test]
fn a_training_run_without_targets_is_refused_unless_seeded_ones_are_asked_for() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    ditbench()
        .args(["data", "-p", "wan-tiny", "--out"])
        .arg(&data)
        .assert()
        .success();
    let file = SafetensorsFile::open(&data.join("wan-tiny-seed0.inputs.safetensors")).unwrap();
    let no_target: Vec<(String, HostTensor)> = ["latents", "timesteps", "context"]
        .iter()
        .map(|n| (n.to_string(), file.float(n).unwrap()))
        .collect();
    let inputs = root.path().join("no-target.safetensors");
    std::fs::write(&inputs, encode(&no_target, HashMap::new()).unwrap()).unwrap();
    let inputs = inputs.to_str().unwrap();
    let base = ["run", "-p", "wan-tiny", "-b", "candle", "--inputs", inputs];
    fails_with(&base, "has no 'target' for the training pass");
    // Forward reads no target; --seeded-targets says what it trains on.
    let (json, _) = run_with(
        &root.path().join("forward"),
        &[
            "-p", "wan-tiny", "-b", "candle", "--inputs", inputs, "--passes", "forward",
        ],
    );
    assert_eq!(json["cases"][0]["status"], "ok");
    let (json, stderr) = run_with(
        &root.path().join("seeded"),
        &[
            "-p",
            "wan-tiny",
            "-b",
            "candle",
            "--inputs",
            inputs,
            "--passes",
            "train",
            "--seeded-targets",
        ],
    );
    assert_eq!(json["cases"][0]["status"], "ok");
    assert!(
        stderr.contains("training targets: seeded (--seeded-targets)"),
        "{stderr}"
    );
    let notes = json["cases"][0]["notes"].to_string();
    assert!(notes.contains("training targets: seeded"), "{notes}");
    // Checkpoints refused up front: a tensor in two shards, a stray one
    // (the same file named twice is one shard).
    let weights = data.join("wan-tiny-seed0.weights.safetensors");
    let w = weights.to_str().unwrap();
    let copy = root.path().join("copy.safetensors");
    std::fs::copy(&weights, &copy).unwrap();
    fails_with(
        &[
            "run",
            "-p",
            "wan-tiny",
            "--weights",
            w,
            copy.to_str().unwrap(),
        ],
        "is in two shards",
    );
    let stray: Vec<(String, HostTensor)> = vec![(
        "blocks.9.ffn.0.weight".into(),
        HostTensor::f32(vec![1], vec![0.0]),
    )];
    let extra = root.path().join("extra.safetensors");
    std::fs::write(&extra, encode(&stray, HashMap::new()).unwrap()).unwrap();
    fails_with(
        &[
            "run",
            "-p",
            "wan-tiny",
            "--weights",
            w,
            extra.to_str().unwrap(),
        ],
        "unexpected 'blocks.9.ffn.0.weight'",
    );
}
