//! Wan2.1's VAE decoder (`WanVAE_.decode`, `wan/modules/vae.py`) on
//! libtorch: aten conv3d for the causal 3-D convolutions, conv2d for the
//! spatial upsampling, SDPA (or the plan's path) for the middle attention,
//! decoding chunk by chunk with the reference's frame caches.

use anyhow::Result;
use ditbench_core::AttentionPlan;
use ditbench_core::model::layout::Linear;
use ditbench_core::model::wan_vae::{
    CACHE_FRAMES, FrameCaches, Slot, VaeAttention, VaeResBlock, VaeUpsample, WanVaeConfig,
    WanVaeParams,
};
use tch::{Kind, Tensor};

use crate::ops::{AttentionPaths, attention};

/// Every parameter of the decoder, resolved once when the case is prepared.
pub type WanVaeWeights = WanVaeParams<Tensor>;

type Caches = FrameCaches<Tensor>;

pub struct WanVaeModel {
    cfg: WanVaeConfig,
    pub attention: AttentionPaths,
}

/// The last `CACHE_FRAMES` frames of `x`, with the frame before them from
/// `previous` when `x` has fewer (the reference's `cache_x`).
fn frames_to_keep(x: &Tensor, previous: Option<&Tensor>) -> Result<Tensor> {
    let t = x.size()[2];
    let keep = CACHE_FRAMES as i64;
    let last = x.f_narrow(2, (t - keep).max(0), t.min(keep))?;
    Ok(match previous {
        Some(p) if t < keep => {
            let tp = p.size()[2];
            Tensor::f_cat(&[p.f_narrow(2, tp - 1, 1)?, last], 2)?
        }
        _ => last,
    })
}

/// `CausalConv3d.forward(x, cache)`: the cached frames (or zeros) before
/// `x` so that each output frame sees only its own and earlier frames.
fn causal_conv(conv: &Linear<Tensor>, x: &Tensor, cache: Option<&Tensor>) -> Result<Tensor> {
    let size = conv.weight.size();
    let (kt, kh, kw) = (size[2], size[3], size[4]);
    let history = kt - 1;
    let x = match cache {
        Some(c) if history > 0 => Tensor::f_cat(&[c, x], 2)?,
        _ => x.shallow_clone(),
    };
    let cached = if history > 0 {
        cache.map_or(0, |c| c.size()[2])
    } else {
        0
    };
    let missing = (history - cached).max(0);
    let x = if missing > 0 {
        x.f_constant_pad_nd([0, 0, 0, 0, missing, 0])?
    } else {
        x
    };
    Ok(x.f_conv3d(
        &conv.weight,
        Some(&conv.bias),
        [1, 1, 1],
        [0, kh / 2, kw / 2],
        [1, 1, 1],
        1,
    )?)
}

/// `RMS_norm`: x / ||x|| over channels (dim 1) x sqrt(C) x gamma, in f32
/// for half-precision inputs.
fn rms_norm(x: &Tensor, gamma: &Tensor) -> Result<Tensor> {
    let kind = x.kind();
    let channels = x.size()[1];
    let xf = x.f_to_kind(Kind::Float)?;
    let norm = xf
        .f_square()?
        .f_sum_dim_intlist(1, true, Kind::Float)?
        .f_sqrt()?
        .f_clamp_min(1e-12)?;
    let y = xf.f_div(&norm)?.f_mul_scalar((channels as f64).sqrt())?;
    Ok(y.f_to_kind(kind)?.f_mul(gamma)?)
}

impl WanVaeModel {
    pub fn new(cfg: &WanVaeConfig, attention: AttentionPlan) -> Self {
        WanVaeModel {
            cfg: cfg.clone(),
            attention: AttentionPaths::new(attention),
        }
    }

