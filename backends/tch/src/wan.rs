//! Wan2.1 text-to-video DiT (`WanModel`, t2v) on libtorch, with the
//! reference's parameter names and math.

use anyhow::Result;
use ditbench_core::AttentionPlan;
use ditbench_core::model::layout::{Linear, WanAttention, WanBlock, WanParams};
use ditbench_core::model::tables::{sinusoidal_embedding, wan_rope};
use ditbench_core::model::workload::WanConfig;
use tch::{Device, Kind, Reduction, Tensor};

use crate::ops::{
    AttentionPaths, Rope, attention, layer_norm, linear, merge_heads, rms_norm, split_heads,
};
use crate::weights::upload;

/// Inputs of one Wan pass, on the device.
pub type WanInputs = ditbench_core::model::layout::WanInputs<Tensor>;

pub struct WanModel {
    cfg: WanConfig,
    rope: Rope,
    pub attention: AttentionPaths,
}

/// Every parameter of the model, resolved once when the case is prepared.
pub type WanWeights = WanParams<Tensor>;
/// One block's parameters (the block kernel runs one on its own).
pub type BlockWeights = WanBlock<Tensor>;

fn lin(l: &Linear<Tensor>, x: &Tensor) -> Result<Tensor> {
    Ok(linear(x, &l.weight, Some(&l.bias))?)
}

impl WanModel {
    pub fn new(
        cfg: &WanConfig,
        kind: Kind,
        device: Device,
        attention: AttentionPlan,
    ) -> Result<Self> {
        Ok(WanModel {
            cfg: cfg.clone(),
            rope: Rope::new(wan_rope(cfg), kind, device)?,
            attention: AttentionPaths::new(attention),
        })
    }

    /// The time embedding's input for the given timesteps.
    pub fn time_freqs(
        cfg: &WanConfig,
        timesteps: &[f32],
        kind: Kind,
        device: Device,
    ) -> Result<Tensor> {
        let e = sinusoidal_embedding(cfg.freq_dim, timesteps);
        upload(&e, &[timesteps.len(), cfg.freq_dim], kind, device)
    }

    /// The reference's `nn.Conv3d(kernel = stride = patch)`, flattened to
    /// tokens in (f, h, w) order: [B, C, F, H, W] -> [B, L, dim].
    pub(crate) fn patch_embed(&self, w: &WanWeights, x: &Tensor) -> Result<Tensor> {
        let [pt, ph, pw] = self.cfg.patch_size.map(|p| p as i64);
        let y = x.f_conv3d(
            &w.patch_embedding.weight,
            Some(&w.patch_embedding.bias),
            [pt, ph, pw],
            [0, 0, 0],
            [1, 1, 1],
            1,
        )?;
        Ok(y.f_flatten(2, -1)?.f_transpose(1, 2)?)
    }

    /// [B, L, pt*ph*pw*C] -> [B, C, F, H, W] (the reference's `unpatchify`).
    pub(crate) fn unpatchify(&self, x: &Tensor) -> Result<Tensor> {
        let c = &self.cfg;
        let b = x.size()[0];
        let [gf, gh, gw] = c.grid().map(|g| g as i64);
        let [pt, ph, pw] = c.patch_size.map(|p| p as i64);
        let out = c.out_dim as i64;
        Ok(x.f_view([b, gf, gh, gw, pt, ph, pw, out].as_slice())?
            .f_permute([0, 7, 1, 4, 2, 5, 3, 6])?
            .f_reshape([b, out, gf * pt, gh * ph, gw * pw])?)
    }

    fn self_attention(&self, a: &WanAttention<Tensor>, x: &Tensor) -> Result<Tensor> {
        let (n, eps) = (self.cfg.num_heads as i64, self.cfg.eps);
        let q = split_heads(&rms_norm(&lin(&a.q, x)?, &a.norm_q, eps)?, n)?;
        let k = split_heads(&rms_norm(&lin(&a.k, x)?, &a.norm_k, eps)?, n)?;
        let q = self.rope.apply(&q, true)?;
        let k = self.rope.apply(&k, true)?;
        let v = split_heads(&lin(&a.v, x)?, n)?;
        let y = merge_heads(&attention(&q, &k, &v, false, &self.attention, "self")?)?;
        lin(&a.o, &y)
    }

