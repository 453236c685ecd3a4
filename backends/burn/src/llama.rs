//! Llama (HF transformers `LlamaForCausalLM`) prefill on Burn, with HF's
//! parameter names: RMSNorm, RoPE, grouped-query attention, SwiGLU, causal mask.

use burn::tensor::activation::log_softmax;
use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use ditbench_harness::layout::{LlamaLayer, LlamaParams};
use ditbench_harness::tables::llama_rope;
use ditbench_harness::workload::LlamaConfig;

use ditbench_harness::AttentionPlan;

use crate::ops::{Attention, Rope, linear, merge_heads, rms_norm, silu, split_heads};
use crate::weights::Param;

pub struct LlamaInputs {
    /// Token ids, flattened [B*S].
    pub tokens: Tensor<1, Int>,
    /// Next-token targets [B*S, 1].
    pub targets: Tensor<2, Int>,
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

    fn layer(&self, l: &LlamaLayer<Param>, h: Tensor<3>) -> Tensor<3> {
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
        let q = self.rope.apply(q, false);
        let k = self.rope.apply(k, false);
        let rep = c.num_attention_heads / c.num_key_value_heads;
        let y = self
            .attention
            .run(q, Self::repeat_kv(k, rep), Self::repeat_kv(v, rep), true);
        let h = h + linear(merge_heads(y), l.o_proj.get(), None);

        let x = rms_norm(h.clone(), l.post_attention_layernorm.get(), eps);
        let gate = silu(linear(x.clone(), l.gate_proj.get(), None));
        let up = linear(x, l.up_proj.get(), None);
        h + linear(gate * up, l.down_proj.get(), None)
    }

    /// Prefill: token ids -> logits [B, S, vocab].
    pub fn forward(&self, w: &LlamaWeights, tokens: Tensor<1, Int>) -> Tensor<3> {
        let c = &self.cfg;
        let embed = w.embed_tokens.get::<2>();
        let mut h = embed
            .clone()
            .select(0, tokens)
            .reshape([c.batch, c.seq_len, c.hidden_size]);
        for layer in &w.layers {
            h = self.layer(layer, h);
        }
        let h = rms_norm(h, w.norm.get(), c.rms_norm_eps);
        let head = match &w.lm_head {
            Some(head) => head.get::<2>(),
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
