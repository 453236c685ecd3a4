//! Llama (HF transformers `LlamaForCausalLM`) prefill and KV-cache decode
//! in Candle, with HF's parameter names: RMSNorm, RoPE, grouped-query
//! attention, SwiGLU, causal mask.

use candle_core::{D, DType, Device, Result, Tensor};
use ditbench_core::AttentionPlan;
use ditbench_core::model::layout::{LlamaLayer, LlamaParams};
use ditbench_core::model::tables::{causal_mask, llama_rope};
use ditbench_core::model::workload::LlamaConfig;

use crate::ops::{AttentionPaths, Mode, Rope, linear, merge_heads, rms_norm, split_heads};

/// Inputs of one Llama pass, on the device (token ids: u32 in Candle, i64 in libtorch).
pub type LlamaInputs = ditbench_core::model::layout::LlamaInputs<Tensor>;

/// Every parameter of the model, resolved once when the case is prepared.
pub type LlamaWeights = LlamaParams<Tensor>;

/// Every layer's keys and values for one decode context, [B, KV, S, D]
/// each (S = `seq_len`): the prompt fills positions 0..S-1 once, and each
/// decode step writes its token's at S-1 in place (`Tensor::slice_set`), so
/// every step attends over the same S positions (the cache is reset, not
/// grown).
pub struct KvCache {
    layers: Vec<(Tensor, Tensor)>,
}

