//! Llama (HF transformers `LlamaForCausalLM`) prefill in Candle, with HF's
//! parameter names: RMSNorm, RoPE, grouped-query attention, SwiGLU, causal mask.

use candle_core::{D, DType, Device, Result, Tensor};
use ditbench_harness::tables::{causal_mask, llama_rope};
use ditbench_harness::workload::LlamaConfig;

use crate::ops::{Mode, attention, linear, merge_heads, rms_norm, rope, split_heads};
use crate::weights::Weights;

pub struct LlamaInputs {
    /// Token ids [B, S], u32.
    pub tokens: Tensor,
    /// Next-token targets [B, S], u32.
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
                Ok(w.get(&format!("model.layers.{i}.{name}.weight"))?.clone())
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
        let embed_tokens = w.get("model.embed_tokens.weight")?.clone();
        Ok(LlamaWeights {
            layers: (0..cfg.num_hidden_layers)
                .map(layer)
                .collect::<Result<_>>()?,
            norm: w.get("model.norm.weight")?.clone(),
            lm_head: if cfg.tie_word_embeddings {
                embed_tokens.clone()
            } else {
                w.get("lm_head.weight")?.clone()
            },
            embed_tokens,
        })
    }
}

pub struct LlamaModel {
    cfg: LlamaConfig,
    rope_cos: Tensor,
    rope_sin: Tensor,
    mask: Tensor,
}

impl LlamaModel {
    pub fn new(cfg: &LlamaConfig, dtype: DType, device: &Device) -> Result<Self> {
        let table = llama_rope(cfg);
        let shape = (table.positions, table.pairs);
        let s = cfg.seq_len;
        Ok(LlamaModel {
            cfg: cfg.clone(),
            rope_cos: Tensor::from_vec(table.cos, shape, device)?.to_dtype(dtype)?,
            rope_sin: Tensor::from_vec(table.sin, shape, device)?.to_dtype(dtype)?,
            mask: Tensor::from_vec(causal_mask(s), (s, s), device)?.to_dtype(dtype)?,
        })
    }

    /// [B, KV, S, D] -> [B, KV*rep, S, D], each kv head shared by `rep` query heads.
    fn repeat_kv(x: &Tensor, rep: usize) -> Result<Tensor> {
        if rep == 1 {
            return Ok(x.clone());
        }
        let (b, kv, s, d) = x.dims4()?;
        x.unsqueeze(2)?
            .broadcast_as((b, kv, rep, s, d))?
            .contiguous()?
            .reshape((b, kv * rep, s, d))
    }

    fn layer(&self, l: &LayerWeights, h: &Tensor, mode: Mode) -> Result<Tensor> {
        let c = &self.cfg;
        let eps = c.rms_norm_eps;

        let x = rms_norm(h, &l.input_layernorm, eps, mode)?;
        let q = split_heads(&linear(&x, &l.q_proj, None)?, c.num_attention_heads)?;
        let k = split_heads(&linear(&x, &l.k_proj, None)?, c.num_key_value_heads)?;
        let v = split_heads(&linear(&x, &l.v_proj, None)?, c.num_key_value_heads)?;
        let q = rope(&q, &self.rope_cos, &self.rope_sin, false, mode)?;
        let k = rope(&k, &self.rope_cos, &self.rope_sin, false, mode)?;
        let rep = c.num_attention_heads / c.num_key_value_heads;
        let (k, v) = (Self::repeat_kv(&k, rep)?, Self::repeat_kv(&v, rep)?);
        let y = merge_heads(&attention(&q, &k, &v, Some(&self.mask), mode)?)?;
        let h = (h + linear(&y, &l.o_proj, None)?)?;

        let x = rms_norm(&h, &l.post_attention_layernorm, eps, mode)?;
        let gate = linear(&x, &l.gate_proj, None)?.silu()?;
        let up = linear(&x, &l.up_proj, None)?;
        h + linear(&(gate * up)?, &l.down_proj, None)?
    }

    /// Prefill: token ids [B, S] -> logits [B, S, vocab].
    pub fn forward(&self, w: &LlamaWeights, tokens: &Tensor, mode: Mode) -> Result<Tensor> {
        let c = &self.cfg;
        let (b, s) = tokens.dims2()?;
        let mut h = w
            .embed_tokens
            .index_select(&tokens.flatten_all()?, 0)?
            .reshape((b, s, c.hidden_size))?;
        for layer in &w.layers {
            h = self.layer(layer, &h, mode)?;
        }
        let h = rms_norm(&h, &w.norm, c.rms_norm_eps, mode)?;
        linear(&h, &w.lm_head, None)
    }

    /// Mean next-token cross-entropy, computed in f32.
    pub fn loss(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
        let vocab = logits.dim(D::Minus1)?;
        let logits = logits.to_dtype(DType::F32)?.reshape(((), vocab))?;
        let log_probs = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        let picked = log_probs.gather(&targets.flatten_all()?.unsqueeze(1)?, 1)?;
        picked.mean_all()?.neg()
    }

    pub fn device_tokens(tokens: &[u32], shape: (usize, usize), device: &Device) -> Result<Tensor> {
        Tensor::from_slice(tokens, shape, device)
    }
}
