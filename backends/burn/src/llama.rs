//! Llama (HF transformers `LlamaForCausalLM`) prefill and KV-cache decode on
//! Burn, with HF's parameter names: RMSNorm, RoPE, grouped-query attention,
//! SwiGLU, causal mask.

use std::cell::RefCell;

use burn::tensor::activation::log_softmax;
use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use ditbench_core::model::layout::{LlamaLayer, LlamaParams};
use ditbench_core::model::tables::llama_rope;
use ditbench_core::model::workload::LlamaConfig;

use ditbench_core::AttentionPlan;

use crate::ops::{Attention, Rope, linear, merge_heads, rms_norm, silu, split_heads};
use crate::weights::Param;

pub struct LlamaInputs {
    /// Token ids, flattened [B*S].
    pub tokens: Tensor<1, Int>,
    /// Next-token targets [B*S, 1].
    pub targets: Tensor<2, Int>,
    /// Where some targets are ignored: each position's loss weight [B*S, 1]
    /// (0 at ignored ones, 1/n at the n others); `None`: the plain mean.
    pub weights: Option<Tensor<2>>,
}

/// Every layer's keys and values for one decode context, [B, KV, S, D]
/// each (S = `seq_len`): the prompt fills positions 0..S-1 once, and each
/// decode step writes its token's at S-1 with `slice_assign` on a cache it
/// owns alone (so the backend may write in place), so every step attends
/// over the same S positions (the cache is reset, not grown).
pub struct KvCache {
    layers: RefCell<Vec<Option<(Tensor<4>, Tensor<4>)>>>,
}

impl KvCache {
    /// Bytes of the keys and values.
    pub fn bytes(&self) -> usize {
        self.layers
            .borrow()
            .iter()
            .flatten()
            .map(|(k, v)| (k.shape().num_elements() + v.shape().num_elements()) * k.dtype().size())
            .sum()
    }
}

/// A decode case's inputs: the context's last token, and its prompt's cache.
pub struct DecodeInputs {
    /// The last token of each sequence, [B].
    pub token: Tensor<1, Int>,
    pub cache: KvCache,
}

