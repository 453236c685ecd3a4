use std::collections::BTreeMap;

use candle_core::{DType, Device, Tensor};
use ditbench_core::check::conformance::{self, workload};
use ditbench_core::compute::tensors::{SeededWeights, seeded_inputs};
use ditbench_core::model::cost::cost;
use ditbench_core::model::workload::{Dimension, Workload, expand_workloads, find_preset};
use ditbench_core::{Dtype, ModelConfig, Pass};

use super::*;
use crate::ops::{Mode, attention, attention_tiled};

/// Seeded f32 inference weights on the CPU.
fn cpu_weights(w: &Workload, seed: u64) -> Weights {
    Weights::load(
        &parameters(&w.config),
        &SeededWeights { seed },
        DType::F32,
        &Device::Cpu,
        false,
    )
    .unwrap()
}

/// Largest absolute elementwise difference.
pub(crate) fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .and_then(|d| d.abs())
        .and_then(|d| d.flatten_all())
        .and_then(|d| d.max(0))
        .and_then(|d| d.to_scalar())
        .unwrap()
}

/// candle-transformers' Llama, prefill and decode; it has no Wan and no training step.
#[cfg(feature = "reference")]
#[test]
fn candle_transformers_computes_what_ours_does() {
    conformance::references_match_ours(
        &CandleBackend,
        &[("llama-tiny", Pass::Forward), ("llama-tiny", Pass::Decode)],
        1e-5,
    );
}

#[test]
fn every_parameter_receives_a_nonzero_gradient() {
    conformance::every_parameter_receives_a_nonzero_gradient(&CandleBackend);
}

#[test]
fn fused_inference_matches_differentiable_training_forward() {
    conformance::forward_and_train_compute_the_same_output(&CandleBackend, 1e-5);
}

#[test]
fn outputs_have_reference_shapes_and_parameter_counts_match_the_cost_model() {
    conformance::outputs_have_reference_shapes(&CandleBackend);
    for w in [workload("wan-tiny"), workload("llama-tiny")] {
        let loaded = cpu_weights(&w, 0);
        assert_eq!(loaded.numel() as u64, cost(&w.config).parameters);
    }
}

