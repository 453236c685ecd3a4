//! The prepared GPU check (`scripts/gpu-check.sh`) cannot rot: its dry run
//! plans every step with the same arguments, in CI (for cuda:0, which the
//! CI machine lacks, where the build has a backend for NVIDIA GPUs).

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
fn the_gpu_check_plans_every_step_and_writes_nothing() {
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
    // A backend built for NVIDIA GPUs is planned on cuda:0, which this
    // machine lacks (burn-wgpu in CI's build); a CPU-only build plans on the CPU.
    let planned_for_the_gpu = stdout.contains("planned for --devices cuda:0");
    assert_eq!(planned_for_the_gpu, cfg!(feature = "burn-wgpu"), "{stdout}");
    if planned_for_the_gpu {
        assert!(stderr.contains("cuda:0 is not on this machine"), "{stderr}");
        assert!(stdout.contains("cuda:0"), "{stdout}");
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

/// A directory of stand-ins on PATH: `nvidia-smi` listing one H100 (none
/// with FAKE_NO_GPU=1), `cargo`
/// recording its arguments (and naming `target` as its target directory), and
/// `target/release/ditbench` recording its own.
fn fake_gpu_machine(dir: &std::path::Path) -> String {
    let bin = dir.join("bin");
    let target = dir.join("target");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(target.join("release")).unwrap();
    let script = |path: std::path::PathBuf, body: String| {
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    script(
        bin.join("nvidia-smi"),
        "[ \"$FAKE_NO_GPU\" = 1 ] || echo 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0000)'".into(),
    );
    let log = dir.join("calls.log");
    script(
        bin.join("cargo"),
        format!(
            "case \"$1\" in metadata) echo '{{\"target_directory\":\"{}\"}}';; *) echo \"cargo $*\" >>{};; esac",
            target.display(),
            log.display()
        ),
    );
    script(
        target.join("release/ditbench"),
        format!("echo \"ditbench $*\" >>{}", log.display()),
    );
    let icd = dir.join("icd");
    std::fs::create_dir_all(&icd).unwrap();
    std::fs::write(icd.join("nvidia_icd.json"), "{}").unwrap();
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap())
}

#[test]
fn the_quick_start_builds_the_gpu_backends_on_a_machine_with_an_nvidia_gpu() {
    let dir = tempfile::tempdir().unwrap();
    let path = fake_gpu_machine(dir.path());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/run-suite.sh");
    let out = Command::new("bash")
        .args([script, "-p", "wan-tiny"])
        .env("PATH", &path)
        .env("DITBENCH_VULKAN_ICD_DIRS", dir.path().join("icd"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    // One line says what was chosen and what was left out, and why.
    assert!(
        stderr.contains(
            "GPU: 1 NVIDIA GPU(s) (NVIDIA H100 80GB HBM3): building tch-cuda,cuda,burn-wgpu; left out: burn-cuda"
        ),
        "{stderr}"
    );
    let calls = std::fs::read_to_string(dir.path().join("calls.log")).unwrap();
    assert_eq!(
        calls,
        "cargo build --release --locked --features tch,reference,tch-cuda,cuda,burn-wgpu\nditbench run --report -p wan-tiny\n"
    );
    // Without a GPU (or with DITBENCH_NO_GPU=1): libtorch on the CPU only.
    std::fs::remove_file(dir.path().join("calls.log")).unwrap();
    let out = Command::new("bash")
        .arg(script)
        .env("PATH", &path)
        .env("DITBENCH_NO_GPU", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let calls = std::fs::read_to_string(dir.path().join("calls.log")).unwrap();
    assert!(
        calls.starts_with("cargo build --release --locked --features tch,reference\n"),
        "{calls}"
    );
}

#[test]
fn without_a_gpu_a_software_vulkan_driver_gets_burn_wgpu_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let path = fake_gpu_machine(dir.path());
    let icd = dir.path().join("icd");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/run-suite.sh");
    let run = || {
        let out = Command::new("bash")
            .args([script, "-p", "wan-tiny"])
            .env("PATH", &path)
            .env("FAKE_NO_GPU", "1")
            .env("DITBENCH_VULKAN_ICD_DIRS", &icd)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let log = dir.path().join("calls.log");
        let calls = std::fs::read_to_string(&log).unwrap();
        std::fs::remove_file(&log).unwrap();
        (String::from_utf8_lossy(&out.stderr).into_owned(), calls)
    };
    // An NVIDIA Vulkan driver without an NVIDIA GPU: nothing to build for.
    let (stderr, calls) = run();
    assert!(stderr.contains("CPU backends only"), "{stderr}");
    assert!(
        calls.starts_with("cargo build --release --locked --features tch,reference\n"),
        "{calls}"
    );
    // Mesa's lavapipe: Burn's GPU code path on the CPU, only when named.
    std::fs::write(icd.join("lvp_icd.x86_64.json"), "{}").unwrap();
    let (stderr, calls) = run();
    assert!(
        stderr.contains("burn-wgpu for the software Vulkan device")
            && stderr.contains("--devices software"),
        "{stderr}"
    );
    assert!(
        calls.starts_with("cargo build --release --locked --features tch,reference,burn-wgpu\n"),
        "{calls}"
    );
}
