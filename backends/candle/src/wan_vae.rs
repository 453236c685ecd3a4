//! Wan2.1's VAE decoder (`WanVAE_.decode`, `wan/modules/vae.py`) in Candle,
//! decoding chunk by chunk with the reference's frame caches. Candle has no
//! 3-D convolution: each causal conv3d is the sum over its temporal taps of
//! a conv2d on the frames that tap reads (every frame in the batch axis).

use candle_core::{D, DType, Result, Tensor};
use ditbench_core::AttentionPlan;
use ditbench_core::model::layout::Linear;
use ditbench_core::model::wan_vae::{
    CACHE_FRAMES, FrameCaches, Slot, VaeAttention, VaeResBlock, VaeUpsample, WanVaeConfig,
    WanVaeParams,
};

use crate::ops::{AttentionPaths, Mode};

/// Every parameter of the decoder, resolved once when the case is prepared.
pub type WanVaeWeights = WanVaeParams<Tensor>;

type Caches = FrameCaches<Tensor>;

pub struct WanVaeModel {
    cfg: WanVaeConfig,
    pub attention: AttentionPaths,
}

/// [B, C, T, H, W] -> [B*T, C, H, W].
fn frames(x: &Tensor) -> Result<Tensor> {
    let (b, c, t, h, w) = x.dims5()?;
    x.permute((0, 2, 1, 3, 4))?
        .contiguous()?
        .reshape((b * t, c, h, w))
}

/// [B*T, C, H, W] -> [B, C, T, H, W].
fn video(x: &Tensor, batch: usize) -> Result<Tensor> {
    let (bt, c, h, w) = x.dims4()?;
    x.reshape((batch, bt / batch, c, h, w))?
        .permute((0, 2, 1, 3, 4))?
        .contiguous()
}

/// `x.conv2d(kernel)` with `pad`; on the CPU in bf16, widened to f32 and
/// rounded back (candle's CPU conv2d has no bf16 kernel).
fn conv2d_raw(x: &Tensor, kernel: &Tensor, pad: usize) -> Result<Tensor> {
    let kernel = kernel.contiguous()?;
    if x.dtype() == DType::BF16 && x.device().is_cpu() {
        return x
            .to_dtype(DType::F32)?
            .conv2d(&kernel.to_dtype(DType::F32)?, pad, 1, 1, 1)?
            .to_dtype(DType::BF16);
    }
    x.conv2d(&kernel, pad, 1, 1, 1)
}

/// A conv2d's weight [O, C, kh, kw] and bias over frames [N, C, H, W],
/// zero padding that keeps the size.
fn conv2d(x: &Tensor, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
    let pad = weight.dim(2)? / 2;
    conv2d_raw(x, weight, pad)?.broadcast_add(&bias.reshape((1, (), 1, 1))?)
}

/// A conv3d of kernel [O, C, kt, kh, kw] over frames already padded in
/// time: sum over the kt taps of a conv2d on the frames each tap reads.
fn conv3d(x: &Tensor, conv: &Linear<Tensor>) -> Result<Tensor> {
    let (b, _, t, _, _) = x.dims5()?;
    let (o, c, kt, kh, kw) = conv.weight.dims5()?;
    let t_out = t + 1 - kt;
    let pad = kh / 2;
    let by_frame = x.permute((0, 2, 1, 3, 4))?.contiguous()?;
    let (h, w) = (by_frame.dim(3)?, by_frame.dim(4)?);
    let mut sum: Option<Tensor> = None;
    for tap in 0..kt {
        let input = by_frame
            .narrow(1, tap, t_out)?
            .contiguous()?
            .reshape((b * t_out, c, h, w))?;
        let kernel = conv.weight.narrow(2, tap, 1)?.reshape((o, c, kh, kw))?;
        let y = conv2d_raw(&input, &kernel, pad)?;
        sum = Some(match sum {
            Some(s) => (s + y)?,
            None => y,
        });
    }
    let y = sum
        .expect("a kernel has at least one tap")
        .broadcast_add(&conv.bias.reshape((1, o, 1, 1))?)?;
    video(&y, b)
}

