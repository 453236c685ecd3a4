//! ditbench backend for Candle (candle-core / candle-nn).

pub mod llama;
pub mod ops;
pub mod umt5;
pub mod wan;
pub mod wan_vae;
pub mod weights;

use anyhow::{Context, Result, bail};
use candle_core::{DType, Device, Tensor};
use ditbench_core::compute::backend::time_train_step;
use ditbench_core::compute::kernels::{BLOCK_PREFIX, Kernel, KernelSpec};
use ditbench_core::compute::pass_inputs::{PassInputs, Targets, pass_inputs};
use ditbench_core::io::files::l2_norm;
use ditbench_core::machine::threads::ThreadPool;
use ditbench_core::machine::threads::worker_threads;
use ditbench_core::model::attention::TILE_SCORE_BYTES;
use ditbench_core::model::layout::{LlamaParams, WanBlock, WanParams};
use ditbench_core::model::params::parameters;
use ditbench_core::model::umt5::Umt5Params;
use ditbench_core::model::wan_vae::WanVaeParams;
use ditbench_core::model::workload::LlamaConfig;
use ditbench_core::{AttentionPath, AttentionPlan, DeviceName};
use ditbench_core::{
    Backend, CaseSpec, Dtype, HostTensor, Inputs, Pass, PassOutput, PhaseTimes, PreparedCase,
    WeightSource,
};

use crate::llama::{KvCache, LlamaInputs, LlamaModel, LlamaWeights};
use crate::ops::{AttentionPaths, Mode, linear};
use crate::umt5::{Umt5Model, Umt5Weights};
use crate::wan::{BlockWeights, WanInputs, WanModel, WanWeights};
use crate::wan_vae::{WanVaeModel, WanVaeWeights};
use crate::weights::Weights;

pub const FRAMEWORK_VERSION: &str = env!("DITBENCH_CANDLE_VERSION");

pub struct CandleBackend;

fn candle_dtype(dtype: Dtype) -> DType {
    match dtype {
        Dtype::F32 => DType::F32,
        Dtype::Bf16 => DType::BF16,
        Dtype::F16 => DType::F16,
    }
}

fn candle_device(name: DeviceName) -> Result<Device> {
    match name {
        DeviceName::Cpu => Ok(Device::Cpu),
        DeviceName::Cuda(ordinal) => {
            Device::new_cuda(ordinal).with_context(|| format!("cannot open {name} in candle"))
        }
        DeviceName::Software => bail!("candle has no device '{name}'"),
    }
}

