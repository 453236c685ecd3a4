//! Burn's GPU code path (burn-wgpu: device selection, synchronisation around
//! the timed region, the framework's device memory, the recorded attention
//! path) run for real on a software Vulkan device (Mesa's lavapipe), with
//! parity against the CPU reference, and labelled as a software device.
//!
//! Skipped without burn-wgpu compiled or without a software Vulkan driver,
//! unless DITBENCH_REQUIRE_SOFTWARE_DEVICE=1 (CI), where that is a failure.

mod common;

use common::{QUICK, ditbench, result_files, schema};
use serde_json::Value;

/// Whether a missing software device fails the test (CI) or skips it.
fn required() -> bool {
    std::env::var("DITBENCH_REQUIRE_SOFTWARE_DEVICE").is_ok_and(|v| v == "1")
}

fn skip(why: &str) {
    assert!(!required(), "DITBENCH_REQUIRE_SOFTWARE_DEVICE=1 but {why}");
    eprintln!("SKIP: {why}");
}

#[test]
fn burn_wgpu_runs_on_the_software_device_with_parity_against_the_cpu_reference() {
    if !cfg!(feature = "burn-wgpu") {
        return skip(
            "this build has no burn-wgpu (scripts/test.sh builds it where lavapipe is installed)",
        );
    }
    let reference = if cfg!(feature = "tch") {
        "tch"
    } else {
        "candle"
    };
    let dir = tempfile::tempdir().unwrap();
    let out = ditbench()
        .args([
            "run",
            "-p",
            "wan-tiny,llama-tiny",
            "--passes",
            "forward,train",
        ])
        .args([
            "-b",
            &format!("{reference},burn-wgpu"),
            "--devices",
            "cpu,software",
        ])
        .args(QUICK)
        .arg("--out")
        .arg(dir.path())
        // As on a CI runner or a GPU node: no desktop session.
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(2) && stderr.contains("device 'software' is not available") {
        return skip("no software Vulkan device (install Debian's mesa-vulkan-drivers)");
    }
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    // The Vulkan loader's complaint about XDG_RUNTIME_DIR stays off the terminal.
    assert!(!stderr.contains("XDG_RUNTIME_DIR"), "{stderr}");
    assert!(!stdout.contains("XDG_RUNTIME_DIR"), "{stdout}");

    let file = result_files(dir.path()).remove(0);
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    // The framework's memory and the software device are in the schema.
    let errors: Vec<String> = schema().iter_errors(&json).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let cases = json["cases"].as_array().unwrap();
    let software: Vec<&Value> = cases.iter().filter(|c| c["device"] == "software").collect();
    // wan-tiny and llama-tiny, forward and train, on burn-wgpu only.
    assert_eq!(software.len(), 4, "{cases:#?}");
    for c in software {
        let id = &c["id"];
        assert_eq!(c["backend"], "burn-wgpu", "{id}");
        assert_eq!(c["status"], "ok", "{id}: {}", c["error"]);
        // Checked against the CPU reference: the software device computes on the CPU.
        assert_eq!(c["parity"]["reference"], reference, "{id}");
        assert_eq!(c["parity"]["status"], "pass", "{id}: {}", c["parity"]);
        let name = c["device_name"].as_str().unwrap();
        assert!(
            name.contains("software Vulkan device") && name.contains("not a GPU"),
            "{name}"
        );
        let notes = c["notes"].to_string();
        assert!(notes.contains("software device"), "{id}: {notes}");
        // The attention path Burn's GPU backend ran, as it records it.
        let attention = c["attention"].as_str().unwrap();
        let expected = if c["pass"] == "forward" {
            "the CubeCL backend's attention kernel"
        } else {
            "under Autodiff"
        };
        assert!(attention.contains(expected), "{id}: {attention}");
        // Burn's own memory pools were read after the timed passes.
        let framework = &c["memory"]["framework"];
        assert!(
            framework["source"]
                .as_str()
                .unwrap()
                .contains("memory_pool_usage"),
            "{id}"
        );
        assert!(
            framework["reserved_bytes"].as_u64().unwrap() > 0,
            "{id}: {framework}"
        );
        assert!(c["stats"]["median_s"].as_f64().unwrap() > 0.0, "{id}");
    }
    // The terminal names the device as software, never as a GPU.
    assert!(stdout.contains("software"), "{stdout}");

    // The buyer's view leaves the software device out; the cases stay in the report.
    let report = ditbench()
        .args(["report", "--format", "md"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(report.status.code(), Some(0), "{report:?}");
    let md = String::from_utf8_lossy(&report.stdout);
    // The buyer's table: its title, a blank line, then the table.
    let buyers = md
        .split("\n## ")
        .find(|s| s.starts_with("What a clip, an image and 1M LLM tokens cost"))
        .and_then(|section| section.split("\n\n").nth(1))
        .expect("a buyer's view");
    assert!(buyers.contains(" · cpu ("), "{buyers}");
    assert!(!buyers.contains("software"), "{buyers}");
    assert!(md.contains("| burn-wgpu | software |"), "{md}");
    // Shown, but never the fastest: tch on the CPU decides.
    assert!(!md.contains("not sure: burn-wgpu"), "{md}");

    // A default run leaves the software device out, and says why burn-wgpu
    // has no cases.
    let plan = ditbench()
        .args(["run", "--plan", "-p", "wan-tiny", "--passes", "forward"])
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&plan.stdout);
    let stderr = String::from_utf8_lossy(&plan.stderr);
    assert_eq!(plan.status.code(), Some(0), "{stderr}");
    assert!(
        !stdout.contains("software") && !stdout.contains("burn-wgpu"),
        "{stdout}"
    );
    assert!(
        stderr.contains("burn-wgpu runs on none of the run's devices (cpu)")
            && stderr.contains("runs only when named (--devices software)"),
        "{stderr}"
    );
}
