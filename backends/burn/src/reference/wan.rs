//! A Wan2.1 DiT of `burn::nn` modules, as a Burn user composes one: Conv3d
//! patch embedding, Linear, Gelu (tanh), LayerNorm, RmsNorm across heads,
//! RotaryEncoding holding Wan's 3-D table, and Burn's attention op.

use anyhow::Result;
use burn::module::Param;
use burn::nn::conv::{Conv3d, Conv3dConfig};
use burn::nn::loss::{MseLoss, Reduction};
use burn::nn::{Gelu, LayerNorm, Linear, RmsNorm, RotaryEncoding};
use burn::tensor::activation::silu;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{DType, Tensor};
use ditbench_core::HostTensor;
use ditbench_core::model::tables::wan_rope;
use ditbench_core::model::workload::WanConfig;

use super::NnModel;
use super::load::{Leaf, Loader};
use crate::Output;
use crate::ops::float_tensor;
use crate::wan::{WanModel, unpatchify};

struct Attn {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    norm_q: RmsNorm,
    norm_k: RmsNorm,
}

struct Block {
    norm1: LayerNorm,
    self_attn: Attn,
    norm3: LayerNorm,
    cross_attn: Attn,
    norm2: LayerNorm,
    ffn_in: Linear,
    ffn_out: Linear,
    modulation: Param<Tensor<3>>,
}

pub(crate) struct NnWan {
    cfg: WanConfig,
    patch: Conv3d,
    text_in: Linear,
    text_out: Linear,
    time_in: Linear,
    time_out: Linear,
    time_projection: Linear,
    blocks: Vec<Block>,
    head_norm: LayerNorm,
    head: Linear,
    head_modulation: Param<Tensor<3>>,
    rope: RotaryEncoding,
    gelu: Gelu,
    latents: Tensor<5>,
    time_freqs: Tensor<3>,
    context: Tensor<3>,
    target: Tensor<5>,
    params: Vec<(String, Leaf)>,
}

fn attn(loader: &Loader, prefix: &str, eps: f64) -> Result<Attn> {
    let lin = |name: &str| loader.linear(&format!("{prefix}.{name}"), true, None);
    Ok(Attn {
        q: lin("q")?,
        k: lin("k")?,
        v: lin("v")?,
        o: lin("o")?,
        norm_q: loader.rms_norm(&format!("{prefix}.norm_q.weight"), eps)?,
        norm_k: loader.rms_norm(&format!("{prefix}.norm_k.weight"), eps)?,
    })
}

fn upload<const D: usize>(t: &HostTensor, dtype: DType, loader: &Loader) -> Result<Tensor<D>> {
    let shape: [usize; D] = t.shape.as_slice().try_into()?;
    Ok(float_tensor(
        t.as_f32()?.to_vec(),
        shape,
        dtype,
        &loader.device,
    ))
}

impl NnWan {
    pub fn new(
        loader: &Loader,
        c: &WanConfig,
        latents: &HostTensor,
        timesteps: &[f32],
        context: &HostTensor,
        target: &HostTensor,
    ) -> Result<Self> {
        let (eps, dim) = (c.eps, c.dim);
        let lin = |name: &str| loader.linear(name, true, None);
        let mut patch = Conv3dConfig::new([c.in_dim, dim], c.patch_size)
            .with_stride(c.patch_size)
            .init(&loader.device);
        patch.weight = loader.tensor("patch_embedding.weight")?;
        patch.bias = Some(loader.tensor("patch_embedding.bias")?);
        let blocks = (0..c.num_layers)
            .map(|i| {
                let p = format!("blocks.{i}");
                Ok(Block {
                    norm1: loader.layer_norm(None, dim, eps)?,
                    self_attn: attn(loader, &format!("{p}.self_attn"), eps)?,
                    norm3: loader.layer_norm(Some(&format!("{p}.norm3")), dim, eps)?,
                    cross_attn: attn(loader, &format!("{p}.cross_attn"), eps)?,
                    norm2: loader.layer_norm(None, dim, eps)?,
                    ffn_in: lin(&format!("{p}.ffn.0"))?,
                    ffn_out: lin(&format!("{p}.ffn.2"))?,
                    modulation: loader.tensor(&format!("{p}.modulation"))?,
                })
            })
            .collect::<Result<_>>()?;
        let mut model = NnWan {
            cfg: c.clone(),
            patch,
            text_in: lin("text_embedding.0")?,
            text_out: lin("text_embedding.2")?,
            time_in: lin("time_embedding.0")?,
            time_out: lin("time_embedding.2")?,
            time_projection: lin("time_projection.1")?,
            blocks,
            head_norm: loader.layer_norm(None, dim, eps)?,
            head: lin("head.head")?,
            head_modulation: loader.tensor("head.modulation")?,
            rope: loader.rope(&wan_rope(c)),
            gelu: Gelu::new_approximate(),
            latents: upload(latents, loader.dtype, loader)?,
            time_freqs: WanModel::time_freqs(c, timesteps, loader.dtype, &loader.device),
            context: upload(context, loader.dtype, loader)?,
            target: upload(target, DType::F32, loader)?,
            params: Vec::new(),
        };
        model.params = loader.loaded();
        Ok(model)
    }