impl Backend for CandleBackend {
    fn name(&self) -> &'static str {
        "candle"
    }

    fn framework_version(&self) -> String {
        format!("candle-core {FRAMEWORK_VERSION}")
    }

    fn build_features(&self) -> Vec<String> {
        // candle-core's CPU matmul is the gemm crate with its default
        // features (rayon threads; AVX2/FMA, or AVX-512 too where gemm is
        // built with x86-v4, chosen at run time); its `mkl` and
        // `accelerate` BLAS features are off in ditbench.
        let mut features = vec![
            format!(
                "cpu matmul: gemm crate, rayon threads, {} kernels",
                if cfg!(feature = "x86-v4") {
                    "AVX-512 (x86-v4) or AVX2"
                } else {
                    "AVX2/FMA (no x86-v4)"
                }
            ),
            "element-wise ops: serial, except candle_nn softmax/norm/RoPE kernels (rayon)"
                .to_string(),
            "mkl: off".to_string(),
        ];
        if cfg!(feature = "cuda") {
            features.push("cuda kernels".into());
        }
        features
    }

    fn thread_variables(&self) -> &'static [&'static str] {
        // rayon's global pool (Candle's CPU kernels, `get_num_threads`) and
        // Candle's own pools, which read CANDLE_NUM_THREADS first.
        &["RAYON_NUM_THREADS", "CANDLE_NUM_THREADS"]
    }

    fn out_of_memory_phrases(&self) -> &'static [&'static str] {
        // cudarc's `CUDA_ERROR_OUT_OF_MEMORY`; Candle's allocation errors.
        &["out_of_memory", "failed to allocate"]
    }

    fn runs_on_nvidia_gpus(&self) -> bool {
        cfg!(feature = "cuda")
    }

    fn devices(&self) -> Vec<DeviceName> {
        let mut devices = vec![DeviceName::Cpu];
        if candle_core::utils::cuda_is_available() {
            devices.extend(
                (0..64).map_while(|i| Device::new_cuda(i).ok().map(|_| DeviceName::Cuda(i))),
            );
        }
        devices
    }

    fn attention_paths(&self, _device: DeviceName, _pass: Pass) -> Vec<AttentionPath> {
        // No fused attention in candle-nn for CPU or CUDA (flash attention is
        // the separate candle-flash-attn crate, not built here).
        vec![AttentionPath::Composite, AttentionPath::Tiled]
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
        let device = candle_device(case.device)?;
        let dtype = candle_dtype(case.dtype);
        let specs = parameters(&case.workload.config);
        let weights = Weights::load(&specs, weights, dtype, &device, case.pass == Pass::Train)?;
        Ok(Box::new(build_case(case, weights, inputs)?))
    }

    fn reference_code(&self, case: &CaseSpec) -> std::result::Result<String, String> {
        #[cfg(feature = "reference")]
        return reference::code(case);
        #[cfg(not(feature = "reference"))]
        {
            let _ = case;
            Err("built without the `reference` feature (candle-transformers)".into())
        }
    }

    #[cfg(feature = "reference")]
    fn prepare_reference(
        &self,
        case: &CaseSpec,
        weights: &dyn WeightSource,
        inputs: &Inputs,
    ) -> Result<ditbench_core::ReferencePair> {
        reference::prepare(case, weights, inputs)
    }

    fn prepare_kernel(
        &self,
        spec: &KernelSpec,
        operands: &dyn WeightSource,
    ) -> Result<Box<dyn PreparedCase>> {
        let device = candle_device(spec.device)?;
        let dtype = candle_dtype(spec.dtype);
        let trainable = spec.pass == Pass::Train;
        let weights = Weights::load(&spec.kernel.operands(), operands, dtype, &device, trainable)?;
        let operand = |name: &str| -> Result<Tensor> { Ok(weights.get(name)?.clone()) };
        let model = match &spec.kernel {
            Kernel::WanBlock(c) => Model::Block(
                WanModel::new(c, dtype, &device, kernel_attention())?,
                WanBlock::resolve(BLOCK_PREFIX.trim_end_matches('.'), &mut |name: &str| {
                    weights.handle(name)
                })?,
                [operand("x")?, operand("e0")?, operand("context")?],
            ),
            Kernel::Attention { .. } => Model::Attention(
                AttentionPaths::new(kernel_attention())?,
                [operand("q")?, operand("k")?, operand("v")?],
            ),
            Kernel::Matmul { .. } => Model::Matmul([operand("x")?, operand("weight")?]),
            Kernel::Sum { .. } => Model::Sum(operand("x")?),
        };
        Ok(Box::new(CandleCase {
            model,
            weights,
            pass: spec.pass,
            device,
            dtype,
        }))
    }
}

