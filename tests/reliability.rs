//! What happens when things go wrong, end to end through the CLI: every way a
//! case can end is recorded and the suite continues; an interrupted run
//! resumes without losing or repeating a case. Faults come from the worker's
//! test-only switch, `DITBENCH_TEST_FAULT=<fault>:<backend>`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{ditbench, result_files};
use serde_json::Value;

/// Fast timing for tiny cases.
const QUICK: [&str; 6] = ["--budget", "0.3", "--min-time", "0.05", "--min-iters", "2"];

fn load(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Run wan-tiny forward on Candle and Burn-Flex with `fault` injected into
/// Burn-Flex's worker; return the exit code and the two cases.
fn run_with_fault(fault: &str, extra: &[&str]) -> (Option<i32>, Value, Value) {
    let dir = tempfile::tempdir().unwrap();
    let output = ditbench()
        .args([
            "run",
            "--presets",
            "wan-tiny",
            "--backends",
            "candle,burn-flex",
            "--passes",
            "forward",
        ])
        .args(QUICK)
        .args(extra)
        .arg("--out")
        .arg(dir.path())
        .env("DITBENCH_TEST_FAULT", format!("{fault}:burn-flex"))
        .output()
        .unwrap();
    let json = load(&result_files(dir.path()).remove(0));
    assert!(json["finished_at"].is_string());
    let cases = json["cases"].as_array().unwrap();
    let find = |backend: &str| {
        cases
            .iter()
            .find(|c| c["backend"] == backend)
            .unwrap_or_else(|| panic!("no {backend} case"))
            .clone()
    };
    (output.status.code(), find("candle"), find("burn-flex"))
}

/// The faulty case failed with `kind` and an error containing `says`; the
/// healthy one ran; the run exits 1.
fn assert_recorded(fault: &str, extra: &[&str], kind: &str, says: &[&str]) {
    let (code, healthy, failed) = run_with_fault(fault, extra);
    assert_eq!(code, Some(1), "{fault}: a failed case makes the run exit 1");
    assert_eq!(healthy["status"], "ok", "{fault}: {healthy}");
    assert_eq!(failed["status"], "failed", "{fault}");
    assert_eq!(failed["failure"], kind, "{fault}: {}", failed["error"]);
    let error = failed["error"].as_str().unwrap();
    for s in says {
        assert!(error.contains(s), "{fault}: expected '{s}' in: {error}");
    }
}

#[test]
fn a_crash_is_recorded_with_its_signal() {
    assert_recorded(
        "crash",
        &[],
        "crash",
        &["worker killed by SIGSEGV (signal 11)", "TEST FAULT"],
    );
}

#[test]
fn a_worker_exiting_non_zero_leaves_its_last_lines() {
    assert_recorded(
        "exit",
        &[],
        "error",
        &[
            "exited with status 3",
            "injected failure: the worker gives up",
        ],
    );
}

#[test]
fn a_framework_error_is_recorded() {
    assert_recorded(
        "fail",
        &[],
        "error",
        &["injected failure: the backend reports an error"],
    );
}

#[test]
fn a_hanging_case_is_killed_at_the_case_timeout() {
    let start = Instant::now();
    assert_recorded(
        "hang",
        &["--case-timeout", "5"],
        "timeout",
        &["killed after --case-timeout 5 s"],
    );
    assert!(start.elapsed() < Duration::from_secs(120));
}

#[test]
fn running_out_of_memory_under_the_limit_is_an_oom() {
    assert_recorded(
        "oom",
        &["--mem-limit", "1GiB"],
        "oom",
        &[
            "out of memory (--mem-limit 1.0 GiB)",
            "memory allocation of",
        ],
    );
}

#[test]
fn an_unsupported_combination_is_skipped_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let output = ditbench()
        .args([
            "run",
            "--presets",
            "wan-tiny",
            "--backends",
            "burn-ndarray",
            "--dtypes",
            "bf16",
            "--passes",
            "forward",
        ])
        .args(QUICK)
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let json = load(&result_files(dir.path()).remove(0));
    let case = &json["cases"][0];
    assert_eq!(case["status"], "skipped");
    assert_eq!(case["failure"], Value::Null);
    assert_eq!(case["reason"], "burn-ndarray does not support bf16");
}

