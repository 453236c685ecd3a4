//! End-to-end tests of the `ditbench` binary.

mod common;

use std::path::Path;

use common::{QUICK, TINY_FORWARD, ditbench, fails_with, result_files, schema};
use serde_json::Value;

fn run_ok(out: &Path, args: &[&str]) -> (Value, String) {
    let assert = ditbench()
        .arg("run")
        .args(args)
        .args(QUICK)
        .arg("--out")
        .arg(out)
        .assert()
        .success();
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    let files = result_files(out);
    assert_eq!(files.len(), 1, "{files:?}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    (json, stdout)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

#[test]
fn tiny_presets_run_end_to_end_with_consistent_schema_valid_results() {
    let dir = tempfile::tempdir().unwrap();
    let (json, stdout) = run_ok(
        dir.path(),
        &[
            "--presets",
            "wan-tiny,llama-tiny",
            "--backends",
            "candle",
            "--threads",
            "1",
        ],
    );
    let errors: Vec<String> = schema()
        .iter_errors(&json)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");

    assert_eq!(json["environment"]["threads"]["threads"], 1);
    assert_eq!(
        json["environment"]["threads"]["env"]["RAYON_NUM_THREADS"],
        "1"
    );
    assert!(json["finished_at"].is_string());
    let cases = json["cases"].as_array().unwrap();
    // Forward and train of both, decode of the LLM.
    assert_eq!(cases.len(), 5);
    for c in cases {
        let id = c["id"].as_str().unwrap();
        assert!(
            stdout.contains(c["workload"]["label"].as_str().unwrap()),
            "table lacks {id}"
        );
        assert_eq!(c["status"], "ok", "{id}: {}", c["error"]);
        assert!(c["framework"].as_str().unwrap().starts_with("candle-core "));
        assert_eq!(
            c["device_name"], "cpu (1 thread)",
            "the thread setting reached candle"
        );
        assert!(!c["attention"].as_str().unwrap().is_empty());

        let samples: Vec<f64> = c["samples_s"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let s = &c["stats"];
        let f = |k: &str| s[k].as_f64().unwrap();
        assert_eq!(s["n"].as_u64().unwrap() as usize, samples.len());
        assert!(samples.len() >= 3);
        assert!(!c["warmup_samples_s"].as_array().unwrap().is_empty());
        assert!(f("min_s") <= f("p10_s") && f("p10_s") <= f("median_s"));
        assert!(f("median_s") <= f("p90_s") && f("p90_s") <= f("max_s"));
        let ci = s["ci95_median_s"].as_array().unwrap();
        assert!(
            ci[0].as_f64().unwrap() <= f("median_s") && f("median_s") <= ci[1].as_f64().unwrap()
        );
        let min = samples.iter().cloned().fold(f64::INFINITY, f64::min);
        assert!(close(min, f("min_s")));

        // Derived figures follow their definitions.
        let cost = &c["workload"]["cost"];
        let median = f("median_s");
        let t = &c["throughput"];
        assert_eq!(cost["tokens"].as_f64().unwrap(), 48.0);
        // A decode step makes one token per sequence.
        let tokens = if c["pass"] == "decode" { 1.0 } else { 48.0 };
        assert!(close(t["tokens_per_s"].as_f64().unwrap(), tokens / median));
        assert!(close(t["samples_per_s"].as_f64().unwrap(), 1.0 / median));
        let flops = match c["pass"].as_str().unwrap() {
            "train" => cost["train_flops"].as_f64().unwrap(),
            "decode" => cost["decode_flops"].as_f64().unwrap(),
            _ => cost["forward_flops"].as_f64().unwrap(),
        };
        assert!(close(t["tflops"].as_f64().unwrap(), flops / median / 1e12));

        let m = &c["memory"];
        let peak = m["peak_rss_bytes"].as_u64().unwrap();
        let growth = m["rss_growth_bytes"].as_u64().unwrap();
        let before = m["rss_before_build_bytes"].as_u64().unwrap();
        assert!(peak > 0 && growth > 0 && peak == before + growth);
        assert!(
            m["peak_heap_bytes"].as_u64().unwrap() > 0,
            "counting allocator active"
        );

        if c["pass"] == "train" {
            let p = &c["phases"];
            let fwd = p["forward_median_s"].as_f64().unwrap();
            let bwd = p["backward_median_s"].as_f64().unwrap();
            // Each sample contains its forward and backward phase (medians of parts, so allow slack).
            assert!(fwd > 0.0 && bwd > 0.0 && fwd + bwd <= f("max_s") * 1.1);
            assert_eq!(p["forward_s"].as_array().unwrap().len(), samples.len());
        } else {
            assert!(c["phases"].is_null());
        }
    }
    let params: Vec<u64> = cases
        .iter()
        .map(|c| c["workload"]["cost"]["parameters"].as_u64().unwrap())
        .collect();
    assert_eq!(params[0], 141_008);
    for key in [
        "stats.median_s",
        "throughput.tflops",
        "memory.peak_heap_bytes",
    ] {
        assert!(json["definitions"][key].is_string(), "definition of {key}");
    }
}

#[test]
fn the_schema_rejects_broken_results() {
    let dir = tempfile::tempdir().unwrap();
    let (json, _) = run_ok(
        dir.path(),
        &[
            "--presets",
            "wan-tiny",
            "--passes",
            "forward",
            "--backends",
            "candle",
        ],
    );
    let validator = schema();
    assert!(validator.is_valid(&json));
    let broken = |edit: &dyn Fn(&mut Value)| {
        let mut j = json.clone();
        edit(&mut j);
        !validator.is_valid(&j)
    };
    assert!(broken(&|j| j["cases"][0]["status"] = "great".into()));
    assert!(broken(&|j| j["cases"][0]["stats"] = Value::Null));
    assert!(broken(
        &|j| j["cases"][0]["samples_s"] = serde_json::json!([-1.0])
    ));
    assert!(broken(&|j| j["schema_version"] = 2.into()));
    assert!(broken(&|j| j["cases"][0]["failure"] = "meltdown".into()));
    // Every failure kind, and a GPU with NVML's facts, fit the schema and load back.
    for kind in ["crash", "error", "oom", "timeout"] {
        let mut j = json.clone();
        j["cases"][0]["status"] = "failed".into();
        j["cases"][0]["failure"] = kind.into();
        j["cases"][0]["error"] = "what happened".into();
        assert!(validator.is_valid(&j), "{kind}");
    }
    let gpu = ditbench_core::machine::gpus::GpuInfo {
        index: 0,
        name: "NVIDIA H100 80GB HBM3".into(),
        source: "NVML".into(),
        memory_bytes: Some(85_520_809_984),
        driver: Some("580.95.05".into()),
        cuda_driver: Some("13.0".into()),
        max_sm_clock_mhz: Some(1980),
        max_memory_clock_mhz: Some(2619),
        power_limit_w: Some(700.0),
    };
    let mut j = json.clone();
    j["environment"]["gpus"] = serde_json::to_value([&gpu]).unwrap();
    assert!(validator.is_valid(&j));
    let file = dir.path().join("gpu.json");
    std::fs::write(&file, j.to_string()).unwrap();
    let loaded = ditbench_harness::record::results::RunResults::load(&file).unwrap();
    assert_eq!(loaded.environment.gpus, [gpu]);
    assert!(broken(&|j| {
        j.as_object_mut().unwrap().remove("environment");
    }));
}

#[test]
fn sweeps_record_their_overrides_and_runs_never_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let (json, _) = run_ok(
        dir.path(),
        &[
            "--presets",
            "wan-tiny",
            "--frames",
            "5,9",
            "--backends",
            "candle",
            "--passes",
            "forward",
        ],
    );
    let cases = json["cases"].as_array().unwrap();
    let labels: Vec<&str> = cases
        .iter()
        .map(|c| c["workload"]["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["wan-tiny[frames=5]", "wan-tiny[frames=9]"]);
    assert_eq!(cases[0]["workload"]["overrides"]["frames"], 5);
    assert_eq!(cases[0]["workload"]["cost"]["tokens"], 32);
    assert_eq!(cases[1]["workload"]["cost"]["tokens"], 48);

    let first = result_files(dir.path());
    let before = std::fs::read(&first[0]).unwrap();
    ditbench()
        .args(["run", "--presets", "llama-tiny", "--passes", "forward"])
        .args(QUICK)
        .arg("--out")
        .arg(dir.path())
        .assert()
        .success();
    let after = result_files(dir.path());
    assert_eq!(after.len(), 2);
    assert_eq!(
        std::fs::read(&first[0]).unwrap(),
        before,
        "earlier results untouched"
    );
}

#[test]
fn cases_too_big_for_this_machine_are_skipped_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (json, stdout) = run_ok(
        dir.path(),
        &["--presets", "wan2.1-14b-720p", "--passes", "train"],
    );
    let case = &json["cases"][0];
    assert_eq!(case["status"], "skipped");
    assert!(
        case["reason"]
            .as_str()
            .unwrap()
            .contains("exceeds this machine's")
    );
    assert!(stdout.contains("skipped"));
    assert!(schema().is_valid(&json));
}

#[test]
fn bad_arguments_exit_2_with_a_clear_message_and_write_nothing() {
    fails_with(
        &["run", "--presets", "wan-huge"],
        "unknown preset 'wan-huge'",
    );
    fails_with(
        &["run", "--presets", "wan-tiny", "--heads", "3"],
        "heads (3) must divide dim (64)",
    );
    fails_with(
        &["run", "--presets", "wan-tiny", "--frames", "0"],
        "frames must be at least 1",
    );
    fails_with(&["run", "--presets", "wan-tiny", "--frames", "8"], "4n+1");
    fails_with(
        &["run", "--presets", "llama-tiny", "--kv-heads", "3"],
        "kv-heads (3) must divide heads (4)",
    );
    fails_with(
        &["run", "--presets", "llama-tiny", "--frames", "9"],
        "does not apply",
    );
    fails_with(
        &["run", "--backends", "pytorch"],
        "unknown backend 'pytorch'; known backends: tch, candle",
    );
    // Never compiled into the test builds (burn-wgpu is, where lavapipe is
    // installed): the message names its feature.
    fails_with(
        &["run", "--backends", "burn-cuda"],
        "build with the cargo feature `burn-cuda`",
    );
    if cfg!(feature = "burn-wgpu") {
        // Named, a backend without any of the run's devices is refused.
        fails_with(
            &["run", "--backends", "candle,burn-wgpu", "--devices", "cpu"],
            "burn-wgpu runs on none of the run's devices (cpu); its devices: ",
        );
    }
    fails_with(&["run", "--case-timeout=-1"], "--case-timeout must be");
    fails_with(
        &["run", "--mem-limit", "lots"],
        "is not a size such as 512MiB",
    );
    fails_with(&["run", "--mem-limit", "100K"], "at least 1 MiB");
    fails_with(
        &["run", "--presets", "wan-tiny", "--dim", "8", "--heads", "2"],
        "cannot be split for Wan's 3-D RoPE",
    );
    fails_with(
        &["run", "--presets", "wan-tiny", "--heads", "0"],
        "heads must be at least 1",
    );
    fails_with(
        &["run", "--presets", "llama-tiny", "--seq-len", "100000"],
        "longer than this model allows",
    );

    fails_with(
        &["run", "--devices", "cuda:7"],
        "device 'cuda:7' is not available",
    );
    fails_with(&["run", "--dtypes", "f64"], "unknown dtype 'f64'");
    fails_with(&["run", "--passes", "backward"], "unknown pass 'backward'");
    fails_with(&["run", "--threads", "0"], "--threads must be at least 1");
    fails_with(&["run", "--budget", "0"], "budget must be a positive");
    // More threads than CPUs time-slice (libtorch ran about 1000x slower at 1000).
    fails_with(
        &["run", "--threads", "1000"],
        "--threads 1000 is more than the",
    );
    fails_with(&["run", "--threads", "1000"], "pass --oversubscribe");
    fails_with(
        &["run", "--cpus", "0", "--threads", "2"],
        "--threads 2 is more than the 1 CPU(s) of --cpus 0",
    );
    fails_with(
        &["run", "--cpus", "0-x"],
        "--cpus: '0-x' is not a CPU number",
    );
    fails_with(&["run", "--cpus", "3-1"], "runs backwards");
    fails_with(
        &["run", "--cpus", "100000"],
        "CPU 100000 is not one this process may use",
    );
}

#[test]
fn oversubscribe_allows_more_threads_than_cpus_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let threads = (std::thread::available_parallelism().map_or(1, |n| n.get()) + 1).to_string();
    let out = dir.path().join("out");
    ditbench()
        .arg("run")
        .args(TINY_FORWARD)
        .args(["--threads", &threads, "--oversubscribe"])
        .args(QUICK)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(result_files(&out).remove(0)).unwrap())
            .unwrap();
    assert_eq!(json["settings"]["oversubscribe"], true);
    assert_eq!(
        json["environment"]["threads"]["threads"].to_string(),
        threads
    );
}

#[test]
fn an_out_path_that_is_a_file_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("precious.json");
    std::fs::write(&file, "keep me").unwrap();
    let assert = ditbench()
        .args(["run", "--presets", "wan-tiny", "--out"])
        .arg(&file)
        .assert()
        .code(2);
    assert!(String::from_utf8_lossy(&assert.get_output().stderr).contains("is not a directory"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
}

/// The widest line of `text`, in characters (box-drawing characters count one).
fn widest(text: &str) -> usize {
    text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

#[test]
fn the_terminal_output_fits_80_columns() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = ditbench()
        .env("COLUMNS", "80")
        .args([
            "run",
            "-p",
            "wan-tiny,llama-tiny",
            "-b",
            "candle",
            "--passes",
            "forward,decode",
        ])
        .args(QUICK)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(widest(&stdout) <= 80, "{stdout}");
    assert!(widest(&stderr) <= 80, "{stderr}");
    // The narrow summary: one table per workload, every case in it.
    assert!(
        stdout.contains("wan-tiny · cpu · f32\n") && stdout.contains("llama-tiny · cpu · f32\n"),
        "{stdout}"
    );
    assert_eq!(stdout.matches(" candle ").count(), 3, "{stdout}");
    // A wide terminal gets the full table.
    for (columns, narrow) in [("80", true), ("300", false)] {
        let list = ditbench()
            .env("COLUMNS", columns)
            .arg("list")
            .output()
            .unwrap();
        let text = String::from_utf8(list.stdout).unwrap();
        assert_eq!(text.contains("description"), !narrow, "{text}");
        if narrow {
            assert!(widest(&text) <= 80, "{text}");
        }
    }
}

/// What `ditbench args` writes to a real 80-column terminal (a pseudo-
/// terminal from util-linux's `script`), line endings as `\n`; `None` where
/// `script` is missing.
fn on_an_80_column_terminal(args: &str) -> Option<String> {
    let binary = assert_cmd::cargo::cargo_bin("ditbench");
    let command = format!("stty cols 80 rows 50; {} {args}", binary.display());
    let out = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_remove("COLUMNS")
        .output()
        .ok()?;
    assert!(out.status.success(), "{out:?}");
    Some(String::from_utf8(out.stdout).unwrap().replace("\r\n", "\n"))
}

/// `text` without its colour sequences (`ESC [ ... m`), which take no column.
fn without_colours(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("\u{1b}[") {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        rest = after.find('m').map_or("", |end| &after[end + 1..]);
    }
    out.push_str(rest);
    out
}

#[test]
fn a_real_80_column_terminal_gets_the_compact_layout_and_whole_words() {
    let Some(list) = on_an_80_column_terminal("list") else {
        eprintln!("SKIPPED: no `script` (util-linux) to make a pseudo-terminal");
        return;
    };
    // The compact tables: one line per preset and per pipeline, the
    // descriptions under them (the wide table would take 3 lines a row).
    assert!(widest(&list) <= 80, "{list}");
    assert!(!list.contains("description"), "{list}");
    assert!(
        list.lines().count() < 140,
        "{} lines:\n{list}",
        list.lines().count()
    );
    for word in ["wan-tiny ", "llama-2-70b ", "params"] {
        assert!(list.contains(word), "'{word}' broken:\n{list}");
    }
    let dir = tempfile::tempdir().unwrap();
    let run = on_an_80_column_terminal(&format!(
        "run -p wan-tiny -b candle --passes forward --budget 0.3 --min-time 0.05 -o {}",
        dir.path().display()
    ))
    .unwrap();
    // The summary (the progress bar's redraws around it are not checked).
    assert!(run.contains("wan-tiny · cpu · f32\n"), "{run}");
    let summary = without_colours(&run[run.find("wan-tiny · cpu · f32\n").unwrap()..]);
    assert!(widest(&summary) <= 80, "{summary}");
}

#[test]
fn list_takes_the_overrides_of_run() {
    let out = ditbench()
        .args([
            "list",
            "-p",
            "wan2.1-1.3b-480p",
            "--frames",
            "1,81",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["name"], "wan2.1-1.3b-480p[frames=1]");
    assert_eq!(rows[0]["preset"], "wan2.1-1.3b-480p");
    // One latent frame of 60x104 patches of 2x2: 1,560 tokens; 81 frames: 32,760.
    assert_eq!(rows[0]["cost"]["tokens"], 1560);
    assert_eq!(rows[1]["cost"]["tokens"], 32760);
    let table = ditbench()
        .env("COLUMNS", "300")
        .args(["list", "-p", "wan-small", "--frames", "9"])
        .output()
        .unwrap();
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(
        text.contains("wan-small[frames=9]") && text.contains("wan-small with overrides"),
        "{text}"
    );
    for (args, says) in [
        (
            &["list", "-p", "llama-tiny", "--frames", "1"][..],
            "--frames does not apply",
        ),
        (&["list", "-p", "nope"][..], "nope"),
    ] {
        let out = ditbench().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(says),
            "{out:?}"
        );
    }
}

#[test]
fn every_subcommand_help_has_examples() {
    for sub in ["run", "list", "data", "report", "compare", "export", "env"] {
        let out = ditbench().args([sub, "--help"]).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("Examples:\n  ditbench "),
            "{sub} --help:\n{text}"
        );
    }
}

#[test]
fn list_shows_every_preset_with_its_cost() {
    let out = ditbench()
        .arg("list")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    for name in [
        "wan-tiny",
        "wan-small",
        "wan2.1-1.3b-480p",
        "wan2.1-14b-720p",
        "sora-3b-guess-720p",
        "llama-tiny",
        "llama-small",
        "llama-3.2-1b",
        "llama-2-7b",
        "llama-3-8b",
        "llama-2-70b",
        "llama-3-70b",
    ] {
        assert!(text.contains(name), "list lacks {name}");
    }
    assert!(text.contains("1.42B") && text.contains("14.3B") && text.contains("32760"));

    let out = ditbench()
        .args(["list", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let rows: Vec<Value> = serde_json::from_slice(&out).unwrap();
    let find = |n: &str| rows.iter().find(|r| r["name"] == n).unwrap().clone();
    assert_eq!(
        find("wan2.1-1.3b-480p")["cost"]["parameters"],
        1_418_996_800u64
    );
    assert_eq!(find("llama-2-70b")["cost"]["parameters"], 68_976_648_192u64);
    assert_eq!(find("sora-3b-guess-720p")["cost"]["tokens"], 111_600);
}

#[test]
fn env_reports_this_machine() {
    let out = ditbench()
        .args(["env", "--threads", "2"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let env: Value = serde_json::from_slice(&out).unwrap();
    assert!(env["logical_cores"].as_u64().unwrap() >= 1);
    assert!(env["ram_bytes"].as_u64().unwrap() > 0);
    assert_eq!(env["threads"]["threads"], 2);
    assert!(env["rustc"].as_str().unwrap().starts_with("rustc "));
    let version = |backend: &str| {
        env["frameworks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["backend"] == backend)
            .map(|f| f["version"].as_str().unwrap().to_string())
    };
    assert!(version("candle").unwrap().starts_with("candle-core "));
    assert!(version("burn-flex").unwrap().starts_with("burn "));
    if cfg!(feature = "tch") {
        // libtorch first: the parity reference.
        assert_eq!(env["frameworks"][0]["backend"], "tch");
        assert!(version("tch").unwrap().starts_with("libtorch 2.11.0"));
        let features = env["cargo_features"].as_array().unwrap();
        assert!(features.iter().any(|f| f == "tch"));
    } else {
        assert_eq!(version("tch"), None);
    }
}

#[cfg(feature = "tch")]
#[test]
fn libtorch_runs_with_the_harness_thread_setting_and_honest_memory_figures() {
    let dir = tempfile::tempdir().unwrap();
    let (json, _) = run_ok(
        dir.path(),
        &[
            "--presets",
            "llama-tiny",
            "--backends",
            "tch,candle",
            "--passes",
            "forward",
            "--threads",
            "1",
        ],
    );
    schema().validate(&json).unwrap();
    let cases = json["cases"].as_array().unwrap();
    let tch = cases.iter().find(|c| c["backend"] == "tch").unwrap();
    // libtorch's own intra-op pool was sized by --threads.
    assert_eq!(tch["device_name"], "cpu (1 thread)");
    assert!(
        tch["framework"]
            .as_str()
            .unwrap()
            .starts_with("libtorch 2.11.0")
    );
    assert!(
        tch["attention"]
            .as_str()
            .unwrap()
            .starts_with("torch.nn.functional.scaled_dot_product_attention (causal: ")
    );
    // Its C++ allocator bypasses Rust's: no heap figure, and a note says why.
    assert!(tch["memory"]["peak_heap_bytes"].is_null());
    assert!(tch["memory"]["rss_growth_bytes"].as_u64().unwrap() > 0);
    let notes = |c: &Value| {
        c["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert!(
        notes(tch)
            .iter()
            .any(|n| n.contains("peak_heap_bytes not measured"))
    );
    // Other backends in this binary say that libtorch is mapped into their worker too.
    let candle = cases.iter().find(|c| c["backend"] == "candle").unwrap();
    assert!(candle["memory"]["peak_heap_bytes"].as_u64().is_some());
    assert!(notes(candle).iter().any(|n| n.contains("links libtorch")));
    assert_eq!(candle["parity"]["reference"], "tch");
    assert_eq!(candle["parity"]["status"], "pass");
}