impl KvCache {
    /// Bytes of the keys and values.
    pub fn bytes(&self) -> usize {
        self.layers
            .iter()
            .map(|(k, v)| (k.elem_count() + v.elem_count()) * k.dtype().size_in_bytes())
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

    fn layer(&self, l: &LlamaLayer<Tensor>, h: &Tensor, keys: Keys, mode: Mode) -> Result<Tensor> {
        let c = &self.cfg;
        let eps = c.rms_norm_eps;

        let x = rms_norm(h, &l.input_layernorm, eps, mode)?;
        let q = split_heads(&linear(&x, &l.q_proj, None)?, c.num_attention_heads)?;
        let k = split_heads(&linear(&x, &l.k_proj, None)?, c.num_key_value_heads)?;
        let v = split_heads(&linear(&x, &l.v_proj, None)?, c.num_key_value_heads)?;
        let (b, heads, s, d) = q.dims4()?;
        let start = match keys {
            Keys::Step(_) => c.seq_len - 1,
            Keys::Causal | Keys::Prompt(_) => 0,
        };
        let rope = self.rope.positions(start, s)?;
        let q = rope.apply(&q, false, mode)?;
        let k = rope.apply(&k, false, mode)?;
        let y = match keys {
            Keys::Step((cache_k, cache_v)) => {
                cache_k.slice_set(&k, 2, start)?;
                cache_v.slice_set(&v, 2, start)?;
                // The one query of each of a kv head's `rep` query heads
                // attend over that head's cache as `rep` query rows: no
                // copy of the cache per query head.
                let kv = c.num_key_value_heads;
                let grouped = q.reshape((b, kv, heads / kv, d))?;
                self.attention
                    .attention(&grouped, cache_k, cache_v, None, mode)?
                    .reshape((b, heads, 1, d))?
            }
            Keys::Causal | Keys::Prompt(_) => {
                if let Keys::Prompt((cache_k, cache_v)) = keys {
                    cache_k.slice_set(&k, 2, 0)?;
                    cache_v.slice_set(&v, 2, 0)?;
                }
                let rep = c.num_attention_heads / c.num_key_value_heads;
                let (k, v) = (Self::repeat_kv(&k, rep)?, Self::repeat_kv(&v, rep)?);
                let mask = self.mask.narrow(0, 0, s)?.narrow(1, 0, s)?;
                self.attention.attention(&q, &k, &v, Some(&mask), mode)?
            }
        };
        let y = merge_heads(&y)?;
        let h = (h + linear(&y, &l.o_proj, None)?)?;

        let x = rms_norm(&h, &l.post_attention_layernorm, eps, mode)?;
        let gate = linear(&x, &l.gate_proj, None)?.silu()?;
        let up = linear(&x, &l.up_proj, None)?;
        h + linear(&(gate * up)?, &l.down_proj, None)?
    }

    fn embed(&self, w: &LlamaWeights, tokens: &Tensor) -> Result<Tensor> {
        let (b, s) = tokens.dims2()?;
        w.embed_tokens
            .index_select(&tokens.flatten_all()?, 0)?
            .reshape((b, s, self.cfg.hidden_size))
    }

    fn head(&self, w: &LlamaWeights, h: &Tensor, mode: Mode) -> Result<Tensor> {
        let h = rms_norm(h, &w.norm, self.cfg.rms_norm_eps, mode)?;
        linear(&h, w.lm_head.as_ref().unwrap_or(&w.embed_tokens), None)
    }

    /// Every layer over token ids [B, S] -> hidden states [B, S, hidden].
    fn layers(&self, w: &LlamaWeights, tokens: &Tensor, mode: Mode) -> Result<Tensor> {
        let mut h = self.embed(w, tokens)?;
        for layer in &w.layers {
            h = self.layer(layer, &h, Keys::Causal, mode)?;
        }
        Ok(h)
    }

    /// Prefill: token ids [B, S] -> logits [B, S, vocab].
    pub fn forward(&self, w: &LlamaWeights, tokens: &Tensor, mode: Mode) -> Result<Tensor> {
        self.head(w, &self.layers(w, tokens, mode)?, mode)
    }

    /// A generation prefill: token ids [B, S] -> the last position's logits
    /// [B, 1, vocab] (Hugging Face's `logits_to_keep=1`).
    pub fn forward_last(&self, w: &LlamaWeights, tokens: &Tensor, mode: Mode) -> Result<Tensor> {
        let h = self.layers(w, tokens, mode)?;
        let s = h.dim(1)?;
        self.head(w, &h.narrow(1, s - 1, 1)?, mode)
    }

    /// The cache of a decode context: the first S-1 tokens of `tokens`
    /// [B, S] prefilled through every layer (no logits).
    pub fn prefill(&self, w: &LlamaWeights, tokens: &Tensor) -> Result<KvCache> {
        let c = &self.cfg;
        let (b, s) = tokens.dims2()?;
        let kv_shape = (b, c.num_key_value_heads, s, c.head_dim());
        let dtype = w.embed_tokens.dtype();
        let device = w.embed_tokens.device();
        let mut h = self.embed(w, &tokens.narrow(1, 0, s - 1)?)?;
        let mut layers = Vec::with_capacity(w.layers.len());
        for layer in &w.layers {
            let cache = (
                Tensor::zeros(kv_shape, dtype, device)?,
                Tensor::zeros(kv_shape, dtype, device)?,
            );
            h = self.layer(layer, &h, Keys::Prompt(&cache), Mode::Inference)?;
            layers.push(cache);
        }
        Ok(KvCache { layers })
    }

    /// One decode step: `token` [B, 1] at the context's last position,
    /// attending over `cache` -> logits [B, 1, vocab].
    pub fn decode(&self, w: &LlamaWeights, token: &Tensor, cache: &KvCache) -> Result<Tensor> {
        let mut h = self.embed(w, token)?;
        for (layer, kv) in w.layers.iter().zip(&cache.layers) {
            h = self.layer(layer, &h, Keys::Step(kv), Mode::Inference)?;
        }
        self.head(w, &h, Mode::Inference)
    }

    /// Mean next-token cross-entropy, computed in f32; with `weights` (0 at
    /// ignored positions, 1/n at the n others) the mean over counted ones.
    pub fn loss(logits: &Tensor, targets: &Tensor, weights: Option<&Tensor>) -> Result<Tensor> {
        let vocab = logits.dim(D::Minus1)?;
        let logits = logits.to_dtype(DType::F32)?.reshape(((), vocab))?;
        let log_probs = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        let picked = log_probs.gather(&targets.flatten_all()?.unsqueeze(1)?, 1)?;
        match weights {
            None => picked.mean_all()?.neg(),
            Some(w) => picked.flatten_all()?.mul(w)?.sum_all()?.neg(),
        }
    }

    pub fn device_tokens(tokens: &[u32], shape: (usize, usize), device: &Device) -> Result<Tensor> {
        Tensor::from_slice(tokens, shape, device)
    }
}
