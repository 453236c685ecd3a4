//! Wan2.1 text-to-video DiT (`WanModel`, t2v) on Burn, with the reference's
//! parameter names and math.

use burn::tensor::{DType, Device, Tensor, TensorCreationOptions, TensorData};
use ditbench_harness::tables::{sinusoidal_embedding, wan_rope};
use ditbench_harness::workload::WanConfig;

use crate::ops::{
    attention, gelu_tanh, layer_norm, linear, merge_heads, rms_norm, rope, silu, split_heads,
};
use crate::weights::Weights;

pub struct WanInputs {
    /// [B, C, F, H, W]
    pub latents: Tensor<5>,
    /// Sinusoidal embedding of each timestep [B, 1, freq_dim].
    pub time_freqs: Tensor<3>,
    /// [B, text_len, text_dim]
    pub context: Tensor<3>,
    /// [B, C_out, F, H, W], f32
    pub target: Tensor<5>,
}

pub struct WanModel {
    cfg: WanConfig,
    rope_cos: Tensor<2>,
    rope_sin: Tensor<2>,
}

pub fn float_tensor<const D: usize>(
    values: Vec<f32>,
    shape: [usize; D],
    dtype: DType,
    device: &Device,
) -> Tensor<D> {
    Tensor::from_data(
        TensorData::new(values, shape),
        TensorCreationOptions::new(device.clone()).with_dtype(dtype),
    )
}

fn lin(w: &Weights, name: &str, x: Tensor<3>) -> Tensor<3> {
    linear(
        x,
        w.get2(&format!("{name}.weight")),
        Some(w.get1(&format!("{name}.bias"))),
    )
}

impl WanModel {
    pub fn new(cfg: &WanConfig, dtype: DType, device: &Device) -> Self {
        let t = wan_rope(cfg);
        let shape = [t.positions, t.pairs];
        WanModel {
            cfg: cfg.clone(),
            rope_cos: float_tensor(t.cos, shape, dtype, device),
            rope_sin: float_tensor(t.sin, shape, dtype, device),
        }
    }

    pub fn time_freqs(
        cfg: &WanConfig,
        timesteps: &[f32],
        dtype: DType,
        device: &Device,
    ) -> Tensor<3> {
        let e = sinusoidal_embedding(cfg.freq_dim, timesteps);
        float_tensor(e, [timesteps.len(), 1, cfg.freq_dim], dtype, device)
    }

    /// Conv3d with kernel = stride = patch size, as a matmul over patches:
    /// [B, C, F, H, W] -> [B, L, dim], tokens in (f, h, w) order and patch
    /// values in (C, pt, ph, pw) order. Two permutes of rank <= 6, because
    /// NdArray supports no more.
    fn patch_embed(&self, w: &Weights, x: Tensor<5>) -> Tensor<3> {
        let c = &self.cfg;
        let [b, ch, f, h, wd] = x.dims();
        let [pt, ph, pw] = c.patch_size;
        let (gf, gh, gw) = (f / pt, h / ph, wd / pw);
        let patches = x
            // [B*C*F'*pt, H', ph, W', pw] -> [.., H', W', ph, pw]
            .reshape([b * ch * gf * pt, gh, ph, gw, pw])
            .permute([0, 1, 3, 2, 4])
            // [B, C, F', pt, H'W', ph*pw] -> [B, F', H'W', C, pt, ph*pw]
            .reshape([b, ch, gf, pt, gh * gw, ph * pw])
            .permute([0, 2, 4, 1, 3, 5])
            .reshape([b, gf * gh * gw, ch * pt * ph * pw]);
        let weight = w.get2_as("patch_embedding.weight", [c.dim, ch * pt * ph * pw]);
        linear(patches, weight, Some(w.get1("patch_embedding.bias")))
    }

    /// [B, L, pt*ph*pw*C] -> [B, C, F, H, W], the reference's
    /// `einsum('fhwpqrc->cfphqwr')`, as two permutes of rank <= 6.
    fn unpatchify(&self, x: Tensor<3>) -> Tensor<5> {
        let c = &self.cfg;
        let b = x.dims()[0];
        let [gf, gh, gw] = c.grid();
        let [pt, ph, pw] = c.patch_size;
        let co = c.out_dim;
        x
            // [B, F', H'W', pt, ph*pw, C] -> [B, C, F', pt, H'W', ph*pw]
            .reshape([b, gf, gh * gw, pt, ph * pw, co])
            .permute([0, 5, 1, 3, 2, 4])
            // [B*C*F'*pt, H', W', ph, pw] -> [.., H', ph, W', pw]
            .reshape([b * co * gf * pt, gh, gw, ph, pw])
            .permute([0, 1, 3, 2, 4])
            .reshape([b, co, gf * pt, gh * ph, gw * pw])
    }

