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

    fn layer(&self, w: &Weights, i: usize, h: &Tensor, mode: Mode) -> Result<Tensor> {
        let c = &self.cfg;
        let p = format!("model.layers.{i}");
        let get = |name: &str| w.get(&format!("{p}.{name}.weight"));
        let eps = c.rms_norm_eps;

        let x = rms_norm(h, get("input_layernorm")?, eps, mode)?;
        let q = split_heads(
            &linear(&x, get("self_attn.q_proj")?, None)?,
            c.num_attention_heads,
        )?;
        let k = split_heads(
            &linear(&x, get("self_attn.k_proj")?, None)?,
            c.num_key_value_heads,
        )?;
        let v = split_heads(
            &linear(&x, get("self_attn.v_proj")?, None)?,
            c.num_key_value_heads,
        )?;
        let q = rope(&q, &self.rope_cos, &self.rope_sin, false, mode)?;
        let k = rope(&k, &self.rope_cos, &self.rope_sin, false, mode)?;
        let rep = c.num_attention_heads / c.num_key_value_heads;
        let (k, v) = (Self::repeat_kv(&k, rep)?, Self::repeat_kv(&v, rep)?);
        let y = merge_heads(&attention(&q, &k, &v, Some(&self.mask), mode)?)?;
        let h = (h + linear(&y, get("self_attn.o_proj")?, None)?)?;

        let x = rms_norm(&h, get("post_attention_layernorm")?, eps, mode)?;
        let gate = linear(&x, get("mlp.gate_proj")?, None)?.silu()?;
        let up = linear(&x, get("mlp.up_proj")?, None)?;
        h + linear(&(gate * up)?, get("mlp.down_proj")?, None)?
    }

    /// Prefill: token ids [B, S] -> logits [B, S, vocab].
    pub fn forward(&self, w: &Weights, tokens: &Tensor, mode: Mode) -> Result<Tensor> {
        let c = &self.cfg;
        let (b, s) = tokens.dims2()?;
        let embed = w.get("model.embed_tokens.weight")?;
        let mut h =
            embed
                .index_select(&tokens.flatten_all()?, 0)?
                .reshape((b, s, c.hidden_size))?;
        for i in 0..c.num_hidden_layers {
            h = self.layer(w, i, &h, mode)?;
        }
        let h = rms_norm(&h, w.get("model.norm.weight")?, c.rms_norm_eps, mode)?;
        let head = if c.tie_word_embeddings {
            embed
        } else {
            w.get("lm_head.weight")?
        };
        linear(&h, head, None)
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