/// What a layer's self-attention attends over.
enum Keys<'a> {
    /// The sequence itself, causally (prefill, training).
    Causal,
    /// The prompt, causally; its keys and values are kept in `kept`.
    Prompt(&'a mut Option<(Tensor<4>, Tensor<4>)>),
    /// One new token at the context's last position, over the whole cache
    /// (taken out of the slot while it is written, so it has one owner).
    Step(&'a mut Option<(Tensor<4>, Tensor<4>)>),
}

pub struct LlamaModel {
    cfg: LlamaConfig,
    rope: Rope,
    pub attention: Attention,
}

pub fn int_tensor<const D: usize>(
    ids: &[u32],
    shape: [usize; D],
    device: &Device,
) -> Tensor<D, Int> {
    let ids: Vec<i64> = ids.iter().map(|&t| i64::from(t)).collect();
    Tensor::from_data(TensorData::new(ids, shape), device)
}

/// Every parameter of the model, resolved once when the case is prepared.
pub type LlamaWeights = LlamaParams<Param>;

impl LlamaModel {
    pub fn new(cfg: &LlamaConfig, dtype: DType, device: &Device, attention: AttentionPlan) -> Self {
        LlamaModel {
            cfg: cfg.clone(),
            rope: Rope::new(llama_rope(cfg), dtype, device),
            attention: Attention::new(attention),
        }
    }

    /// [B, KV, S, D] -> [B, KV*rep, S, D], each kv head shared by `rep` query heads.
    fn repeat_kv(x: Tensor<4>, rep: usize) -> Tensor<4> {
        if rep == 1 {
            return x;
        }
        let [b, kv, s, d] = x.dims();
        x.unsqueeze_dim::<5>(2)
            .expand([b, kv, rep, s, d])
            .reshape([b, kv * rep, s, d])
    }

    fn layer(&self, l: &LlamaLayer<Param>, h: Tensor<3>, keys: Keys) -> Tensor<3> {
        let c = &self.cfg;
        let eps = c.rms_norm_eps;

        let x = rms_norm(h.clone(), l.input_layernorm.get(), eps);
        let q = split_heads(
            linear(x.clone(), l.q_proj.matmul_weight(), None),
            c.num_attention_heads,
        );
        let k = split_heads(
            linear(x.clone(), l.k_proj.matmul_weight(), None),
            c.num_key_value_heads,
        );
        let v = split_heads(
            linear(x, l.v_proj.matmul_weight(), None),
            c.num_key_value_heads,
        );
        let [b, heads, s, d] = q.dims();
        let start = match keys {
            Keys::Step(_) => c.seq_len - 1,
            Keys::Causal | Keys::Prompt(_) => 0,
        };
        let rope = self.rope.positions(start, s);
        let q = rope.apply(q, false);
        let k = rope.apply(k, false);
        let rep = c.num_attention_heads / c.num_key_value_heads;
        let y = match keys {
            Keys::Step(slot) => {
                let kv = c.num_key_value_heads;
                let at = [0..b, 0..kv, start..start + 1, 0..d];
                let (cache_k, cache_v) = slot.take().expect("the cache holds every layer");
                let cache_k = cache_k.slice_assign(at.clone(), k);
                let cache_v = cache_v.slice_assign(at, v);
                // The one query of each of a kv head's `rep` query heads
                // attend over that head's cache as `rep` query rows: no
                // copy of the cache per query head.
                let grouped = q.reshape([b, kv, rep, d]);
                let y = self
                    .attention
                    .run(grouped, cache_k.clone(), cache_v.clone(), false)
                    .reshape([b, heads, 1, d]);
                *slot = Some((cache_k, cache_v));
                y
            }
            Keys::Causal | Keys::Prompt(_) => {
                if let Keys::Prompt(kept) = keys {
                    *kept = Some((k.clone(), v.clone()));
                }
                self.attention
                    .run(q, Self::repeat_kv(k, rep), Self::repeat_kv(v, rep), true)
            }
        };
        let h = h + linear(merge_heads(y), l.o_proj.matmul_weight(), None);

        let x = rms_norm(h.clone(), l.post_attention_layernorm.get(), eps);
        let gate = silu(linear(x.clone(), l.gate_proj.matmul_weight(), None));
        let up = linear(x, l.up_proj.matmul_weight(), None);
        h + linear(gate * up, l.down_proj.matmul_weight(), None)
    }

    /// Token ids [B*s] -> hidden states [B, s, hidden].
    fn embed(&self, w: &LlamaWeights, tokens: Tensor<1, Int>, s: usize) -> Tensor<3> {
        let c = &self.cfg;
        w.embed_tokens
            .get::<2>()
            .select(0, tokens)
            .reshape([c.batch, s, c.hidden_size])
    }

    fn head(&self, w: &LlamaWeights, h: Tensor<3>) -> Tensor<3> {
        let h = rms_norm(h, w.norm.get(), self.cfg.rms_norm_eps);
        let head = match &w.lm_head {
            Some(head) => head.matmul_weight(),
            // Tied: the embedding's [vocab, hidden] rows, transposed as a view.
            None => w.embed_tokens.get::<2>().transpose(),
        };
        linear(h, head, None)
    }

    /// Prefill: token ids -> logits [B, S, vocab].
    pub fn forward(&self, w: &LlamaWeights, tokens: Tensor<1, Int>) -> Tensor<3> {
        let mut h = self.embed(w, tokens, self.cfg.seq_len);
        for layer in &w.layers {
            h = self.layer(layer, h, Keys::Causal);
        }
        self.head(w, h)
    }

    /// The cache of a decode context from its prompt, the first S-1 tokens
    /// of each sequence, flattened [B*(S-1)], prefilled through every layer
    /// (no logits).
    pub fn prefill(&self, w: &LlamaWeights, prompt: Tensor<1, Int>) -> KvCache {
        let c = &self.cfg;
        let (s, device) = (c.seq_len, prompt.device());
        let mut h = self.embed(w, prompt, s - 1);
        let mut layers = Vec::with_capacity(w.layers.len());
        for layer in &w.layers {
            let mut kept = None;
            h = self.layer(layer, h, Keys::Prompt(&mut kept));
            let (k, v) = kept.expect("a prompt layer keeps its keys and values");
            let [b, kv, _, d] = k.dims();
            let options = (&device, k.dtype());
            let room = |t: Tensor<4>| {
                Tensor::<4>::zeros([b, kv, s, d], options)
                    .slice_assign([0..b, 0..kv, 0..s - 1, 0..d], t)
            };
            layers.push(Some((room(k), room(v))));
        }
        KvCache {
            layers: RefCell::new(layers),
        }
    }

    /// One decode step: `token` [B] at the context's last position,
    /// attending over `cache` -> logits [B, 1, vocab].
    pub fn decode(&self, w: &LlamaWeights, token: Tensor<1, Int>, cache: &KvCache) -> Tensor<3> {
        let mut h = self.embed(w, token, 1);
        for (layer, kv) in w.layers.iter().zip(cache.layers.borrow_mut().iter_mut()) {
            h = self.layer(layer, h, Keys::Step(kv));
        }
        self.head(w, h)
    }

    /// Mean next-token cross-entropy, computed in f32; with `weights` the
    /// mean over the counted positions.
    pub fn loss(
        logits: Tensor<3>,
        targets: Tensor<2, Int>,
        weights: Option<Tensor<2>>,
    ) -> Tensor<1> {
        let [b, s, v] = logits.dims();
        let log_probs = log_softmax(logits.cast(DType::F32).reshape([b * s, v]), 1);
        let picked = log_probs.gather(1, targets);
        match weights {
            None => picked.mean().neg(),
            Some(w) => (picked * w).sum().neg(),
        }
    }
}
