//! ditbench backends for Burn: `burn-flex` (Burn's recommended CPU backend)
//! and `burn-ndarray`, training through Burn's autodiff.

#[cfg(any(feature = "cuda", feature = "wgpu"))]
pub mod gpu;
pub mod llama;
pub mod ops;
mod reference;
pub mod umt5;
pub mod wan;
pub mod wan_vae;
pub mod weights;

use anyhow::{Result, bail};
use burn::tensor::{DType, Device, Tensor};
use ditbench_core::compute::backend::time_train_step;
use ditbench_core::compute::kernels::{BLOCK_PREFIX, Kernel, KernelSpec};
use ditbench_core::compute::pass_inputs::{PassInputs, Targets, pass_inputs, split_last};
use ditbench_core::io::files::l2_norm;
use ditbench_core::machine::threads::ThreadPool;
use ditbench_core::machine::threads::worker_threads;
use ditbench_core::model::attention::{ScoreMemory, TILE_SCORE_BYTES, written_path_memory};
use ditbench_core::model::layout::{LlamaParams, WanBlock, WanParams};
use ditbench_core::model::params::parameters;
use ditbench_core::model::workload::LlamaConfig;
use ditbench_core::{AttentionPath, AttentionPlan};
use ditbench_core::{
    Backend, CaseSpec, DeviceName, Dtype, FrameworkMemory, HostTensor, Inputs, Pass, PassOutput,
    PhaseTimes, PreparedCase, WeightSource,
};

use crate::llama::{DecodeInputs, LlamaInputs, LlamaModel, LlamaWeights, int_tensor};
use crate::ops::{Attention, float_tensor};
use crate::umt5::{Umt5Model, Umt5Weights};
use crate::wan::{BlockWeights, WanInputs, WanModel, WanWeights};
use crate::wan_vae::{WanVaeModel, WanVaeWeights};
use crate::weights::{MatmulLayout, Param, Weights};

pub const FRAMEWORK_VERSION: &str = env!("DITBENCH_BURN_VERSION");

/// Which Burn backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Flex,
    NdArray,
    #[cfg(feature = "cuda")]
    Cuda,
    #[cfg(feature = "wgpu")]
    Wgpu,
}

pub struct BurnBackend {
    pub kind: Kind,
}

pub const FLEX: BurnBackend = BurnBackend { kind: Kind::Flex };
pub const NDARRAY: BurnBackend = BurnBackend {
    kind: Kind::NdArray,
};
#[cfg(feature = "cuda")]
pub const CUDA: BurnBackend = BurnBackend { kind: Kind::Cuda };
#[cfg(feature = "wgpu")]
pub const WGPU: BurnBackend = BurnBackend { kind: Kind::Wgpu };

fn burn_dtype(dtype: Dtype) -> DType {
    match dtype {
        Dtype::F32 => DType::F32,
        Dtype::Bf16 => DType::BF16,
        Dtype::F16 => DType::F16,
    }
}

impl BurnBackend {
    fn device(&self, name: DeviceName, pass: Pass) -> Result<Device> {
        if !self.devices().contains(&name) {
            bail!("{} has no device '{name}' on this machine", self.name());
        }
        let device = match self.kind {
            Kind::Flex => Device::flex(),
            // Deprecated upstream in favour of Flex; kept so users can compare the two.
            #[allow(deprecated)]
            Kind::NdArray => Device::ndarray(),
            #[cfg(any(feature = "cuda", feature = "wgpu"))]
            _ => gpu::device(self.kind, name),
        };
        Ok(match pass {
            Pass::Forward | Pass::Decode => device,
            Pass::Train => device.autodiff(),
        })
    }
}

impl BurnBackend {
    /// How this backend's matmul weights are stored for `pass`, whichever
    /// it multiplies faster (`weights` module documentation): NdArray
    /// copies a transposed view in every product; Flex runs a decode
    /// step's one-row products faster on [out, in] rows.
    fn matmul_layout(&self, pass: Pass) -> MatmulLayout {
        match (self.kind, pass) {
            (Kind::NdArray, _) => MatmulLayout::InOut,
            (_, Pass::Decode) => MatmulLayout::OutIn,
            (_, Pass::Forward | Pass::Train) => MatmulLayout::InOut,
        }
    }