    fn self_attention(&self, w: &Weights, p: &str, x: Tensor<3>) -> Tensor<3> {
        let (n, eps) = (self.cfg.num_heads, self.cfg.eps);
        let q = rms_norm(
            lin(w, &format!("{p}.q"), x.clone()),
            w.get1(&format!("{p}.norm_q.weight")),
            eps,
        );
        let k = rms_norm(
            lin(w, &format!("{p}.k"), x.clone()),
            w.get1(&format!("{p}.norm_k.weight")),
            eps,
        );
        let q = rope(split_heads(q, n), &self.rope_cos, &self.rope_sin, true);
        let k = rope(split_heads(k, n), &self.rope_cos, &self.rope_sin, true);
        let v = split_heads(lin(w, &format!("{p}.v"), x), n);
        lin(w, &format!("{p}.o"), merge_heads(attention(q, k, v, false)))
    }

    fn cross_attention(&self, w: &Weights, p: &str, x: Tensor<3>, context: Tensor<3>) -> Tensor<3> {
        let (n, eps) = (self.cfg.num_heads, self.cfg.eps);
        let q = rms_norm(
            lin(w, &format!("{p}.q"), x),
            w.get1(&format!("{p}.norm_q.weight")),
            eps,
        );
        let k = rms_norm(
            lin(w, &format!("{p}.k"), context.clone()),
            w.get1(&format!("{p}.norm_k.weight")),
            eps,
        );
        let v = lin(w, &format!("{p}.v"), context);
        let y = attention(
            split_heads(q, n),
            split_heads(k, n),
            split_heads(v, n),
            false,
        );
        lin(w, &format!("{p}.o"), merge_heads(y))
    }

    /// `x * (1 + scale) + shift` with modulation rows [B, 1, dim].
    fn modulate(x: Tensor<3>, shift: Tensor<3>, scale: Tensor<3>) -> Tensor<3> {
        x * (scale + 1.0) + shift
    }

    pub(crate) fn block(
        &self,
        w: &Weights,
        i: usize,
        x: Tensor<3>,
        e0: Tensor<3>,
        context: Tensor<3>,
    ) -> Tensor<3> {
        let p = format!("blocks.{i}");
        let eps = self.cfg.eps;
        // [1, 6, dim] + [B, 6, dim] -> six rows [B, 1, dim].
        let e = w.get3(&format!("{p}.modulation")) + e0;
        let e: Vec<Tensor<3>> = (0..6).map(|k| e.clone().narrow(1, k, 1)).collect();

        let h = Self::modulate(
            layer_norm(x.clone(), None, None, eps),
            e[0].clone(),
            e[1].clone(),
        );
        let x = x + self.self_attention(w, &format!("{p}.self_attn"), h) * e[2].clone();

        let h = layer_norm(
            x.clone(),
            Some(w.get1(&format!("{p}.norm3.weight"))),
            Some(w.get1(&format!("{p}.norm3.bias"))),
            eps,
        );
        let x = x.clone() + self.cross_attention(w, &format!("{p}.cross_attn"), h, context);

        let h = Self::modulate(
            layer_norm(x.clone(), None, None, eps),
            e[3].clone(),
            e[4].clone(),
        );
        let h = gelu_tanh(lin(w, &format!("{p}.ffn.0"), h));
        x + lin(w, &format!("{p}.ffn.2"), h) * e[5].clone()
    }

    pub fn forward(&self, w: &Weights, inputs: &WanInputs) -> Tensor<5> {
        let c = &self.cfg;
        let mut x = self.patch_embed(w, inputs.latents.clone());

        // Time embedding [B, 1, dim] and its projection [B, 6, dim].
        let e = lin(
            w,
            "time_embedding.2",
            silu(lin(w, "time_embedding.0", inputs.time_freqs.clone())),
        );
        let b = e.dims()[0];
        let e0 = lin(w, "time_projection.1", silu(e.clone())).reshape([b, 6, c.dim]);

        let context = lin(
            w,
            "text_embedding.2",
            gelu_tanh(lin(w, "text_embedding.0", inputs.context.clone())),
        );

        for i in 0..c.num_layers {
            x = self.block(w, i, x, e0.clone(), context.clone());
        }

        // Head: 2-way modulation from the (unprojected) time embedding.
        let hm = w.get3("head.modulation") + e;
        let (shift, scale) = (hm.clone().narrow(1, 0, 1), hm.narrow(1, 1, 1));
        let x = Self::modulate(layer_norm(x, None, None, c.eps), shift, scale);
        self.unpatchify(lin(w, "head.head", x))
    }

    /// Flow-matching loss: mean squared error against the velocity target, in f32.
    pub fn loss(output: Tensor<5>, target: Tensor<5>) -> Tensor<1> {
        (output.cast(DType::F32) - target).square().mean()
    }
}
