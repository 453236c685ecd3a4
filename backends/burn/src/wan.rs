//! Wan2.1 text-to-video DiT (`WanModel`, t2v) on Burn, with the reference's
//! parameter names and math.

use burn::tensor::{DType, Device, Tensor, TensorCreationOptions, TensorData};
use ditbench_harness::tables::{sinusoidal_embedding, wan_rope};
use ditbench_harness::workload::WanConfig;

use crate::ops::{
    attention, gelu_tanh, layer_norm, linear, merge_heads, rms_norm, rope, silu, split_heads,
};
use crate::weights::{Param, Weights};

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

/// A linear layer's weight [out, in] and bias [out].
pub struct Linear {
    weight: Param<2>,
    bias: Param<1>,
}

impl Linear {
    fn resolve(w: &Weights, name: &str) -> Self {
        Linear {
            weight: w.param(&format!("{name}.weight")),
            bias: w.param(&format!("{name}.bias")),
        }
    }

    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        linear(x, self.weight.get(), Some(self.bias.get()))
    }
}

/// `WanSelfAttention` / `WanT2VCrossAttention`: projections and q/k RMSNorms.
pub struct AttentionWeights {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    norm_q: Param<1>,
    norm_k: Param<1>,
}

impl AttentionWeights {
    fn resolve(w: &Weights, p: &str) -> Self {
        AttentionWeights {
            q: Linear::resolve(w, &format!("{p}.q")),
            k: Linear::resolve(w, &format!("{p}.k")),
            v: Linear::resolve(w, &format!("{p}.v")),
            o: Linear::resolve(w, &format!("{p}.o")),
            norm_q: w.param(&format!("{p}.norm_q.weight")),
            norm_k: w.param(&format!("{p}.norm_k.weight")),
        }
    }
}

/// One `WanAttentionBlock`'s parameters.
pub struct BlockWeights {
    modulation: Param<3>,
    self_attn: AttentionWeights,
    norm3_weight: Param<1>,
    norm3_bias: Param<1>,
    cross_attn: AttentionWeights,
    ffn_in: Linear,
    ffn_out: Linear,
}

impl BlockWeights {
    /// The block whose parameters are named `{prefix}.…` (`blocks.3`).
    pub fn resolve(w: &Weights, prefix: &str) -> Self {
        let p = prefix;
        BlockWeights {
            modulation: w.param(&format!("{p}.modulation")),
            self_attn: AttentionWeights::resolve(w, &format!("{p}.self_attn")),
            norm3_weight: w.param(&format!("{p}.norm3.weight")),
            norm3_bias: w.param(&format!("{p}.norm3.bias")),
            cross_attn: AttentionWeights::resolve(w, &format!("{p}.cross_attn")),
            ffn_in: Linear::resolve(w, &format!("{p}.ffn.0")),
            ffn_out: Linear::resolve(w, &format!("{p}.ffn.2")),
        }
    }
}

/// Every parameter of a `WanModel`, resolved once from the reference names
/// when the case is prepared: a step formats no name and searches no map.
pub struct WanWeights {
    /// The Conv3d patch weight as a [dim, C*pt*ph*pw] matrix, and its bias.
    patch_embedding: Linear,
    text_in: Linear,
    text_out: Linear,
    time_in: Linear,
    time_out: Linear,
    time_projection: Linear,
    blocks: Vec<BlockWeights>,
    head_modulation: Param<3>,
    head: Linear,
}

impl WanWeights {
    pub fn resolve(cfg: &WanConfig, w: &Weights) -> Self {
        let [pt, ph, pw] = cfg.patch_size;
        WanWeights {
            patch_embedding: Linear {
                weight: w.param_as(
                    "patch_embedding.weight",
                    [cfg.dim, cfg.in_dim * pt * ph * pw],
                ),
                bias: w.param("patch_embedding.bias"),
            },
            text_in: Linear::resolve(w, "text_embedding.0"),
            text_out: Linear::resolve(w, "text_embedding.2"),
            time_in: Linear::resolve(w, "time_embedding.0"),
            time_out: Linear::resolve(w, "time_embedding.2"),
            time_projection: Linear::resolve(w, "time_projection.1"),
            blocks: (0..cfg.num_layers)
                .map(|i| BlockWeights::resolve(w, &format!("blocks.{i}")))
                .collect(),
            head_modulation: w.param("head.modulation"),
            head: Linear::resolve(w, "head.head"),
        }
    }
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
        w.patch_embedding.forward(patches)
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

