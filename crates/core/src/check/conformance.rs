//! Checks every backend must pass, shared by the backend crates' tests so
//! each framework is held to the same definition of "computes the model".
//! Each function panics with a message naming the backend and workload.

use std::collections::BTreeMap;

use crate::check::parity::compare;
use crate::compute::backend::{Backend, PassOutput};
use crate::compute::kernels::{Kernel, KernelSpec, host_reference, wan_kernels};
use crate::compute::tensors::{HostTensor, SeededWeights, seeded_inputs};
use crate::model::attention::{self, TILE_SCORE_BYTES};
use crate::model::case::{AttentionChoice, AttentionPlan, CaseSpec, DeviceName, Dtype, Pass};
use crate::model::params::parameters;
use crate::model::workload::{ModelConfig, WanConfig, WanVaeConfig, Workload, expand_workloads};

/// A preset as a workload, without overrides.
pub fn workload(preset: &str) -> Workload {
    expand_workloads(&[preset.to_string()], &BTreeMap::new())
        .expect("known preset")
        .remove(0)
}

/// Build `workload` on the backend's CPU with seed-0 data, run one step of
/// `pass` (as the timed loop would), then return the pass's results. The
/// attention is what `--attention auto` plans.
pub fn run(backend: &dyn Backend, workload: &Workload, dtype: Dtype, pass: Pass) -> PassOutput {
    let offered = backend.attention_paths(DeviceName::Cpu, pass);
    let plan = attention::plan(
        AttentionChoice::Auto,
        &offered,
        &workload.config,
        TILE_SCORE_BYTES,
    );
    run_with(backend, workload, dtype, pass, plan)
}

/// [`run`] with the given attention plan.
pub fn run_with(
    backend: &dyn Backend,
    workload: &Workload,
    dtype: Dtype,
    pass: Pass,
    attention: AttentionPlan,
) -> PassOutput {
    let spec = CaseSpec {
        workload: workload.clone(),
        backend: backend.name().into(),
        device: DeviceName::Cpu,
        dtype,
        pass,
        seed: 0,
        attention,
    };
    let inputs = seeded_inputs(&workload.config, 0);
    let mut prepared = backend
        .prepare(&spec, &SeededWeights { seed: 0 }, &inputs)
        .unwrap_or_else(|e| panic!("{}: prepare failed: {e:#}", spec.label()));
    prepared.step().unwrap();
    prepared.output().unwrap()
}

/// The building blocks of wan-tiny (`kernels::wan_kernels`).
pub fn tiny_kernels() -> Vec<Kernel> {
    match workload("wan-tiny").config {
        ModelConfig::Wan(c) => wan_kernels(&c),
        _ => unreachable!("wan-tiny is a Wan preset"),
    }
}

/// The device a conformance check runs `backend` on: the CPU, else a
/// software device (the CPU under a GPU API); `None` for a backend with
/// only GPUs.
pub fn host_device(backend: &dyn Backend) -> Option<DeviceName> {
    let devices = backend.devices();
    [DeviceName::Cpu, DeviceName::Software]
        .into_iter()
        .find(|d| devices.contains(d))
}

/// Build `kernel` on `device` with seed-0 operands, run one step of `pass`
/// (as the benches do), then return its results.
pub fn run_kernel(
    backend: &dyn Backend,
    kernel: &Kernel,
    device: DeviceName,
    dtype: Dtype,
    pass: Pass,
) -> PassOutput {
    let spec = KernelSpec {
        kernel: kernel.clone(),
        device,
        dtype,
        pass,
    };
    let label = format!("{} {}", backend.name(), spec.label());
    let mut prepared = backend
        .prepare_kernel(&spec, &SeededWeights { seed: 0 })
        .unwrap_or_else(|e| panic!("{label}: prepare failed: {e:#}"));
    prepared.step().unwrap_or_else(|e| panic!("{label}: {e:#}"));
    prepared
        .output()
        .unwrap_or_else(|e| panic!("{label}: {e:#}"))
}

