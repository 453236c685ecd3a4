//! ditbench backend for libtorch (PyTorch's C++ runtime) through tch.
//!
//! Empty unless its `tch` feature is on (the ditbench binary's `tch` feature
//! turns it on), so builds without libtorch installed never need it.
#![cfg(feature = "tch")]

#[cfg(feature = "tch-cuda")]
mod cuda_memory;
pub mod llama;
pub mod ops;
pub mod umt5;
pub mod wan;
pub mod wan_vae;
pub mod weights;

use std::sync::Once;

use anyhow::{Result, bail};
use ditbench_core::compute::backend::time_train_step;
use ditbench_core::compute::kernels::{BLOCK_PREFIX, Kernel, KernelSpec};
use ditbench_core::compute::pass_inputs::{PassInputs, pass_inputs};
use ditbench_core::io::files::l2_norm;
use ditbench_core::machine::threads::ThreadPool;
use ditbench_core::machine::threads::worker_threads;
use ditbench_core::model::attention::TILE_SCORE_BYTES;
use ditbench_core::model::layout::{LlamaParams, WanBlock, WanParams};
use ditbench_core::model::params::parameters;
use ditbench_core::model::umt5::Umt5Params;
use ditbench_core::model::wan_vae::WanVaeParams;
use ditbench_core::{AttentionPath, AttentionPlan, DeviceName, FrameworkMemory};
use ditbench_core::{
    Backend, CaseSpec, Dtype, HostTensor, Inputs, Pass, PassOutput, PhaseTimes, PreparedCase,
    WeightSource,
};
use tch::{Cuda, Device, Kind, Tensor};

use crate::llama::{KvCache, LlamaInputs, LlamaModel, LlamaWeights};
use crate::umt5::{Umt5Model, Umt5Weights};
use crate::wan::{BlockWeights, WanInputs, WanModel, WanWeights};
use crate::wan_vae::{WanVaeModel, WanVaeWeights};
use crate::weights::{Weights, upload};

/// The tch crate's version (from Cargo.lock).
pub const TCH_VERSION: &str = env!("DITBENCH_TCH_VERSION");
/// The libtorch this build linked (`2.11.0+cu130`), from its `version.py`.
pub const LIBTORCH_VERSION: &str = env!("DITBENCH_LIBTORCH_VERSION");

pub struct TchBackend;

fn tch_kind(dtype: Dtype) -> Kind {
    match dtype {
        Dtype::F32 => Kind::Float,
        Dtype::Bf16 => Kind::BFloat16,
        Dtype::F16 => Kind::Half,
    }
}

fn tch_device(name: DeviceName) -> Result<Device> {
    match name {
        DeviceName::Cpu => Ok(Device::Cpu),
        DeviceName::Cuda(ordinal) if ordinal < cuda_devices() => Ok(Device::Cuda(ordinal)),
        DeviceName::Cuda(_) | DeviceName::Software => {
            bail!("libtorch has no device '{name}' on this machine")
        }
    }
}

fn cuda_devices() -> usize {
    if Cuda::is_available() {
        Cuda::device_count().max(0) as usize
    } else {
        0
    }
}

/// Size libtorch's pools from the harness's one thread setting: N intra-op
/// threads (each operator's parallel loops, oneDNN and MKL), and one inter-op
/// thread, since a single eager graph never runs operators concurrently (as
/// PyTorch's CPU performance guide advises). Inter-op threads can be set once
/// per process, before any parallel work, hence the `Once`.
fn apply_thread_setting() {
    static APPLY: Once = Once::new();
    if let Some(n) = worker_threads() {
        APPLY.call_once(|| {
            tch::set_num_interop_threads(INTEROP_THREADS);
            tch::set_num_threads(i32::try_from(n).unwrap_or(i32::MAX));
        });
    }
}

/// libtorch's inter-op pool size in every worker.
const INTEROP_THREADS: i32 = 1;

/// A libtorch pool size as a count (libtorch answers in `i32`).
fn pool_size(n: i32) -> usize {
    usize::try_from(n).unwrap_or(0)
}

