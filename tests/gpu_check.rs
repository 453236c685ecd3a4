//! The prepared GPU check (`scripts/gpu-check.sh`) cannot rot: its dry run
//! plans every step on the CPU with the same arguments, in CI.

use std::process::Command;

fn gpu_check(args: &[&str]) -> (Option<i32>, String, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/gpu-check.sh");
    let out = Command::new("bash")
        .arg(script)
        .args(args)
        .output()
        .expect("bash runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_gpu_check_plans_every_step_on_the_cpu_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let bin = assert_cmd::cargo::cargo_bin("ditbench");
    let (code, stdout, stderr) = gpu_check(&[
        "--dry-run",
        "--bin",
        bin.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let plans: Vec<&str> = stdout.lines().filter(|l| l.starts_with("plan: ")).collect();
    assert_eq!(plans.len(), 4, "{stdout}");
    // Every step plans cases, and the small presets all four of them in
    // two dtypes.
    assert!(
        plans.iter().all(|p| !p.starts_with("plan: 0 case")),
        "{stdout}"
    );
    for preset in ["wan-tiny", "wan-small", "llama-tiny", "llama-small"] {
        for dtype in ["f32", "bf16"] {
            assert!(
                stdout.contains(&format!("  {preset} ")) && stdout.contains(dtype),
                "{preset} {dtype}: {stdout}"
            );
        }
    }
    assert!(stdout.contains("wan2.1-1.3b-480p[layers=2]"), "{stdout}");
    assert!(stdout.contains("llama-2-7b[layers=2]"), "{stdout}");
    assert!(
        stdout.contains("dry run passed (4 steps planned)"),
        "{stdout}"
    );
    assert!(!out.exists(), "a dry run writes nothing");
}

#[test]
fn the_gpu_check_refuses_bad_options() {
    let (code, _, stderr) = gpu_check(&["--device", "cpu", "--dry-run"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--device must be cuda:N"), "{stderr}");
    let (code, _, stderr) = gpu_check(&["--frobnicate"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("unknown option '--frobnicate'"), "{stderr}");
}