/// `ditbench run ARGS --out OUT` in the background, with a test fault if given.
fn spawn_run(args: &[&str], out: &Path, fault: Option<&str>) -> std::process::Child {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ditbench"));
    cmd.arg("run").args(args).arg("--out").arg(out);
    if let Some(fault) = fault {
        cmd.env("DITBENCH_TEST_FAULT", fault);
    }
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The results file in `dir` once it holds at least `n` cases.
fn wait_for_cases(dir: &Path, n: usize, child: &mut std::process::Child) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        assert!(Instant::now() < deadline, "no results after 300 s");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be interrupted"
        );
        if let Some(file) = result_files(dir).pop()
            && let Ok(text) = std::fs::read_to_string(&file)
        {
            // Every read sees a whole document: the file is replaced atomically.
            let json: Value = serde_json::from_str(&text).expect("a complete results file");
            if json["cases"].as_array().unwrap().len() >= n {
                return file;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn killing_the_run_then_resuming_loses_nothing_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // 2 backends x (2 presets x 2 passes + the LLM's decode) = 10 cases of
    // about a second each.
    let mut child = spawn_run(
        &[
            "--presets",
            "wan-tiny,llama-tiny",
            "--backends",
            "candle,burn-flex",
            "--budget",
            "1",
            "--min-time",
            "0.8",
            "--target-ci",
            "0.01",
        ],
        dir.path(),
        None,
    );
    let file = wait_for_cases(dir.path(), 3, &mut child);
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let interrupted = load(&file);
    assert!(interrupted["finished_at"].is_null());
    let before = interrupted["cases"].as_array().unwrap().clone();
    assert!(before.len() >= 3 && before.len() < 10, "{}", before.len());
    // The case that was running when the run was killed left no trace.
    assert_eq!(result_files(dir.path()), std::slice::from_ref(&file));

    let output = ditbench()
        .args(["run", "--resume"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{} cases recorded, {} to run",
            before.len(),
            10 - before.len()
        )),
        "{stderr}"
    );
    let resumed = load(&file);
    let after = resumed["cases"].as_array().unwrap();
    // Nothing lost: the recorded cases are untouched, in order.
    assert_eq!(&after[..before.len()], &before[..]);
    // Nothing repeated: every planned case exactly once.
    let mut ids: Vec<&str> = after.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 10);
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 10, "a case ran twice");
    assert!(after.iter().all(|c| c["status"] == "ok"));
    // Cases after the interruption are still checked against their group's
    // reference, even when it ran before.
    for c in after {
        let parity = &c["parity"];
        assert_eq!(parity["reference"], "candle", "{}", c["id"]);
        let want = if c["backend"] == "candle" {
            "reference"
        } else {
            "pass"
        };
        assert_eq!(parity["status"], want, "{}", c["id"]);
    }
    assert!(resumed["finished_at"].is_string());
    assert_eq!(resumed["resumed_at"].as_array().unwrap().len(), 1);
    assert_eq!(resumed["command"], interrupted["command"]);
    assert_eq!(result_files(dir.path()), std::slice::from_ref(&file));
    // The references kept for resuming are gone once the run is finished.
    assert!(
        !dir.path()
            .join("cache/references")
            .read_dir()
            .unwrap()
            .any(|_| true)
    );

    // A finished run has nothing to resume, and stays as it is.
    let text = std::fs::read_to_string(&file).unwrap();
    let output = ditbench()
        .args(["run", "--resume"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("nothing to resume"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
}

#[test]
fn resume_refuses_what_it_cannot_continue() {
    let dir = tempfile::tempdir().unwrap();
    let refuse = |args: &[&str], says: &str| {
        let output = ditbench().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(says),
            "{args:?}: expected '{says}' in {stderr}"
        );
    };
    let missing = dir.path().join("missing.json");
    refuse(
        &["run", "--resume", missing.to_str().unwrap()],
        "--resume: cannot read",
    );
    refuse(
        &["run", "--resume", "x.json", "--presets", "wan-tiny"],
        "takes no other option but --shard",
    );
    let foreign = dir.path().join("foreign.json");
    std::fs::write(&foreign, "{\"hello\": 1}").unwrap();
    refuse(
        &["run", "--resume", foreign.to_str().unwrap()],
        "is not a ditbench results file",
    );
    // An interrupted run from another machine.
    let mut other: Value =
        serde_json::from_str(&std::fs::read_to_string("tests/fixtures/cpu-vm-tiny.json").unwrap())
            .unwrap();
    other["finished_at"] = Value::Null;
    other["environment"]["host"] = "elsewhere".into();
    let file = dir.path().join("other.json");
    let text = serde_json::to_string(&other).unwrap();
    std::fs::write(&file, &text).unwrap();
    refuse(
        &["run", "--resume", file.to_str().unwrap()],
        "it ran on host elsewhere",
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    // This machine's run, but from another build.
    let env = ditbench().arg("env").output().unwrap();
    let env: Value = serde_json::from_slice(&env.stdout).unwrap();
    other["environment"]["host"] = env["host"].clone();
    other["tool"]["git_commit"] = "0123456789ab-other".into();
    let text = serde_json::to_string(&other).unwrap();
    std::fs::write(&file, &text).unwrap();
    refuse(
        &["run", "--resume", file.to_str().unwrap()],
        "it ran ditbench 0123456789ab-other",
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
}

/// The fields of `/proc/PID/stat` after the command name: state, parent, ...
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_string).collect())
}

/// Process ids whose parent is `parent` (Linux /proc).
fn children_of(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| entry.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|&pid| stat_fields(pid).is_some_and(|f| f[1].parse::<u32>().ok() == Some(parent)))
        .collect()
}

/// Whether `pid` still runs (a zombie awaiting its reaper does not).
fn running(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|f| f[0] != "Z")
}

#[cfg(target_os = "linux")]
#[test]
fn a_worker_dies_with_its_killed_parent() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_run(
        &[
            "--presets",
            "wan-tiny",
            "--backends",
            "candle",
            "--passes",
            "forward",
        ],
        dir.path(),
        Some("hang:candle"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let worker = loop {
        assert!(Instant::now() < deadline, "no worker started");
        if let Some(&pid) = children_of(child.id()).first() {
            break pid;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while running(worker) {
        assert!(
            Instant::now() < deadline,
            "worker {worker} outlived its parent"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
