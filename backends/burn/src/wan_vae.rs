//! Wan2.1's VAE decoder (`WanVAE_.decode`, `wan/modules/vae.py`) on Burn:
//! Burn's conv3d for the causal 3-D convolutions, conv2d and nearest
//! interpolation for the spatial upsampling, decoding chunk by chunk with
//! the reference's frame caches.

use burn::tensor::module::{conv2d, conv3d, interpolate};
use burn::tensor::ops::{ConvOptions, InterpolateMode, InterpolateOptions};
use burn::tensor::{DType, Tensor};
use ditbench_core::AttentionPlan;
use ditbench_core::model::layout::Linear;
use ditbench_core::model::wan_vae::{
    CACHE_FRAMES, FrameCaches, Slot, VaeAttention, VaeResBlock, VaeUpsample, WanVaeConfig,
    WanVaeParams,
};

use crate::ops::{Attention, silu};
use crate::weights::Param;

/// Every parameter of the decoder, resolved once when the case is prepared.
pub type WanVaeWeights = WanVaeParams<Param>;

type Caches = FrameCaches<Tensor<5>>;

pub struct WanVaeModel {
    cfg: WanVaeConfig,
    pub attention: Attention,
}

/// [B, C, T, H, W] -> [B*T, C, H, W].
fn frames(x: Tensor<5>) -> Tensor<4> {
    let [b, c, t, h, w] = x.dims();
    x.permute([0, 2, 1, 3, 4]).reshape([b * t, c, h, w])
}

/// [B*T, C, H, W] -> [B, C, T, H, W].
fn video(x: Tensor<4>, batch: usize) -> Tensor<5> {
    let [bt, c, h, w] = x.dims();
    x.reshape([batch, bt / batch, c, h, w])
        .permute([0, 2, 1, 3, 4])
}

fn conv2d_same(x: Tensor<4>, conv: &Linear<Param>) -> Tensor<4> {
    let weight = conv.weight.get::<4>();
    let pad = weight.dims()[2] / 2;
    conv2d(
        x,
        weight,
        Some(conv.bias.get()),
        ConvOptions::new([1, 1], [pad, pad], [1, 1], 1),
    )
}

/// The last `CACHE_FRAMES` frames of `x`, with the frame before them from
/// `previous` when `x` has fewer (the reference's `cache_x`).
fn frames_to_keep(x: &Tensor<5>, previous: Option<&Tensor<5>>) -> Tensor<5> {
    let t = x.dims()[2];
    let last = x
        .clone()
        .narrow(2, t.saturating_sub(CACHE_FRAMES), t.min(CACHE_FRAMES));
    match previous {
        Some(p) if t < CACHE_FRAMES => {
            let tp = p.dims()[2];
            Tensor::cat(vec![p.clone().narrow(2, tp - 1, 1), last], 2)
        }
        _ => last,
    }
}

/// `CausalConv3d.forward(x, cache)`: the cached frames (or zeros) before
/// `x` so that each output frame sees only its own and earlier frames.
fn causal_conv(conv: &Linear<Param>, x: Tensor<5>, cache: Option<&Tensor<5>>) -> Tensor<5> {
    let weight = conv.weight.get::<5>();
    let [_, _, kt, kh, kw] = weight.dims();
    let history = kt - 1;
    let x = if history == 0 {
        x
    } else {
        let cached = cache.map_or(0, |c| c.dims()[2]);
        let mut parts = Vec::new();
        if cached < history {
            let [b, c, _, h, w] = x.dims();
            parts.push(
                Tensor::<5>::zeros([b, c, history - cached, h, w], &x.device()).cast(x.dtype()),
            );
        }
        if let Some(c) = cache {
            parts.push(c.clone());
        }
        parts.push(x);
        Tensor::cat(parts, 2)
    };
    conv3d(
        x,
        weight,
        Some(conv.bias.get()),
        ConvOptions::new([1, 1, 1], [0, kh / 2, kw / 2], [1, 1, 1], 1),
    )
}

/// `RMS_norm`: x / max(||x||, 1e-12) over channels (dim 1) x sqrt(C) x
/// gamma, in f32 for half-precision inputs.
fn rms_norm<const D: usize>(x: Tensor<D>, gamma: Tensor<D>) -> Tensor<D> {
    let dtype = x.dtype();
    let channels = x.dims()[1];
    let xf = if dtype == DType::F32 {
        x
    } else {
        x.cast(DType::F32)
    };
    let norm = xf.clone().square().sum_dim(1).sqrt().clamp_min(1e-12);
    let y = (xf / norm).mul_scalar((channels as f64).sqrt());
    let y = if dtype == DType::F32 {
        y
    } else {
        y.cast(dtype)
    };
    y * gamma
}

/// A video norm's gamma [C, 1, 1, 1] as [1, C, 1, 1, 1].
fn video_gamma(gamma: &Param) -> Tensor<5> {
    gamma.get::<4>().unsqueeze::<5>()
}

impl WanVaeModel {
    pub fn new(cfg: &WanVaeConfig, attention: AttentionPlan) -> Self {
        WanVaeModel {
            cfg: cfg.clone(),
            attention: Attention::new(attention),
        }
    }

    /// A causal conv whose input frames are cached for the next chunk.
    fn cached_conv(conv: &Linear<Param>, x: Tensor<5>, caches: &mut Caches) -> Tensor<5> {
        let (i, slot) = caches.take();
        let previous = match &slot {
            Slot::Frames(t) => Some(t),
            _ => None,
        };
        let keep = frames_to_keep(&x, previous);
        let y = causal_conv(conv, x, previous);
        caches.put(i, Slot::Frames(keep));
        y
    }