    /// The case's model on `device` (an autodiff device for training).
    fn prepare_on(
        &self,
        case: &CaseSpec,
        weights: &dyn WeightSource,
        inputs: &Inputs,
        device: Device,
        dtype: DType,
    ) -> Result<Box<dyn PreparedCase>> {
        let config = &case.workload.config;

        let weights = Weights::load(
            &parameters(config),
            weights,
            dtype,
            &device,
            case.pass == Pass::Train,
            self.matmul_layout(case.pass),
        )?;
        let model = match pass_inputs(case, inputs)? {
            PassInputs::Wan {
                config: c,
                latents,
                timesteps,
                context,
                target,
            } => {
                let upload = |t: &HostTensor, dt: DType| -> Result<Tensor<5>> {
                    let shape: [usize; 5] = t.shape.as_slice().try_into()?;
                    Ok(float_tensor(t.as_f32()?.to_vec(), shape, dt, &device))
                };
                let text: [usize; 3] = context.shape.as_slice().try_into()?;
                Model::Wan(Box::new((
                    WanModel::new(c, dtype, &device, case.attention),
                    WanParams::resolve(c, |name| weights.param(name))?,
                    WanInputs {
                        latents: upload(latents, dtype)?,
                        time_freqs: WanModel::time_freqs(c, timesteps, dtype, &device),
                        context: float_tensor(context.as_f32()?.to_vec(), text, dtype, &device),
                        target: upload(target, DType::F32)?,
                    },
                )))
            }
            PassInputs::Decode { config: c, tokens } => {
                let (prompt, last) = split_last(tokens, c.seq_len);
                let model = LlamaModel::new(c, dtype, &device, case.attention);
                let params = LlamaParams::resolve(c, |name| weights.param(name))?;
                // The prompt's cache is filled here, outside the timed
                // steps; each step decodes the context's last token.
                let cache = model.prefill(&params, int_tensor(&prompt, [prompt.len()], &device));
                let token = int_tensor(&last, [c.batch], &device);
                model.attention.record.forget();
                Model::LlamaDecode(Box::new((model, params, DecodeInputs { token, cache })))
            }
            PassInputs::Llama {
                config: c,
                tokens,
                targets,
            } => Model::Llama(Box::new((
                LlamaModel::new(c, dtype, &device, case.attention),
                LlamaParams::resolve(c, |name| weights.param(name))?,
                llama_inputs(c, tokens, targets, &device),
            ))),
            PassInputs::Umt5 { config: c, tokens } => Model::Umt5(Box::new((
                Umt5Model::new(c, &device, case.attention),
                ditbench_core::model::umt5::Umt5Params::resolve(c, |name| weights.param(name))?,
                int_tensor(tokens, [tokens.len()], &device),
            ))),
            PassInputs::WanVae { config: c, latents } => {
                let shape: [usize; 5] = latents.shape.as_slice().try_into()?;
                Model::WanVae(Box::new((
                    WanVaeModel::new(c, case.attention),
                    ditbench_core::model::wan_vae::WanVaeParams::resolve(c, |name| {
                        weights.param(name)
                    })?,
                    float_tensor(latents.as_f32()?.to_vec(), shape, dtype, &device),
                )))
            }
        };
        Ok(Box::new(BurnCase {
            kind: self.kind,
            model,
            weights,
            pass: case.pass,
            device,
            device_name: case.device,
            dtype,
        }))
    }
}