/// Each building block of wan-tiny, and the bandwidth calibration's sum,
/// computes its definition in f32: output
/// shape; attention and matmul within 1e-5 of the host's f64 computation;
/// the training pass's output equal to the forward's, its loss the mean
/// square of that output, and a finite, non-zero gradient for every operand.
pub fn kernels_compute_their_definitions(backend: &dyn Backend) {
    let sum = Kernel::Sum { elements: 1000 };
    for kernel in tiny_kernels().into_iter().chain([sum]) {
        let label = format!("{} {kernel}", backend.name());
        let fwd = run_kernel(backend, &kernel, DeviceName::Cpu, Dtype::F32, Pass::Forward);
        assert_eq!(fwd.output.shape, kernel.output_shape(), "{label}");
        let seeded = SeededWeights { seed: 0 };
        if let Some(expected) = host_reference(&kernel, &seeded).unwrap() {
            let host = PassOutput {
                output: expected,
                loss: None,
                grad_norms: Vec::new(),
            };
            let e = output_rel_error(&fwd, &host);
            assert!(e < 1e-5, "{label}: {e} from the definition");
        }
        let train = run_kernel(backend, &kernel, DeviceName::Cpu, Dtype::F32, Pass::Train);
        let e = output_rel_error(&train, &fwd);
        assert!(e < 1e-5, "{label}: train output differs by {e}");
        let values = fwd.output.as_f32().unwrap();
        let mean_square =
            values.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / values.len() as f64;
        let loss = train.loss.expect("a training loss");
        assert!(
            ((loss - mean_square) / mean_square).abs() < 1e-5,
            "{label}: loss {loss}, mean square {mean_square}"
        );
        let names: Vec<String> = kernel.operands().into_iter().map(|s| s.name).collect();
        let got: Vec<String> = train.grad_norms.iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(got, names, "{label}: gradients");
        for (name, norm) in &train.grad_norms {
            assert!(
                norm.is_finite() && *norm > 0.0,
                "{label}: {name} has gradient norm {norm}"
            );
        }
    }
}

/// Every attention path the backend offers on the CPU computes the same
/// model, forward and train, on wan-tiny and llama-tiny (causal): output,
/// loss and every gradient norm within 1e-5 relative of the first path.
/// Tiles are a few query rows (a 2 KiB budget), ragged at the end, so
/// tiling is exercised for real.
pub fn every_attention_path_computes_the_same_model(backend: &dyn Backend) {
    for pass in [Pass::Forward, Pass::Train] {
        let offered = backend.attention_paths(DeviceName::Cpu, pass);
        for w in [workload("wan-tiny"), workload("llama-tiny")] {
            let plan = |path| AttentionPlan {
                path,
                tile_score_bytes: 2 << 10,
            };
            let reference = run_with(backend, &w, Dtype::F32, pass, plan(offered[0]));
            for &path in &offered[1..] {
                let label = format!("{} {} {pass} {path}", backend.name(), w.label());
                let out = run_with(backend, &w, Dtype::F32, pass, plan(path));
                let p = compare("first path", &reference, &out, Dtype::F32);
                assert!(p.output_rel_error < 1e-5, "{label}: output {p:?}");
                if pass == Pass::Train {
                    let worst = p.loss_rel_diff.unwrap_or(f64::INFINITY);
                    assert!(worst < 1e-5, "{label}: loss {p:?}");
                    let grads = p.grad_norm_rel_diff.unwrap_or(f64::INFINITY);
                    assert!(grads < 1e-5, "{label}: gradients {p:?}");
                }
            }
        }
    }
}

/// The logits of a prefill [B, S, vocab] at its last position, [B, 1, vocab].
pub fn last_position(out: &PassOutput) -> PassOutput {
    let [b, s, vocab] = out.output.shape[..] else {
        panic!("logits are [B, S, vocab], not {:?}", out.output.shape);
    };
    let values = out.output.as_f32().expect("f32 logits");
    let last = (0..b)
        .flat_map(|i| &values[(i * s + s - 1) * vocab..(i * s + s) * vocab])
        .copied()
        .collect();
    PassOutput {
        output: HostTensor::f32(vec![b, 1, vocab], last),
        loss: None,
        grad_norms: Vec::new(),
    }
}