/// The case's model built on parameters already on the device.
fn build_case(case: &CaseSpec, weights: Weights, inputs: &Inputs) -> Result<CandleCase> {
    let device = candle_device(case.device)?;
    let dtype = candle_dtype(case.dtype);
    let upload = |t: &HostTensor, dt: DType| -> Result<Tensor> {
        Ok(Tensor::from_slice(t.as_f32()?, t.shape.as_slice(), &device)?.to_dtype(dt)?)
    };
    let model = match pass_inputs(case, inputs)? {
        PassInputs::Wan {
            config: c,
            latents,
            timesteps,
            context,
            target,
        } => Model::Wan(
            WanModel::new(c, dtype, &device, case.attention)?,
            WanParams::resolve(c, |name| weights.handle(name))?,
            WanInputs {
                latents: upload(latents, dtype)?,
                time_freqs: WanModel::time_freqs(c, timesteps, dtype, &device)?,
                context: upload(context, dtype)?,
                target: upload(target, DType::F32)?,
            },
        ),
        PassInputs::Decode {
            config: c, tokens, ..
        } => {
            let model = LlamaModel::new(c, dtype, &device, case.attention)?;
            let params = LlamaParams::resolve(c, |name| weights.handle(name))?;
            let tokens = LlamaModel::device_tokens(tokens, (c.batch, c.seq_len), &device)?;
            // The prompt's cache is filled here, outside the timed
            // steps; each step decodes the context's last token.
            let cache = model.prefill(&params, &tokens)?;
            model.attention.forget();
            let token = tokens.narrow(1, c.seq_len - 1, 1)?.contiguous()?;
            Model::LlamaDecode(model, params, token, cache)
        }
        PassInputs::Llama {
            config: c,
            tokens,
            targets,
        } => Model::Llama(
            LlamaModel::new(c, dtype, &device, case.attention)?,
            LlamaParams::resolve(c, |name| weights.handle(name))?,
            llama_inputs(c, tokens, &targets, &device)?,
        ),
        PassInputs::Umt5 { config: c, tokens } => Model::Umt5(
            Umt5Model::new(c, &device, case.attention)?,
            Umt5Params::resolve(c, |name| weights.handle(name))?,
            LlamaModel::device_tokens(tokens, (c.batch, c.text_len), &device)?,
        ),
        PassInputs::WanVae { config: c, latents } => Model::WanVae(
            WanVaeModel::new(c, case.attention)?,
            WanVaeParams::resolve(c, |name| weights.handle(name))?,
            upload(latents, dtype)?,
        ),
    };
    Ok(CandleCase {
        model,
        weights,
        pass: case.pass,
        device,
        dtype,
    })
}

/// Kernels (benches) run the composite path, Candle's only one on the CPU
/// below the tile budget.
fn kernel_attention() -> AttentionPlan {
    AttentionPlan {
        path: AttentionPath::Composite,
        tile_score_bytes: TILE_SCORE_BYTES,
    }
}

/// A model with its parameters resolved into typed fields, and its inputs.
/// A Llama prefill's or training step's tokens and targets on the device;
/// ignored positions (Hugging Face's -100) weigh 0 in the loss.
fn llama_inputs(
    c: &LlamaConfig,
    tokens: &[u32],
    targets: &Targets,
    device: &Device,
) -> Result<LlamaInputs> {
    let shape = (c.batch, c.seq_len);
    let (ids, weights) = match &targets.weighted {
        Some((ids, w)) => (
            ids.as_slice(),
            Some(Tensor::from_slice(w, w.len(), device)?),
        ),
        None => (targets.ids, None),
    };
    Ok(LlamaInputs {
        tokens: LlamaModel::device_tokens(tokens, shape, device)?,
        targets: LlamaModel::device_tokens(ids, shape, device)?,
        weights,
    })
}

enum Model {
    Wan(WanModel, WanWeights, WanInputs),
    Llama(LlamaModel, LlamaWeights, LlamaInputs),
    /// A generation prefill: the last position's logits only (beside a
    /// framework's own model code that computes only those; built by the
    /// `reference` feature's pairs alone).
    #[cfg_attr(not(feature = "reference"), allow(dead_code))]
    LlamaLast(LlamaModel, LlamaWeights, Tensor),
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
    Attention(AttentionPaths, [Tensor; 3]),
    Matmul([Tensor; 2]),
    Sum(Tensor),
}

struct CandleCase {
    model: Model,
    weights: Weights,
    pass: Pass,
    device: Device,
    dtype: DType,
}

