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

    fn layer(&self, w: &Weights, i: usize, h: &Tensor) -> Result<Tensor> {
        let c = &self.cfg;
        let p = format!("model.layers.{i}");
        let get = |name: &str| w.get(&format!("{p}.{name}.weight"));
        let eps = c.rms_norm_eps;

        let x = rms_norm(h, get("input_layernorm")?, eps)?;
        let heads = |name: &str, n: usize| -> Result<Tensor> {
            Ok(split_heads(&linear(&x, get(name)?, None)?, n as i64)?)
        };
        let q = heads("self_attn.q_proj", c.num_attention_heads)?;
        let k = heads("self_attn.k_proj", c.num_key_value_heads)?;
        let v = heads("self_attn.v_proj", c.num_key_value_heads)?;
        let q = rope(&q, &self.rope_cos, &self.rope_sin, false)?;
        let k = rope(&k, &self.rope_cos, &self.rope_sin, false)?;
        let y = merge_heads(&attention(&q, &k, &v, true, &self.kernels, "causal")?)?;
        let h = h.f_add(&linear(&y, get("self_attn.o_proj")?, None)?)?;

        let x = rms_norm(&h, get("post_attention_layernorm")?, eps)?;
        let gate = linear(&x, get("mlp.gate_proj")?, None)?.f_silu()?;
        let up = linear(&x, get("mlp.up_proj")?, None)?;
        Ok(h.f_add(&linear(&gate.f_mul(&up)?, get("mlp.down_proj")?, None)?)?)
    }

    /// Prefill: token ids [B, S] -> logits [B, S, vocab].
    pub fn forward(&self, w: &Weights, tokens: &Tensor) -> Result<Tensor> {
        let c = &self.cfg;
        let embed = w.get("model.embed_tokens.weight")?;
        let mut h = Tensor::f_embedding(embed, tokens, -1, false, false)?;
        for i in 0..c.num_hidden_layers {
            h = self.layer(w, i, &h)?;
        }
        let h = rms_norm(&h, w.get("model.norm.weight")?, c.rms_norm_eps)?;
        let head = if c.tie_word_embeddings {
            embed
        } else {
            w.get("lm_head.weight")?
        };
        Ok(linear(&h, head, None)?)
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
