//! Wan2.1's text encoder (`T5Encoder` of `umt5_xxl`, `wan/modules/t5.py`)
//! on Burn, with the reference's parameter names and math.

use burn::tensor::{Device, Int, Tensor, TensorData};
use ditbench_core::AttentionPlan;
use ditbench_core::model::umt5::{Umt5Block, Umt5Config, Umt5Params, position_buckets};

use crate::ops::{Attention, gelu_tanh, linear, merge_heads, rms_norm, split_heads};
use crate::weights::Param;

/// Every parameter of the encoder, resolved once when the case is prepared.
pub type Umt5Weights = Umt5Params<Param>;

pub struct Umt5Model {
    cfg: Umt5Config,
    /// Each (query, key) pair's relative-position bucket, [L * L].
    buckets: Tensor<1, Int>,
    pub attention: Attention,
}

impl Umt5Model {
    pub fn new(cfg: &Umt5Config, device: &Device, attention: AttentionPlan) -> Self {
        let buckets: Vec<i64> = position_buckets(cfg).into_iter().map(i64::from).collect();
        let n = buckets.len();
        Umt5Model {
            cfg: cfg.clone(),
            buckets: Tensor::from_data(TensorData::new(buckets, [n]), device),
            attention: Attention::new(attention),
        }
    }

    /// A layer's position bias [1, heads, L, L]: its embedding gathered at
    /// the buckets (`T5RelativeEmbedding.forward`).
    fn position_bias(&self, embedding: &Param) -> Tensor<4> {
        let l = self.cfg.text_len;
        embedding
            .get::<2>()
            .select(0, self.buckets.clone())
            .reshape([l, l, self.cfg.num_heads])
            .permute([2, 0, 1])
            .unsqueeze::<4>()
    }

    fn block(&self, b: &Umt5Block<Param>, x: Tensor<3>) -> Tensor<3> {
        let (heads, eps) = (self.cfg.num_heads, self.cfg.eps);
        let h = rms_norm(x.clone(), b.norm1.get(), eps);
        let q = split_heads(linear(h.clone(), b.q.matmul_weight(), None), heads);
        let k = split_heads(linear(h.clone(), b.k.matmul_weight(), None), heads);
        let v = split_heads(linear(h, b.v.matmul_weight(), None), heads);
        // T5 does not scale its scores.
        let y = self
            .attention
            .biased(q, k, v, self.position_bias(&b.pos_embedding), 1.0);
        let x = x + linear(merge_heads(y), b.o.matmul_weight(), None);
        let h = rms_norm(x.clone(), b.norm2.get(), eps);
        let gate = gelu_tanh(linear(h.clone(), b.gate.matmul_weight(), None));
        let y = linear(h, b.fc1.matmul_weight(), None) * gate;
        x + linear(y, b.fc2.matmul_weight(), None)
    }

    /// The encoder's output [B, L, dim] for token ids [B*L].
    pub fn forward(&self, w: &Umt5Weights, tokens: Tensor<1, Int>) -> Tensor<3> {
        let c = &self.cfg;
        let mut x = w
            .token_embedding
            .get::<2>()
            .select(0, tokens)
            .reshape([c.batch, c.text_len, c.dim]);
        for block in &w.blocks {
            x = self.block(block, x);
        }
        rms_norm(x, w.norm.get(), c.eps)
    }
}
