//! The decoder half of Wan2.1's video VAE (`_video_vae` in `wan/modules/vae.py`:
//! `WanVAE_.conv2` and `Decoder3d`): configuration, parameter inventory with
//! the reference's state-dict names (in [`crate::model::params`]), typed
//! layout, and the chunk-by-chunk shapes its FLOPs and memory follow.
//!
//! The reference decodes one latent frame at a time: each causal 3-D
//! convolution keeps the last two frames of its input from the chunk before
//! (`CACHE_T = 2`), and a temporal upsample leaves the first chunk's frame
//! single and doubles every later chunk's. So 21 latent frames become
//! 1 + 20 x 4 = 81 video frames, and peak memory is one chunk's.

use serde::{Deserialize, Serialize};

use crate::model::layout::Linear;
use crate::model::limits::{ConfigError, bail, positive_within_ceilings};

/// Frames of input a causal temporal convolution keeps from the chunk
/// before (the reference's `CACHE_T`).
pub const CACHE_FRAMES: usize = 2;

/// `_video_vae`'s decoder configuration plus the clip it decodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WanVaeConfig {
    /// Base channel width (`dim`, 96 in Wan2.1).
    pub dim: usize,
    /// Latent channels (`z_dim`).
    pub z_dim: usize,
    /// Channel multipliers per resolution, encoder order (`dim_mult`).
    pub dim_mult: Vec<usize>,
    /// Residual blocks per encoder stage; the decoder runs one more.
    pub num_res_blocks: usize,
    /// Which decoder upsampling stages double frames (`temperal_upsample`,
    /// the reverse of the encoder's `temperal_downsample`).
    pub temporal_upsample: Vec<bool>,
    /// Video frames decoded (the latent holds (frames - 1) / t_stride + 1).
    pub frames: usize,
    /// Video height and width in pixels.
    pub height: usize,
    pub width: usize,
    /// Clips per pass.
    pub batch: usize,
}

/// The upsample at the end of a decoder stage: `Resample` in mode
/// `upsample3d` (`temporal`) or `upsample2d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upsample {
    pub channels: usize,
    pub temporal: bool,
}

/// One decoder stage: residual blocks (in, out channels), then its upsample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecoderStage {
    pub res_blocks: Vec<(usize, usize)>,
    pub upsample: Option<Upsample>,
}

impl WanVaeConfig {
    /// Spatial compression: each stage but the last doubles height and width.
    pub fn spatial_stride(&self) -> usize {
        // Saturating: a results file's configuration is read unvalidated.
        let doublings = self.dim_mult.len().saturating_sub(1);
        1usize.checked_shl(doublings as u32).unwrap_or(usize::MAX)
    }

    /// Temporal compression: each temporal upsample doubles frames.
    pub fn temporal_stride(&self) -> usize {
        let doublings = self.temporal_upsample.iter().filter(|&&t| t).count();
        1usize.checked_shl(doublings as u32).unwrap_or(usize::MAX)
    }

    /// Latent shape (frames, height, width) the decoder takes.
    pub fn latent_shape(&self) -> [usize; 3] {
        [
            self.frames.saturating_sub(1) / self.temporal_stride() + 1,
            self.height / self.spatial_stride().max(1),
            self.width / self.spatial_stride().max(1),
        ]
    }

    /// Latent frames: the chunks a decode runs.
    pub fn chunks(&self) -> usize {
        self.latent_shape()[0]
    }

    /// Channels at each resolution, decoder order: `dims` of `Decoder3d`.
    pub fn decoder_dims(&self) -> Vec<usize> {
        let last = *self.dim_mult.last().unwrap_or(&1);
        std::iter::once(last)
            .chain(self.dim_mult.iter().rev().copied())
            .map(|m| self.dim.saturating_mul(m))
            .collect()
    }

    /// The decoder's stages as `Decoder3d.__init__` builds them: every
    /// stage after the first starts from half the channels, the previous
    /// stage's upsample having halved them.
    pub fn decoder_stages(&self) -> Vec<DecoderStage> {
        let dims = self.decoder_dims();
        let Some(last) = dims.len().checked_sub(2) else {
            return Vec::new();
        };
        (0..=last)
            .map(|i| {
                let (mut input, out) = (dims[i], dims[i + 1]);
                if i > 0 {
                    input /= 2;
                }
                let res_blocks = (0..=self.num_res_blocks)
                    .map(|r| (if r == 0 { input } else { out }, out))
                    .collect();
                let upsample = (i != last).then(|| Upsample {
                    channels: out,
                    temporal: self.temporal_upsample.get(i).copied().unwrap_or(false),
                });
                DecoderStage {
                    res_blocks,
                    upsample,
                }
            })
            .collect()
    }