    fn cross_attention(
        &self,
        a: &WanAttention<Tensor>,
        x: &Tensor,
        context: &Tensor,
    ) -> Result<Tensor> {
        let (n, eps) = (self.cfg.num_heads as i64, self.cfg.eps);
        let q = split_heads(&rms_norm(&lin(&a.q, x)?, &a.norm_q, eps)?, n)?;
        let k = split_heads(&rms_norm(&lin(&a.k, context)?, &a.norm_k, eps)?, n)?;
        let v = split_heads(&lin(&a.v, context)?, n)?;
        let y = attention(&q, &k, &v, false, &self.attention, "cross")?;
        lin(&a.o, &merge_heads(&y)?)
    }

    /// `x * (1 + scale) + shift` with modulation rows [B, 1, dim].
    fn modulate(x: &Tensor, shift: &Tensor, scale: &Tensor) -> Result<Tensor> {
        Ok(x.f_mul(&scale.f_add_scalar(1.0)?)?.f_add(shift)?)
    }

    pub(crate) fn block(
        &self,
        b: &BlockWeights,
        x: &Tensor,
        e0: &Tensor,
        context: &Tensor,
    ) -> Result<Tensor> {
        let eps = self.cfg.eps;
        // [1, 6, dim] + [B, 6, dim] -> six rows [B, 1, dim].
        let e = b.modulation.f_add(e0)?.f_chunk(6, 1)?;

        let h = Self::modulate(&layer_norm(x, None, None, eps)?, &e[0], &e[1])?;
        let y = self.self_attention(&b.self_attn, &h)?;
        let x = x.f_add(&y.f_mul(&e[2])?)?;

        let h = layer_norm(&x, Some(&b.norm3.weight), Some(&b.norm3.bias), eps)?;
        let x = x.f_add(&self.cross_attention(&b.cross_attn, &h, context)?)?;

        let h = Self::modulate(&layer_norm(&x, None, None, eps)?, &e[3], &e[4])?;
        let h = lin(&b.ffn_in, &h)?.f_gelu("tanh")?;
        let y = lin(&b.ffn_out, &h)?;
        Ok(x.f_add(&y.f_mul(&e[5])?)?)
    }

    /// One denoising forward: latents [B, C, F, H, W] -> velocity [B, C_out, F, H, W].
    pub fn forward(&self, w: &WanWeights, inputs: &WanInputs) -> Result<Tensor> {
        let c = &self.cfg;
        let mut x = self.patch_embed(w, &inputs.latents)?;

        let e = lin(&w.time_out, &lin(&w.time_in, &inputs.time_freqs)?.f_silu()?)?;
        let b = e.size()[0];
        let e0 = lin(&w.time_projection, &e.f_silu()?)?.f_view([b, 6, c.dim as i64])?;

        let context = lin(
            &w.text_out,
            &lin(&w.text_in, &inputs.context)?.f_gelu("tanh")?,
        )?;

        for block in &w.blocks {
            x = self.block(block, &x, &e0, &context)?;
        }

        // Head: 2-way modulation from the (unprojected) time embedding.
        let hm = w.head_modulation.f_add(&e.f_unsqueeze(1)?)?.f_chunk(2, 1)?;
        let x = Self::modulate(&layer_norm(&x, None, None, c.eps)?, &hm[0], &hm[1])?;
        let x = lin(&w.head, &x)?;
        self.unpatchify(&x)
    }

    /// Flow-matching loss: mean squared error against the velocity target, in f32.
    pub fn loss(output: &Tensor, target: &Tensor) -> Result<Tensor> {
        Ok(output
            .f_to_kind(Kind::Float)?
            .f_mse_loss(target, Reduction::Mean)?)
    }
}