/// A decode step's logits equal the prefill's at the same position: the
/// cache of a context's first S-1 tokens plus its last token computes what
/// a forward over all S tokens computes at position S-1. On llama-tiny
/// (grouped-query: 4 heads over 2 kv heads), a batch of 3, tied embeddings,
/// and plain multi-head attention; with every attention path the backend
/// offers for decode; within 1e-5 relative.
pub fn a_decode_step_equals_the_forward_at_its_position(backend: &dyn Backend) {
    let mut batched = workload("llama-tiny");
    let mut tied = workload("llama-tiny");
    let mut multi_head = workload("llama-tiny");
    if let (ModelConfig::Llama(b), ModelConfig::Llama(t), ModelConfig::Llama(m)) = (
        &mut batched.config,
        &mut tied.config,
        &mut multi_head.config,
    ) {
        b.batch = 3;
        t.tie_word_embeddings = true;
        m.num_key_value_heads = m.num_attention_heads;
    }
    let offered = backend.attention_paths(DeviceName::Cpu, Pass::Decode);
    for w in [workload("llama-tiny"), batched, tied, multi_head] {
        let forward = run(backend, &w, Dtype::F32, Pass::Forward);
        let expected = last_position(&forward);
        for &path in &offered {
            let plan = AttentionPlan {
                path,
                tile_score_bytes: 2 << 10,
            };
            let ModelConfig::Llama(c) = &w.config else {
                unreachable!("llama-tiny variants")
            };
            let label = format!(
                "{} llama-tiny (batch {}, {} kv heads, tied {}) decode {path}",
                backend.name(),
                c.batch,
                c.num_key_value_heads,
                c.tie_word_embeddings
            );
            let decode = run_with(backend, &w, Dtype::F32, Pass::Decode, plan);
            assert_eq!(decode.output.shape, expected.output.shape, "{label}");
            let e = output_rel_error(&decode, &expected);
            assert!(e < 1e-5, "{label}: relative error {e}");
        }
    }
}

/// ‖out − reference‖₂ / ‖reference‖₂ of the two forward outputs.
pub fn output_rel_error(out: &PassOutput, reference: &PassOutput) -> f64 {
    compare("reference", reference, out, Dtype::F32).output_rel_error
}

/// Train on wan-tiny, llama-tiny and llama-tiny with tied embeddings: every
/// parameter of the inventory gets a finite, non-zero gradient, and the loss
/// is finite.
pub fn every_parameter_receives_a_nonzero_gradient(backend: &dyn Backend) {
    let mut tied = workload("llama-tiny");
    if let ModelConfig::Llama(c) = &mut tied.config {
        c.tie_word_embeddings = true;
    }
    for w in [workload("wan-tiny"), workload("llama-tiny"), tied] {
        let label = format!("{} {}", backend.name(), w.label());
        let out = run(backend, &w, Dtype::F32, Pass::Train);
        let names: Vec<String> = parameters(&w.config).into_iter().map(|p| p.name).collect();
        let got: Vec<&String> = out.grad_norms.iter().map(|(n, _)| n).collect();
        assert_eq!(got, names.iter().collect::<Vec<_>>(), "{label}: gradients");
        for (name, norm) in &out.grad_norms {
            assert!(
                norm.is_finite() && *norm > 0.0,
                "{label}: {name} has gradient norm {norm}"
            );
        }
        assert!(out.loss.unwrap().is_finite(), "{label}: loss");
    }
}

/// Outputs have the reference models' shapes: Wan [B, C_out, F, H, W],
/// Llama logits [B, S, vocab], the text encoder's states [B, L, dim], the
/// VAE's video [B, 3, frames, H, W].
pub fn outputs_have_reference_shapes(backend: &dyn Backend) {
    for (preset, shape) in [
        ("wan-tiny", vec![1, 4, 3, 8, 8]),
        ("llama-tiny", vec![1, 48, 256]),
        ("umt5-tiny", vec![1, 48, 64]),
        ("wan-vae-tiny", vec![1, 3, 9, 32, 32]),
    ] {
        let out = run(backend, &workload(preset), Dtype::F32, Pass::Forward);
        assert_eq!(out.output.shape, shape, "{} {preset}", backend.name());
    }
}

