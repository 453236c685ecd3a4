//! Wan2.1's text encoder (`T5Encoder` of `umt5_xxl`, `wan/modules/t5.py`)
//! in Candle, with the reference's parameter names and math.

use candle_core::{Device, Result, Tensor};
use ditbench_core::AttentionPlan;
use ditbench_core::model::umt5::{Umt5Block, Umt5Config, Umt5Params, position_buckets};

use crate::ops::{AttentionPaths, Mode, linear, merge_heads, rms_norm, split_heads};

/// Every parameter of the encoder, resolved once when the case is prepared.
pub type Umt5Weights = Umt5Params<Tensor>;

pub struct Umt5Model {
    cfg: Umt5Config,
    /// Each (query, key) pair's relative-position bucket, [L * L].
    buckets: Tensor,
    pub attention: AttentionPaths,
}

impl Umt5Model {
    pub fn new(cfg: &Umt5Config, device: &Device, attention: AttentionPlan) -> Result<Self> {
        let buckets = position_buckets(cfg);
        Ok(Umt5Model {
            cfg: cfg.clone(),
            buckets: Tensor::from_vec(buckets, cfg.text_len * cfg.text_len, device)?,
            attention: AttentionPaths::new(attention)?,
        })
    }

    /// A layer's position bias [1, heads, L, L]: its embedding gathered at
    /// the buckets (`T5RelativeEmbedding.forward`).
    fn position_bias(&self, embedding: &Tensor) -> Result<Tensor> {
        let l = self.cfg.text_len;
        embedding
            .index_select(&self.buckets, 0)?
            .reshape((l, l, self.cfg.num_heads))?
            .permute((2, 0, 1))?
            .unsqueeze(0)
    }

    fn block(&self, b: &Umt5Block<Tensor>, x: &Tensor) -> Result<Tensor> {
        let (heads, eps, mode) = (self.cfg.num_heads, self.cfg.eps, Mode::Inference);
        let h = rms_norm(x, &b.norm1, eps, mode)?;
        let q = split_heads(&linear(&h, &b.q, None)?, heads)?;
        let k = split_heads(&linear(&h, &b.k, None)?, heads)?;
        let v = split_heads(&linear(&h, &b.v, None)?, heads)?;
        let bias = self.position_bias(&b.pos_embedding)?;
        // T5 does not scale its scores.
        let y = self.attention.biased(&q, &k, &v, &bias, 1.0, mode)?;
        let x = (x + linear(&merge_heads(&y)?, &b.o, None)?)?;
        let h = rms_norm(&x, &b.norm2, eps, mode)?;
        // Candle's gelu is the tanh approximation, the reference's GELU.
        let gate = linear(&h, &b.gate, None)?.gelu()?;
        let y = (linear(&h, &b.fc1, None)? * gate)?;
        x + linear(&y, &b.fc2, None)?
    }

    /// The encoder's output [B, L, dim] for token ids [B, L].
    pub fn forward(&self, w: &Umt5Weights, tokens: &Tensor) -> Result<Tensor> {
        let (b, l) = tokens.dims2()?;
        let mut x = w
            .token_embedding
            .index_select(&tokens.flatten_all()?, 0)?
            .reshape((b, l, self.cfg.dim))?;
        for block in &w.blocks {
            x = self.block(block, &x)?;
        }
        rms_norm(&x, &w.norm, self.cfg.eps, Mode::Inference)
    }
}