impl Backend for BurnBackend {
    fn name(&self) -> &'static str {
        match self.kind {
            Kind::Flex => "burn-flex",
            Kind::NdArray => "burn-ndarray",
            #[cfg(feature = "cuda")]
            Kind::Cuda => "burn-cuda",
            #[cfg(feature = "wgpu")]
            Kind::Wgpu => "burn-wgpu",
        }
    }

    fn framework_version(&self) -> String {
        format!("burn {FRAMEWORK_VERSION}")
    }

    fn build_features(&self) -> Vec<String> {
        let on = |yes: bool| if yes { "on" } else { "off" };
        let threads = match self.kind {
            Kind::Flex => "rayon threads (ops and gemm)",
            Kind::NdArray => "multi-threads (rayon ops, matrixmultiply matmul threads)",
            #[cfg(feature = "cuda")]
            Kind::Cuda => {
                return vec!["CubeCL CUDA runtime: kernels compiled at run time (NVRTC)".into()];
            }
            #[cfg(feature = "wgpu")]
            Kind::Wgpu => {
                return vec![
                    "CubeCL wgpu runtime: the graphics API wgpu picks (Vulkan on Linux), kernels compiled at run time (SPIR-V on Vulkan)".into(),
                ];
            }
        };
        let matmul = match self.kind {
            Kind::Flex if cfg!(feature = "x86-v4") => {
                "matmul: gemm crate, AVX-512 (x86-v4) or AVX2 kernels"
            }
            Kind::Flex => "matmul: gemm crate, AVX2/FMA kernels (no x86-v4)",
            _ => "matmul: matrixmultiply crate (MATMUL_NUM_THREADS, at most 4 threads)",
        };
        vec![
            format!("{threads}: {}", on(cfg!(feature = "rayon"))),
            format!(
                "SIMD element-wise kernels (macerator): {}",
                on(cfg!(feature = "simd"))
            ),
            matmul.to_string(),
        ]
    }

    fn thread_variables(&self) -> &'static [&'static str] {
        // rayon's global pool (Flex, NdArray); matrixmultiply's own pool
        // (NdArray's matmuls), which keeps at most 4 threads.
        &["RAYON_NUM_THREADS", "MATMUL_NUM_THREADS"]
    }

    fn out_of_memory_phrases(&self) -> &'static [&'static str] {
        // CubeCL's `OutOfMemory` errors; allocation failures in its pools.
        &["outofmemory", "out_of_memory", "failed to allocate"]
    }

    fn runs_on_nvidia_gpus(&self) -> bool {
        !matches!(self.kind, Kind::Flex | Kind::NdArray)
    }

    fn devices(&self) -> Vec<DeviceName> {
        match self.kind {
            Kind::Flex | Kind::NdArray => vec![DeviceName::Cpu],
            #[cfg(any(feature = "cuda", feature = "wgpu"))]
            _ => gpu::devices(self.kind),
        }
    }

    fn attention_paths(&self, _device: DeviceName, pass: Pass) -> Vec<AttentionPath> {
        use AttentionPath::{Composite, Fused, Tiled};
        match (self.kind, pass) {
            // NdArray's `module::attention` is Burn's unfused fallback, the
            // composite path by another name: ours (tiled when big) comes first.
            (Kind::NdArray, Pass::Forward | Pass::Decode) => vec![Composite, Tiled, Fused],
            _ => vec![Fused, Composite, Tiled],
        }
    }

    fn score_memory(&self, path: AttentionPath, pass: Pass) -> ScoreMemory {
        match (path, self.kind, pass) {
            // Autodiff differentiates the unfused fallback; NdArray runs it.
            (AttentionPath::Fused, _, Pass::Train) | (AttentionPath::Fused, Kind::NdArray, _) => {
                ScoreMemory::Full
            }
            _ => written_path_memory(path, pass == Pass::Train),
        }
    }

    fn unsupported(&self, device: DeviceName, dtype: Dtype, pass: Pass) -> Option<String> {
        let device = self.device(device, pass).ok()?;
        (!device.supports_dtype(burn_dtype(dtype)))
            .then(|| format!("{} does not support {dtype}", self.name()))
    }

    fn prepare(
        &self,
        case: &CaseSpec,
        weights: &dyn WeightSource,
        inputs: &Inputs,
    ) -> Result<Box<dyn PreparedCase>> {
        let device = self.device(case.device, case.pass)?;
        self.prepare_on(case, weights, inputs, device, burn_dtype(case.dtype))
    }

    fn reference_code(&self, case: &CaseSpec) -> std::result::Result<String, String> {
        reference::code(case)
    }

    fn prepare_reference(
        &self,
        case: &CaseSpec,
        weights: &dyn WeightSource,
        inputs: &Inputs,
    ) -> Result<ditbench_core::ReferencePair> {
        let device = self.device(case.device, case.pass)?;
        reference::prepare(self, case, weights, inputs, device, burn_dtype(case.dtype))
    }

    fn prepare_kernel(
        &self,
        spec: &KernelSpec,
        operands: &dyn WeightSource,
    ) -> Result<Box<dyn PreparedCase>> {
        let device = self.device(spec.device, spec.pass)?;
        let dtype = burn_dtype(spec.dtype);
        let trainable = spec.pass == Pass::Train;
        let layout = self.matmul_layout(spec.pass);
        let weights = Weights::load(
            &spec.kernel.operands(),
            operands,
            dtype,
            &device,
            trainable,
            layout,
        )?;
        let model = match &spec.kernel {
            Kernel::WanBlock(c) => Model::Block(Box::new((
                WanModel::new(c, dtype, &device, kernel_attention()),
                WanBlock::resolve(BLOCK_PREFIX.trim_end_matches('.'), &mut |name: &str| {
                    weights.param(name)
                })?,
                [
                    weights.param("x")?,
                    weights.param("e0")?,
                    weights.param("context")?,
                ],
            ))),
            Kernel::Attention { .. } => Model::Attention(Box::new((
                Attention::new(kernel_attention()),
                [
                    weights.param("q")?,
                    weights.param("k")?,
                    weights.param("v")?,
                ],
            ))),
            Kernel::Matmul { .. } => {
                Model::Matmul(Box::new([weights.param("x")?, weights.param("weight")?]))
            }
            Kernel::Sum { .. } => Model::Sum(Box::new(weights.param("x")?)),
        };
        Ok(Box::new(BurnCase {
            kind: self.kind,
            model,
            weights,
            pass: spec.pass,
            device,
            device_name: spec.device,
            dtype,
        }))
    }
}