    /// The same decoder over the first `chunks` latent frames.
    pub fn with_chunks(&self, chunks: usize) -> WanVaeConfig {
        WanVaeConfig {
            frames: (chunks.max(1) - 1) * self.temporal_stride() + 1,
            ..self.clone()
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("dim", self.dim),
            ("z_dim", self.z_dim),
            ("frames", self.frames),
            ("height", self.height),
            ("width", self.width),
            ("batch", self.batch),
        ];
        positive_within_ceilings(&positive)?;
        if self.dim_mult.len() < 2 || self.dim_mult.contains(&0) || self.dim_mult.len() > 8 {
            return bail("dim_mult needs 2 to 8 positive multipliers");
        }
        if self.temporal_upsample.len() + 1 != self.dim_mult.len() {
            return bail("temporal_upsample needs one entry per upsampling stage");
        }
        if self.decoder_dims().iter().skip(1).any(|d| d % 2 != 0) {
            return bail("every decoder width must be even (upsamples halve them)");
        }
        let t = self.temporal_stride();
        if !(self.frames - 1).is_multiple_of(t) {
            let n = (self.frames - 1) / t;
            return bail(format!(
                "frames = {}: Wan's video VAE decodes {t}n+1 frames (e.g. {} or {})",
                self.frames,
                n * t + 1,
                (n + 1) * t + 1
            ));
        }
        let s = self.spatial_stride();
        for (axis, pixels) in [("height", self.height), ("width", self.width)] {
            if !pixels.is_multiple_of(s) {
                return bail(format!(
                    "{axis} = {pixels} must be a multiple of the VAE's spatial stride {s}"
                ));
            }
        }
        Ok(())
    }
}

/// A `ResidualBlock`: RMS norm, SiLU, causal conv, RMS norm, SiLU, causal
/// conv, plus the input (through a 1x1x1 causal conv where widths differ).
#[derive(Debug, Clone, PartialEq)]
pub struct VaeResBlock<T> {
    pub norm1: T,
    pub conv1: Linear<T>,
    pub norm2: T,
    pub conv2: Linear<T>,
    pub shortcut: Option<Linear<T>>,
}

/// The middle `AttentionBlock`: one head over each frame's pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct VaeAttention<T> {
    pub norm: T,
    pub to_qkv: Linear<T>,
    pub proj: Linear<T>,
}