impl CandleCase {
    fn mode(&self) -> Mode {
        match self.pass {
            Pass::Forward | Pass::Decode => Mode::Inference,
            Pass::Train => Mode::Training,
        }
    }

    fn forward(&self) -> candle_core::Result<Tensor> {
        let mode = self.mode();
        match &self.model {
            Model::Wan(m, w, inputs) => m.forward(w, inputs, mode),
            Model::Llama(m, w, inputs) => m.forward(w, &inputs.tokens, mode),
            Model::LlamaLast(m, w, tokens) => m.forward_last(w, tokens, mode),
            Model::LlamaDecode(m, w, token, cache) => m.decode(w, token, cache),
            Model::Umt5(m, w, tokens) => m.forward(w, tokens),
            Model::WanVae(m, w, latents) => m.decode(w, latents),
            Model::Block(m, w, [x, e0, context]) => m.block(w, x, e0, context, mode),
            Model::Attention(paths, [q, k, v]) => paths.attention(q, k, v, None, mode),
            Model::Matmul([x, weight]) => linear(x, weight, None),
            Model::Sum(x) => x.sum_all()?.reshape(1),
        }
    }

    fn loss(&self, output: &Tensor) -> candle_core::Result<Tensor> {
        match &self.model {
            Model::Wan(_, _, inputs) => WanModel::loss(output, &inputs.target),
            Model::Llama(_, _, inputs) => {
                LlamaModel::loss(output, &inputs.targets, inputs.weights.as_ref())
            }
            Model::LlamaDecode(..) | Model::LlamaLast(..) => {
                candle_core::bail!("a decode step or generation prefill has no training loss")
            }
            Model::Umt5(..) | Model::WanVae(..) => {
                candle_core::bail!(
                    "the text encoder and the VAE decoder are measured in inference only"
                )
            }
            // ditbench_core::compute::kernels::TRAIN_LOSS
            Model::Block(..) | Model::Attention(..) | Model::Matmul(_) | Model::Sum(_) => {
                output.to_dtype(DType::F32)?.sqr()?.mean_all()
            }
        }
    }
}

fn to_host(t: &Tensor) -> Result<HostTensor> {
    let values = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    Ok(HostTensor::f32(t.dims().to_vec(), values))
}

impl CandleCase {
    fn step_in_context(&mut self) -> Result<PhaseTimes> {
        match self.pass {
            Pass::Forward | Pass::Decode => {
                self.forward()?;
                Ok(PhaseTimes::default())
            }
            Pass::Train => time_train_step(
                || Ok(self.device.synchronize()?),
                || Ok(self.loss(&self.forward()?)?),
                |loss| Ok(loss.backward()?),
            ),
        }
    }
}

impl PreparedCase for CandleCase {
    fn step(&mut self) -> Result<PhaseTimes> {
        // On the CPU, Candle's ops run inside its own rayon pool, as
        // `Device::with_context` is documented for: the step runs on a pool
        // worker, so each parallel op's helpers join it without a wake-up.
        let device = self.device.clone();
        device.with_context(|| self.step_in_context())
    }

    fn synchronize(&self) -> Result<()> {
        Ok(self.device.synchronize()?)
    }

    fn output(&mut self) -> Result<PassOutput> {
        let out = self.forward()?;
        let output = to_host(&out)?;
        if self.pass != Pass::Train {
            return Ok(PassOutput {
                output,
                loss: None,
                grad_norms: Vec::new(),
            });
        }
        let loss = self.loss(&out)?;
        let grads = loss.backward()?;
        let grad_norms = self
            .weights
            .vars()
            .iter()
            .map(|(name, var)| {
                let norm = match grads.get(var.as_tensor()) {
                    Some(g) => l2_norm(&g.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?),
                    None => 0.0,
                };
                Ok((name.clone(), norm))
            })
            .collect::<Result<_>>()?;
        Ok(PassOutput {
            output,
            loss: Some(f64::from(loss.to_scalar::<f32>()?)),
            grad_norms,
        })
    }