impl Backend for TchBackend {
    fn name(&self) -> &'static str {
        "tch"
    }

    fn framework_version(&self) -> String {
        format!("libtorch {LIBTORCH_VERSION} (tch {TCH_VERSION})")
    }

    fn build_features(&self) -> Vec<String> {
        // libtorch's own build answers; it picks AVX2 or AVX-512 kernels
        // at run time (ATEN_CPU_CAPABILITY overrides).
        let on = |yes: bool| if yes { "on" } else { "off" };
        let mut features = vec![
            format!("MKL: {}", on(tch::utils::has_mkl())),
            format!("oneDNN (mkldnn): {}", on(tch::utils::has_mkldnn())),
            format!("OpenMP: {}", on(tch::utils::has_openmp())),
        ];
        if let Ok(capability) = std::env::var("ATEN_CPU_CAPABILITY") {
            features.push(format!("ATEN_CPU_CAPABILITY={capability}"));
        }
        features
    }

    fn thread_variables(&self) -> &'static [&'static str] {
        // libtorch's OpenMP intra-op pool and MKL's; its own
        // `set_num_threads` reads DITBENCH_THREADS.
        &["OMP_NUM_THREADS", "MKL_NUM_THREADS"]
    }

    fn out_of_memory_phrases(&self) -> &'static [&'static str] {
        // DefaultCPUAllocator's message; `c10::OutOfMemoryError` on CUDA.
        &["can't allocate memory", "outofmemoryerror"]
    }

    fn runs_on_nvidia_gpus(&self) -> bool {
        cfg!(feature = "tch-cuda")
    }

    fn devices(&self) -> Vec<DeviceName> {
        let mut devices = vec![DeviceName::Cpu];
        devices.extend((0..cuda_devices()).map(DeviceName::Cuda));
        devices
    }

    fn attention_paths(&self, _device: DeviceName, _pass: Pass) -> Vec<AttentionPath> {
        // SDPA first: its flash and memory-efficient kernels keep no S x S
        // scores, forward or backward.
        vec![
            AttentionPath::Fused,
            AttentionPath::Composite,
            AttentionPath::Tiled,
        ]
    }

    fn unsupported(&self, _device: DeviceName, _dtype: Dtype, _pass: Pass) -> Option<String> {
        None
    }

    fn prepare(
        &self,
        case: &CaseSpec,
        weights: &dyn WeightSource,
        inputs: &Inputs,
    ) -> Result<Box<dyn PreparedCase>> {
        apply_thread_setting();
        let device = tch_device(case.device)?;
        let kind = tch_kind(case.dtype);
        let config = &case.workload.config;
        let specs = parameters(config);
        let weights = Weights::load(&specs, weights, kind, device, case.pass == Pass::Train)?;
        let up = |t: &HostTensor, k: Kind| upload(t.as_f32()?, &t.shape, k, device);
        let model = match pass_inputs(case, inputs)? {
            PassInputs::Wan {
                config: c,
                latents,
                timesteps,
                context,
                target,
            } => Model::Wan(
                WanModel::new(c, kind, device, case.attention)?,
                WanParams::resolve(c, |name| weights.handle(name))?,
                WanInputs {
                    latents: up(latents, kind)?,
                    time_freqs: WanModel::time_freqs(c, timesteps, kind, device)?,
                    context: up(context, kind)?,
                    target: up(target, Kind::Float)?,
                },
            ),
            PassInputs::Decode {
                config: c, tokens, ..
            } => {
                let model = LlamaModel::new(c, kind, device, case.attention)?;
                let params = LlamaParams::resolve(c, |name| weights.handle(name))?;
                let tokens = LlamaModel::device_tokens(tokens, (c.batch, c.seq_len), device)?;
                // The prompt's cache is filled here, outside the timed
                // steps; each step decodes the context's last token.
                let _no_grad = tch::no_grad_guard();
                let cache = model.prefill(&params, &tokens)?;
                model.attention.forget();
                let token = tokens
                    .f_narrow(1, c.seq_len as i64 - 1, 1)?
                    .f_contiguous()?;
                Model::LlamaDecode(model, params, token, cache)
            }
            PassInputs::Llama {
                config: c,
                tokens,
                targets,
            } => {
                let shape = (c.batch, c.seq_len);
                Model::Llama(
                    LlamaModel::new(c, kind, device, case.attention)?,
                    LlamaParams::resolve(c, |name| weights.handle(name))?,
                    LlamaInputs {
                        tokens: LlamaModel::device_tokens(tokens, shape, device)?,
                        // Ignored positions are libtorch's ignore index
                        // (-100), as in `LlamaForCausalLM`'s loss: no weights.
                        targets: LlamaModel::device_tokens(targets.ids, shape, device)?,
                        weights: None,
                    },
                )
            }
            PassInputs::Umt5 { config: c, tokens } => Model::Umt5(
                Umt5Model::new(c, device, case.attention)?,
                Umt5Params::resolve(c, |name| weights.handle(name))?,
                Umt5Model::device_tokens(tokens, (c.batch, c.text_len), device)?,
            ),
            PassInputs::WanVae { config: c, latents } => Model::WanVae(
                WanVaeModel::new(c, case.attention),
                WanVaeParams::resolve(c, |name| weights.handle(name))?,
                up(latents, kind)?,
            ),
        };
        Ok(Box::new(TchCase::built(model, weights, case.pass, device)))
    }

    fn prepare_kernel(
        &self,
        spec: &KernelSpec,
        operands: &dyn WeightSource,
    ) -> Result<Box<dyn PreparedCase>> {
        apply_thread_setting();
        let device = tch_device(spec.device)?;
        let kind = tch_kind(spec.dtype);
        let trainable = spec.pass == Pass::Train;
        let weights = Weights::load(&spec.kernel.operands(), operands, kind, device, trainable)?;
        let operand = |name: &str| Ok::<_, anyhow::Error>(weights.get(name)?.shallow_clone());
        let model = match &spec.kernel {
            Kernel::WanBlock(c) => Model::Block(
                WanModel::new(c, kind, device, kernel_attention())?,
                WanBlock::resolve(BLOCK_PREFIX.trim_end_matches('.'), &mut |name: &str| {
                    weights.handle(name)
                })?,
                [operand("x")?, operand("e0")?, operand("context")?],
            ),
            Kernel::Attention { .. } => Model::Attention(
                ops::AttentionPaths::new(kernel_attention()),
                [operand("q")?, operand("k")?, operand("v")?],
            ),
            Kernel::Matmul { .. } => Model::Matmul([operand("x")?, operand("weight")?]),
            Kernel::Sum { .. } => Model::Sum(operand("x")?),
        };
        Ok(Box::new(TchCase::built(model, weights, spec.pass, device)))
    }
}

