//! A busy machine is detected: cases timed beside real busy-loop processes
//! are flagged contended, of low confidence, and `compare` claims no change
//! from them. Alone in its test binary, so the only hogs are the ones it starts.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{QUICK, TINY_FORWARD, ditbench, result_files};
use serde_json::Value;

/// Busy-loop child processes, killed by their pids when dropped (also when
/// an assertion fails).
struct Hogs(Vec<Child>);

impl Hogs {
    fn start(n: usize) -> Self {
        let hogs = (0..n)
            .map(|_| {
                Command::new("sh")
                    .args(["-c", "while :; do :; done"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("sh starts")
            })
            .collect();
        // Let the scheduler spread them before anything is timed.
        std::thread::sleep(Duration::from_millis(300));
        Hogs(hogs)
    }
}

impl Drop for Hogs {
    fn drop(&mut self) {
        for child in &mut self.0 {
            // SIGKILL to the child's pid, then reap it.
            child.kill().ok();
            child.wait().ok();
        }
    }
}

/// The CPUs this test may use.
fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Tiny forward cases on Candle with every CPU asked for; the results.
fn run(out: &Path, extra: &[&str]) -> Value {
    let threads = cpus().to_string();
    let output = ditbench()
        .args([
            "run",
            "-p",
            "wan-tiny,llama-tiny",
            "-b",
            "candle",
            "--passes",
            "forward",
            "--no-parity",
            "--threads",
            &threads,
        ])
        .args(QUICK)
        .args(extra)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    let mut json: Value =
        serde_json::from_str(&std::fs::read_to_string(result_files(out).remove(0)).unwrap())
            .unwrap();
    json["stderr"] = stderr.into();
    json
}

#[test]
fn cases_beside_busy_loops_are_flagged_and_compare_claims_no_change_from_them() {
    let dir = tempfile::tempdir().unwrap();
    let hogged = {
        let _hogs = Hogs::start(cpus());
        run(&dir.path().join("hogged"), &[])
    };
    let cases = hogged["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for c in cases {
        let i = &c["interference"];
        assert_eq!(i["contended"], true, "{i}");
        let share = i["cpu"]["share"].as_f64().unwrap();
        assert!(share > 0.10, "{i}");
        assert!(
            i["reasons"][0].as_str().unwrap().starts_with("others took"),
            "{i}"
        );
        assert_eq!(c["confidence"]["level"], "low", "{c}");
        assert!(
            c["confidence"]["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r.as_str().unwrap().starts_with("contended: ")),
            "{}",
            c["confidence"]
        );
    }
    // Each case prints a warning line as it finishes.
    let stderr = hogged["stderr"].as_str().unwrap();
    assert_eq!(
        stderr.matches("warning: low confidence: contended").count(),
        2,
        "{stderr}"
    );

    // The same cases on the machine as it is now: compare claims no change
    // from the hogged side. A case the busy loops slowed past its band is
    // inconclusive (exit 3: rerun); one they did not move (a 0.3 ms step of
    // one thread can fit between the loops' time slices) stays unchanged.
    let quiet = dir.path().join("quiet");
    run(&quiet, &[]);
    let out = ditbench()
        .arg("compare")
        .arg(&quiet)
        .arg(dir.path().join("hogged"))
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 3)), "{out:?}");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&json["regressions"], &json["improvements"]),
        (&0.into(), &0.into()),
        "{json}"
    );
    for c in json["cases"].as_array().unwrap() {
        assert_eq!(c["candidate_contended"], true);
        let time = &c["time"];
        assert!(
            matches!(time["verdict"].as_str(), Some("unchanged" | "inconclusive")),
            "{c}"
        );
        if time["rule"] == "contended" {
            // "both sides were" when the quiet run was busy too.
            let why = time["inconclusive"][0].as_str().unwrap();
            assert!(why.contains("contended: others took"), "{why}");
        }
    }
    // The report names no fastest backend from them, and says why.
    let md = ditbench()
        .args(["report", "--format", "md"])
        .arg(dir.path().join("hogged"))
        .output()
        .unwrap();
    let md = String::from_utf8(md.stdout).unwrap();
    assert!(
        md.contains("| low: ") && md.contains("contended: others took"),
        "{md}"
    );
}

#[test]
fn pinned_workers_run_and_are_watched_on_their_cpus_only() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pinned");
    let output = ditbench()
        .arg("run")
        .args(TINY_FORWARD)
        .args(["--cpus", "0"])
        .args(QUICK)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(result_files(&out).remove(0)).unwrap())
            .unwrap();
    assert_eq!(json["settings"]["cpus"], serde_json::json!([0]));
    // Without --threads, the CPUs of --cpus.
    assert_eq!(json["environment"]["threads"]["threads"], 1);
    let c = &json["cases"][0];
    let cpu = &c["interference"]["cpu"];
    assert_eq!(cpu["cpus"], serde_json::json!([0]), "{cpu}");
    assert_eq!(cpu["pinned"], cpus() > 1);
    assert_eq!(cpu["asked_cpus"], 1);
    // One CPU: the worker's threads ran there, about one core's worth.
    let parallelism = c["threads"]["cpu_parallelism"].as_f64().unwrap();
    assert!(parallelism < 1.2, "{}", c["threads"]);
}