#[test]
#[allow(clippy::needless_range_loop)] // index arithmetic mirrors the Conv3d definition
fn patch_embedding_equals_a_strided_conv3d() {
    let w = workload("wan-tiny");
    let ModelConfig::Wan(c) = &w.config else {
        panic!()
    };
    let weights = cpu_weights(&w, 1);
    let Inputs::Wan { latents, .. } = seeded_inputs(&w.config, 1) else {
        panic!()
    };
    let x = Tensor::from_slice(
        latents.as_f32().unwrap(),
        latents.shape.as_slice(),
        &Device::Cpu,
    )
    .unwrap();
    let model = WanModel::new(c, DType::F32, &Device::Cpu, kernel_attention()).unwrap();
    let resolved = WanParams::resolve(c, |name| weights.handle(name)).unwrap();
    let got: Vec<f32> = model
        .patch_embed(&resolved, &x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();

    // Naive Conv3d, kernel = stride = (1, 2, 2), output flattened as (f, h, w) tokens.
    let xv = latents.as_f32().unwrap();
    let kw: Vec<f32> = weights
        .get("patch_embedding.weight")
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let kb: Vec<f32> = weights
        .get("patch_embedding.bias")
        .unwrap()
        .to_vec1()
        .unwrap();
    let [ch, lf, lh, lw] = [c.in_dim, 3, 8, 8];
    let [gf, gh, gw] = c.grid();
    let [pt, ph, pw] = c.patch_size;
    let mut want = Vec::new();
    for f in 0..gf {
        for h in 0..gh {
            for wi in 0..gw {
                for o in 0..c.dim {
                    let mut acc = f64::from(kb[o]);
                    for ci in 0..ch {
                        for (a, b, d) in (0..pt).flat_map(|a| {
                            (0..ph).flat_map(move |b| (0..pw).map(move |d| (a, b, d)))
                        }) {
                            let xi = ((ci * lf + f * pt + a) * lh + h * ph + b) * lw + wi * pw + d;
                            let ki = (((o * ch + ci) * pt + a) * ph + b) * pw + d;
                            acc += f64::from(xv[xi]) * f64::from(kw[ki]);
                        }
                    }
                    want.push(acc as f32);
                }
            }
        }
    }
    let max = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(max < 1e-4, "max abs difference {max}");
}

#[test]
fn unpatchify_follows_the_reference_einsum() {
    let w = workload("wan-tiny");
    let ModelConfig::Wan(c) = &w.config else {
        panic!()
    };
    let model = WanModel::new(c, DType::F32, &Device::Cpu, kernel_attention()).unwrap();
    let [gf, gh, gw] = c.grid();
    let [pt, ph, pw] = c.patch_size;
    let co = c.out_dim;
    let per_token = pt * ph * pw * co;
    let n = gf * gh * gw * per_token;
    let x = Tensor::arange(0f32, n as f32, &Device::Cpu)
        .unwrap()
        .reshape((1, gf * gh * gw, per_token))
        .unwrap();
    let y: Vec<f32> = model
        .unpatchify(&x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    conformance::assert_unpatchify_layout(c, &y);
}

#[test]
fn llama_logits_do_not_depend_on_future_tokens() {
    let w = workload("llama-tiny");
    let ModelConfig::Llama(c) = &w.config else {
        panic!()
    };
    let weights = {
        let loaded = cpu_weights(&w, 0);
        LlamaParams::resolve(c, |name| loaded.handle(name))
    }
    .unwrap();
    let model = LlamaModel::new(c, DType::F32, &Device::Cpu, kernel_attention()).unwrap();
    let mut ids: Vec<u32> = (0..48).map(|i| (i * 7 % 256) as u32).collect();
    let logits = |ids: &[u32]| {
        let t = LlamaModel::device_tokens(ids, (1, 48), &Device::Cpu).unwrap();
        model.forward(&weights, &t, Mode::Inference).unwrap()
    };
    let before = logits(&ids);
    ids[40] = 255;
    let after = logits(&ids);
    assert_eq!(
        max_abs_diff(
            &before.narrow(1, 0, 40).unwrap(),
            &after.narrow(1, 0, 40).unwrap()
        ),
        0.0
    );
    assert!(
        max_abs_diff(
            &before.narrow(1, 40, 8).unwrap(),
            &after.narrow(1, 40, 8).unwrap()
        ) > 0.0
    );
}

#[test]
fn untrained_llama_loss_is_near_uniform_cross_entropy() {
    conformance::untrained_llama_loss_is_near_uniform_cross_entropy(&CandleBackend);
}

#[test]
fn half_precision_runs_close_to_f32() {
    conformance::half_precision_runs_close_to_f32(&CandleBackend, &[Pass::Forward]);
}

#[test]
fn overrides_change_the_built_model() {
    let sweeps = BTreeMap::from([(Dimension::Layers, vec![1]), (Dimension::Frames, vec![5])]);
    let w = expand_workloads(&["wan-tiny".to_string()], &sweeps)
        .unwrap()
        .remove(0);
    let out = conformance::run(&CandleBackend, &w, Dtype::F32, Pass::Forward);
    assert_eq!(out.output.shape, vec![1, 4, 2, 8, 8]);
    assert!(find_preset("wan-tiny").is_ok());
}

#[test]
fn kernels_compute_their_definitions() {
    conformance::kernels_compute_their_definitions(&CandleBackend);
}

#[test]
fn tiled_attention_is_exact_in_value_and_gradient() {
    use candle_core::Var;
    let dev = Device::Cpu;
    let (b, h, s, d) = (2, 3, 37, 8);
    let q = Var::from_tensor(&Tensor::randn(0f32, 1.0, (b, h, s, d), &dev).unwrap()).unwrap();
    let k = Var::from_tensor(&Tensor::randn(0f32, 1.0, (b, h, s, d), &dev).unwrap()).unwrap();
    let v = Var::from_tensor(&Tensor::randn(0f32, 1.0, (b, h, s, d), &dev).unwrap()).unwrap();
    let mask =
        Tensor::from_vec(ditbench_core::model::tables::causal_mask(s), (s, s), &dev).unwrap();
    for mask in [None, Some(&mask)] {
        for mode in [Mode::Inference, Mode::Training] {
            let full = attention(q.as_tensor(), k.as_tensor(), v.as_tensor(), mask, mode).unwrap();
            // 37 rows in tiles of 5: seven full tiles and a ragged one of 2.
            let tiled = attention_tiled(q.as_tensor(), k.as_tensor(), v.as_tensor(), mask, mode, 5)
                .unwrap();
            assert!(
                max_abs_diff(&full, &tiled) < 1e-6,
                "{mode:?} {}",
                mask.is_some()
            );
            if mode == Mode::Training {
                let g_full = full.sqr().unwrap().sum_all().unwrap().backward().unwrap();
                let g_tiled = tiled.sqr().unwrap().sum_all().unwrap().backward().unwrap();
                for var in [&q, &k, &v] {
                    let (a, b) = (g_full.get(var).unwrap(), g_tiled.get(var).unwrap());
                    assert!(max_abs_diff(a, b) < 1e-5);
                }
            }
        }
    }
}

#[test]
fn every_attention_path_computes_the_same_model() {
    conformance::every_attention_path_computes_the_same_model(&CandleBackend);
}

#[test]
fn a_decode_step_equals_the_forward_at_its_position() {
    conformance::a_decode_step_equals_the_forward_at_its_position(&CandleBackend);
}

#[test]
fn the_chunked_vae_decode_equals_a_one_shot_decode() {
    let c = conformance::chunked_vae();
    let config = ModelConfig::WanVae(c.clone());
    let weights = Weights::load(
        &parameters(&config),
        &SeededWeights { seed: 0 },
        DType::F32,
        &Device::Cpu,
        false,
    )
    .unwrap();
    let params = WanVaeParams::resolve(&c, |name| weights.handle(name)).unwrap();
    let Inputs::WanVae { latents } = seeded_inputs(&config, 0) else {
        panic!("VAE inputs")
    };
    let z = Tensor::from_slice(
        latents.as_f32().unwrap(),
        latents.shape.as_slice(),
        &Device::Cpu,
    )
    .unwrap();
    let model = WanVaeModel::new(&c, kernel_attention()).unwrap();
    let chunked = model.decode(&params, &z).unwrap();
    let one_shot = model
        .decode_in_chunks(&params, &z, &conformance::one_shot_chunks(&c))
        .unwrap();
    conformance::assert_chunked_decode_is_one_shot(
        "candle",
        &to_host(&chunked).unwrap(),
        &to_host(&one_shot).unwrap(),
    );
}