    fn device_name(&self) -> String {
        match &self.device {
            Device::Cpu => match candle_core::utils::get_num_threads() {
                1 => "cpu (1 thread)".to_string(),
                n => format!("cpu ({n} threads)"),
            },
            other => format!("{:?}", other.location()),
        }
    }

    fn thread_pools(&self) -> Vec<ThreadPool> {
        let asked = worker_threads();
        vec![
            // Inside the context the steps run in: Candle's own pool on the CPU.
            ThreadPool::new(
                "candle rayon pool (Device::with_context)",
                self.device.with_context(rayon::current_num_threads),
                asked,
            ),
            // What candle-core hands gemm as Parallelism::Rayon(n).
            ThreadPool::new(
                "candle gemm threads (candle_core::utils::get_num_threads)",
                candle_core::utils::get_num_threads(),
                asked,
            ),
        ]
    }

    fn attention_impl(&self) -> String {
        match &self.model {
            Model::Matmul(_) => "none (a matmul)".into(),
            Model::Sum(_) => "none (a sum)".into(),
            Model::Wan(m, ..) | Model::Block(m, ..) => m.attention.describe(self.mode()),
            Model::Llama(m, ..) | Model::LlamaDecode(m, ..) | Model::LlamaLast(m, ..) => {
                m.attention.describe(self.mode())
            }
            Model::Umt5(m, ..) => m.attention.describe(self.mode()),
            Model::WanVae(m, ..) => m.attention.describe(self.mode()),
            Model::Attention(paths, _) => paths.describe(self.mode()),
        }
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        match self.model {
            Model::Wan(..) => notes.push("Wan patch embedding: Conv3d with kernel = stride computed as reshape + matmul (candle-core has no conv3d)".to_string()),
            Model::Umt5(..) => notes.push("UMT5: a position bias per layer gathered from its relative-position embedding (index_select), added to unscaled scores, softmax in f32; gated-GELU (tanh) feed-forward; T5 RMS norm via candle_nn::ops::rms_norm".into()),
            Model::WanVae(..) => notes.push("Wan VAE decode: candle-core has no conv3d, so each causal 3-D convolution is the sum over its temporal taps of a conv2d (Tensor::conv2d) on the frames each tap reads; one latent frame per chunk with the reference's two-frame caches; nearest 2x by upsample_nearest2d; the output concatenated chunk by chunk as WanVAE_.decode does".into()),
            _ => {}
        }
        if let Model::LlamaDecode(_, _, _, cache) = &self.model {
            notes.push(format!(
                "decode: a KV cache of {} bytes written in place (Tensor::slice_set) at the context's last position each step; grouped-query heads attend over their kv head's cache without copying it",
                cache.bytes()
            ));
        }
        notes.push(match self.pass {
            Pass::Forward | Pass::Decode => "fused candle_nn kernels for softmax, LayerNorm, RMSNorm and RoPE; no autograd graph".into(),
            Pass::Train => "differentiable compositions for softmax, LayerNorm, RMSNorm and RoPE (candle's fused kernels record no backward op); gradients for every parameter, no optimizer step".into(),
        });
        if self.device.is_cpu() {
            match self.dtype {
                DType::BF16 => {
                    notes.push("CPU bf16: candle has no bf16 gemm kernel; each matmul widens to f32, multiplies and rounds back".into());
                    if let Model::WanVae(..) = self.model {
                        notes.push("CPU bf16 convolutions: candle's CPU conv2d has no bf16 kernel; each conv2d widens its input and kernel to f32 and rounds the result back".into());
                    }
                }
                DType::F16 => {
                    notes.push("CPU f16: matmuls use the gemm crate's f16 kernels".into())
                }
                _ => {}
            }
        }
        notes
    }
}

#[cfg(feature = "reference")]
mod reference;
#[cfg(test)]
mod tests;