/// The forward pass and the train pass compute the same output, whatever
/// different kernels they use.
pub fn forward_and_train_compute_the_same_output(backend: &dyn Backend, tolerance: f64) {
    for name in ["wan-tiny", "llama-tiny"] {
        let w = workload(name);
        let fwd = run(backend, &w, Dtype::F32, Pass::Forward);
        let train = run(backend, &w, Dtype::F32, Pass::Train);
        let e = output_rel_error(&train, &fwd);
        assert!(
            e < tolerance,
            "{} {name}: relative error {e}",
            backend.name()
        );
    }
}

/// An untrained Llama predicts about uniformly: loss ≈ ln(vocab).
pub fn untrained_llama_loss_is_near_uniform_cross_entropy(backend: &dyn Backend) {
    let out = run(backend, &workload("llama-tiny"), Dtype::F32, Pass::Train);
    let loss = out.loss.unwrap();
    assert!(
        (loss - 256f64.ln()).abs() < 0.5,
        "{}: loss {loss}",
        backend.name()
    );
}

/// bf16 and f16 outputs of `passes` are within 5% of f32 (every dtype the
/// backend does not declare unsupported).
pub fn half_precision_runs_close_to_f32(backend: &dyn Backend, passes: &[Pass]) {
    for name in ["wan-tiny", "llama-tiny", "umt5-tiny", "wan-vae-tiny"] {
        let w = workload(name);
        let reference = run(backend, &w, Dtype::F32, Pass::Forward);
        for dtype in [Dtype::Bf16, Dtype::F16] {
            for &pass in passes {
                if backend.unsupported(DeviceName::Cpu, dtype, pass).is_some()
                    || !pass.applies_to(&w.config)
                {
                    continue;
                }
                let out = run(backend, &w, dtype, pass);
                let e = output_rel_error(&out, &reference);
                assert!(
                    e < 0.05,
                    "{} {name} {dtype} {pass}: relative error {e}",
                    backend.name()
                );
            }
        }
    }
}

/// The VAE the chunked-decode check decodes: wan-vae-tiny over 5 latent
/// frames, so later chunks read caches filled by chunks of one frame and of
/// several (17 video frames).
pub fn chunked_vae() -> WanVaeConfig {
    match workload("wan-vae-tiny").config {
        ModelConfig::WanVae(c) => c.with_chunks(5),
        _ => unreachable!("wan-vae-tiny is a VAE preset"),
    }
}

/// The chunk sizes of a one-shot decode: the first latent frame (the one
/// a temporal upsample leaves single), then every other frame at once.
pub fn one_shot_chunks(c: &WanVaeConfig) -> Vec<usize> {
    vec![1, c.chunks() - 1]
}

/// The reference's chunk-by-chunk decode (one latent frame per chunk, with
/// the frame caches) computes what a one-shot decode of the whole latent
/// computes, within f32 rounding.
pub fn assert_chunked_decode_is_one_shot(
    backend: &str,
    chunked: &HostTensor,
    one_shot: &HostTensor,
) {
    let c = chunked_vae();
    assert_eq!(
        chunked.shape,
        vec![1, 3, c.frames, c.height, c.width],
        "{backend}"
    );
    assert_eq!(chunked.shape, one_shot.shape, "{backend}");
    let (a, b) = (chunked.as_f32().unwrap(), one_shot.as_f32().unwrap());
    let diff = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(x - y).powi(2))
        .sum::<f64>()
        .sqrt();
    let norm = crate::io::files::l2_norm(b);
    assert!(
        diff <= 1e-5 * norm,
        "{backend}: chunked vs one-shot relative error {}",
        diff / norm
    );
}