/// Kernels (benches) run SDPA, libtorch's best path.
fn kernel_attention() -> AttentionPlan {
    AttentionPlan {
        path: AttentionPath::Fused,
        tile_score_bytes: TILE_SCORE_BYTES,
    }
}

/// A model with its parameters resolved into typed fields, and its inputs.
enum Model {
    Wan(WanModel, WanWeights, WanInputs),
    Llama(LlamaModel, LlamaWeights, LlamaInputs),
    /// One decode step: the context's last token [B, 1] over the cache of
    /// the tokens before it.
    LlamaDecode(LlamaModel, LlamaWeights, Tensor, KvCache),
    /// The text encoder over token ids [B, L].
    Umt5(Umt5Model, Umt5Weights, Tensor),
    /// The VAE decoder over latents [B, z, T, h, w].
    WanVae(WanVaeModel, WanVaeWeights, Tensor),
    /// Building blocks on their own (`ditbench_core::compute::kernels`), their
    /// inputs among the weights: a block's x, e0 and context; q, k, v; x
    /// and the matmul's weight.
    Block(WanModel, BlockWeights, [Tensor; 3]),
    Attention(ops::AttentionPaths, [Tensor; 3]),
    Matmul([Tensor; 2]),
    Sum(Tensor),
}

struct TchCase {
    model: Model,
    weights: Weights,
    pass: Pass,
    device: Device,
}