/// Kernels (benches) run Burn's `module::attention`.
fn kernel_attention() -> AttentionPlan {
    AttentionPlan {
        path: AttentionPath::Fused,
        tile_score_bytes: TILE_SCORE_BYTES,
    }
}

/// A model with its parameters resolved into typed fields, and its inputs.
/// A Llama prefill's or training step's tokens and targets on the device;
/// ignored positions (Hugging Face's -100) weigh 0 in the loss.
fn llama_inputs(c: &LlamaConfig, tokens: &[u32], targets: Targets, device: &Device) -> LlamaInputs {
    let n = c.batch * c.seq_len;
    let (targets, weights) = match targets.weighted {
        Some((ids, w)) => (
            int_tensor(&ids, [n, 1], device),
            Some(float_tensor(w, [n, 1], DType::F32, device)),
        ),
        None => (int_tensor(targets.ids, [n, 1], device), None),
    };
    LlamaInputs {
        tokens: int_tensor(tokens, [n], device),
        targets,
        weights,
    }
}

enum Model {
    // Burn tensors are large handles: keep the variants small.
    Wan(Box<(WanModel, WanWeights, WanInputs)>),
    Llama(Box<(LlamaModel, LlamaWeights, LlamaInputs)>),
    /// One decode step: the context's last token over the cache of the
    /// tokens before it.
    LlamaDecode(Box<(LlamaModel, LlamaWeights, DecodeInputs)>),
    /// The text encoder over token ids [B*L].
    Umt5(Box<(Umt5Model, Umt5Weights, Tensor<1, burn::tensor::Int>)>),
    /// The VAE decoder over latents [B, z, T, h, w].
    WanVae(Box<(WanVaeModel, WanVaeWeights, Tensor<5>)>),
    /// Building blocks on their own (`ditbench_core::compute::kernels`), their
    /// inputs among the weights: a block's x, e0 and context; q, k, v; x
    /// and the matmul's weight.
    Block(Box<(WanModel, BlockWeights, [Param; 3])>),
    Attention(Box<(Attention, [Param; 3])>),
    Matmul(Box<[Param; 2]>),
    Sum(Box<Param>),
}

/// A forward output, flattened to the host on demand.
enum Output {
    Video(Tensor<5>),
    /// Llama logits, or a Wan block's tokens.
    Rank3(Tensor<3>),
    /// Attention's [B, H, S, D].
    Rank4(Tensor<4>),
    /// A matmul's [m, n].
    Rank2(Tensor<2>),
    /// The sum's [1].
    Rank1(Tensor<1>),
}

impl Output {
    fn to_host(&self) -> Result<HostTensor> {
        match self {
            Output::Video(t) => host(t.clone()),
            Output::Rank3(t) => host(t.clone()),
            Output::Rank4(t) => host(t.clone()),
            Output::Rank2(t) => host(t.clone()),
            Output::Rank1(t) => host(t.clone()),
        }
    }

    /// `ditbench_core::compute::kernels::TRAIN_LOSS`.
    fn mean_square(self) -> Tensor<1> {
        match self {
            Output::Video(t) => t.cast(DType::F32).square().mean(),
            Output::Rank3(t) => t.cast(DType::F32).square().mean(),
            Output::Rank4(t) => t.cast(DType::F32).square().mean(),
            Output::Rank2(t) => t.cast(DType::F32).square().mean(),
            Output::Rank1(t) => t.cast(DType::F32).square().mean(),
        }
    }
}

struct BurnCase {
    kind: Kind,
    model: Model,
    weights: Weights,
    pass: Pass,
    device: Device,
    /// ditbench's name of `device`.
    device_name: DeviceName,
    dtype: DType,
}

