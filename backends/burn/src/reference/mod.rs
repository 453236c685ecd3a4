//! Burn's own modules beside ours (`ditbench reference-check`): a Llama and
//! a Wan2.1 DiT composed from `burn::nn` (Linear, Embedding, RmsNorm,
//! LayerNorm, RotaryEncoding, SwiGlu, Gelu, Conv3d) and Burn's attention op,
//! as a Burn user would write them; ours is built from tensor ops.
//!
//! Parameters are loaded once into the modules' `Param`s the way
//! burn-store's PyTorch adapter loads a PyTorch checkpoint: linear weights
//! transposed to Burn's [in, out] layout.

mod llama;
mod load;
mod wan;

use anyhow::Result;
use burn::tensor::{DType, Device, Tensor};
use ditbench_core::compute::pass_inputs::{PassInputs, pass_inputs};
use ditbench_core::model::workload::ModelConfig;
use ditbench_core::{
    CaseSpec, Inputs, Pass, PassOutput, PhaseTimes, PreparedCase, ReferencePair, WeightSource,
};

use crate::{BurnBackend, FRAMEWORK_VERSION, Output, scalar};
use load::{Leaf, Loader};

/// What Burn's own modules offer for `case`.
pub fn code(case: &CaseSpec) -> Result<String, String> {
    let modules = match case.workload.config {
        ModelConfig::Llama(_) => "Embedding, RmsNorm, Linear, RotaryEncoding, SwiGlu",
        ModelConfig::Wan(_) => "Conv3d, Linear, Gelu, LayerNorm, RmsNorm, RotaryEncoding",
        ModelConfig::Umt5(_) | ModelConfig::WanVae(_) => {
            return Err(
                "ditbench pairs no reference code with the text encoder or the VAE decoder yet"
                    .into(),
            );
        }
    };
    let cache = if case.pass == Pass::Decode {
        ", a KV cache grown with Tensor::cat (burn::nn's TensorCache idiom)"
    } else {
        ""
    };
    Ok(format!(
        "burn {FRAMEWORK_VERSION} burn::nn ({modules}) and module::attention{cache}"
    ))
}

/// A model of Burn's own modules on one pass.
pub(crate) trait NnModel {
    /// The pass's output: logits [B, S, vocab] (`Output::Rank3`) or the
    /// velocity [B, C, F, H, W] (`Output::Video`), as our model's.
    fn forward(&self) -> Output;
    /// A training step's loss of `out`.
    fn loss(&self, out: &Output) -> Tensor<1>;
    /// Trainable parameters by reference name, for gradient norms.
    fn params(&self) -> &[(String, Leaf)];
    fn attention(&self) -> String;
}

struct NnCase {
    model: Box<dyn NnModel>,
    pass: Pass,
    device: Device,
}

impl NnCase {
    fn sync(&self) -> Result<()> {
        self.device
            .sync()
            .map_err(|e| anyhow::anyhow!("device synchronization failed: {e:?}"))
    }
}

impl PreparedCase for NnCase {
    fn step(&mut self) -> Result<PhaseTimes> {
        let out = self.model.forward();
        if self.pass == Pass::Train {
            let grads = self.model.loss(&out).backward();
            self.sync()?;
            drop(grads);
        } else {
            self.sync()?;
        }
        Ok(PhaseTimes::default())
    }

    fn synchronize(&self) -> Result<()> {
        self.sync()
    }

    fn output(&mut self) -> Result<PassOutput> {
        let out = self.model.forward();
        let output = out.to_host()?;
        if self.pass != Pass::Train {
            return Ok(PassOutput {
                output,
                loss: None,
                grad_norms: Vec::new(),
            });
        }
        let loss = self.model.loss(&out);
        let grads = loss.clone().backward();
        let grad_norms = self
            .model
            .params()
            .iter()
            .map(|(name, p)| Ok((name.clone(), p.grad_norm(&grads)?)))
            .collect::<Result<_>>()?;
        Ok(PassOutput {
            output,
            loss: Some(scalar(loss)?),
            grad_norms,
        })
    }

    fn device_name(&self) -> String {
        format!("{:?}", self.device)
    }

    fn attention_impl(&self) -> String {
        self.model.attention()
    }
}

/// Ours and Burn's own modules on `case`, from the same weights and inputs.
pub fn prepare(
    backend: &BurnBackend,
    case: &CaseSpec,
    weights: &dyn WeightSource,
    inputs: &Inputs,
    device: Device,
    dtype: DType,
) -> Result<ReferencePair> {
    let loader = Loader::new(
        &case.workload.config,
        weights,
        dtype,
        &device,
        case.pass == Pass::Train,
    );
    let mut notes = vec![
        "both store linear weights as burn::nn::Linear does, [in, out], transposed once at load (burn-store's PyTorch adapter does the same)".to_string(),
    ];
    let model: Box<dyn NnModel> = match pass_inputs(case, inputs)? {
        PassInputs::Llama {
            config,
            tokens,
            targets,
        } => {
            notes.push("RotaryEncoding rotates adjacent pairs: q_proj and k_proj rows are permuted at load from Hugging Face's half-split order, as Burn's Llama ports do".into());
            Box::new(llama::NnLlama::prefill(&loader, config, tokens, targets)?)
        }
        PassInputs::Decode { config, tokens } => {
            notes.push("decode: Burn's cache idiom concatenates each step's keys and values onto the prompt's (a copy of the cache per step); ours writes them in place".into());
            Box::new(llama::NnLlama::decode(&loader, config, tokens)?)
        }
        PassInputs::Wan {
            config,
            latents,
            timesteps,
            context,
            target,
        } => {
            notes.push("Wan's non-affine LayerNorms are burn::nn::LayerNorm with a frozen weight of ones (the module always scales); RotaryEncoding holds Wan's 3-D table (its config makes 1-D ones)".into());
            Box::new(wan::NnWan::new(
                &loader, config, latents, timesteps, context, target,
            )?)
        }
        PassInputs::Umt5 { .. } | PassInputs::WanVae { .. } => {
            anyhow::bail!("no burn::nn counterpart of this model is built")
        }
    };
    Ok(ReferencePair {
        ours: backend.prepare_on(case, weights, inputs, device.clone(), dtype)?,
        theirs: Box::new(NnCase {
            model,
            pass: case.pass,
            device,
        }),
        reference: code(case).unwrap_or_default(),
        notes,
    })
}