impl TchCase {
    /// A case whose model was just built: on a GPU, the caching allocator's
    /// peak restarts here, so it describes the passes (weights included).
    fn built(model: Model, weights: Weights, pass: Pass, device: Device) -> Self {
        #[cfg(feature = "tch-cuda")]
        if let Device::Cuda(ordinal) = device {
            cuda_memory::reset_peak(ordinal);
        }
        TchCase {
            model,
            weights,
            pass,
            device,
        }
    }

    fn forward(&self) -> Result<Tensor> {
        match &self.model {
            Model::Wan(m, w, inputs) => m.forward(w, inputs),
            Model::Llama(m, w, inputs) => m.forward(w, &inputs.tokens),
            Model::LlamaDecode(m, w, token, cache) => m.decode(w, token, cache),
            Model::Umt5(m, w, tokens) => m.forward(w, tokens),
            Model::WanVae(m, w, latents) => m.decode(w, latents),
            Model::Block(m, w, [x, e0, context]) => m.block(w, x, e0, context),
            Model::Attention(log, [q, k, v]) => Ok(ops::attention(q, k, v, false, log, "self")?),
            Model::Matmul([x, weight]) => Ok(ops::linear(x, weight, None)?),
            Model::Sum(x) => Ok(x.f_sum(x.kind())?.f_reshape([1])?),
        }
    }

    fn loss(&self, output: &Tensor) -> Result<Tensor> {
        match &self.model {
            Model::Wan(_, _, inputs) => WanModel::loss(output, &inputs.target),
            Model::Llama(_, _, inputs) => LlamaModel::loss(output, &inputs.targets),
            Model::LlamaDecode(..) => anyhow::bail!("a decode step has no training loss"),
            Model::Umt5(..) | Model::WanVae(..) => {
                anyhow::bail!("the text encoder and the VAE decoder are measured in inference only")
            }
            // ditbench_core::compute::kernels::TRAIN_LOSS
            Model::Block(..) | Model::Attention(..) | Model::Matmul(_) | Model::Sum(_) => {
                Ok(output
                    .f_to_kind(Kind::Float)?
                    .f_square()?
                    .f_mean(Kind::Float)?)
            }
        }
    }

    /// Gradients of `loss` for every trainable parameter, returned rather
    /// than accumulated into `.grad` (`torch.autograd.grad`), so each step
    /// starts from none, like `zero_grad(set_to_none=True)`.
    fn gradients(&self, loss: &Tensor) -> Result<Vec<Tensor>> {
        let leaves: Vec<&Tensor> = self.weights.trainable().iter().map(|(_, t)| t).collect();
        Ok(Tensor::f_run_backward(&[loss], &leaves, false, false)?)
    }

    /// The model's attention paths; `None` for a matmul.
    fn attention(&self) -> Option<&ops::AttentionPaths> {
        match &self.model {
            Model::Wan(m, ..) | Model::Block(m, ..) => Some(&m.attention),
            Model::Llama(m, ..) | Model::LlamaDecode(m, ..) => Some(&m.attention),
            Model::Umt5(m, ..) => Some(&m.attention),
            Model::WanVae(m, ..) => Some(&m.attention),
            Model::Attention(log, _) => Some(log),
            Model::Matmul(_) | Model::Sum(_) => None,
        }
    }
}

fn to_host(t: &Tensor) -> Result<HostTensor> {
    let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
    let flat = t
        .f_detach()?
        .f_to_kind(Kind::Float)?
        .f_to(Device::Cpu)?
        .f_contiguous()?
        .f_view([-1])?;
    let values = Vec::<f32>::try_from(&flat)?;
    Ok(HostTensor::f32(shape, values))
}

impl PreparedCase for TchCase {
    fn step(&mut self) -> Result<PhaseTimes> {
        match self.pass {
            Pass::Forward | Pass::Decode => {
                let _no_grad = tch::no_grad_guard();
                drop(self.forward()?);
                Ok(PhaseTimes::default())
            }
            Pass::Train => time_train_step(
                || self.synchronize(),
                || self.loss(&self.forward()?),
                |loss| self.gradients(&loss),
            ),
        }
    }

