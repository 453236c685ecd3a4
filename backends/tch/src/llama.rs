//! Llama (HF transformers `LlamaForCausalLM`) prefill and KV-cache decode on
//! libtorch, with HF's parameter names: RMSNorm, RoPE, grouped-query
//! attention, SwiGLU, causal mask.

use anyhow::Result;
use ditbench_core::AttentionPlan;
use ditbench_core::compute::tensors::{HF_IGNORE_INDEX, IGNORED_TARGET};
use ditbench_core::model::layout::{LlamaLayer, LlamaParams};
use ditbench_core::model::tables::llama_rope;
use ditbench_core::model::workload::LlamaConfig;
use tch::{Device, Kind, Reduction, Tensor};

use crate::ops::{AttentionPaths, Rope, attention, linear, merge_heads, rms_norm, split_heads};

/// Inputs of one Llama pass, on the device (token ids: u32 in Candle, i64 in libtorch).
pub type LlamaInputs = ditbench_core::model::layout::LlamaInputs<Tensor>;

/// Every parameter of the model, resolved once when the case is prepared.
pub type LlamaWeights = LlamaParams<Tensor>;

/// Every layer's keys and values for one decode context, [B, KV, S, D]
/// each (S = `seq_len`), preallocated like Hugging Face's `StaticCache`: the
/// prompt fills positions 0..S-1 once, and each decode step copies its
/// token's into S-1 in place, so every step attends over the same S
/// positions (the cache is reset, not grown).
pub struct KvCache {
    layers: Vec<(Tensor, Tensor)>,
}

impl KvCache {
    /// Bytes of the keys and values.
    pub fn bytes(&self) -> usize {
        self.layers
            .iter()
            .map(|(k, v)| (k.numel() + v.numel()) * k.kind().elt_size_in_bytes())
            .sum()
    }
}

/// What a layer's self-attention attends over.
#[derive(Clone, Copy)]
enum Keys<'a> {
    /// The sequence itself, causally (prefill, training).
    Causal,
    /// The prompt, causally, writing its keys and values into the cache.
    Prompt(&'a (Tensor, Tensor)),
    /// One new token at the context's last position, over the whole cache.
    Step(&'a (Tensor, Tensor)),
}

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

    fn layer(&self, l: &LlamaLayer<Tensor>, h: &Tensor, keys: Keys) -> Result<Tensor> {
        let c = &self.cfg;
        let eps = c.rms_norm_eps;

        let x = rms_norm(h, &l.input_layernorm, eps)?;
        let heads = |weight: &Tensor, n: usize| -> Result<Tensor> {
            Ok(split_heads(&linear(&x, weight, None)?, n as i64)?)
        };
        let q = heads(&l.q_proj, c.num_attention_heads)?;
        let k = heads(&l.k_proj, c.num_key_value_heads)?;
        let v = heads(&l.v_proj, c.num_key_value_heads)?;
        let s = q.size()[2];
        let start = match keys {
            Keys::Step(_) => c.seq_len as i64 - 1,
            Keys::Causal | Keys::Prompt(_) => 0,
        };
        let rope = self.rope.positions(start, s)?;
        let q = rope.apply(&q, false)?;
        let k = rope.apply(&k, false)?;
        let y = match keys {
            Keys::Causal => attention(&q, &k, &v, true, &self.attention, "causal")?,
            Keys::Prompt((cache_k, cache_v)) => {
                cache_k.f_narrow(2, 0, s)?.f_copy_(&k)?;
                cache_v.f_narrow(2, 0, s)?.f_copy_(&v)?;
                attention(&q, &k, &v, true, &self.attention, "causal")?
            }
            Keys::Step((cache_k, cache_v)) => {
                cache_k.f_narrow(2, start, 1)?.f_copy_(&k)?;
                cache_v.f_narrow(2, start, 1)?.f_copy_(&v)?;
                attention(&q, cache_k, cache_v, false, &self.attention, "decode")?
            }
        };
        let y = merge_heads(&y)?;
        let h = h.f_add(&linear(&y, &l.o_proj, None)?)?;

        let x = rms_norm(&h, &l.post_attention_layernorm, eps)?;
        let gate = linear(&x, &l.gate_proj, None)?.f_silu()?;
        let up = linear(&x, &l.up_proj, None)?;
        Ok(h.f_add(&linear(&gate.f_mul(&up)?, &l.down_proj, None)?)?)
    }

    fn head(&self, w: &LlamaWeights, h: &Tensor) -> Result<Tensor> {
        let h = rms_norm(h, &w.norm, self.cfg.rms_norm_eps)?;
        Ok(linear(
            &h,
            w.lm_head.as_ref().unwrap_or(&w.embed_tokens),
            None,
        )?)
    }

    /// Prefill: token ids [B, S] -> logits [B, S, vocab].
    pub fn forward(&self, w: &LlamaWeights, tokens: &Tensor) -> Result<Tensor> {
        let mut h = Tensor::f_embedding(&w.embed_tokens, tokens, -1, false, false)?;
        for layer in &w.layers {
            h = self.layer(layer, &h, Keys::Causal)?;
        }
        self.head(w, &h)
    }

    /// The cache of a decode context: the first S-1 tokens of `tokens`
    /// [B, S] prefilled through every layer (no logits).
    pub fn prefill(&self, w: &LlamaWeights, tokens: &Tensor) -> Result<KvCache> {
        let c = &self.cfg;
        let s = c.seq_len as i64;
        let shape = [
            c.batch as i64,
            c.num_key_value_heads as i64,
            s,
            c.head_dim() as i64,
        ];
        let options = (w.embed_tokens.kind(), w.embed_tokens.device());
        let prompt = tokens.f_narrow(1, 0, s - 1)?;
        let mut h = Tensor::f_embedding(&w.embed_tokens, &prompt, -1, false, false)?;
        let mut layers = Vec::with_capacity(w.layers.len());
        for layer in &w.layers {
            let cache = (
                Tensor::f_zeros(shape, options)?,
                Tensor::f_zeros(shape, options)?,
            );
            h = self.layer(layer, &h, Keys::Prompt(&cache))?;
            layers.push(cache);
        }
        Ok(KvCache { layers })
    }

    /// One decode step: `token` [B, 1] at the context's last position,
    /// attending over `cache` -> logits [B, 1, vocab].
    pub fn decode(&self, w: &LlamaWeights, token: &Tensor, cache: &KvCache) -> Result<Tensor> {
        let mut h = Tensor::f_embedding(&w.embed_tokens, token, -1, false, false)?;
        for (layer, kv) in w.layers.iter().zip(&cache.layers) {
            h = self.layer(layer, &h, Keys::Step(kv))?;
        }
        self.head(w, &h)
    }

    /// Mean next-token cross-entropy (`F.cross_entropy`), computed in f32,
    /// over the positions whose target is not the ignore index (-100).
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
        // An ignored target is the loss's ignore index.
        let ids: Vec<i64> = tokens
            .iter()
            .map(|&t| match t {
                IGNORED_TARGET => HF_IGNORE_INDEX,
                id => i64::from(id),
            })
            .collect();
        Ok(Tensor::f_from_slice(&ids)?
            .f_view([shape.0 as i64, shape.1 as i64])?
            .f_to(device)?)
    }
}