impl BurnCase {
    fn forward(&self) -> Output {
        match &self.model {
            Model::Wan(wan) => Output::Video(wan.0.forward(&wan.1, &wan.2)),
            Model::Llama(llama) => Output::Rank3(llama.0.forward(&llama.1, llama.2.tokens.clone())),
            Model::LlamaDecode(decode) => {
                let (m, w, inputs) = &**decode;
                Output::Rank3(m.decode(w, inputs.token.clone(), &inputs.cache))
            }
            Model::Umt5(encoder) => {
                let (m, w, tokens) = &**encoder;
                Output::Rank3(m.forward(w, tokens.clone()))
            }
            Model::WanVae(vae) => {
                let (m, w, latents) = &**vae;
                Output::Video(m.decode(w, latents.clone()))
            }
            Model::Block(block) => {
                let (m, w, [x, e0, context]) = &**block;
                Output::Rank3(m.block(w, x.get(), e0.get(), context.get()))
            }
            Model::Attention(qkv) => {
                let (attention, [q, k, v]) = &**qkv;
                Output::Rank4(attention.run(q.get(), k.get(), v.get(), false))
            }
            Model::Matmul(operands) => {
                let [x, weight] = &**operands;
                Output::Rank2(x.get().matmul(weight.get().transpose()))
            }
            Model::Sum(x) => Output::Rank1(x.get::<1>().sum()),
        }
    }

    fn loss(&self, output: Output) -> Tensor<1> {
        match (&self.model, output) {
            (Model::Wan(wan), Output::Video(out)) => WanModel::loss(out, wan.2.target.clone()),
            (Model::Llama(llama), Output::Rank3(out)) => {
                LlamaModel::loss(out, llama.2.targets.clone(), llama.2.weights.clone())
            }
            (Model::Block(_) | Model::Attention(_) | Model::Matmul(_) | Model::Sum(_), out) => {
                out.mean_square()
            }
            _ => unreachable!("the output follows the model"),
        }
    }

    fn sync(&self) -> Result<()> {
        self.device
            .sync()
            .map_err(|e| anyhow::anyhow!("device synchronization failed: {e:?}"))
    }
}

fn host<const D: usize>(t: Tensor<D>) -> Result<HostTensor> {
    let shape = t.dims().to_vec();
    let values = t
        .cast(DType::F32)
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("reading a tensor back: {e:?}"))?;
    Ok(HostTensor::f32(shape, values))
}

fn scalar(t: Tensor<1>) -> Result<f64> {
    Ok(f64::from(host(t)?.as_f32()?[0]))
}

impl PreparedCase for BurnCase {
    fn step(&mut self) -> Result<PhaseTimes> {
        match self.pass {
            Pass::Forward | Pass::Decode => {
                // Burn executes lazily on some backends: keep the output until the runner syncs.
                let out = self.forward();
                self.sync()?;
                drop(out);
                Ok(PhaseTimes::default())
            }
            Pass::Train => time_train_step(
                || self.sync(),
                || Ok(self.loss(self.forward())),
                |loss| Ok(loss.backward()),
            ),
        }
    }

    fn synchronize(&self) -> Result<()> {
        self.sync()
    }

    fn output(&mut self) -> Result<PassOutput> {
        let out = self.forward();
        let output = out.to_host()?;
        if self.pass != Pass::Train {
            return Ok(PassOutput {
                output,
                loss: None,
                grad_norms: Vec::new(),
            });
        }
        let loss = self.loss(out);
        let grads = loss.backward();
        let grad_norms = self
            .weights
            .names()
            .iter()
            .map(|name| {
                let norm = match self.weights.leaf(name).grad(&grads) {
                    Some(g) => l2_norm(host(g)?.as_f32()?),
                    None => 0.0,
                };
                Ok((name.clone(), norm))
            })
            .collect::<Result<_>>()?;
        Ok(PassOutput {
            output,
            loss: Some(scalar(loss)?),
            grad_norms,
        })
    }

    fn thread_pools(&self) -> Vec<ThreadPool> {
        let asked = worker_threads();
        match self.kind {
            Kind::Flex | Kind::NdArray if cfg!(feature = "rayon") => vec![ThreadPool::new(
                "rayon global pool",
                rayon::current_num_threads(),
                asked,
            )],
            Kind::Flex | Kind::NdArray => vec![ThreadPool::new(
                "the calling thread (built without Burn's rayon feature)",
                1,
                asked,
            )],
            #[cfg(any(feature = "cuda", feature = "wgpu"))]
            _ => Vec::new(),
        }
    }