/// A `Resample` upsample: the temporal conv (upsample3d only), then nearest
/// 2x and a 3x3 conv that halves the channels.
#[derive(Debug, Clone, PartialEq)]
pub struct VaeUpsample<T> {
    pub time_conv: Option<Linear<T>>,
    pub conv: Linear<T>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VaeStage<T> {
    pub res_blocks: Vec<VaeResBlock<T>>,
    pub upsample: Option<VaeUpsample<T>>,
}

/// Every parameter of the decoder.
#[derive(Debug, Clone, PartialEq)]
pub struct WanVaeParams<T> {
    /// `WanVAE_.conv2`: the 1x1x1 conv over the whole latent before decoding.
    pub conv2: Linear<T>,
    pub conv1: Linear<T>,
    pub middle_in: VaeResBlock<T>,
    pub middle_attention: VaeAttention<T>,
    pub middle_out: VaeResBlock<T>,
    pub stages: Vec<VaeStage<T>>,
    pub head_norm: T,
    pub head: Linear<T>,
}

impl<T> VaeResBlock<T> {
    fn resolve<E>(
        name: &str,
        widths: (usize, usize),
        get: &mut impl FnMut(&str) -> Result<T, E>,
    ) -> Result<Self, E> {
        Ok(VaeResBlock {
            norm1: get(&format!("{name}.residual.0.gamma"))?,
            conv1: Linear::resolve(&format!("{name}.residual.2"), get)?,
            norm2: get(&format!("{name}.residual.3.gamma"))?,
            conv2: Linear::resolve(&format!("{name}.residual.6"), get)?,
            shortcut: match widths.0 != widths.1 {
                true => Some(Linear::resolve(&format!("{name}.shortcut"), get)?),
                false => None,
            },
        })
    }
}

impl<T> WanVaeParams<T> {
    /// Resolve every parameter once through `get` (name -> handle).
    pub fn resolve<E>(
        c: &WanVaeConfig,
        mut get: impl FnMut(&str) -> Result<T, E>,
    ) -> Result<Self, E> {
        let get = &mut get;
        let top = c.decoder_dims()[0];
        let mut index = 0;
        let mut stages = Vec::new();
        for stage in c.decoder_stages() {
            let mut res_blocks = Vec::new();
            for widths in stage.res_blocks {
                let name = format!("decoder.upsamples.{index}");
                res_blocks.push(VaeResBlock::resolve(&name, widths, get)?);
                index += 1;
            }
            let upsample = match stage.upsample {
                Some(up) => {
                    let name = format!("decoder.upsamples.{index}");
                    index += 1;
                    Some(VaeUpsample {
                        time_conv: match up.temporal {
                            true => Some(Linear::resolve(&format!("{name}.time_conv"), get)?),
                            false => None,
                        },
                        conv: Linear::resolve(&format!("{name}.resample.1"), get)?,
                    })
                }
                None => None,
            };
            stages.push(VaeStage {
                res_blocks,
                upsample,
            });
        }
        Ok(WanVaeParams {
            conv2: Linear::resolve("conv2", get)?,
            conv1: Linear::resolve("decoder.conv1", get)?,
            middle_in: VaeResBlock::resolve("decoder.middle.0", (top, top), get)?,
            middle_attention: VaeAttention {
                norm: get("decoder.middle.1.norm.gamma")?,
                to_qkv: Linear::resolve("decoder.middle.1.to_qkv", get)?,
                proj: Linear::resolve("decoder.middle.1.proj", get)?,
            },
            middle_out: VaeResBlock::resolve("decoder.middle.2", (top, top), get)?,
            stages,
            head_norm: get("decoder.head.0.gamma")?,
            head: Linear::resolve("decoder.head.2", get)?,
        })
    }
}

/// What a causal convolution keeps between chunks (the reference's
/// `feat_cache[idx]`), generic over a backend's tensor.
pub enum Slot<T> {
    Empty,
    /// A temporal upsample that has seen only the first chunk (`'Rep'`):
    /// its next chunk runs the time conv over zeros before it.
    Repeat,
    Frames(T),
}

/// The frame caches of one decode, one slot per causal convolution in the
/// order a chunk runs them (`feat_idx`): each chunk starts again at the first.
pub struct FrameCaches<T> {
    slots: Vec<Slot<T>>,
    next: usize,
}

impl<T> Default for FrameCaches<T> {
    fn default() -> Self {
        FrameCaches {
            slots: Vec::new(),
            next: 0,
        }
    }
}

impl<T> FrameCaches<T> {
    /// A new chunk: its convolutions read the slots from the first again.
    pub fn start_chunk(&mut self) {
        self.next = 0;
    }

    /// The next convolution's slot, taken out (its index to put back into).
    pub fn take(&mut self) -> (usize, Slot<T>) {
        let i = self.next;
        self.next += 1;
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, || Slot::Empty);
        }
        (i, std::mem::replace(&mut self.slots[i], Slot::Empty))
    }

    pub fn put(&mut self, index: usize, slot: Slot<T>) {
        self.slots[index] = slot;
    }
}

/// What one decode computes, counted chunk by chunk as the reference runs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DecodeCount {
    /// Convolutions (2 x in x out x kernel taps per output element) and the
    /// attention's 1x1 projections.
    pub conv_flops: f64,
    /// The middle attention's scores and weighted sums (4 x pixels^2 x C per frame).
    pub attention_flops: f64,
    /// Elements of the largest activation one chunk makes.
    pub largest_activation: u128,
    /// Elements the convolutions' frame caches hold between chunks.
    pub cache_elements: u128,
}

