//! Wan2.1's text encoder (`T5Encoder` of `umt5_xxl`, `wan/modules/t5.py`)
//! on libtorch, with the reference's parameter names and math.

use anyhow::Result;
use ditbench_core::AttentionPlan;
use ditbench_core::model::umt5::{Umt5Block, Umt5Config, Umt5Params, position_buckets};
use tch::{Device, Tensor};

use crate::ops::{AttentionPaths, biased_attention, linear, merge_heads, rms_norm, split_heads};

/// Every parameter of the encoder, resolved once when the case is prepared.
pub type Umt5Weights = Umt5Params<Tensor>;

pub struct Umt5Model {
    cfg: Umt5Config,
    /// Each (query, key) pair's relative-position bucket, [L * L] (i64).
    buckets: Tensor,
    pub attention: AttentionPaths,
}

impl Umt5Model {
    pub fn new(cfg: &Umt5Config, device: Device, attention: AttentionPlan) -> Result<Self> {
        let buckets: Vec<i64> = position_buckets(cfg).into_iter().map(i64::from).collect();
        Ok(Umt5Model {
            cfg: cfg.clone(),
            buckets: Tensor::f_from_slice(&buckets)?.f_to(device)?,
            attention: AttentionPaths::new(attention),
        })
    }

    /// Token ids [B, L] on the device.
    pub fn device_tokens(ids: &[u32], shape: (usize, usize), device: Device) -> Result<Tensor> {
        let ids: Vec<i64> = ids.iter().map(|&t| i64::from(t)).collect();
        Ok(Tensor::f_from_slice(&ids)?
            .f_view([shape.0 as i64, shape.1 as i64])?
            .f_to(device)?)
    }

    /// A layer's position bias [1, heads, L, L]: its embedding gathered at
    /// the buckets (`T5RelativeEmbedding.forward`).
    fn position_bias(&self, embedding: &Tensor) -> Result<Tensor> {
        let l = self.cfg.text_len as i64;
        Ok(embedding
            .f_index_select(0, &self.buckets)?
            .f_view([l, l, self.cfg.num_heads as i64])?
            .f_permute([2, 0, 1])?
            .f_unsqueeze(0)?)
    }

    fn block(&self, b: &Umt5Block<Tensor>, x: &Tensor) -> Result<Tensor> {
        let (heads, eps) = (self.cfg.num_heads as i64, self.cfg.eps);
        let h = rms_norm(x, &b.norm1, eps)?;
        let q = split_heads(&linear(&h, &b.q, None)?, heads)?;
        let k = split_heads(&linear(&h, &b.k, None)?, heads)?;
        let v = split_heads(&linear(&h, &b.v, None)?, heads)?;
        let bias = self.position_bias(&b.pos_embedding)?;
        // T5 does not scale its scores.
        let y = biased_attention(&q, &k, &v, &bias, 1.0, &self.attention, "self")?;
        let x = x.f_add(&linear(&merge_heads(&y)?, &b.o, None)?)?;
        let h = rms_norm(&x, &b.norm2, eps)?;
        let gate = linear(&h, &b.gate, None)?.f_gelu("tanh")?;
        let y = linear(&h, &b.fc1, None)?.f_mul(&gate)?;
        Ok(x.f_add(&linear(&y, &b.fc2, None)?)?)
    }

    /// The encoder's output [B, L, dim] for token ids [B, L].
    pub fn forward(&self, w: &Umt5Weights, tokens: &Tensor) -> Result<Tensor> {
        let mut x = Tensor::f_embedding(&w.token_embedding, tokens, -1, false, false)?;
        for block in &w.blocks {
            x = self.block(block, &x)?;
        }
        Ok(rms_norm(&x, &w.norm, self.cfg.eps)?)
    }
}
