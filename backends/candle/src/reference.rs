//! candle-transformers' Llama beside ours (`ditbench reference-check`),
//! loaded from the same tensors: its `VarBuilder` reads our parameters by
//! their Hugging Face names, without a copy.
//!
//! candle-transformers has no Wan2.1 DiT, nor a block whose math matches
//! one: its DiTs (`flux`, `mmdit`, `z_image`) attend jointly over text and
//! image tokens or in a single stream, with other modulations.

use anyhow::{Result, bail};
use candle_core::{Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::llama::{Cache, Config, Llama, Llama3RopeConfig, Llama3RopeType};
use ditbench_core::compute::pass_inputs::{PassInputs, pass_inputs};
use ditbench_core::model::layout::LlamaParams;
use ditbench_core::model::params::parameters;
use ditbench_core::model::workload::{LlamaConfig, ModelConfig};
use ditbench_core::{
    CaseSpec, Inputs, Pass, PassOutput, PhaseTimes, PreparedCase, ReferencePair, WeightSource,
};

use crate::llama::LlamaModel;
use crate::weights::Weights;
use crate::{CandleCase, Model, candle_device, candle_dtype, to_host};

const VERSION: &str = env!("DITBENCH_CANDLE_TRANSFORMERS_VERSION");

/// What candle-transformers offers for `case`, or why nothing.
pub fn code(case: &CaseSpec) -> Result<String, String> {
    let item = format!("candle-transformers {VERSION} models::llama::Llama");
    match (&case.workload.config, case.pass) {
        (ModelConfig::Wan(_), _) => Err(format!(
            "candle-transformers {VERSION} has no Wan2.1 DiT nor a block whose math matches one (flux, mmdit and z_image attend jointly or in one stream, with other modulations)"
        )),
        (ModelConfig::Llama(_), Pass::Train) => Err(format!(
            "candle-transformers {VERSION}'s Llama is inference code: no loss, no training step"
        )),
        (ModelConfig::Llama(_), Pass::Forward) => {
            Ok(format!("{item}::forward (the last position's logits)"))
        }
        (ModelConfig::Llama(_), Pass::Decode) => {
            Ok(format!("{item}::forward over its KV cache (llama::Cache)"))
        }
        (ModelConfig::Umt5(_) | ModelConfig::WanVae(_), _) => Err(
            "ditbench pairs no reference code with the text encoder or the VAE decoder yet".into(),
        ),
    }
}

/// Their configuration of our Llama (no flash attention: a CUDA-only crate).
fn their_config(c: &LlamaConfig) -> Config {
    Config {
        hidden_size: c.hidden_size,
        intermediate_size: c.intermediate_size,
        vocab_size: c.vocab_size,
        num_hidden_layers: c.num_hidden_layers,
        num_attention_heads: c.num_attention_heads,
        num_key_value_heads: c.num_key_value_heads,
        use_flash_attn: false,
        rms_norm_eps: c.rms_norm_eps,
        rope_theta: c.rope_theta as f32,
        bos_token_id: None,
        eos_token_id: None,
        rope_scaling: c.rope_scaling.as_ref().map(|s| Llama3RopeConfig {
            factor: s.factor as f32,
            low_freq_factor: s.low_freq_factor as f32,
            high_freq_factor: s.high_freq_factor as f32,
            original_max_position_embeddings: s.original_max_position_embeddings,
            rope_type: Llama3RopeType::Llama3,
        }),
        // Their RoPE table and causal masks cover the context.
        max_position_embeddings: c.seq_len.max(c.max_position_embeddings),
        tie_word_embeddings: c.tie_word_embeddings,
    }
}

/// candle-transformers' Llama on one prefill or one decode step.
struct TheirLlama {
    model: Llama,
    /// Prefill: the token ids [B, S] and a cache that keeps no keys (it
    /// holds their RoPE table and masks). Decode: the context's last token
    /// [B, 1] and the cache holding the prompt's keys and values.
    tokens: Tensor,
    cache: Cache,
    /// Where `tokens` starts: 0 for a prefill, S-1 for a decode step.
    position: usize,
    device: Device,
}

impl TheirLlama {
    fn forward(&mut self) -> candle_core::Result<Tensor> {
        // A decode step appends to the cache it is given: each step gets a
        // copy of the prompt's (shared storage, no data copied), so every
        // step decodes the same position.
        let mut cache = self.cache.clone();
        self.model.forward(&self.tokens, self.position, &mut cache)
    }
}

impl PreparedCase for TheirLlama {
    fn step(&mut self) -> Result<PhaseTimes> {
        let device = self.device.clone();
        device.with_context(|| self.forward())?;
        Ok(PhaseTimes::default())
    }

    fn synchronize(&self) -> Result<()> {
        Ok(self.device.synchronize()?)
    }

    fn output(&mut self) -> Result<PassOutput> {
        // [B, vocab] -> [B, 1, vocab], as ours.
        let logits = self.forward()?.unsqueeze(1)?;
        Ok(PassOutput {
            output: to_host(&logits)?,
            loss: None,
            grad_norms: Vec::new(),
        })
    }

    fn device_name(&self) -> String {
        format!("{:?}", self.device.location())
    }

    fn attention_impl(&self) -> String {
        "candle-transformers: matmul, masked_fill, softmax_last_dim, matmul in f32".into()
    }
}

/// Ours and candle-transformers' Llama on `case`, sharing one set of
/// parameter tensors.
pub fn prepare(
    case: &CaseSpec,
    weights: &dyn WeightSource,
    inputs: &Inputs,
) -> Result<ReferencePair> {
    let reference = code(case).map_err(anyhow::Error::msg)?;
    let device = candle_device(case.device)?;
    let dtype = candle_dtype(case.dtype);
    let config = &case.workload.config;
    let weights = Weights::load(&parameters(config), weights, dtype, &device, false)?;
    let (c, tokens) = match pass_inputs(case, inputs)? {
        PassInputs::Llama { config, tokens, .. } | PassInputs::Decode { config, tokens, .. } => {
            (config, tokens)
        }
        PassInputs::Wan { .. } | PassInputs::Umt5 { .. } | PassInputs::WanVae { .. } => {
            bail!("no candle-transformers counterpart of this model")
        }
    };
    let tokens = LlamaModel::device_tokens(tokens, (c.batch, c.seq_len), &device)?;
    let vb = VarBuilder::from_tensors(weights.tensors().clone(), dtype, &device);
    let their_cfg = their_config(c);
    let model = Llama::load(vb, &their_cfg)?;
    let decode = case.pass == Pass::Decode;
    let mut cache = Cache::new(decode, dtype, &their_cfg, &device)?;
    let (tokens_theirs, position) = if decode {
        let s = c.seq_len;
        device.with_context(|| model.forward(&tokens.narrow(1, 0, s - 1)?, 0, &mut cache))?;
        (tokens.narrow(1, s - 1, 1)?.contiguous()?, s - 1)
    } else {
        (tokens.clone(), 0)
    };
    let theirs = TheirLlama {
        model,
        tokens: tokens_theirs,
        cache,
        position,
        device: device.clone(),
    };
    let mut notes = vec![
        "candle-transformers computes attention in f32 with a materialized mask; ours takes the case's attention path".to_string(),
    ];
    let ours: Box<dyn PreparedCase> = if decode {
        notes.push("decode: candle-transformers appends each step's keys and values to its cache (Tensor::cat, a copy of the cache per step); ours writes them in place".into());
        Box::new(crate::build_case(case, weights.clone(), inputs)?)
    } else {
        notes.push("prefill: both compute the last position's logits only, as candle-transformers' forward does (the suite's forward computes every position's)".into());
        let model = LlamaModel::new(c, dtype, &device, case.attention)?;
        let params = LlamaParams::resolve(c, |name| weights.handle(name))?;
        Box::new(CandleCase {
            model: Model::LlamaLast(model, params, tokens),
            weights,
            pass: case.pass,
            device,
            dtype,
        })
    };
    Ok(ReferencePair {
        ours,
        theirs: Box::new(theirs),
        reference,
        notes,
    })
}
