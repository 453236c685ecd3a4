//! Wan2.1 text-to-video DiT (`WanModel`, t2v) on libtorch, with the
//! reference's parameter names and math.

use anyhow::Result;
use ditbench_harness::tables::{sinusoidal_embedding, wan_rope};
use ditbench_harness::workload::WanConfig;
use tch::{Device, Kind, Reduction, Tensor};

use crate::ops::{
    KernelLog, attention, layer_norm, linear, merge_heads, rms_norm, rope, split_heads,
};
use crate::weights::{Weights, upload};

/// Inputs of one Wan pass, on the device.
pub struct WanInputs {
    /// [B, C, F, H, W]
    pub latents: Tensor,
    /// Sinusoidal embedding of each timestep [B, freq_dim].
    pub time_freqs: Tensor,
    /// [B, text_len, text_dim]
    pub context: Tensor,
    /// [B, C_out, F, H, W], f32
    pub target: Tensor,
}

pub struct WanModel {
    cfg: WanConfig,
    rope_cos: Tensor,
    rope_sin: Tensor,
    pub kernels: KernelLog,
}

impl WanModel {
    pub fn new(cfg: &WanConfig, kind: Kind, device: Device) -> Result<Self> {
        let table = wan_rope(cfg);
        let shape = [table.positions, table.pairs];
        Ok(WanModel {
            cfg: cfg.clone(),
            rope_cos: upload(&table.cos, &shape, kind, device)?,
            rope_sin: upload(&table.sin, &shape, kind, device)?,
            kernels: KernelLog::default(),
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

    fn lin(w: &Weights, name: &str, x: &Tensor) -> Result<Tensor> {
        Ok(linear(
            x,
            w.get(&format!("{name}.weight"))?,
            Some(w.get(&format!("{name}.bias"))?),
        )?)
    }

    /// The reference's `nn.Conv3d(kernel = stride = patch)`, flattened to
    /// tokens in (f, h, w) order: [B, C, F, H, W] -> [B, L, dim].
    pub(crate) fn patch_embed(&self, w: &Weights, x: &Tensor) -> Result<Tensor> {
        let [pt, ph, pw] = self.cfg.patch_size.map(|p| p as i64);
        let y = x.f_conv3d(
            w.get("patch_embedding.weight")?,
            Some(w.get("patch_embedding.bias")?),
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

    /// `norm_{name}(name(x))`: a q or k projection with its RMSNorm.
    fn normed(w: &Weights, p: &str, name: &str, x: &Tensor, eps: f64) -> Result<Tensor> {
        let y = Self::lin(w, &format!("{p}.{name}"), x)?;
        Ok(rms_norm(
            &y,
            w.get(&format!("{p}.norm_{name}.weight"))?,
            eps,
        )?)
    }

    fn self_attention(&self, w: &Weights, p: &str, x: &Tensor) -> Result<Tensor> {
        let (n, eps) = (self.cfg.num_heads as i64, self.cfg.eps);
        let q = split_heads(&Self::normed(w, p, "q", x, eps)?, n)?;
        let k = split_heads(&Self::normed(w, p, "k", x, eps)?, n)?;
        let q = rope(&q, &self.rope_cos, &self.rope_sin, true)?;
        let k = rope(&k, &self.rope_cos, &self.rope_sin, true)?;
        let v = split_heads(&Self::lin(w, &format!("{p}.v"), x)?, n)?;
        let y = merge_heads(&attention(&q, &k, &v, false, &self.kernels, "self")?)?;
        Self::lin(w, &format!("{p}.o"), &y)
    }

    fn cross_attention(
        &self,
        w: &Weights,
        p: &str,
        x: &Tensor,
        context: &Tensor,
    ) -> Result<Tensor> {
        let (n, eps) = (self.cfg.num_heads as i64, self.cfg.eps);
        let q = split_heads(&Self::normed(w, p, "q", x, eps)?, n)?;
        let k = split_heads(&Self::normed(w, p, "k", context, eps)?, n)?;
        let v = split_heads(&Self::lin(w, &format!("{p}.v"), context)?, n)?;
        let y = attention(&q, &k, &v, false, &self.kernels, "cross")?;
        Self::lin(w, &format!("{p}.o"), &merge_heads(&y)?)
    }

    /// `x * (1 + scale) + shift` with modulation rows [B, 1, dim].
    fn modulate(x: &Tensor, shift: &Tensor, scale: &Tensor) -> Result<Tensor> {
        Ok(x.f_mul(&scale.f_add_scalar(1.0)?)?.f_add(shift)?)
    }

    pub(crate) fn block(
        &self,
        w: &Weights,
        i: usize,
        x: &Tensor,
        e0: &Tensor,
        context: &Tensor,
    ) -> Result<Tensor> {
        let p = format!("blocks.{i}");
        let eps = self.cfg.eps;
        // [1, 6, dim] + [B, 6, dim] -> six rows [B, 1, dim].
        let e = w
            .get(&format!("{p}.modulation"))?
            .f_add(e0)?
            .f_chunk(6, 1)?;

        let h = Self::modulate(&layer_norm(x, None, None, eps)?, &e[0], &e[1])?;
        let y = self.self_attention(w, &format!("{p}.self_attn"), &h)?;
        let x = x.f_add(&y.f_mul(&e[2])?)?;

        let h = layer_norm(
            &x,
            Some(w.get(&format!("{p}.norm3.weight"))?),
            Some(w.get(&format!("{p}.norm3.bias"))?),
            eps,
        )?;
        let x = x.f_add(&self.cross_attention(w, &format!("{p}.cross_attn"), &h, context)?)?;

        let h = Self::modulate(&layer_norm(&x, None, None, eps)?, &e[3], &e[4])?;
        let h = Self::lin(w, &format!("{p}.ffn.0"), &h)?.f_gelu("tanh")?;
        let y = Self::lin(w, &format!("{p}.ffn.2"), &h)?;
        Ok(x.f_add(&y.f_mul(&e[5])?)?)
    }

    /// One denoising forward: latents [B, C, F, H, W] -> velocity [B, C_out, F, H, W].
    pub fn forward(&self, w: &Weights, inputs: &WanInputs) -> Result<Tensor> {
        let c = &self.cfg;
        let mut x = self.patch_embed(w, &inputs.latents)?;

        let e = Self::lin(
            w,
            "time_embedding.2",
            &Self::lin(w, "time_embedding.0", &inputs.time_freqs)?.f_silu()?,
        )?;
        let b = e.size()[0];
        let e0 = Self::lin(w, "time_projection.1", &e.f_silu()?)?.f_view([b, 6, c.dim as i64])?;

        let context = Self::lin(
            w,
            "text_embedding.2",
            &Self::lin(w, "text_embedding.0", &inputs.context)?.f_gelu("tanh")?,
        )?;

        for i in 0..c.num_layers {
            x = self.block(w, i, &x, &e0, &context)?;
        }

        // Head: 2-way modulation from the (unprojected) time embedding.
        let hm = w
            .get("head.modulation")?
            .f_add(&e.f_unsqueeze(1)?)?
            .f_chunk(2, 1)?;
        let x = Self::modulate(&layer_norm(&x, None, None, c.eps)?, &hm[0], &hm[1])?;
        let x = Self::lin(w, "head.head", &x)?;
        self.unpatchify(&x)
    }

    /// Flow-matching loss: mean squared error against the velocity target, in f32.
    pub fn loss(output: &Tensor, target: &Tensor) -> Result<Tensor> {
        Ok(output
            .f_to_kind(Kind::Float)?
            .f_mse_loss(target, Reduction::Mean)?)
    }
}
