//! Llama (HF transformers `LlamaForCausalLM`) prefill on libtorch, with HF's
//! parameter names: RMSNorm, RoPE, grouped-query attention, SwiGLU, causal mask.

use anyhow::Result;
use ditbench_harness::tables::llama_rope;
use ditbench_harness::workload::LlamaConfig;
use tch::{Device, Kind, Reduction, Tensor};

use crate::ops::{KernelLog, attention, linear, merge_heads, rms_norm, rope, split_heads};
use crate::weights::{Weights, upload};

pub struct LlamaInputs {
    /// Token ids [B, S], i64.
    pub tokens: Tensor,
    /// Next-token targets [B, S], i64.
    pub targets: Tensor,
}

/// One `LlamaDecoderLayer`'s parameters (weights only: Llama has no biases).
pub struct LayerWeights {
    input_layernorm: Tensor,
    q_proj: Tensor,
    k_proj: Tensor,
    v_proj: Tensor,
    o_proj: Tensor,
    post_attention_layernorm: Tensor,
    gate_proj: Tensor,
    up_proj: Tensor,
    down_proj: Tensor,
}

/// Every parameter of a `LlamaForCausalLM`, resolved once from Hugging
/// Face's names when the case is prepared.
pub struct LlamaWeights {
    embed_tokens: Tensor,
    layers: Vec<LayerWeights>,
    norm: Tensor,
    /// `lm_head.weight`, or the embedding when the two are tied.
    lm_head: Tensor,
}

impl LlamaWeights {
    pub fn resolve(cfg: &LlamaConfig, w: &Weights) -> Result<Self> {
        let layer = |i: usize| -> Result<LayerWeights> {
            let get = |name: &str| -> Result<Tensor> {
                Ok(w.get(&format!("model.layers.{i}.{name}.weight"))?
                    .shallow_clone())
            };
            Ok(LayerWeights {
                input_layernorm: get("input_layernorm")?,
                q_proj: get("self_attn.q_proj")?,
                k_proj: get("self_attn.k_proj")?,
                v_proj: get("self_attn.v_proj")?,
                o_proj: get("self_attn.o_proj")?,
                post_attention_layernorm: get("post_attention_layernorm")?,
                gate_proj: get("mlp.gate_proj")?,
                up_proj: get("mlp.up_proj")?,
                down_proj: get("mlp.down_proj")?,
            })
        };
        let embed_tokens = w.get("model.embed_tokens.weight")?.shallow_clone();
        Ok(LlamaWeights {
            layers: (0..cfg.num_hidden_layers)
                .map(layer)
                .collect::<Result<_>>()?,
            norm: w.get("model.norm.weight")?.shallow_clone(),
            lm_head: if cfg.tie_word_embeddings {
                embed_tokens.shallow_clone()
            } else {
                w.get("lm_head.weight")?.shallow_clone()
            },
            embed_tokens,
        })
    }
}

pub struct LlamaModel {
    cfg: LlamaConfig,
    rope_cos: Tensor,
    rope_sin: Tensor,
    pub kernels: KernelLog,
}

impl LlamaModel {
    pub fn new(cfg: &LlamaConfig, kind: Kind, device: Device) -> Result<Self> {
        let table = llama_rope(cfg);
        let shape = [table.positions, table.pairs];
        Ok(LlamaModel {
            cfg: cfg.clone(),
            rope_cos: upload(&table.cos, &shape, kind, device)?,
            rope_sin: upload(&table.sin, &shape, kind, device)?,
            kernels: KernelLog::default(),
        })
    }

    fn layer(&self, l: &LayerWeights, h: &Tensor) -> Result<Tensor> {
        let c = &self.cfg;
        let eps = c.rms_norm_eps;

        let x = rms_norm(h, &l.input_layernorm, eps)?;
        let heads = |weight: &Tensor, n: usize| -> Result<Tensor> {
            Ok(split_heads(&linear(&x, weight, None)?, n as i64)?)
        };
        let q = heads(&l.q_proj, c.num_attention_heads)?;
        let k = heads(&l.k_proj, c.num_key_value_heads)?;
        let v = heads(&l.v_proj, c.num_key_value_heads)?;
        let q = rope(&q, &self.rope_cos, &self.rope_sin, false)?;
        let k = rope(&k, &self.rope_cos, &self.rope_sin, false)?;
        let y = merge_heads(&attention(&q, &k, &v, true, &self.kernels, "causal")?)?;
        let h = h.f_add(&linear(&y, &l.o_proj, None)?)?;

        let x = rms_norm(&h, &l.post_attention_layernorm, eps)?;
        let gate = linear(&x, &l.gate_proj, None)?.f_silu()?;
        let up = linear(&x, &l.up_proj, None)?;
        Ok(h.f_add(&linear(&gate.f_mul(&up)?, &l.down_proj, None)?)?)
    }

    /// Prefill: token ids [B, S] -> logits [B, S, vocab].
    pub fn forward(&self, w: &LlamaWeights, tokens: &Tensor) -> Result<Tensor> {
        let c = &self.cfg;
        let mut h = Tensor::f_embedding(&w.embed_tokens, tokens, -1, false, false)?;
        for layer in &w.layers {
            h = self.layer(layer, &h)?;
        }
        let h = rms_norm(&h, &w.norm, c.rms_norm_eps)?;
        Ok(linear(&h, &w.lm_head, None)?)
    }

    /// Mean next-token cross-entropy (`F.cross_entropy`), computed in f32.
    pub fn loss(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
        let vocab = *logits.size().last().expect("logits have a vocab dimension");
        Ok(logits
            .f_to_kind(Kind::Float)?
            .f_view([-1, vocab])?
            .f_cross_entropy_loss(
                &targets.f_view([-1])?,
                None::<&Tensor>,
                Reduction::Mean,
                -100,
                0.0,
            )?)
    }

    /// Token ids as the i64 tensor libtorch's embedding and loss take.
    pub fn device_tokens(tokens: &[u32], shape: (usize, usize), device: Device) -> Result<Tensor> {
        let ids: Vec<i64> = tokens.iter().map(|&t| i64::from(t)).collect();
        Ok(Tensor::f_from_slice(&ids)?
            .f_view([shape.0 as i64, shape.1 as i64])?
            .f_to(device)?)
    }
}
