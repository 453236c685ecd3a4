//! Cross-framework parity: libtorch (with the `tch` feature), Candle,
//! Burn-Flex and Burn-NdArray compute the same function on the same weights
//! and inputs, and the check can fail.

mod common;

use common::{cpu_frameworks, ditbench, result_files};
use ditbench_core::check::conformance::{self, workload};
use ditbench_core::check::parity::{ParityStatus, compare};
use ditbench_core::{Backend, DeviceName, Dtype, Pass, PassOutput};
use serde_json::Value;

fn run(backend: &dyn Backend, preset: &str, pass: Pass) -> PassOutput {
    conformance::run(backend, &workload(preset), Dtype::F32, pass)
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

/// Every backend in `others` computes what `reference` computes on wan-tiny
/// and llama-tiny, both passes: output, loss, global and per-parameter
/// gradient norms within 1e-4 relative in f32.
fn agree_within_1e_4_in_f32(reference: &dyn Backend, others: &[&dyn Backend]) {
    for preset in ["wan-tiny", "llama-tiny"] {
        for pass in [Pass::Forward, Pass::Train] {
            let expected = run(reference, preset, pass);
            for backend in others {
                let out = run(*backend, preset, pass);
                let p = compare(reference.name(), &expected, &out, Dtype::F32);
                let label = format!("{preset} {pass} {} vs {}", backend.name(), reference.name());
                assert_eq!(p.status, ParityStatus::Pass, "{label}: {p:?}");
                assert!(p.output_rel_error < 1e-4, "{label}");
                if pass == Pass::Train {
                    assert!(
                        rel(out.loss.unwrap(), expected.loss.unwrap()) < 1e-4,
                        "{label} loss"
                    );
                    let g = |o: &PassOutput| {
                        o.grad_norms.iter().map(|(_, n)| n * n).sum::<f64>().sqrt()
                    };
                    assert!(rel(g(&out), g(&expected)) < 1e-4, "{label} gradient norm");
                    // Per-parameter agreement too, not only the global norm.
                    for ((name, a), (_, b)) in out.grad_norms.iter().zip(&expected.grad_norms) {
                        assert!(
                            rel(*a, *b) < 1e-3,
                            "{label}: gradient of {name}: {a} vs {b}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn burn_backends_agree_with_candle_within_1e_4_in_f32() {
    agree_within_1e_4_in_f32(
        &ditbench_candle::CandleBackend,
        &[&ditbench_burn::FLEX, &ditbench_burn::NDARRAY],
    );
}

#[cfg(feature = "tch")]
#[test]
fn candle_and_burn_agree_with_libtorch_within_1e_4_in_f32() {
    agree_within_1e_4_in_f32(
        &ditbench_tch::TchBackend,
        &[
            &ditbench_candle::CandleBackend,
            &ditbench_burn::FLEX,
            &ditbench_burn::NDARRAY,
        ],
    );
}

/// The building blocks the benches time (a Wan block, attention, matmuls)
/// agree across every compiled backend: outputs, losses and every operand's
/// gradient norm, with the parity reference first.
#[test]
fn kernels_agree_across_backends_within_1e_4_in_f32() {
    let backends = ditbench::compiled_backends();
    let (reference, others) = backends.split_first().expect("a compiled backend");
    // Each on the CPU, or a software device (burn-wgpu on lavapipe); a
    // backend with only GPUs is checked on a GPU machine.
    let others: Vec<_> = others
        .iter()
        .filter_map(|b| match conformance::host_device(*b) {
            Some(device) => Some((*b, device)),
            None => {
                eprintln!("{}: no CPU or software device here; not checked", b.name());
                None
            }
        })
        .collect();
    for kernel in conformance::tiny_kernels() {
        for pass in [Pass::Forward, Pass::Train] {
            let expected =
                conformance::run_kernel(*reference, &kernel, DeviceName::Cpu, Dtype::F32, pass);
            for &(backend, device) in &others {
                let out = conformance::run_kernel(backend, &kernel, device, Dtype::F32, pass);
                let label = format!(
                    "{kernel} {pass} {} on {device} vs {}",
                    backend.name(),
                    reference.name()
                );
                let p = compare(reference.name(), &expected, &out, Dtype::F32);
                assert_eq!(p.status, ParityStatus::Pass, "{label}: {p:?}");
                for ((name, a), (_, b)) in out.grad_norms.iter().zip(&expected.grad_norms) {
                    assert!(
                        rel(*a, *b) < 1e-3,
                        "{label}: gradient of {name}: {a} vs {b}"
                    );
                }
                assert_eq!(out.grad_norms.len(), expected.grad_norms.len(), "{label}");
            }
        }
    }
}

fn run_cli(env: Option<&str>) -> (Option<i32>, Value) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = ditbench();
    cmd.args([
        "run",
        "--presets",
        "wan-tiny,llama-tiny",
        "--budget",
        "0.3",
        "--min-time",
        "0.05",
        "--min-iters",
        "2",
    ])
    .arg("--out")
    .arg(dir.path());
    if let Some(backend) = env {
        cmd.env("DITBENCH_TEST_PERTURB_WEIGHTS", backend);
    }
    let output = cmd.output().unwrap();
    let file = result_files(dir.path()).remove(0);
    let json: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    (output.status.code(), json)
}

#[test]
fn every_run_checks_parity_and_a_perturbed_backend_fails_it() {
    let (code, json) = run_cli(None);
    assert_eq!(code, Some(0));
    let cases = json["cases"].as_array().unwrap();
    // Forward and train of two presets, and the LLM's decode, for every
    // compiled backend: decode is checked for parity too.
    assert_eq!(cases.len(), 5 * cpu_frameworks(&json).len());
    let reference = if cfg!(feature = "tch") {
        "tch"
    } else {
        "candle"
    };
    for c in cases {
        let p = &c["parity"];
        assert_eq!(p["reference"], reference, "{}", c["id"]);
        let expected = if c["backend"] == reference {
            "reference"
        } else {
            "pass"
        };
        assert_eq!(p["status"], expected, "{}: {p}", c["id"]);
    }

    let (code, json) = run_cli(Some("burn-ndarray"));
    assert_eq!(code, Some(1), "a parity failure exits non-zero");
    for c in json["cases"].as_array().unwrap() {
        assert_eq!(c["status"], "ok", "every case still ran and was written");
        let status = c["parity"]["status"].as_str().unwrap();
        match c["backend"].as_str().unwrap() {
            "burn-ndarray" => {
                assert_eq!(status, "fail", "{}", c["id"]);
                assert!(c["parity"]["detail"].as_str().unwrap().contains("relative"));
            }
            b if b == reference => assert_eq!(status, "reference"),
            _ => assert_eq!(status, "pass"),
        }
    }
}