    fn self_attention(&self, a: &AttentionWeights, x: Tensor<3>) -> Tensor<3> {
        let (n, eps) = (self.cfg.num_heads, self.cfg.eps);
        let q = rms_norm(a.q.forward(x.clone()), a.norm_q.get(), eps);
        let k = rms_norm(a.k.forward(x.clone()), a.norm_k.get(), eps);
        let q = rope(split_heads(q, n), &self.rope_cos, &self.rope_sin, true);
        let k = rope(split_heads(k, n), &self.rope_cos, &self.rope_sin, true);
        let v = split_heads(a.v.forward(x), n);
        a.o.forward(merge_heads(attention(q, k, v, false)))
    }

    fn cross_attention(&self, a: &AttentionWeights, x: Tensor<3>, context: Tensor<3>) -> Tensor<3> {
        let (n, eps) = (self.cfg.num_heads, self.cfg.eps);
        let q = rms_norm(a.q.forward(x), a.norm_q.get(), eps);
        let k = rms_norm(a.k.forward(context.clone()), a.norm_k.get(), eps);
        let v = a.v.forward(context);
        let y = attention(
            split_heads(q, n),
            split_heads(k, n),
            split_heads(v, n),
            false,
        );
        a.o.forward(merge_heads(y))
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
        let e = b.modulation.get() + e0;
        let e: Vec<Tensor<3>> = (0..6).map(|k| e.clone().narrow(1, k, 1)).collect();

        let h = Self::modulate(
            layer_norm(x.clone(), None, None, eps),
            e[0].clone(),
            e[1].clone(),
        );
        let x = x + self.self_attention(&b.self_attn, h) * e[2].clone();

        let h = layer_norm(
            x.clone(),
            Some(b.norm3_weight.get()),
            Some(b.norm3_bias.get()),
            eps,
        );
        let x = x.clone() + self.cross_attention(&b.cross_attn, h, context);

        let h = Self::modulate(
            layer_norm(x.clone(), None, None, eps),
            e[3].clone(),
            e[4].clone(),
        );
        let h = gelu_tanh(b.ffn_in.forward(h));
        x + b.ffn_out.forward(h) * e[5].clone()
    }

    pub fn forward(&self, w: &WanWeights, inputs: &WanInputs) -> Tensor<5> {
        let c = &self.cfg;
        let mut x = self.patch_embed(w, inputs.latents.clone());

        // Time embedding [B, 1, dim] and its projection [B, 6, dim].
        let e = w
            .time_out
            .forward(silu(w.time_in.forward(inputs.time_freqs.clone())));
        let b = e.dims()[0];
        let e0 = w
            .time_projection
            .forward(silu(e.clone()))
            .reshape([b, 6, c.dim]);

        let context = w
            .text_out
            .forward(gelu_tanh(w.text_in.forward(inputs.context.clone())));

        for block in &w.blocks {
            x = self.block(block, x, e0.clone(), context.clone());
        }

        // Head: 2-way modulation from the (unprojected) time embedding.
        let hm = w.head_modulation.get() + e;
        let (shift, scale) = (hm.clone().narrow(1, 0, 1), hm.narrow(1, 1, 1));
        let x = Self::modulate(layer_norm(x, None, None, c.eps), shift, scale);
        self.unpatchify(w.head.forward(x))
    }

    /// Flow-matching loss: mean squared error against the velocity target, in f32.
    pub fn loss(output: Tensor<5>, target: Tensor<5>) -> Tensor<1> {
        (output.cast(DType::F32) - target).square().mean()
    }
}
