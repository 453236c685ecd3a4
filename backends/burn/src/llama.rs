//! Llama (HF transformers `LlamaForCausalLM`) prefill on Burn, with HF's
//! parameter names: RMSNorm, RoPE, grouped-query attention, SwiGLU, causal mask.

use burn::tensor::activation::log_softmax;
use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use ditbench_harness::tables::llama_rope;
use ditbench_harness::workload::LlamaConfig;

use crate::ops::{attention, linear, merge_heads, rms_norm, rope, silu, split_heads};
use crate::wan::float_tensor;
use crate::weights::{Param, Weights};

pub struct LlamaInputs {
    /// Token ids, flattened [B*S].
    pub tokens: Tensor<1, Int>,
    /// Next-token targets [B*S, 1].
    pub targets: Tensor<2, Int>,
}

pub struct LlamaModel {
    cfg: LlamaConfig,
    rope_cos: Tensor<2>,
    rope_sin: Tensor<2>,
}

pub fn int_tensor<const D: usize>(
    ids: &[u32],
    shape: [usize; D],
    device: &Device,
) -> Tensor<D, Int> {
    let ids: Vec<i64> = ids.iter().map(|&t| i64::from(t)).collect();
    Tensor::from_data(TensorData::new(ids, shape), device)
}

/// One `LlamaDecoderLayer`'s parameters (weights only: Llama has no biases).
pub struct LayerWeights {
    input_layernorm: Param<1>,
    q_proj: Param<2>,
    k_proj: Param<2>,
    v_proj: Param<2>,
    o_proj: Param<2>,
    post_attention_layernorm: Param<1>,
    gate_proj: Param<2>,
    up_proj: Param<2>,
    down_proj: Param<2>,
}

/// Every parameter of a `LlamaForCausalLM`, resolved once from Hugging
/// Face's names when the case is prepared.
pub struct LlamaWeights {
    embed_tokens: Param<2>,
    layers: Vec<LayerWeights>,
    norm: Param<1>,
    /// `lm_head.weight`; `None` when tied to the embedding.
    lm_head: Option<Param<2>>,
}

impl LlamaWeights {
    pub fn resolve(cfg: &LlamaConfig, w: &Weights) -> Self {
        let layer = |i: usize| {
            let name = |n: &str| format!("model.layers.{i}.{n}.weight");
            LayerWeights {
                input_layernorm: w.param(&name("input_layernorm")),
                q_proj: w.param(&name("self_attn.q_proj")),
                k_proj: w.param(&name("self_attn.k_proj")),
                v_proj: w.param(&name("self_attn.v_proj")),
                o_proj: w.param(&name("self_attn.o_proj")),
                post_attention_layernorm: w.param(&name("post_attention_layernorm")),
                gate_proj: w.param(&name("mlp.gate_proj")),
                up_proj: w.param(&name("mlp.up_proj")),
                down_proj: w.param(&name("mlp.down_proj")),
            }
        };
        LlamaWeights {
            embed_tokens: w.param("model.embed_tokens.weight"),
            layers: (0..cfg.num_hidden_layers).map(layer).collect(),
            norm: w.param("model.norm.weight"),
            lm_head: (!cfg.tie_word_embeddings).then(|| w.param("lm_head.weight")),
        }
    }
}

impl LlamaModel {
    pub fn new(cfg: &LlamaConfig, dtype: DType, device: &Device) -> Self {
        let t = llama_rope(cfg);
        let shape = [t.positions, t.pairs];
        LlamaModel {
            cfg: cfg.clone(),
            rope_cos: float_tensor(t.cos, shape, dtype, device),
            rope_sin: float_tensor(t.sin, shape, dtype, device),
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

    fn layer(&self, l: &LayerWeights, h: Tensor<3>) -> Tensor<3> {
        let c = &self.cfg;
        let eps = c.rms_norm_eps;

        let x = rms_norm(h.clone(), l.input_layernorm.get(), eps);
        let q = split_heads(
            linear(x.clone(), l.q_proj.get(), None),
            c.num_attention_heads,
        );
        let k = split_heads(
            linear(x.clone(), l.k_proj.get(), None),
            c.num_key_value_heads,
        );
        let v = split_heads(linear(x, l.v_proj.get(), None), c.num_key_value_heads);
        let q = rope(q, &self.rope_cos, &self.rope_sin, false);
        let k = rope(k, &self.rope_cos, &self.rope_sin, false);
        let rep = c.num_attention_heads / c.num_key_value_heads;
        let y = attention(q, Self::repeat_kv(k, rep), Self::repeat_kv(v, rep), true);
        let h = h + linear(merge_heads(y), l.o_proj.get(), None);

        let x = rms_norm(h.clone(), l.post_attention_layernorm.get(), eps);
        let gate = silu(linear(x.clone(), l.gate_proj.get(), None));
        let up = linear(x, l.up_proj.get(), None);
        h + linear(gate * up, l.down_proj.get(), None)
    }

    /// Prefill: token ids -> logits [B, S, vocab].
    pub fn forward(&self, w: &LlamaWeights, tokens: Tensor<1, Int>) -> Tensor<3> {
        let c = &self.cfg;
        let embed = w.embed_tokens.get();
        let mut h = embed
            .clone()
            .select(0, tokens)
            .reshape([c.batch, c.seq_len, c.hidden_size]);
        for layer in &w.layers {
            h = self.layer(layer, h);
        }
        let h = rms_norm(h, w.norm.get(), c.rms_norm_eps);
        let head = match &w.lm_head {
            Some(head) => head.get(),
            None => embed,
        };
        linear(h, head, None)
    }

    /// Mean next-token cross-entropy, computed in f32.
    pub fn loss(logits: Tensor<3>, targets: Tensor<2, Int>) -> Tensor<1> {
        let [b, s, v] = logits.dims();
        let log_probs = log_softmax(logits.cast(DType::F32).reshape([b * s, v]), 1);
        log_probs.gather(1, targets).mean().neg()
    }
}