/// Walk the decode chunk by chunk (first chunk one latent frame, then one
/// each; a temporal upsample doubles a chunk's frames except the first's).
pub fn decode_count(c: &WanVaeConfig) -> DecodeCount {
    let [chunks, lh, lw] = c.latent_shape();
    let b = c.batch as f64;
    let mut n = DecodeCount::default();
    let conv = |input: usize, out: usize, taps: usize, elements: f64| {
        2.0 * input as f64 * out as f64 * taps as f64 * elements
    };
    let z = c.z_dim;
    n.conv_flops += conv(z, z, 1, (chunks * lh * lw) as f64 * b);
    let top = c.decoder_dims()[0];
    let res = |n: &mut DecodeCount, (i, o): (usize, usize), px: f64, video: f64| {
        n.conv_flops += conv(i, o, 27, px) + conv(o, o, 27, px);
        if i != o {
            n.conv_flops += conv(i, o, 1, px);
        }
        n.largest_activation = n.largest_activation.max((i.max(o) as f64 * px) as u128);
        if video > 0.0 {
            n.cache_elements += (CACHE_FRAMES as f64 * (i + o) as f64 * video) as u128;
        }
    };
    for chunk in 0..chunks {
        let (mut frames, mut h, mut w) = (1usize, lh, lw);
        // Per-frame pixel counts of the whole batch; cache sizes counted on the first chunk.
        let first = if chunk == 0 { b } else { 0.0 };
        let px = |f: usize, h: usize, w: usize| b * (f * h * w) as f64;
        n.conv_flops += conv(z, top, 27, px(frames, h, w));
        res(&mut n, (top, top), px(frames, h, w), first * (h * w) as f64);
        let pixels = (h * w) as f64;
        n.conv_flops +=
            conv(top, 3 * top, 1, px(frames, h, w)) + conv(top, top, 1, px(frames, h, w));
        n.attention_flops += b * frames as f64 * 4.0 * pixels * pixels * top as f64;
        res(&mut n, (top, top), px(frames, h, w), first * (h * w) as f64);
        let mut out = top;
        for stage in c.decoder_stages() {
            for widths in &stage.res_blocks {
                res(&mut n, *widths, px(frames, h, w), first * (h * w) as f64);
                out = widths.1;
            }
            if let Some(up) = stage.upsample {
                if up.temporal && chunk > 0 {
                    n.conv_flops += conv(up.channels, 2 * up.channels, 3, px(frames, h, w));
                    frames *= 2;
                }
                h *= 2;
                w *= 2;
                n.conv_flops += conv(up.channels, up.channels / 2, 9, px(frames, h, w));
                n.largest_activation = n
                    .largest_activation
                    .max((up.channels as f64 * px(frames, h, w)) as u128);
            }
        }
        n.conv_flops += conv(out, 3, 27, px(frames, h, w));
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::workload::{ModelConfig, find_preset};

    fn config(name: &str) -> WanVaeConfig {
        match find_preset(name).unwrap().config {
            ModelConfig::WanVae(c) => c,
            _ => panic!("{name} is a VAE preset"),
        }
    }

    #[test]
    fn the_wan21_decoder_has_the_reference_stages() {
        let c = config("wan2.1-vae-480p");
        assert_eq!(c.decoder_dims(), [384, 384, 384, 192, 96]);
        let stages = c.decoder_stages();
        assert_eq!(stages[0].res_blocks, [(384, 384); 3]);
        assert_eq!(stages[1].res_blocks, [(192, 384), (384, 384), (384, 384)]);
        assert_eq!(stages[2].res_blocks, [(192, 192); 3]);
        assert_eq!(stages[3].res_blocks, [(96, 96); 3]);
        let ups: Vec<_> = stages
            .iter()
            .map(|s| s.upsample.map(|u| u.temporal))
            .collect();
        assert_eq!(ups, [Some(true), Some(true), Some(false), None]);
        assert_eq!(c.latent_shape(), [21, 60, 104]);
        assert_eq!((c.spatial_stride(), c.temporal_stride()), (8, 4));
    }

    #[test]
    fn chunks_set_the_frames_a_decode_makes() {
        let c = config("wan2.1-vae-480p");
        assert_eq!(c.with_chunks(1).frames, 1);
        assert_eq!(c.with_chunks(3).frames, 9);
        assert_eq!(c.with_chunks(21), c);
    }

    #[test]
    fn a_later_chunk_costs_more_than_the_first_and_chunks_after_it_cost_the_same() {
        let c = config("wan-vae-small");
        let flops = |k: usize| {
            let n = decode_count(&c.with_chunks(k));
            n.conv_flops + n.attention_flops
        };
        let (one, two, three) = (flops(1), flops(2), flops(3));
        assert!(
            two - one > one,
            "a 4-frame chunk costs more than the 1-frame first"
        );
        let (a, b) = (two - one, three - two);
        assert!((a - b).abs() <= 1e-9 * a, "{a} vs {b}");
    }
}
