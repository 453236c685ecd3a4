use ditbench_core::check::conformance::{self, workload};
use ditbench_core::compute::tensors::{SeededWeights, seeded_inputs};
use ditbench_core::model::cost::cost;
use ditbench_core::model::workload::{ModelConfig, Workload};

use super::*;

fn prepare(workload: &Workload, dtype: Dtype, pass: Pass) -> Box<dyn PreparedCase> {
    let spec = CaseSpec {
        workload: workload.clone(),
        backend: "tch".into(),
        device: DeviceName::Cpu,
        dtype,
        pass,
        seed: 0,
        attention: kernel_attention(),
    };
    let inputs = seeded_inputs(&workload.config, 0);
    TchBackend
        .prepare(&spec, &SeededWeights { seed: 0 }, &inputs)
        .unwrap()
}

#[test]
fn every_parameter_receives_a_nonzero_gradient() {
    conformance::every_parameter_receives_a_nonzero_gradient(&TchBackend);
}

#[test]
fn gradients_do_not_accumulate_across_steps() {
    let w = workload("wan-tiny");
    let mut prepared = prepare(&w, Dtype::F32, Pass::Train);
    let first = prepared.output().unwrap();
    for _ in 0..3 {
        prepared.step().unwrap();
    }
    let later = prepared.output().unwrap();
    assert_eq!(first.grad_norms, later.grad_norms);
}

#[test]
fn outputs_have_reference_shapes_and_parameter_counts_match_the_cost_model() {
    conformance::outputs_have_reference_shapes(&TchBackend);
    for w in [workload("wan-tiny"), workload("llama-tiny")] {
        let specs = parameters(&w.config);
        let loaded = Weights::load(
            &specs,
            &SeededWeights { seed: 0 },
            Kind::Float,
            Device::Cpu,
            false,
        )
        .unwrap();
        let numel: i64 = specs
            .iter()
            .map(|s| loaded.get(&s.name).unwrap().numel() as i64)
            .sum();
        assert_eq!(numel as u64, cost(&w.config).parameters);
    }
}

#[test]
fn forward_and_train_compute_the_same_output() {
    conformance::forward_and_train_compute_the_same_output(&TchBackend, 1e-6);
}

#[test]
fn unpatchify_follows_the_reference_einsum() {
    let w = workload("wan-tiny");
    let ModelConfig::Wan(c) = &w.config else {
        panic!()
    };
    let model = WanModel::new(c, Kind::Float, Device::Cpu, kernel_attention()).unwrap();
    let [gf, gh, gw] = c.grid();
    let [pt, ph, pw] = c.patch_size;
    let n = gf * gh * gw * pt * ph * pw * c.out_dim;
    let values: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let x = upload(
        &values,
        &[1, gf * gh * gw, pt * ph * pw * c.out_dim],
        Kind::Float,
        Device::Cpu,
    )
    .unwrap();
    let y = to_host(&model.unpatchify(&x).unwrap()).unwrap();
    conformance::assert_unpatchify_layout(c, y.as_f32().unwrap());
}

#[test]
fn llama_logits_do_not_depend_on_future_tokens() {
    let w = workload("llama-tiny");
    let ModelConfig::Llama(c) = &w.config else {
        panic!()
    };
    let weights = Weights::load(
        &parameters(&w.config),
        &SeededWeights { seed: 0 },
        Kind::Float,
        Device::Cpu,
        false,
    )
    .unwrap();
    let weights = LlamaParams::resolve(c, |name| weights.handle(name)).unwrap();
    let model = LlamaModel::new(c, Kind::Float, Device::Cpu, kernel_attention()).unwrap();
    let mut ids: Vec<u32> = (0..48).map(|i| (i * 7 % 256) as u32).collect();
    let logits = |ids: &[u32]| {
        let t = LlamaModel::device_tokens(ids, (1, 48), Device::Cpu).unwrap();
        model.forward(&weights, &t).unwrap()
    };
    let before = logits(&ids);
    ids[40] = 255;
    let after = logits(&ids);
    let diff = |start, len| {
        let a = before.narrow(1, start, len);
        let b = after.narrow(1, start, len);
        (a - b).abs().max().double_value(&[])
    };
    assert_eq!(diff(0, 40), 0.0);
    assert!(diff(40, 8) > 0.0);
}

