//! Wan2.1 text-to-video DiT (`WanModel`, t2v) in Candle, with the
//! reference's parameter names and math.

use candle_core::{DType, Device, Result, Tensor};
use ditbench_harness::tables::{sinusoidal_embedding, wan_rope};
use ditbench_harness::workload::WanConfig;

use crate::ops::{Mode, attention, layer_norm, linear, merge_heads, rms_norm, rope, split_heads};
use crate::weights::Weights;

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
}

impl WanModel {
    pub fn new(cfg: &WanConfig, dtype: DType, device: &Device) -> Result<Self> {
        let table = wan_rope(cfg);
        let shape = (table.positions, table.pairs);
        Ok(WanModel {
            cfg: cfg.clone(),
            rope_cos: Tensor::from_vec(table.cos, shape, device)?.to_dtype(dtype)?,
            rope_sin: Tensor::from_vec(table.sin, shape, device)?.to_dtype(dtype)?,
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
    pub(crate) fn patch_embed(&self, w: &Weights, x: &Tensor) -> Result<Tensor> {
        let c = &self.cfg;
        let (b, ch, f, h, wd) = x.dims5()?;
        let [pt, ph, pw] = c.patch_size;
        let (gf, gh, gw) = (f / pt, h / ph, wd / pw);
        let patches = x
            .reshape(vec![b, ch, gf, pt, gh, ph, gw, pw])?
            .permute(vec![0, 2, 4, 6, 1, 3, 5, 7])?
            .contiguous()?
            .reshape((b, gf * gh * gw, ch * pt * ph * pw))?;
        let weight = w
            .get("patch_embedding.weight")?
            .reshape((c.dim, ch * pt * ph * pw))?;
        linear(&patches, &weight, Some(w.get("patch_embedding.bias")?))
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

    fn self_attention(&self, w: &Weights, p: &str, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let (n, eps) = (self.cfg.num_heads, self.cfg.eps);
        let proj = |name: &str| {
            linear(
                x,
                w.get(&format!("{p}.{name}.weight"))?,
                Some(w.get(&format!("{p}.{name}.bias"))?),
            )
        };
        let q = rms_norm(
            &proj("q")?,
            w.get(&format!("{p}.norm_q.weight"))?,
            eps,
            mode,
        )?;
        let k = rms_norm(
            &proj("k")?,
            w.get(&format!("{p}.norm_k.weight"))?,
            eps,
            mode,
        )?;
        let q = rope(
            &split_heads(&q, n)?,
            &self.rope_cos,
            &self.rope_sin,
            true,
            mode,
        )?;
        let k = rope(
            &split_heads(&k, n)?,
            &self.rope_cos,
            &self.rope_sin,
            true,
            mode,
        )?;
        let v = split_heads(&proj("v")?, n)?;
        let y = merge_heads(&attention(&q, &k, &v, None, mode)?)?;
        linear(
            &y,
            w.get(&format!("{p}.o.weight"))?,
            Some(w.get(&format!("{p}.o.bias"))?),
        )
    }

    fn cross_attention(
        &self,
        w: &Weights,
        p: &str,
        x: &Tensor,
        context: &Tensor,
        mode: Mode,
    ) -> Result<Tensor> {
        let (n, eps) = (self.cfg.num_heads, self.cfg.eps);
        let proj = |name: &str, input: &Tensor| {
            linear(
                input,
                w.get(&format!("{p}.{name}.weight"))?,
                Some(w.get(&format!("{p}.{name}.bias"))?),
            )
        };
        let q = rms_norm(
            &proj("q", x)?,
            w.get(&format!("{p}.norm_q.weight"))?,
            eps,
            mode,
        )?;
        let k = rms_norm(
            &proj("k", context)?,
            w.get(&format!("{p}.norm_k.weight"))?,
            eps,
            mode,
        )?;
        let v = proj("v", context)?;
        let y = attention(
            &split_heads(&q, n)?,
            &split_heads(&k, n)?,
            &split_heads(&v, n)?,
            None,
            mode,
        )?;
        proj("o", &merge_heads(&y)?)
    }

    /// `x * (1 + scale) + shift` with modulation rows [B, 1, dim].
    fn modulate(x: &Tensor, shift: &Tensor, scale: &Tensor) -> Result<Tensor> {
        x.broadcast_mul(&(scale + 1.0)?)?.broadcast_add(shift)
    }

    pub(crate) fn block(
        &self,
        w: &Weights,
        i: usize,
        x: &Tensor,
        e0: &Tensor,
        context: &Tensor,
        mode: Mode,
    ) -> Result<Tensor> {
        let p = format!("blocks.{i}");
        let eps = self.cfg.eps;
        // [1, 6, dim] + [B, 6, dim] -> six rows [B, 1, dim].
        let e = w.get(&format!("{p}.modulation"))?.broadcast_add(e0)?;
        let e: Vec<Tensor> = (0..6).map(|k| e.narrow(1, k, 1)).collect::<Result<_>>()?;

        let h = Self::modulate(&layer_norm(x, None, None, eps, mode)?, &e[0], &e[1])?;
        let y = self.self_attention(w, &format!("{p}.self_attn"), &h, mode)?;
        let x = (x + y.broadcast_mul(&e[2])?)?;

        let h = layer_norm(
            &x,
            Some(w.get(&format!("{p}.norm3.weight"))?),
            Some(w.get(&format!("{p}.norm3.bias"))?),
            eps,
            mode,
        )?;
        let x = (&x + self.cross_attention(w, &format!("{p}.cross_attn"), &h, context, mode)?)?;

        let h = Self::modulate(&layer_norm(&x, None, None, eps, mode)?, &e[3], &e[4])?;
        let h = linear(
            &h,
            w.get(&format!("{p}.ffn.0.weight"))?,
            Some(w.get(&format!("{p}.ffn.0.bias"))?),
        )?
        .gelu()?;
        let y = linear(
            &h,
            w.get(&format!("{p}.ffn.2.weight"))?,
            Some(w.get(&format!("{p}.ffn.2.bias"))?),
        )?;
        x + y.broadcast_mul(&e[5])?
    }

    /// One denoising forward: latents [B, C, F, H, W] -> velocity [B, C_out, F, H, W].
    pub fn forward(&self, w: &Weights, inputs: &WanInputs, mode: Mode) -> Result<Tensor> {
        let c = &self.cfg;
        let lin = |name: &str, x: &Tensor| {
            linear(
                x,
                w.get(&format!("{name}.weight"))?,
                Some(w.get(&format!("{name}.bias"))?),
            )
        };
        let mut x = self.patch_embed(w, &inputs.latents)?;

        let e = lin(
            "time_embedding.2",
            &lin("time_embedding.0", &inputs.time_freqs)?.silu()?,
        )?;
        let b = e.dim(0)?;
        let e0 = lin("time_projection.1", &e.silu()?)?.reshape((b, 6, c.dim))?;

        let context = lin(
            "text_embedding.2",
            &lin("text_embedding.0", &inputs.context)?.gelu()?,
        )?;

        for i in 0..c.num_layers {
            x = self.block(w, i, &x, &e0, &context, mode)?;
        }

        // Head: 2-way modulation from the (unprojected) time embedding.
        let hm = w.get("head.modulation")?.broadcast_add(&e.unsqueeze(1)?)?;
        let (shift, scale) = (hm.narrow(1, 0, 1)?, hm.narrow(1, 1, 1)?);
        let x = Self::modulate(&layer_norm(&x, None, None, c.eps, mode)?, &shift, &scale)?;
        let x = lin("head.head", &x)?;
        self.unpatchify(&x)
    }

    /// Flow-matching loss: mean squared error against the velocity target, in f32.
    pub fn loss(output: &Tensor, target: &Tensor) -> Result<Tensor> {
        (output.to_dtype(DType::F32)? - target)?.sqr()?.mean_all()
    }
}
