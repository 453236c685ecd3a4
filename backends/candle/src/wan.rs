//! Wan2.1 text-to-video DiT (`WanModel`, t2v) in Candle, with the
//! reference's parameter names and math.

use candle_core::{DType, Device, Result, Tensor};
use ditbench_core::AttentionPlan;
use ditbench_core::model::layout::{Linear, WanAttention, WanBlock, WanParams};
use ditbench_core::model::tables::{sinusoidal_embedding, wan_rope};
use ditbench_core::model::workload::WanConfig;

use crate::ops::{
    AttentionPaths, Mode, Rope, layer_norm, linear, merge_heads, rms_norm, split_heads,
};

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
    linear(x, &l.weight, Some(&l.bias))
}

impl WanModel {
    pub fn new(
        cfg: &WanConfig,
        dtype: DType,
        device: &Device,
        attention: AttentionPlan,
    ) -> Result<Self> {
        Ok(WanModel {
            cfg: cfg.clone(),
            rope: Rope::new(wan_rope(cfg), dtype, device)?,
            attention: AttentionPaths::new(attention)?,
        })
    }

    /// The time embedding's input for the given timesteps (precomputed once,
    /// like the reference computes it outside autocast).
    pub fn time_freqs(
        cfg: &WanConfig,
        timesteps: &[f32],
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        let e = sinusoidal_embedding(cfg.freq_dim, timesteps);
        Tensor::from_vec(e, (timesteps.len(), cfg.freq_dim), device)?.to_dtype(dtype)
    }

    /// Conv3d with kernel = stride = patch size, as a matmul over patches:
    /// [B, C, F, H, W] -> [B, L, dim], tokens in (f, h, w) order.
    pub(crate) fn patch_embed(&self, w: &WanWeights, x: &Tensor) -> Result<Tensor> {
        let patch = &w.patch_embedding;
        let c = &self.cfg;
        let (b, ch, f, h, wd) = x.dims5()?;
        let [pt, ph, pw] = c.patch_size;
        let (gf, gh, gw) = (f / pt, h / ph, wd / pw);
        let patches = x
            .reshape(vec![b, ch, gf, pt, gh, ph, gw, pw])?
            .permute(vec![0, 2, 4, 6, 1, 3, 5, 7])?
            .contiguous()?
            .reshape((b, gf * gh * gw, ch * pt * ph * pw))?;
        let weight = patch.weight.reshape((c.dim, ch * pt * ph * pw))?;
        linear(&patches, &weight, Some(&patch.bias))
    }

    /// [B, L, pt*ph*pw*C] -> [B, C, F, H, W] (the reference's `unpatchify`).
    pub(crate) fn unpatchify(&self, x: &Tensor) -> Result<Tensor> {
        let c = &self.cfg;
        let b = x.dim(0)?;
        let [gf, gh, gw] = c.grid();
        let [pt, ph, pw] = c.patch_size;
        x.reshape(vec![b, gf, gh, gw, pt, ph, pw, c.out_dim])?
            .permute(vec![0, 7, 1, 4, 2, 5, 3, 6])?
            .contiguous()?
            .reshape((b, c.out_dim, gf * pt, gh * ph, gw * pw))
    }

    fn self_attention(&self, a: &WanAttention<Tensor>, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let (n, eps) = (self.cfg.num_heads, self.cfg.eps);
        let q = rms_norm(&lin(&a.q, x)?, &a.norm_q, eps, mode)?;
        let k = rms_norm(&lin(&a.k, x)?, &a.norm_k, eps, mode)?;
        let q = self.rope.apply(&split_heads(&q, n)?, true, mode)?;
        let k = self.rope.apply(&split_heads(&k, n)?, true, mode)?;
        let v = split_heads(&lin(&a.v, x)?, n)?;
        let y = merge_heads(&self.attention.attention(&q, &k, &v, None, mode)?)?;
        lin(&a.o, &y)
    }