#[test]
fn untrained_llama_loss_is_near_uniform_cross_entropy() {
    conformance::untrained_llama_loss_is_near_uniform_cross_entropy(&TchBackend);
}

#[test]
fn half_precision_runs_close_to_f32() {
    conformance::half_precision_runs_close_to_f32(&TchBackend, &[Pass::Forward, Pass::Train]);
}

#[test]
fn records_the_attention_kernel_libtorch_chose() {
    let mut prepared = prepare(&workload("llama-tiny"), Dtype::F32, Pass::Forward);
    prepared.step().unwrap();
    let attention = prepared.attention_impl();
    assert!(attention.starts_with("torch.nn.functional.scaled_dot_product_attention (causal: "));
    assert!(!attention.contains("unknown"), "{attention}");
    let mut prepared = prepare(&workload("wan-tiny"), Dtype::F32, Pass::Train);
    prepared.step().unwrap();
    let attention = prepared.attention_impl();
    assert!(
        attention.contains("cross: ") && attention.contains("self: "),
        "{attention}"
    );
    assert!(!prepared.heap_measured());
}

#[test]
fn lists_the_cpu_and_names_the_linked_libtorch() {
    assert_eq!(TchBackend.devices()[0], DeviceName::Cpu);
    assert!(tch_device(DeviceName::Cuda(99)).is_err());
    let version = TchBackend.framework_version();
    assert!(version.starts_with("libtorch 2.11.0"), "{version}");
    assert!(version.contains("tch 0.24.0"), "{version}");
}

#[test]
fn kernels_compute_their_definitions() {
    conformance::kernels_compute_their_definitions(&TchBackend);
}

#[test]
fn every_attention_path_computes_the_same_model() {
    conformance::every_attention_path_computes_the_same_model(&TchBackend);
}

#[test]
fn a_decode_step_equals_the_forward_at_its_position() {
    conformance::a_decode_step_equals_the_forward_at_its_position(&TchBackend);
}

#[test]
fn the_cpu_reports_no_framework_device_memory() {
    let w = workload("wan-tiny");
    assert_eq!(
        prepare(&w, Dtype::F32, Pass::Forward).framework_memory(),
        None
    );
}

/// The caching allocator's figures: an error without a GPU, and on one a
/// peak that covers a tensor allocated after the reset.
#[cfg(feature = "tch-cuda")]
#[test]
fn the_caching_allocator_reports_a_peak_on_a_gpu_and_nothing_without_one() {
    if !Cuda::is_available() {
        assert_eq!(crate::cuda_memory::framework_memory(0), None);
        return;
    }
    assert!(crate::cuda_memory::reset_peak(0));
    let bytes = 64 << 20;
    let t = Tensor::zeros([bytes / 4], (Kind::Float, Device::Cuda(0)));
    let memory = crate::cuda_memory::framework_memory(0).expect("figures on a GPU");
    assert!(
        memory.peak_allocated_bytes.unwrap() >= bytes as u64,
        "{memory:?}"
    );
    assert!(memory.reserved_bytes.unwrap() >= memory.allocated_bytes.unwrap());
    drop(t);
}

#[test]
fn the_chunked_vae_decode_equals_a_one_shot_decode() {
    let c = conformance::chunked_vae();
    let config = ModelConfig::WanVae(c.clone());
    let weights = Weights::load(
        &parameters(&config),
        &SeededWeights { seed: 0 },
        Kind::Float,
        Device::Cpu,
        false,
    )
    .unwrap();
    let params = WanVaeParams::resolve(&c, |name| weights.handle(name)).unwrap();
    let Inputs::WanVae { latents } = seeded_inputs(&config, 0) else {
        panic!("VAE inputs")
    };
    let z = upload(
        latents.as_f32().unwrap(),
        &latents.shape,
        Kind::Float,
        Device::Cpu,
    )
    .unwrap();
    let model = WanVaeModel::new(&c, kernel_attention());
    let _no_grad = tch::no_grad_guard();
    let chunked = model.decode(&params, &z).unwrap();
    let chunks: Vec<i64> = conformance::one_shot_chunks(&c)
        .iter()
        .map(|&n| n as i64)
        .collect();
    let one_shot = model.decode_in_chunks(&params, &z, &chunks).unwrap();
    conformance::assert_chunked_decode_is_one_shot(
        "tch",
        &to_host(&chunked).unwrap(),
        &to_host(&one_shot).unwrap(),
    );
}
