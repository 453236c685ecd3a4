//! Wan2.1 text-to-video DiT (`WanModel`, t2v) on Burn, with the reference's
//! parameter names and math.

use burn::tensor::{DType, Device, Tensor};
use ditbench_core::model::layout::{Linear, WanAttention, WanBlock, WanParams};
use ditbench_core::model::tables::{sinusoidal_embedding, wan_rope};
use ditbench_core::model::workload::WanConfig;

use ditbench_core::AttentionPlan;

use crate::ops::{
    Attention, Rope, float_tensor, gelu_tanh, layer_norm, linear, merge_heads, rms_norm, silu,
    split_heads,
};
use crate::weights::Param;

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
    rope: Rope,
    pub attention: Attention,
}

/// Every parameter of the model, resolved once when the case is prepared.
pub type WanWeights = WanParams<Param>;
/// One block's parameters (the block kernel runs one on its own).
pub type BlockWeights = WanBlock<Param>;

fn lin(l: &Linear<Param>, x: Tensor<3>) -> Tensor<3> {
    linear(x, l.weight.matmul_weight(), Some(l.bias.get()))
}

/// [B, L, pt*ph*pw*C] -> [B, C, F, H, W] (the reference's `unpatchify`).
pub(crate) fn unpatchify(c: &WanConfig, x: Tensor<3>) -> Tensor<5> {
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

impl WanModel {
    pub fn new(cfg: &WanConfig, dtype: DType, device: &Device, attention: AttentionPlan) -> Self {
        WanModel {
            cfg: cfg.clone(),
            rope: Rope::new(wan_rope(cfg), dtype, device),
            attention: Attention::new(attention),
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
    fn patch_embed(&self, w: &WanWeights, x: Tensor<5>) -> Tensor<3> {
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
        let weight = w.patch_embedding.weight.matmul_weight();
        linear(patches, weight, Some(w.patch_embedding.bias.get()))
    }

    /// [B, L, pt*ph*pw*C] -> [B, C, F, H, W], the reference's
    /// `einsum('fhwpqrc->cfphqwr')`, as two permutes of rank <= 6.
    fn unpatchify(&self, x: Tensor<3>) -> Tensor<5> {
        unpatchify(&self.cfg, x)
    }

    fn self_attention(&self, a: &WanAttention<Param>, x: Tensor<3>) -> Tensor<3> {
        let (n, eps) = (self.cfg.num_heads, self.cfg.eps);
        let q = rms_norm(lin(&a.q, x.clone()), a.norm_q.get(), eps);
        let k = rms_norm(lin(&a.k, x.clone()), a.norm_k.get(), eps);
        let q = self.rope.apply(split_heads(q, n), true);
        let k = self.rope.apply(split_heads(k, n), true);
        let v = split_heads(lin(&a.v, x), n);
        lin(&a.o, merge_heads(self.attention.run(q, k, v, false)))
    }

    fn cross_attention(
        &self,
        a: &WanAttention<Param>,
        x: Tensor<3>,
        context: Tensor<3>,
    ) -> Tensor<3> {
        let (n, eps) = (self.cfg.num_heads, self.cfg.eps);
        let q = rms_norm(lin(&a.q, x), a.norm_q.get(), eps);
        let k = rms_norm(lin(&a.k, context.clone()), a.norm_k.get(), eps);
        let v = lin(&a.v, context);
        let y = self.attention.run(
            split_heads(q, n),
            split_heads(k, n),
            split_heads(v, n),
            false,
        );
        lin(&a.o, merge_heads(y))
    }

    /// `x * (1 + scale) + shift` with modulation rows [B, 1, dim].
    fn modulate(x: Tensor<3>, shift: Tensor<3>, scale: Tensor<3>) -> Tensor<3> {
        x * (scale + 1.0) + shift
    }

    pub(crate) fn block(
        &self,
        b: &BlockWeights,
        x: Tensor<3>,
        e0: Tensor<3>,
        context: Tensor<3>,
    ) -> Tensor<3> {
        let eps = self.cfg.eps;
        // [1, 6, dim] + [B, 6, dim] -> six rows [B, 1, dim].
        let e = b.modulation.get::<3>() + e0;
        let e: Vec<Tensor<3>> = (0..6).map(|k| e.clone().narrow(1, k, 1)).collect();

        let h = Self::modulate(
            layer_norm(x.clone(), None, None, eps),
            e[0].clone(),
            e[1].clone(),
        );
        let x = x + self.self_attention(&b.self_attn, h) * e[2].clone();

        let h = layer_norm(
            x.clone(),
            Some(b.norm3.weight.get()),
            Some(b.norm3.bias.get()),
            eps,
        );
        let x = x.clone() + self.cross_attention(&b.cross_attn, h, context);

        let h = Self::modulate(
            layer_norm(x.clone(), None, None, eps),
            e[3].clone(),
            e[4].clone(),
        );
        let h = gelu_tanh(lin(&b.ffn_in, h));
        x + lin(&b.ffn_out, h) * e[5].clone()
    }

    pub fn forward(&self, w: &WanWeights, inputs: &WanInputs) -> Tensor<5> {
        let c = &self.cfg;
        let mut x = self.patch_embed(w, inputs.latents.clone());

        // Time embedding [B, 1, dim] and its projection [B, 6, dim].
        let e = lin(
            &w.time_out,
            silu(lin(&w.time_in, inputs.time_freqs.clone())),
        );
        let b = e.dims()[0];
        let e0 = lin(&w.time_projection, silu(e.clone())).reshape([b, 6, c.dim]);

        let context = lin(
            &w.text_out,
            gelu_tanh(lin(&w.text_in, inputs.context.clone())),
        );

        for block in &w.blocks {
            x = self.block(block, x, e0.clone(), context.clone());
        }

        // Head: 2-way modulation from the (unprojected) time embedding.
        let hm = w.head_modulation.get::<3>() + e;
        let (shift, scale) = (hm.clone().narrow(1, 0, 1), hm.narrow(1, 1, 1));
        let x = Self::modulate(layer_norm(x, None, None, c.eps), shift, scale);
        self.unpatchify(lin(&w.head, x))
    }

    /// Flow-matching loss: mean squared error against the velocity target, in f32.
    pub fn loss(output: Tensor<5>, target: Tensor<5>) -> Tensor<1> {
        (output.cast(DType::F32) - target).square().mean()
    }
}