    fn cross_attention(
        &self,
        a: &WanAttention<Tensor>,
        x: &Tensor,
        context: &Tensor,
        mode: Mode,
    ) -> Result<Tensor> {
        let (n, eps) = (self.cfg.num_heads, self.cfg.eps);
        let q = rms_norm(&lin(&a.q, x)?, &a.norm_q, eps, mode)?;
        let k = rms_norm(&lin(&a.k, context)?, &a.norm_k, eps, mode)?;
        let v = lin(&a.v, context)?;
        let y = self.attention.attention(
            &split_heads(&q, n)?,
            &split_heads(&k, n)?,
            &split_heads(&v, n)?,
            None,
            mode,
        )?;
        lin(&a.o, &merge_heads(&y)?)
    }

    /// `x * (1 + scale) + shift` with modulation rows [B, 1, dim].
    fn modulate(x: &Tensor, shift: &Tensor, scale: &Tensor) -> Result<Tensor> {
        x.broadcast_mul(&(scale + 1.0)?)?.broadcast_add(shift)
    }

    pub(crate) fn block(
        &self,
        b: &BlockWeights,
        x: &Tensor,
        e0: &Tensor,
        context: &Tensor,
        mode: Mode,
    ) -> Result<Tensor> {
        let eps = self.cfg.eps;
        // [1, 6, dim] + [B, 6, dim] -> six rows [B, 1, dim].
        let e = b.modulation.broadcast_add(e0)?;
        let e: Vec<Tensor> = (0..6).map(|k| e.narrow(1, k, 1)).collect::<Result<_>>()?;

        let h = Self::modulate(&layer_norm(x, None, None, eps, mode)?, &e[0], &e[1])?;
        let y = self.self_attention(&b.self_attn, &h, mode)?;
        let x = (x + y.broadcast_mul(&e[2])?)?;

        let h = layer_norm(&x, Some(&b.norm3.weight), Some(&b.norm3.bias), eps, mode)?;
        let x = (&x + self.cross_attention(&b.cross_attn, &h, context, mode)?)?;

        let h = Self::modulate(&layer_norm(&x, None, None, eps, mode)?, &e[3], &e[4])?;
        let h = lin(&b.ffn_in, &h)?.gelu()?;
        let y = lin(&b.ffn_out, &h)?;
        x + y.broadcast_mul(&e[5])?
    }

    /// One denoising forward: latents [B, C, F, H, W] -> velocity [B, C_out, F, H, W].
    pub fn forward(&self, w: &WanWeights, inputs: &WanInputs, mode: Mode) -> Result<Tensor> {
        let c = &self.cfg;
        let mut x = self.patch_embed(w, &inputs.latents)?;

        let e = lin(&w.time_out, &lin(&w.time_in, &inputs.time_freqs)?.silu()?)?;
        let b = e.dim(0)?;
        let e0 = lin(&w.time_projection, &e.silu()?)?.reshape((b, 6, c.dim))?;

        let context = lin(&w.text_out, &lin(&w.text_in, &inputs.context)?.gelu()?)?;

        for block in &w.blocks {
            x = self.block(block, &x, &e0, &context, mode)?;
        }

        // Head: 2-way modulation from the (unprojected) time embedding.
        let hm = w.head_modulation.broadcast_add(&e.unsqueeze(1)?)?;
        let (shift, scale) = (hm.narrow(1, 0, 1)?, hm.narrow(1, 1, 1)?);
        let x = Self::modulate(&layer_norm(&x, None, None, c.eps, mode)?, &shift, &scale)?;
        let x = lin(&w.head, &x)?;
        self.unpatchify(&x)
    }

    /// Flow-matching loss: mean squared error against the velocity target, in f32.
    pub fn loss(output: &Tensor, target: &Tensor) -> Result<Tensor> {
        (output.to_dtype(DType::F32)? - target)?.sqr()?.mean_all()
    }
}