    fn synchronize(&self) -> Result<()> {
        if let Device::Cuda(i) = self.device {
            Cuda::synchronize(i as i64);
        }
        Ok(())
    }

    fn output(&mut self) -> Result<PassOutput> {
        if self.pass != Pass::Train {
            let _no_grad = tch::no_grad_guard();
            return Ok(PassOutput {
                output: to_host(&self.forward()?)?,
                loss: None,
                grad_norms: Vec::new(),
            });
        }
        let out = self.forward()?;
        let loss = self.loss(&out)?;
        let grads = self.gradients(&loss)?;
        let grad_norms = self
            .weights
            .trainable()
            .iter()
            .zip(&grads)
            .map(|((name, _), g)| {
                let norm = if g.defined() {
                    l2_norm(to_host(g)?.as_f32()?)
                } else {
                    0.0
                };
                Ok((name.clone(), norm))
            })
            .collect::<Result<_>>()?;
        Ok(PassOutput {
            output: to_host(&out)?,
            loss: Some(loss.f_double_value(&[])?),
            grad_norms,
        })
    }

    fn device_name(&self) -> String {
        match self.device {
            Device::Cpu => match tch::get_num_threads() {
                1 => "cpu (1 thread)".to_string(),
                n => format!("cpu ({n} threads)"),
            },
            Device::Cuda(i) => format!("cuda:{i}"),
            other => format!("{other:?}"),
        }
    }

    fn thread_pools(&self) -> Vec<ThreadPool> {
        let asked = worker_threads();
        vec![
            ThreadPool::new(
                "libtorch intra-op (at::get_num_threads)",
                pool_size(tch::get_num_threads()),
                asked,
            ),
            ThreadPool::new(
                "libtorch inter-op (at::get_num_interop_threads)",
                pool_size(tch::get_num_interop_threads()),
                asked.map(|_| pool_size(INTEROP_THREADS)),
            ),
        ]
    }

    fn attention_impl(&self) -> String {
        let Some(paths) = self.attention() else {
            return "none (a matmul)".into();
        };
        paths.describe()
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = vec![
            "peak_heap_bytes not measured: libtorch allocates host memory through its own C++ allocator, outside Rust's; peak_rss_bytes and rss_growth_bytes include it".to_string(),
        ];
        if let Model::Wan(..) = self.model {
            notes.insert(
                0,
                "Wan patch embedding: aten::conv3d (the reference's nn.Conv3d)".into(),
            );
        }
        match self.model {
            Model::Umt5(..) => notes.push("UMT5: a position bias per layer gathered from its relative-position embedding (aten index_select), added to unscaled scores; gated-GELU (tanh) feed-forward; T5 RMS norm via aten rms_norm; no f16 clamp (f32 and bf16 cannot overflow there)".into()),
            Model::WanVae(..) => notes.push("Wan VAE decode: one latent frame per chunk with the reference's two-frame caches (aten conv3d over cached frames, zero padding before the first), temporal upsample by conv3d + interleave, nearest 2x + aten conv2d, the middle attention on the plan's path; the output concatenated chunk by chunk as WanVAE_.decode does".into()),
            _ => {}
        }
        if let Model::LlamaDecode(_, _, _, cache) = &self.model {
            notes.push(format!(
                "decode: a preallocated KV cache of {} bytes (like transformers' StaticCache), the step's keys and values copied in place at the context's last position; SDPA with enable_gqa reads the kv heads without repeating them",
                cache.bytes()
            ));
        }
        notes.push(match self.pass {
            Pass::Forward | Pass::Decode => "inference under no_grad; aten linear, layer_norm, rms_norm and SDPA kernels".into(),
            Pass::Train => "autograd through aten kernels; gradients of every parameter returned by torch.autograd.grad (none accumulated between steps), no optimizer step".into(),
        });
        notes
    }

    fn heap_measured(&self) -> bool {
        false
    }

    fn framework_memory(&self) -> Option<FrameworkMemory> {
        match self.device {
            #[cfg(feature = "tch-cuda")]
            Device::Cuda(ordinal) => cuda_memory::framework_memory(ordinal),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
