//! Llama (HF transformers `LlamaForCausalLM`) prefill on libtorch, with HF's
//! parameter names: RMSNorm, RoPE, grouped-query attention, SwiGLU, causal mask.

use anyhow::Result;
use ditbench_harness::AttentionPlan;
use ditbench_harness::layout::{LlamaLayer, LlamaParams};
use ditbench_harness::tables::llama_rope;
use ditbench_harness::workload::LlamaConfig;
use tch::{Device, Kind, Reduction, Tensor};

use crate::ops::{AttentionPaths, Rope, attention, linear, merge_heads, rms_norm, split_heads};

/// Inputs of one Llama pass, on the device (token ids: u32 in Candle, i64 in libtorch).
pub type LlamaInputs = ditbench_harness::layout::LlamaInputs<Tensor>;

/// Every parameter of the model, resolved once when the case is prepared.
pub type LlamaWeights = LlamaParams<Tensor>;

pub struct LlamaModel {
    cfg: LlamaConfig,
    rope: Rope,
    pub attention: AttentionPaths,
}

impl LlamaModel {
    pub fn new(
        cfg: &LlamaConfig,
        kind: Kind,
        device: Device,
        attention: AttentionPlan,
    ) -> Result<Self> {
        Ok(LlamaModel {
            cfg: cfg.clone(),
            rope: Rope::new(llama_rope(cfg), kind, device)?,
            attention: AttentionPaths::new(attention),
        })
    }

    fn layer(&self, l: &LlamaLayer<Tensor>, h: &Tensor) -> Result<Tensor> {
        let c = &self.cfg;
        let eps = c.rms_norm_eps;

        let x = rms_norm(h, &l.input_layernorm, eps)?;
        let heads = |weight: &Tensor, n: usize| -> Result<Tensor> {
            Ok(split_heads(&linear(&x, weight, None)?, n as i64)?)
        };
        let q = heads(&l.q_proj, c.num_attention_heads)?;
        let k = heads(&l.k_proj, c.num_key_value_heads)?;
        let v = heads(&l.v_proj, c.num_key_value_heads)?;
        let q = self.rope.apply(&q, false)?;
        let k = self.rope.apply(&k, false)?;
        let y = merge_heads(&attention(&q, &k, &v, true, &self.attention, "causal")?)?;
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
        Ok(linear(
            &h,
            w.lm_head.as_ref().unwrap_or(&w.embed_tokens),
            None,
        )?)
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