    /// A causal conv whose input frames are cached for the next chunk.
    fn cached_conv(
        &self,
        conv: &Linear<Tensor>,
        x: &Tensor,
        caches: &mut Caches,
    ) -> Result<Tensor> {
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

    fn res_block(
        &self,
        b: &VaeResBlock<Tensor>,
        x: &Tensor,
        caches: &mut Caches,
    ) -> Result<Tensor> {
        let h = match &b.shortcut {
            Some(conv) => causal_conv(conv, x, None)?,
            None => x.shallow_clone(),
        };
        let y = rms_norm(x, &b.norm1)?.f_silu()?;
        let y = self.cached_conv(&b.conv1, &y, caches)?;
        let y = rms_norm(&y, &b.norm2)?.f_silu()?;
        let y = self.cached_conv(&b.conv2, &y, caches)?;
        Ok(y.f_add(&h)?)
    }

    /// [B, C, T, H, W] -> [B*T, C, H, W] and back.
    fn frames(x: &Tensor) -> Result<Tensor> {
        let s = x.size();
        Ok(x.f_permute([0, 2, 1, 3, 4])?
            .f_reshape([s[0] * s[2], s[1], s[3], s[4]])?)
    }

    fn video(x: &Tensor, batch: i64) -> Result<Tensor> {
        let s = x.size();
        Ok(x.f_reshape([batch, s[0] / batch, s[1], s[2], s[3]])?
            .f_permute([0, 2, 1, 3, 4])?)
    }

    /// `AttentionBlock`: one head over each frame's pixels.
    fn attention_block(&self, a: &VaeAttention<Tensor>, x: &Tensor) -> Result<Tensor> {
        let s = x.size();
        let (b, c, h, w) = (s[0], s[1], s[3], s[4]);
        let frames = Self::frames(x)?;
        let y = rms_norm(&frames, &a.norm)?;
        let qkv = y
            .f_conv2d(
                &a.to_qkv.weight,
                Some(&a.to_qkv.bias),
                [1, 1],
                [0, 0],
                [1, 1],
                1,
            )?
            .f_reshape([-1, 1, 3 * c, h * w])?
            .f_permute([0, 1, 3, 2])?
            .f_contiguous()?;
        let q = qkv.f_narrow(3, 0, c)?;
        let k = qkv.f_narrow(3, c, c)?;
        let v = qkv.f_narrow(3, 2 * c, c)?;
        let y = attention(&q, &k, &v, false, &self.attention, "middle")?
            .f_squeeze_dim(1)?
            .f_permute([0, 2, 1])?
            .f_reshape([-1, c, h, w])?;
        let y = y.f_conv2d(
            &a.proj.weight,
            Some(&a.proj.bias),
            [1, 1],
            [0, 0],
            [1, 1],
            1,
        )?;
        Ok(Self::video(&y, b)?.f_add(x)?)
    }

    /// `Resample` (upsample2d or upsample3d).
    fn upsample(&self, u: &VaeUpsample<Tensor>, x: &Tensor, caches: &mut Caches) -> Result<Tensor> {
        let mut x = x.shallow_clone();
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
                    let mut keep = frames_to_keep(&x, previous)?;
                    if matches!(slot, Slot::Repeat) && keep.size()[2] < CACHE_FRAMES as i64 {
                        keep = Tensor::f_cat(&[keep.f_zeros_like()?, keep.shallow_clone()], 2)?;
                    }
                    let y = causal_conv(time_conv, &x, previous)?;
                    caches.put(i, Slot::Frames(keep));
                    // [B, 2C, T, H, W]: the two halves are each frame's two successors.
                    let s = y.size();
                    let (b, c, t, h, w) = (s[0], s[1] / 2, s[2], s[3], s[4]);
                    x = y
                        .f_reshape([b, 2, c, t, h, w])?
                        .f_permute([0, 2, 3, 1, 4, 5])?
                        .f_reshape([b, c, 2 * t, h, w])?;
                }
            }
        }
        let b = x.size()[0];
        let frames = Self::frames(&x)?;
        let s = frames.size();
        // Nearest 2x: for an integer scale, 'nearest' and the reference's
        // 'nearest-exact' pick the same source pixel.
        let up = frames.f_upsample_nearest2d([2 * s[2], 2 * s[3]], Some(2.0), Some(2.0))?;
        let y = up.f_conv2d(
            &u.conv.weight,
            Some(&u.conv.bias),
            [1, 1],
            [1, 1],
            [1, 1],
            1,
        )?;
        Self::video(&y, b)
    }

    /// The decoder on one chunk of latent frames, its caches carried over.
    fn decode_chunk(&self, w: &WanVaeWeights, x: &Tensor, caches: &mut Caches) -> Result<Tensor> {
        caches.start_chunk();
        let mut x = self.cached_conv(&w.conv1, x, caches)?;
        x = self.res_block(&w.middle_in, &x, caches)?;
        x = self.attention_block(&w.middle_attention, &x)?;
        x = self.res_block(&w.middle_out, &x, caches)?;
        for stage in &w.stages {
            for block in &stage.res_blocks {
                x = self.res_block(block, &x, caches)?;
            }
            if let Some(up) = &stage.upsample {
                x = self.upsample(up, &x, caches)?;
            }
        }
        let x = rms_norm(&x, &w.head_norm)?.f_silu()?;
        self.cached_conv(&w.head, &x, caches)
    }

    /// Latents [B, z, T, h, w] -> video [B, 3, frames, H, W], decoding the
    /// latent frames in chunks of the given sizes and concatenating each
    /// chunk's frames onto the ones before, as `WanVAE_.decode` does.
    pub fn decode_in_chunks(
        &self,
        w: &WanVaeWeights,
        z: &Tensor,
        chunks: &[i64],
    ) -> Result<Tensor> {
        let x = causal_conv(&w.conv2, z, None)?;
        let mut caches = Caches::default();
        let mut out: Option<Tensor> = None;
        let mut start = 0;
        for &len in chunks {
            let chunk = self.decode_chunk(w, &x.f_narrow(2, start, len)?, &mut caches)?;
            start += len;
            out = Some(match out {
                Some(done) => Tensor::f_cat(&[done, chunk], 2)?,
                None => chunk,
            });
        }
        out.ok_or_else(|| anyhow::anyhow!("a decode needs at least one latent frame"))
    }

    /// The reference's decode: one latent frame per chunk.
    pub fn decode(&self, w: &WanVaeWeights, z: &Tensor) -> Result<Tensor> {
        let frames = self.cfg.chunks() as i64;
        self.decode_in_chunks(w, z, &vec![1; frames as usize])
    }
}
