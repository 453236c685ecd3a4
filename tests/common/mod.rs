//! Helpers shared by the end-to-end tests.

// Each test crate uses a subset of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// Quick timing so tests stay fast on a 2-core machine.
pub const QUICK: [&str; 8] = [
    "--budget",
    "0.6",
    "--min-time",
    "0.1",
    "--min-iters",
    "3",
    "--warmup-time",
    "0.05",
];

/// One tiny case, quickly: wan-tiny's forward on Candle, no parity check.
pub const TINY_FORWARD: [&str; 7] = [
    "-p",
    "wan-tiny",
    "-b",
    "candle",
    "--passes",
    "forward",
    "--no-parity",
];

/// The backends of a results file's frameworks that run on the CPU: every
/// compiled one but Burn's GPU backends (burn-wgpu has only GPUs and, when
/// named, a software device; burn-cuda only GPUs).
pub fn cpu_frameworks(json: &serde_json::Value) -> Vec<String> {
    json["environment"]["frameworks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["backend"].as_str().unwrap().to_string())
        .filter(|b| b != "burn-wgpu" && b != "burn-cuda")
        .collect()
}

/// The results files' JSON schema (results/schema.json).
pub fn schema() -> jsonschema::Validator {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("results/schema.json"))
            .expect("results/schema.json");
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).expect("valid schema")
}

pub fn ditbench() -> Command {
    Command::cargo_bin("ditbench").expect("binary built")
}

/// Every entry of `dir`, sorted; empty when `dir` does not exist.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// The results files (JSON) in `dir`, not the shared-data `cache/`.
pub fn result_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = files_in(dir);
    files.retain(|p| p.extension().is_some_and(|e| e == "json"));
    files
}

/// `args` exits with code 2, says `message` and writes nothing to `--out`.
pub fn fails_with(args: &[&str], message: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let assert = ditbench()
        .args(args)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(2);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(
        stderr.contains(message),
        "{args:?}: expected '{message}' in:\n{stderr}"
    );
    assert!(!out.exists(), "{args:?} wrote output");
}