/// The last `CACHE_FRAMES` frames of `x`, with the frame before them from
/// `previous` when `x` has fewer (the reference's `cache_x`).
fn frames_to_keep(x: &Tensor, previous: Option<&Tensor>) -> Result<Tensor> {
    let t = x.dim(2)?;
    let last = x.narrow(2, t.saturating_sub(CACHE_FRAMES), t.min(CACHE_FRAMES))?;
    match previous {
        Some(p) if t < CACHE_FRAMES => Tensor::cat(&[&p.narrow(2, p.dim(2)? - 1, 1)?, &last], 2),
        _ => Ok(last),
    }
}

/// `CausalConv3d.forward(x, cache)`: the cached frames (or zeros) before
/// `x` so that each output frame sees only its own and earlier frames.
fn causal_conv(conv: &Linear<Tensor>, x: &Tensor, cache: Option<&Tensor>) -> Result<Tensor> {
    let history = conv.weight.dim(2)? - 1;
    if history == 0 {
        return conv3d(x, conv);
    }
    let mut parts = Vec::new();
    let cached = cache.map_or(Ok(0), |c| c.dim(2))?;
    if cached < history {
        let (b, c, _, h, w) = x.dims5()?;
        parts.push(Tensor::zeros(
            (b, c, history - cached, h, w),
            x.dtype(),
            x.device(),
        )?);
    }
    if let Some(c) = cache {
        parts.push(c.clone());
    }
    parts.push(x.clone());
    conv3d(&Tensor::cat(&parts, 2)?, conv)
}

/// `RMS_norm`: x / max(||x||, 1e-12) over channels (dim 1) x sqrt(C) x
/// gamma, in f32 for half-precision inputs.
fn rms_norm(x: &Tensor, gamma: &Tensor) -> Result<Tensor> {
    let dtype = x.dtype();
    let channels = x.dim(1)?;
    let xf = x.to_dtype(DType::F32)?;
    let norm = xf.sqr()?.sum_keepdim(1)?.sqrt()?.maximum(1e-12)?;
    let y = (xf.broadcast_div(&norm)? * (channels as f64).sqrt())?;
    let gamma = gamma.reshape(gamma_shape(x.rank(), channels))?;
    y.to_dtype(dtype)?.broadcast_mul(&gamma)
}

/// A gamma [C, 1, ...] broadcast over [B, C, ...] of `rank` dims.
fn gamma_shape(rank: usize, channels: usize) -> Vec<usize> {
    let mut shape = vec![1; rank];
    shape[1] = channels;
    shape
}

impl WanVaeModel {
    pub fn new(cfg: &WanVaeConfig, attention: AttentionPlan) -> Result<Self> {
        Ok(WanVaeModel {
            cfg: cfg.clone(),
            attention: AttentionPaths::new(attention)?,
        })
    }

    /// A causal conv whose input frames are cached for the next chunk.
    fn cached_conv(conv: &Linear<Tensor>, x: &Tensor, caches: &mut Caches) -> Result<Tensor> {
        let (i, slot) = caches.take();
        let previous = match &slot {
            Slot::Frames(t) => Some(t),
            _ => None,
        };
        let keep = frames_to_keep(x, previous)?;
        let y = causal_conv(conv, x, previous)?;
        caches.put(i, Slot::Frames(keep));
        Ok(y)
    }

    fn res_block(b: &VaeResBlock<Tensor>, x: &Tensor, caches: &mut Caches) -> Result<Tensor> {
        let h = match &b.shortcut {
            Some(conv) => causal_conv(conv, x, None)?,
            None => x.clone(),
        };
        let y = rms_norm(x, &b.norm1)?.silu()?;
        let y = Self::cached_conv(&b.conv1, &y, caches)?;
        let y = rms_norm(&y, &b.norm2)?.silu()?;
        let y = Self::cached_conv(&b.conv2, &y, caches)?;
        y + h
    }

    /// `AttentionBlock`: one head over each frame's pixels.
    fn attention_block(&self, a: &VaeAttention<Tensor>, x: &Tensor) -> Result<Tensor> {
        let (b, c, _, h, w) = x.dims5()?;
        let y = rms_norm(&frames(x)?, &a.norm)?;
        let qkv = conv2d(&y, &a.to_qkv.weight, &a.to_qkv.bias)?
            .reshape(((), 1, 3 * c, h * w))?
            .transpose(2, 3)?
            .contiguous()?;
        let q = qkv.narrow(D::Minus1, 0, c)?;
        let k = qkv.narrow(D::Minus1, c, c)?;
        let v = qkv.narrow(D::Minus1, 2 * c, c)?;
        let y = self
            .attention
            .attention(&q, &k, &v, None, Mode::Inference)?
            .squeeze(1)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape(((), c, h, w))?;
        let y = conv2d(&y, &a.proj.weight, &a.proj.bias)?;
        video(&y, b)? + x
    }

