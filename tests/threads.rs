//! `--threads` reaches every backend: the pool sizes each framework reports
//! in its worker equal the request. (`tests/thread_use.rs` checks that the
//! frameworks then compute on those threads.)

mod common;

use std::path::Path;

use common::{QUICK, ditbench, result_files};
use serde_json::Value;

/// Every CPU backend of this build, by the cargo features the tests run with.
fn cpu_backends() -> Vec<&'static str> {
    let mut backends = Vec::new();
    if cfg!(feature = "tch") {
        backends.push("tch");
    }
    if cfg!(feature = "candle") {
        backends.push("candle");
    }
    if cfg!(feature = "burn") {
        backends.extend(["burn-flex", "burn-ndarray"]);
    }
    backends
}

/// Run `args` with quick timing and no parity; return the results file.
fn run(out: &Path, args: &[&str]) -> Value {
    ditbench()
        .arg("run")
        .args(args)
        .args(["--devices", "cpu", "--no-parity"])
        .args(QUICK)
        .arg("--out")
        .arg(out)
        .assert()
        .success();
    let files = result_files(out);
    assert_eq!(files.len(), 1, "{files:?}");
    serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap()
}

fn cases_by_backend(json: &Value) -> Vec<(&str, &Value)> {
    let cases: Vec<(&str, &Value)> = json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["backend"].as_str().unwrap(), c))
        .collect();
    let mut seen: Vec<&str> = cases.iter().map(|(b, _)| *b).collect();
    seen.sort();
    let mut expected = cpu_backends();
    expected.sort();
    assert_eq!(seen, expected, "every CPU backend ran once");
    cases
}

#[test]
fn every_backend_reports_pools_of_the_size_it_was_asked_for() {
    // 1, and 3: more than this 2-core machine's default, so an echo of the
    // default would be caught as well as an ignored request. 3 threads on 2
    // CPUs is oversubscribed, which must be asked for.
    for n in [1usize, 3] {
        let dir = tempfile::tempdir().unwrap();
        let json = run(
            dir.path(),
            &[
                "--presets",
                "wan-tiny",
                "--passes",
                "forward",
                "--threads",
                &n.to_string(),
                "--oversubscribe",
            ],
        );
        assert_eq!(json["environment"]["threads"]["threads"], n);
        for (backend, case) in cases_by_backend(&json) {
            assert_eq!(case["status"], "ok", "{backend}: {}", case["error"]);
            let threads = &case["threads"];
            assert_eq!(threads["requested"], n, "{backend}");
            let pools = threads["pools"].as_array().unwrap();
            assert!(!pools.is_empty(), "{backend} reports no pool");
            for pool in pools {
                let name = pool["name"].as_str().unwrap();
                // libtorch's inter-op pool is kept at 1: one eager graph
                // never runs two operators at once.
                let asked = if name.contains("inter-op") { 1 } else { n };
                assert_eq!(pool["asked"], asked, "{backend} {name}");
                assert_eq!(
                    pool["threads"], asked,
                    "{backend} {name} is not the size asked"
                );
            }
            assert!(threads["busy"].as_u64().unwrap() >= 1, "{backend}");
            assert!(threads["cpu_parallelism"].as_f64().unwrap() > 0.0);
        }
        // What each framework was built with is recorded for compare's diff.
        for fw in json["environment"]["frameworks"].as_array().unwrap() {
            assert!(
                !fw["build_features"].as_array().unwrap().is_empty(),
                "{}",
                fw["backend"]
            );
        }
        if cfg!(target_arch = "x86_64") {
            assert!(
                !json["environment"]["cpu_simd"]
                    .as_array()
                    .unwrap()
                    .is_empty()
            );
        }
    }
}
