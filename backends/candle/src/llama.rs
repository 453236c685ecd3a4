//! Llama (HF transformers `LlamaForCausalLM`) prefill in Candle, with HF's
//! parameter names: RMSNorm, RoPE, grouped-query attention, SwiGLU, causal mask.

use candle_core::{D, DType, Device, Result, Tensor};
use ditbench_harness::AttentionPlan;
use ditbench_harness::layout::{LlamaLayer, LlamaParams};
use ditbench_harness::tables::{causal_mask, llama_rope};
use ditbench_harness::workload::LlamaConfig;

use crate::ops::{AttentionPaths, Mode, Rope, linear, merge_heads, rms_norm, split_heads};

/// Inputs of one Llama pass, on the device (token ids: u32 in Candle, i64 in libtorch).
pub type LlamaInputs = ditbench_harness::layout::LlamaInputs<Tensor>;

/// Every parameter of the model, resolved once when the case is prepared.
pub type LlamaWeights = LlamaParams<Tensor>;

pub struct LlamaModel {
    cfg: LlamaConfig,
    rope: Rope,
    pub attention: AttentionPaths,
    mask: Tensor,
}

impl LlamaModel {
    pub fn new(
        cfg: &LlamaConfig,
        dtype: DType,
        device: &Device,
        attention: AttentionPlan,
    ) -> Result<Self> {
        let s = cfg.seq_len;
        Ok(LlamaModel {
            cfg: cfg.clone(),
            rope: Rope::new(llama_rope(cfg), dtype, device)?,
            attention: AttentionPaths::new(attention)?,
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

    fn layer(&self, l: &LlamaLayer<Tensor>, h: &Tensor, mode: Mode) -> Result<Tensor> {
        let c = &self.cfg;
        let eps = c.rms_norm_eps;

        let x = rms_norm(h, &l.input_layernorm, eps, mode)?;
        let q = split_heads(&linear(&x, &l.q_proj, None)?, c.num_attention_heads)?;
        let k = split_heads(&linear(&x, &l.k_proj, None)?, c.num_key_value_heads)?;
        let v = split_heads(&linear(&x, &l.v_proj, None)?, c.num_key_value_heads)?;
        let q = self.rope.apply(&q, false, mode)?;
        let k = self.rope.apply(&k, false, mode)?;
        let rep = c.num_attention_heads / c.num_key_value_heads;
        let (k, v) = (Self::repeat_kv(&k, rep)?, Self::repeat_kv(&v, rep)?);
        let y = merge_heads(
            &self
                .attention
                .attention(&q, &k, &v, Some(&self.mask), mode)?,
        )?;
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
        linear(&h, w.lm_head.as_ref().unwrap_or(&w.embed_tokens), None)
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