    fn heads(&self, x: Tensor<3>) -> Tensor<4> {
        let [b, s, _] = x.dims();
        let n = self.cfg.num_heads;
        x.reshape([b, s, n, self.cfg.dim / n]).swap_dims(1, 2)
    }

    fn attend(&self, q: Tensor<4>, k: Tensor<4>, v: Tensor<4>) -> Tensor<3> {
        let options = AttentionModuleOptions {
            scale: None,
            softcap: None,
            is_causal: false,
        };
        let [b, _, s, _] = q.dims();
        attention(q, k, v, None, None, options)
            .swap_dims(1, 2)
            .reshape([b, s, self.cfg.dim])
    }

    fn self_attention(&self, a: &Attn, x: Tensor<3>) -> Tensor<3> {
        let q = self
            .rope
            .forward(self.heads(a.norm_q.forward(a.q.forward(x.clone()))));
        let k = self
            .rope
            .forward(self.heads(a.norm_k.forward(a.k.forward(x.clone()))));
        let v = self.heads(a.v.forward(x));
        a.o.forward(self.attend(q, k, v))
    }

    fn cross_attention(&self, a: &Attn, x: Tensor<3>, context: Tensor<3>) -> Tensor<3> {
        let q = self.heads(a.norm_q.forward(a.q.forward(x)));
        let k = self.heads(a.norm_k.forward(a.k.forward(context.clone())));
        let v = self.heads(a.v.forward(context));
        a.o.forward(self.attend(q, k, v))
    }

    fn block(&self, b: &Block, x: Tensor<3>, e0: Tensor<3>, context: Tensor<3>) -> Tensor<3> {
        let e = b.modulation.val() + e0;
        let e: Vec<Tensor<3>> = (0..6).map(|k| e.clone().narrow(1, k, 1)).collect();
        let h = b.norm1.forward(x.clone()) * (e[1].clone() + 1.0) + e[0].clone();
        let x = x + self.self_attention(&b.self_attn, h) * e[2].clone();
        let x = x.clone() + self.cross_attention(&b.cross_attn, b.norm3.forward(x), context);
        let h = b.norm2.forward(x.clone()) * (e[4].clone() + 1.0) + e[3].clone();
        let y = b.ffn_out.forward(self.gelu.forward(b.ffn_in.forward(h)));
        x + y * e[5].clone()
    }
}

impl NnModel for NnWan {
    fn forward(&self) -> Output {
        let c = &self.cfg;
        let patches = self.patch.forward(self.latents.clone());
        let [b, dim, f, h, w] = patches.dims();
        let mut x = patches.reshape([b, dim, f * h * w]).swap_dims(1, 2);
        let e = self
            .time_out
            .forward(silu(self.time_in.forward(self.time_freqs.clone())));
        let e0 = self
            .time_projection
            .forward(silu(e.clone()))
            .reshape([b, 6, c.dim]);
        let context = self.text_out.forward(
            self.gelu
                .forward(self.text_in.forward(self.context.clone())),
        );
        for block in &self.blocks {
            x = self.block(block, x, e0.clone(), context.clone());
        }
        let hm = self.head_modulation.val() + e;
        let (shift, scale) = (hm.clone().narrow(1, 0, 1), hm.narrow(1, 1, 1));
        let x = self.head_norm.forward(x) * (scale + 1.0) + shift;
        Output::Video(unpatchify(c, self.head.forward(x)))
    }

    fn loss(&self, out: &Output) -> Tensor<1> {
        let Output::Video(video) = out else {
            panic!("Wan's output is a video");
        };
        MseLoss::new().forward(
            video.clone().cast(DType::F32),
            self.target.clone(),
            Reduction::Mean,
        )
    }

    fn params(&self) -> &[(String, Leaf)] {
        &self.params
    }

    fn attention(&self) -> String {
        "burn::tensor::module::attention (Burn's attention op)".into()
    }
}
