use burn::tensor::Device;
use ditbench_core::check::conformance::{self, run, workload};
use ditbench_core::compute::tensors::SeededWeights;
use ditbench_core::model::cost::cost;
use ditbench_core::model::params::parameters;
use ditbench_core::{Backend, DeviceName, Dtype, Pass};

use super::*;

/// Burn's own modules on every pass of both families, Flex and NdArray.
#[test]
fn burns_own_modules_compute_what_ours_does() {
    let every = [
        ("wan-tiny", Pass::Forward),
        ("wan-tiny", Pass::Train),
        ("llama-tiny", Pass::Forward),
        ("llama-tiny", Pass::Train),
        ("llama-tiny", Pass::Decode),
    ];
    for backend in [&FLEX, &NDARRAY] {
        conformance::references_match_ours(backend, &every, 1e-5);
    }
}

#[test]
fn every_parameter_receives_a_nonzero_gradient() {
    for backend in [&FLEX, &NDARRAY] {
        conformance::every_parameter_receives_a_nonzero_gradient(backend);
    }
}

#[test]
fn forward_and_train_compute_the_same_output() {
    for backend in [&FLEX, &NDARRAY] {
        conformance::forward_and_train_compute_the_same_output(backend, 1e-5);
    }
}

#[test]
fn untrained_llama_loss_is_near_uniform_cross_entropy() {
    for backend in [&FLEX, &NDARRAY] {
        conformance::untrained_llama_loss_is_near_uniform_cross_entropy(backend);
    }
}

#[test]
fn outputs_have_reference_shapes_and_parameter_counts_match_the_cost_model() {
    for backend in [&FLEX, &NDARRAY] {
        conformance::outputs_have_reference_shapes(backend);
    }
    for w in [workload("wan-tiny"), workload("llama-tiny")] {
        let loaded = Weights::load(
            &parameters(&w.config),
            &SeededWeights { seed: 0 },
            DType::F32,
            &Device::flex(),
            false,
            crate::weights::MatmulLayout::InOut,
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
        let p = ditbench_core::check::parity::compare("burn-flex", &a, &b, Dtype::F32);
        assert_eq!(
            p.status,
            ditbench_core::check::parity::ParityStatus::Pass,
            "{name}: {p:?}"
        );
    }
}

#[test]
fn unsupported_dtypes_are_reported_not_run() {
    // Whatever this build supports, an unsupported combination must come with a reason.
    for backend in [&FLEX, &NDARRAY] {
        for dtype in Dtype::ALL {
            if let Some(reason) = backend.unsupported(DeviceName::Cpu, dtype, Pass::Forward) {
                assert!(reason.contains(backend.name()) && reason.contains(dtype.name()));
            }
        }
        assert!(
            backend
                .unsupported(DeviceName::Cpu, Dtype::F32, Pass::Train)
                .is_none()
        );
    }
}

#[test]
fn kernels_compute_their_definitions() {
    for backend in [&FLEX, &NDARRAY] {
        conformance::kernels_compute_their_definitions(backend);
    }
}

#[test]
fn every_attention_path_computes_the_same_model() {
    for backend in [&FLEX, &NDARRAY] {
        conformance::every_attention_path_computes_the_same_model(backend);
    }
}

#[test]
fn a_decode_step_equals_the_forward_at_its_position() {
    for backend in [&FLEX, &NDARRAY] {
        conformance::a_decode_step_equals_the_forward_at_its_position(backend);
    }
}

#[test]
fn a_matmul_weight_is_stored_transposed_and_read_back_as_in_out_either_way() {
    // [2, 3] row-major -> [3, 2].
    let t = crate::weights::transposed(vec![1, 2, 3, 4, 5, 6], 2, true);
    assert_eq!(t, vec![1, 4, 2, 5, 3, 6]);
    assert_eq!(crate::weights::transposed(vec![1, 2], 1, false), vec![1, 2]);
}

#[test]
fn the_chunked_vae_decode_equals_a_one_shot_decode() {
    let c = conformance::chunked_vae();
    let config = ditbench_core::ModelConfig::WanVae(c.clone());
    for backend in [&FLEX, &NDARRAY] {
        let (name, device) = (
            backend.name(),
            backend.device(DeviceName::Cpu, Pass::Forward).unwrap(),
        );
        let weights = Weights::load(
            &parameters(&config),
            &SeededWeights { seed: 0 },
            DType::F32,
            &device,
            false,
            crate::weights::MatmulLayout::InOut,
        )
        .unwrap();
        let params =
            ditbench_core::model::wan_vae::WanVaeParams::resolve(&c, |n| weights.param(n)).unwrap();
        let ditbench_core::Inputs::WanVae { latents } =
            ditbench_core::compute::tensors::seeded_inputs(&config, 0)
        else {
            panic!("VAE inputs")
        };
        let shape: [usize; 5] = latents.shape.as_slice().try_into().unwrap();
        let z = float_tensor(
            latents.as_f32().unwrap().to_vec(),
            shape,
            DType::F32,
            &device,
        );
        let model = crate::wan_vae::WanVaeModel::new(&c, kernel_attention());
        let chunked = model.decode(&params, z.clone());
        let one_shot = model.decode_in_chunks(&params, z, &conformance::one_shot_chunks(&c));
        conformance::assert_chunked_decode_is_one_shot(
            name,
            &host(chunked).unwrap(),
            &host(one_shot).unwrap(),
        );
    }
}
