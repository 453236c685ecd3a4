use std::collections::BTreeMap;

use burn::tensor::Device;
use ditbench_harness::cost::cost;
use ditbench_harness::params::parameters;
use ditbench_harness::tensors::{SeededWeights, seeded_inputs};
use ditbench_harness::workload::{Workload, expand_workloads};
use ditbench_harness::{Backend, CaseSpec, Dtype, ModelConfig, Pass, PassOutput};

use super::*;

fn workload(name: &str) -> Workload {
    expand_workloads(&[name.to_string()], &BTreeMap::new())
        .unwrap()
        .remove(0)
}

fn run(backend: &BurnBackend, workload: &Workload, dtype: Dtype, pass: Pass) -> PassOutput {
    let spec = CaseSpec {
        workload: workload.clone(),
        backend: backend.name().into(),
        device: "cpu".into(),
        dtype,
        pass,
        seed: 0,
    };
    let inputs = seeded_inputs(&workload.config, 0);
    let mut prepared = backend
        .prepare(&spec, &SeededWeights { seed: 0 }, &inputs)
        .unwrap();
    prepared.step().unwrap();
    prepared.output().unwrap()
}

#[test]
fn every_parameter_receives_a_nonzero_gradient() {
    let mut tied = workload("llama-tiny");
    if let ModelConfig::Llama(c) = &mut tied.config {
        c.tie_word_embeddings = true;
    }
    for backend in [&FLEX, &NDARRAY] {
        for w in [workload("wan-tiny"), workload("llama-tiny"), tied.clone()] {
            let out = run(backend, &w, Dtype::F32, Pass::Train);
            assert_eq!(out.grad_norms.len(), parameters(&w.config).len());
            for (name, norm) in &out.grad_norms {
                assert!(
                    norm.is_finite() && *norm > 0.0,
                    "{} {}: {name} has gradient norm {norm}",
                    backend.name(),
                    w.label()
                );
            }
            assert!(out.loss.unwrap().is_finite());
        }
    }
}

#[test]
fn outputs_have_reference_shapes_and_parameter_counts_match_the_cost_model() {
    for backend in [&FLEX, &NDARRAY] {
        let w = workload("wan-tiny");
        let out = run(backend, &w, Dtype::F32, Pass::Forward);
        assert_eq!(out.output.shape, vec![1, 4, 3, 8, 8]);
        let l = workload("llama-tiny");
        let out = run(backend, &l, Dtype::F32, Pass::Forward);
        assert_eq!(out.output.shape, vec![1, 48, 256]);
    }
    for w in [workload("wan-tiny"), workload("llama-tiny")] {
        let loaded = Weights::load(
            &parameters(&w.config),
            &SeededWeights { seed: 0 },
            DType::F32,
            &Device::flex(),
            false,
        )
        .unwrap();
        assert_eq!(loaded.numel() as u64, cost(&w.config).parameters);
    }
}

#[test]
fn flex_and_ndarray_compute_the_same_function() {
    for name in ["wan-tiny", "llama-tiny"] {
        let w = workload(name);
        let a = run(&FLEX, &w, Dtype::F32, Pass::Train);
        let b = run(&NDARRAY, &w, Dtype::F32, Pass::Train);
        let p = ditbench_harness::parity::compare("burn-flex", &a, &b, Dtype::F32);
        assert_eq!(
            p.status,
            ditbench_harness::parity::ParityStatus::Pass,
            "{name}: {p:?}"
        );
    }
}

#[test]
fn unsupported_dtypes_are_reported_not_run() {
    // Whatever this build supports, an unsupported combination must come with a reason.
    for backend in [&FLEX, &NDARRAY] {
        for dtype in Dtype::ALL {
            if let Some(reason) = backend.unsupported("cpu", dtype, Pass::Forward) {
                assert!(reason.contains(backend.name()) && reason.contains(dtype.name()));
            }
        }
        assert!(
            backend
                .unsupported("cpu", Dtype::F32, Pass::Train)
                .is_none()
        );
    }
}