/// The values `unpatchify` must produce from `0, 1, 2, ...` laid out as
/// [1, L, pt*ph*pw*C]: the reference's `einsum('fhwpqrc->cfphqwr')`, i.e.
/// out[c, f*pt+p, h*ph+q, w*pw+r] = in[f, h, w, p, q, r, c].
pub fn assert_unpatchify_layout(cfg: &WanConfig, unpatchified: &[f32]) {
    let [gf, gh, gw] = cfg.grid();
    let [pt, ph, pw] = cfg.patch_size;
    let co = cfg.out_dim;
    let (of, oh, ow) = (gf * pt, gh * ph, gw * pw);
    assert_eq!(unpatchified.len(), co * of * oh * ow);
    for (f, h, w, p, q, r, c) in index_tuples(&[gf, gh, gw, pt, ph, pw, co]) {
        let src = (((((f * gh + h) * gw + w) * pt + p) * ph + q) * pw + r) * co + c;
        let dst = ((c * of + f * pt + p) * oh + h * ph + q) * ow + w * pw + r;
        assert_eq!(unpatchified[dst], src as f32, "element {dst}");
    }
}

/// Every index tuple below the given bounds, in row-major order.
fn index_tuples(
    bounds: &[usize; 7],
) -> impl Iterator<Item = (usize, usize, usize, usize, usize, usize, usize)> {
    let total: usize = bounds.iter().product();
    let bounds = *bounds;
    (0..total).map(move |mut i| {
        let mut idx = [0usize; 7];
        for d in (0..7).rev() {
            idx[d] = i % bounds[d];
            i /= bounds[d];
        }
        (idx[0], idx[1], idx[2], idx[3], idx[4], idx[5], idx[6])
    })
}

/// The framework's own model code (`Backend::prepare_reference`) computes
/// what ours does on the tiny presets, in f32 within `tolerance` relative
/// (outputs, loss, global gradient norm), for exactly the `expected`
/// (preset, pass) pairs; every other pair says why it has no reference.
pub fn references_match_ours(backend: &dyn Backend, expected: &[(&str, Pass)], tolerance: f64) {
    for preset in ["wan-tiny", "llama-tiny"] {
        let w = workload(preset);
        for pass in [Pass::Forward, Pass::Train, Pass::Decode] {
            if !pass.applies_to(&w.config) {
                continue;
            }
            let offered = backend.attention_paths(DeviceName::Cpu, pass);
            let spec = CaseSpec {
                workload: w.clone(),
                backend: backend.name().into(),
                device: DeviceName::Cpu,
                dtype: Dtype::F32,
                pass,
                seed: 0,
                attention: attention::plan(
                    AttentionChoice::Auto,
                    &offered,
                    &w.config,
                    TILE_SCORE_BYTES,
                ),
            };
            let label = spec.label();
            let wanted = expected.contains(&(preset, pass));
            match backend.reference_code(&spec) {
                Err(why) => {
                    assert!(!wanted, "{label}: no reference: {why}");
                    assert!(!why.is_empty(), "{label}: no reason given");
                    continue;
                }
                Ok(_) => assert!(wanted, "{label}: has a reference the test does not expect"),
            }
            let inputs = seeded_inputs(&w.config, 0);
            let mut pair = backend
                .prepare_reference(&spec, &SeededWeights { seed: 0 }, &inputs)
                .unwrap_or_else(|e| panic!("{label}: prepare_reference failed: {e:#}"));
            // A timed step of each first, as reference-check runs them.
            pair.ours.step().unwrap();
            pair.theirs.step().unwrap();
            let ours = pair.ours.output().unwrap();
            let theirs = pair.theirs.output().unwrap();
            let parity = crate::check::parity::compare_within("ours", &ours, &theirs, tolerance);
            assert_eq!(
                parity.status,
                crate::check::parity::ParityStatus::Pass,
                "{label} against {}: {:?}",
                pair.reference,
                parity.detail
            );
            assert_eq!(
                ours.loss.is_some(),
                pass == Pass::Train,
                "{label}: a loss only when training"
            );
        }
    }
}