    fn res_block(b: &VaeResBlock<Param>, x: Tensor<5>, caches: &mut Caches) -> Tensor<5> {
        let h = match &b.shortcut {
            Some(conv) => causal_conv(conv, x.clone(), None),
            None => x.clone(),
        };
        let y = silu(rms_norm(x, video_gamma(&b.norm1)));
        let y = Self::cached_conv(&b.conv1, y, caches);
        let y = silu(rms_norm(y, video_gamma(&b.norm2)));
        Self::cached_conv(&b.conv2, y, caches) + h
    }

    /// `AttentionBlock`: one head over each frame's pixels.
    fn attention_block(&self, a: &VaeAttention<Param>, x: Tensor<5>) -> Tensor<5> {
        let [b, c, _, h, w] = x.dims();
        // An image norm's gamma [C, 1, 1] as [1, C, 1, 1].
        let y = rms_norm(frames(x.clone()), a.norm.get::<3>().unsqueeze::<4>());
        let qkv = conv2d_same(y, &a.to_qkv);
        let n = qkv.dims()[0];
        let qkv = qkv.reshape([n, 1, 3 * c, h * w]).swap_dims(2, 3);
        let q = qkv.clone().narrow(3, 0, c);
        let k = qkv.clone().narrow(3, c, c);
        let v = qkv.narrow(3, 2 * c, c);
        let y = self
            .attention
            .run(q, k, v, false)
            .reshape([n, h * w, c])
            .swap_dims(1, 2)
            .reshape([n, c, h, w]);
        video(conv2d_same(y, &a.proj), b) + x
    }

    /// `Resample` (upsample2d or upsample3d).
    fn upsample(u: &VaeUpsample<Param>, x: Tensor<5>, caches: &mut Caches) -> Tensor<5> {
        let mut x = x;
        if let Some(time_conv) = &u.time_conv {
            let (i, slot) = caches.take();
            match slot {
                // The first chunk's frame is not doubled.
                Slot::Empty => caches.put(i, Slot::Repeat),
                Slot::Repeat | Slot::Frames(_) => {
                    let previous = match &slot {
                        Slot::Frames(t) => Some(t),
                        _ => None,
                    };
                    let mut keep = frames_to_keep(&x, previous);
                    if previous.is_none() && keep.dims()[2] < CACHE_FRAMES {
                        keep = Tensor::cat(vec![keep.zeros_like(), keep], 2);
                    }
                    let y = causal_conv(time_conv, x, previous);
                    caches.put(i, Slot::Frames(keep));
                    // [B, 2C, T, H, W]: the two halves are each frame's two
                    // successors; interleaved as [B, C, T, 2, H*W].
                    let [b, c2, t, h, w] = y.dims();
                    let c = c2 / 2;
                    x = y
                        .reshape([b, 2, c * t, h * w])
                        .swap_dims(1, 2)
                        .reshape([b, c, t, 2, h * w])
                        .reshape([b, c, 2 * t, h, w]);
                }
            }
        }
        let b = x.dims()[0];
        let f = frames(x);
        let [_, _, h, w] = f.dims();
        // Nearest 2x: for an integer scale, 'nearest' and the reference's
        // 'nearest-exact' pick the same source pixel (burn-flex has no
        // nearest-exact kernel).
        let up = interpolate(
            f,
            InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([2 * h, 2 * w]),
        );
        video(conv2d_same(up, &u.conv), b)
    }

    /// The decoder on one chunk of latent frames, its caches carried over.
    fn decode_chunk(&self, w: &WanVaeWeights, x: Tensor<5>, caches: &mut Caches) -> Tensor<5> {
        caches.start_chunk();
        let mut x = Self::cached_conv(&w.conv1, x, caches);
        x = Self::res_block(&w.middle_in, x, caches);
        x = self.attention_block(&w.middle_attention, x);
        x = Self::res_block(&w.middle_out, x, caches);
        for stage in &w.stages {
            for block in &stage.res_blocks {
                x = Self::res_block(block, x, caches);
            }
            if let Some(up) = &stage.upsample {
                x = Self::upsample(up, x, caches);
            }
        }
        let x = silu(rms_norm(x, video_gamma(&w.head_norm)));
        Self::cached_conv(&w.head, x, caches)
    }

    /// Latents [B, z, T, h, w] -> video [B, 3, frames, H, W], decoding the
    /// latent frames in chunks of the given sizes and concatenating each
    /// chunk's frames onto the ones before, as `WanVAE_.decode` does.
    pub fn decode_in_chunks(&self, w: &WanVaeWeights, z: Tensor<5>, chunks: &[usize]) -> Tensor<5> {
        let x = causal_conv(&w.conv2, z, None);
        let mut caches = Caches::default();
        let mut out: Option<Tensor<5>> = None;
        let mut start = 0;
        for &len in chunks {
            let chunk = self.decode_chunk(w, x.clone().narrow(2, start, len), &mut caches);
            start += len;
            out = Some(match out {
                Some(done) => Tensor::cat(vec![done, chunk], 2),
                None => chunk,
            });
        }
        out.expect("a decode has at least one latent frame")
    }

    /// The reference's decode: one latent frame per chunk.
    pub fn decode(&self, w: &WanVaeWeights, z: Tensor<5>) -> Tensor<5> {
        self.decode_in_chunks(w, z, &vec![1; self.cfg.chunks()])
    }
}