    fn framework_memory(&self) -> Option<FrameworkMemory> {
        match self.kind {
            Kind::Flex | Kind::NdArray => None,
            #[cfg(any(feature = "cuda", feature = "wgpu"))]
            _ => gpu::framework_memory(&self.device),
        }
    }

    fn device_name(&self) -> String {
        match self.kind {
            Kind::Flex => "cpu (burn Flex)".into(),
            Kind::NdArray => "cpu (burn NdArray)".into(),
            #[cfg(any(feature = "cuda", feature = "wgpu"))]
            _ => gpu::device_name(&self.device, self.device_name),
        }
    }

    fn attention_impl(&self) -> String {
        let attention = match &self.model {
            Model::Matmul(_) => return "none (a matmul)".into(),
            Model::Sum(_) => return "none (a sum)".into(),
            Model::Wan(wan) => &wan.0.attention,
            Model::Llama(llama) => &llama.0.attention,
            Model::LlamaDecode(decode) => &decode.0.attention,
            Model::Umt5(encoder) => &encoder.0.attention,
            Model::WanVae(vae) => &vae.0.attention,
            Model::Block(block) => &block.0.attention,
            Model::Attention(qkv) => &qkv.0,
        };
        const COMPOSITE: &str =
            "composite: matmul QK^T, burn::tensor::activation::softmax, matmul AV";
        attention.record.describe(COMPOSITE, || match (self.pass, self.kind) {
            (Pass::Forward | Pass::Decode, Kind::Flex) => "burn::tensor::module::attention: Flex's fused attention kernel (materialized scores when S_q*S_k <= 262,144, tiled flash otherwise)".into(),
            (Pass::Forward | Pass::Decode, Kind::NdArray) => "burn::tensor::module::attention: NdArray has no fused kernel and runs Burn's unfused fallback (matmul, softmax, matmul)".into(),
            #[cfg(any(feature = "cuda", feature = "wgpu"))]
            (Pass::Forward | Pass::Decode, _) => {
                "burn::tensor::module::attention: the CubeCL backend's attention kernel".into()
            }
            (Pass::Train, _) => "burn::tensor::module::attention under Autodiff: Burn 0.22's backward always uses the unfused fallback (matmul, softmax, matmul)".into(),
        })
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.device_name == DeviceName::Software {
            notes.push(
                "software device: a Vulkan implementation on the CPU ran Burn's GPU code path; its times and memory describe this CPU, not any GPU"
                    .to_string(),
            );
        }
        if let Model::Wan(_) = self.model {
            notes.push(
                "Wan patch embedding: Conv3d with kernel = stride computed as reshape + matmul"
                    .to_string(),
            );
        }
        match self.model {
            Model::Umt5(_) => notes.push("UMT5: a position bias per layer gathered from its relative-position embedding (select), added to unscaled scores, softmax in f32; gated-GELU (tanh) feed-forward; T5 RMS norm written out".into()),
            Model::WanVae(_) => notes.push("Wan VAE decode: burn::tensor::module::conv3d over the reference's two-frame caches (zeros before the first chunk), one latent frame per chunk; nearest 2x (interpolate) + conv2d; RMS norms written out; the output concatenated chunk by chunk as WanVAE_.decode does".into()),
            _ => {}
        }
        if let Model::LlamaDecode(decode) = &self.model {
            notes.push(format!(
                "decode: a KV cache of {} bytes, the step's keys and values written at the context's last position with slice_assign on a cache the step owns alone (which lets the backend write it in place); grouped-query heads attend over their kv head's cache without copying it",
                decode.2.cache.bytes()
            ));
        }
        if let Model::Wan(_) | Model::Llama(_) | Model::LlamaDecode(_) | Model::Block(_) =
            self.model
        {
            notes.push(
                "LayerNorm and RMSNorm written out (Burn's LayerNorm module is always affine)"
                    .to_string(),
            );
        }
        if self.pass == Pass::Train {
            notes.push(
                "gradients for every parameter through Burn's Autodiff; no optimizer step".into(),
            );
        }
        if self.dtype != DType::F32 {
            notes.push(format!(
                "norm statistics and the loss computed in f32; everything else in {:?}",
                self.dtype
            ));
        }
        notes
    }
}

#[cfg(test)]
mod tests;