    /// `Resample` (upsample2d or upsample3d).
    fn upsample(u: &VaeUpsample<Tensor>, x: &Tensor, caches: &mut Caches) -> Result<Tensor> {
        let mut x = x.clone();
        if let Some(time_conv) = &u.time_conv {
            let (i, slot) = caches.take();
            let previous = match &slot {
                Slot::Frames(t) => Some(t.clone()),
                _ => None,
            };
            match slot {
                // The first chunk's frame is not doubled.
                Slot::Empty => caches.put(i, Slot::Repeat),
                Slot::Repeat | Slot::Frames(_) => {
                    let mut keep = frames_to_keep(&x, previous.as_ref())?;
                    if previous.is_none() && keep.dim(2)? < CACHE_FRAMES {
                        keep = Tensor::cat(&[&keep.zeros_like()?, &keep], 2)?;
                    }
                    let y = causal_conv(time_conv, &x, previous.as_ref())?;
                    caches.put(i, Slot::Frames(keep));
                    // [B, 2C, T, H, W]: the two halves are each frame's two successors.
                    let (b, c2, t, h, w) = y.dims5()?;
                    let c = c2 / 2;
                    x = y
                        .reshape(vec![b, 2, c, t, h, w])?
                        .permute(vec![0, 2, 3, 1, 4, 5])?
                        .contiguous()?
                        .reshape((b, c, 2 * t, h, w))?;
                }
            }
        }
        let b = x.dim(0)?;
        let f = frames(&x)?;
        let (_, _, h, w) = f.dims4()?;
        // Nearest 2x: for an integer scale, 'nearest' and the reference's
        // 'nearest-exact' pick the same source pixel.
        let up = f.upsample_nearest2d(2 * h, 2 * w)?;
        video(&conv2d(&up, &u.conv.weight, &u.conv.bias)?, b)
    }

    /// The decoder on one chunk of latent frames, its caches carried over.
    fn decode_chunk(&self, w: &WanVaeWeights, x: &Tensor, caches: &mut Caches) -> Result<Tensor> {
        caches.start_chunk();
        let mut x = Self::cached_conv(&w.conv1, x, caches)?;
        x = Self::res_block(&w.middle_in, &x, caches)?;
        x = self.attention_block(&w.middle_attention, &x)?;
        x = Self::res_block(&w.middle_out, &x, caches)?;
        for stage in &w.stages {
            for block in &stage.res_blocks {
                x = Self::res_block(block, &x, caches)?;
            }
            if let Some(up) = &stage.upsample {
                x = Self::upsample(up, &x, caches)?;
            }
        }
        let x = rms_norm(&x, &w.head_norm)?.silu()?;
        Self::cached_conv(&w.head, &x, caches)
    }

    /// Latents [B, z, T, h, w] -> video [B, 3, frames, H, W], decoding the
    /// latent frames in chunks of the given sizes and concatenating each
    /// chunk's frames onto the ones before, as `WanVAE_.decode` does.
    pub fn decode_in_chunks(
        &self,
        w: &WanVaeWeights,
        z: &Tensor,
        chunks: &[usize],
    ) -> Result<Tensor> {
        let x = causal_conv(&w.conv2, z, None)?;
        let mut caches = Caches::default();
        let mut out: Option<Tensor> = None;
        let mut start = 0;
        for &len in chunks {
            let chunk = self.decode_chunk(w, &x.narrow(2, start, len)?, &mut caches)?;
            start += len;
            out = Some(match out {
                Some(done) => Tensor::cat(&[&done, &chunk], 2)?,
                None => chunk,
            });
        }
        out.ok_or_else(|| {
            candle_core::Error::Msg("a decode needs at least one latent frame".into())
        })
    }

    /// The reference's decode: one latent frame per chunk.
    pub fn decode(&self, w: &WanVaeWeights, z: &Tensor) -> Result<Tensor> {
        self.decode_in_chunks(w, z, &vec![1; self.cfg.chunks()])
    }
}
