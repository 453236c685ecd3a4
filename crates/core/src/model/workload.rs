//! Workload specifications: the Wan2.1 text-to-video DiT and the Llama LLM
//! baseline, their presets, command-line overrides and validation.
//!
//! Every figure a backend needs to build a model is here, so that all
//! backends build the same model from the same description.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::model::limits::{ConfigError, ceiling};
use crate::model::limits::{bail, positive_within_ceilings, within_ceilings};

pub use crate::model::umt5::Umt5Config;
pub use crate::model::wan_vae::WanVaeConfig;

/// Wan2.1 `WanModel` (model_type `t2v`) plus the input geometry of one
/// benchmark pass. Field names follow the reference constructor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WanConfig {
    pub dim: usize,
    pub ffn_dim: usize,
    pub freq_dim: usize,
    pub text_dim: usize,
    pub text_len: usize,
    pub in_dim: usize,
    pub out_dim: usize,
    pub num_heads: usize,
    pub num_layers: usize,
    /// Patch size (t, h, w) of the Conv3d patch embedding.
    pub patch_size: [usize; 3],
    /// LayerNorm / RMSNorm epsilon.
    pub eps: f64,
    /// Video-VAE compression (t, h, w): latent = ((frames-1)/t + 1, height/h, width/w).
    pub vae_stride: [usize; 3],
    /// Video frames of the clip one pass denoises.
    pub frames: usize,
    /// Video height in pixels.
    pub height: usize,
    /// Video width in pixels.
    pub width: usize,
    /// Clips per pass.
    pub batch: usize,
}

/// Llama-3 frequency scaling of RoPE (`rope_type: llama3` in HF configs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Llama3RopeScaling {
    pub factor: f64,
    pub low_freq_factor: f64,
    pub high_freq_factor: f64,
    pub original_max_position_embeddings: usize,
}

/// HF transformers `LlamaConfig` fields that shape the model, plus the
/// input geometry of one prefill pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub rope_scaling: Option<Llama3RopeScaling>,
    pub tie_word_embeddings: bool,
    pub max_position_embeddings: usize,
    /// Tokens per sequence in one prefill pass.
    pub seq_len: usize,
    /// Sequences per pass.
    pub batch: usize,
}

/// The model family and its full configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "snake_case")]
pub enum ModelConfig {
    Wan(WanConfig),
    Llama(LlamaConfig),
    /// A video's text encoder.
    Umt5(Umt5Config),
    /// A video's VAE decoder.
    WanVae(WanVaeConfig),
}

impl WanConfig {
    pub fn head_dim(&self) -> usize {
        self.dim / self.num_heads
    }

    /// Latent video shape (frames, height, width) after the VAE.
    pub fn latent_shape(&self) -> [usize; 3] {
        [
            (self.frames.saturating_sub(1)) / self.vae_stride[0] + 1,
            self.height / self.vae_stride[1],
            self.width / self.vae_stride[2],
        ]
    }

    /// Token grid (frames, height, width) after patch embedding.
    pub fn grid(&self) -> [usize; 3] {
        let l = self.latent_shape();
        [
            l[0] / self.patch_size[0],
            l[1] / self.patch_size[1],
            l[2] / self.patch_size[2],
        ]
    }

    /// Space-time tokens per clip (the self-attention sequence length).
    pub fn tokens_per_sample(&self) -> usize {
        self.grid().iter().product()
    }

    /// Values per patch, `C * pt * ph * pw`, the patch embedding's input width.
    pub fn patch_values(&self, channels: usize) -> usize {
        channels * self.patch_size.iter().product::<usize>()
    }

    /// Head-dimension split of Wan's 3-D RoPE, in rotation pairs (frame, height, width).
    pub fn rope_pairs(&self) -> [usize; 3] {
        let c = self.head_dim() / 2;
        [c - 2 * (c / 3), c / 3, c / 3]
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("dim", self.dim),
            ("ffn", self.ffn_dim),
            ("freq_dim", self.freq_dim),
            ("text_dim", self.text_dim),
            ("text-len", self.text_len),
            ("in_dim", self.in_dim),
            ("out_dim", self.out_dim),
            ("heads", self.num_heads),
            ("frames", self.frames),
            ("height", self.height),
            ("width", self.width),
            ("batch", self.batch),
        ];
        positive_within_ceilings(&positive)?;
        within_ceilings(&[("layers", self.num_layers)])?;
        if self.patch_size.contains(&0) || self.vae_stride.contains(&0) {
            return bail("patch size and VAE stride must be positive");
        }
        if !self.dim.is_multiple_of(self.num_heads) {
            return bail(format!(
                "heads ({}) must divide dim ({}) evenly",
                self.num_heads, self.dim
            ));
        }
        let head_dim = self.head_dim();
        if !head_dim.is_multiple_of(2) || head_dim < 6 {
            return bail(format!(
                "head dimension dim/heads = {head_dim} cannot be split for Wan's 3-D RoPE: \
                 it must be even and at least 6 (one rotation pair per axis)"
            ));
        }
        if !self.freq_dim.is_multiple_of(2) {
            return bail(format!("freq_dim must be even, got {}", self.freq_dim));
        }
        self.validate_geometry()
    }

    /// Frames, height and width that the video VAE, the patch embedding and
    /// the RoPE tables can take.
    fn validate_geometry(&self) -> Result<(), ConfigError> {
        if !(self.frames - 1).is_multiple_of(self.vae_stride[0]) {
            let n = (self.frames - 1) / self.vae_stride[0];
            return bail(format!(
                "frames = {}: Wan's video VAE takes {}n+1 frames (e.g. {} or {})",
                self.frames,
                self.vae_stride[0],
                n * self.vae_stride[0] + 1,
                (n + 1) * self.vae_stride[0] + 1
            ));
        }
        let latent = self.latent_shape();
        if !latent[0].is_multiple_of(self.patch_size[0]) {
            return bail(format!(
                "latent frames ({}) must be a multiple of the temporal patch size ({})",
                latent[0], self.patch_size[0]
            ));
        }
        for (axis, pixels, vae, patch) in [
            (
                "height",
                self.height,
                self.vae_stride[1],
                self.patch_size[1],
            ),
            ("width", self.width, self.vae_stride[2], self.patch_size[2]),
        ] {
            let unit = vae * patch;
            if pixels % unit != 0 {
                return bail(format!(
                    "{axis} = {pixels} must be a multiple of {unit} (VAE stride {vae} x patch {patch})"
                ));
            }
        }
        // The reference precomputes RoPE tables for 1024 positions per axis.
        if let Some(&too_long) = self.grid().iter().find(|&&n| n > 1024) {
            return bail(format!(
                "a token grid axis of {too_long} exceeds Wan's 1024 RoPE positions"
            ));
        }
        Ok(())
    }
}

impl LlamaConfig {
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("vocab", self.vocab_size),
            ("dim", self.hidden_size),
            ("ffn", self.intermediate_size),
            ("heads", self.num_attention_heads),
            ("kv-heads", self.num_key_value_heads),
            ("seq-len", self.seq_len),
            ("batch", self.batch),
        ];
        positive_within_ceilings(&positive)?;
        within_ceilings(&[("layers", self.num_hidden_layers)])?;
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return bail(format!(
                "heads ({}) must divide dim ({}) evenly",
                self.num_attention_heads, self.hidden_size
            ));
        }
        if !self
            .num_attention_heads
            .is_multiple_of(self.num_key_value_heads)
        {
            return bail(format!(
                "kv-heads ({}) must divide heads ({}) evenly for grouped-query attention",
                self.num_key_value_heads, self.num_attention_heads
            ));
        }
        if !self.head_dim().is_multiple_of(2) {
            return bail(format!(
                "head dimension dim/heads = {} must be even for RoPE",
                self.head_dim()
            ));
        }
        if self.seq_len > self.max_position_embeddings {
            return bail(format!(
                "seq-len {} is longer than this model allows (max_position_embeddings {})",
                self.seq_len, self.max_position_embeddings
            ));
        }
        if self.vocab_size > u32::MAX as usize {
            return bail("vocab must fit in 32-bit token ids");
        }
        Ok(())
    }
}

impl ModelConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self {
            ModelConfig::Wan(c) => c.validate(),
            ModelConfig::Llama(c) => c.validate(),
            ModelConfig::Umt5(c) => c.validate(),
            ModelConfig::WanVae(c) => c.validate(),
        }
    }

    /// The same model with `blocks` blocks (see [`ModelConfig::blocks`]).
    pub fn with_blocks(&self, blocks: usize) -> ModelConfig {
        let mut config = self.clone();
        match &mut config {
            ModelConfig::Wan(c) => c.num_layers = blocks,
            ModelConfig::Llama(c) => c.num_hidden_layers = blocks,
            ModelConfig::Umt5(c) => c.num_layers = blocks,
            ModelConfig::WanVae(c) => *c = c.with_chunks(blocks + 1),
        }
        config
    }

    /// The repeated unit whose count `--layers` sets and an extrapolation
    /// scales: transformer blocks (Wan, UMT5), decoder layers (Llama), or
    /// the VAE decoder's later chunks (latent frames after the first, each
    /// decoded on its own into `t_stride` video frames). With 0 blocks a
    /// model is its rest: embeddings and head, or the VAE's first chunk
    /// (one frame, no temporal upsampling).
    pub fn blocks(&self) -> usize {
        match self {
            ModelConfig::Wan(c) => c.num_layers,
            ModelConfig::Llama(c) => c.num_hidden_layers,
            ModelConfig::Umt5(c) => c.num_layers,
            ModelConfig::WanVae(c) => c.chunks().saturating_sub(1),
        }
    }

    pub fn family(&self) -> Family {
        match self {
            ModelConfig::Wan(_) => Family::Wan,
            ModelConfig::Llama(_) => Family::Llama,
            ModelConfig::Umt5(_) => Family::Umt5,
            ModelConfig::WanVae(_) => Family::WanVae,
        }
    }

    pub fn batch(&self) -> usize {
        match self {
            ModelConfig::Wan(c) => c.batch,
            ModelConfig::Llama(c) => c.batch,
            ModelConfig::Umt5(c) => c.batch,
            ModelConfig::WanVae(c) => c.batch,
        }
    }

    /// Tokens in one sample: space-time patches of a clip, a sequence, a
    /// prompt's tokens, or the latent positions (frames x height x width)
    /// a VAE decodes.
    pub fn tokens_per_sample(&self) -> usize {
        match self {
            ModelConfig::Wan(c) => c.tokens_per_sample(),
            ModelConfig::Llama(c) => c.seq_len,
            ModelConfig::Umt5(c) => c.text_len,
            ModelConfig::WanVae(c) => c.latent_shape().iter().product(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Wan,
    Llama,
    Umt5,
    WanVae,
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Wan => "video DiT (Wan2.1/2.2)",
            Family::Llama => "LLM (Llama)",
            Family::Umt5 => "text encoder (UMT5)",
            Family::WanVae => "video VAE decoder (Wan2.1)",
        })
    }
}

/// How big a preset is: what it is for, and what it may be compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SizeClass {
    /// Milliseconds: for tests.
    Test,
    /// Seconds on a CPU: for framework comparisons on small machines.
    Cpu,
    /// A published model at its real token count (or a labelled guess at one).
    Real,
}

/// A named, fully defined configuration.
#[derive(Debug, Clone)]
pub struct Preset {
    pub name: &'static str,
    pub description: &'static str,
    pub class: SizeClass,
    pub config: ModelConfig,
}

/// The size class of a preset by name; `None` for a name no preset has.
pub fn size_class(preset: &str) -> Option<SizeClass> {
    find_preset(preset).ok().map(|p| p.class)
}

#[allow(clippy::too_many_arguments)]
fn wan(
    dim: usize,
    ffn_dim: usize,
    num_heads: usize,
    num_layers: usize,
    text: (usize, usize),
    freq_dim: usize,
    channels: usize,
    video: (usize, usize, usize),
) -> ModelConfig {
    ModelConfig::Wan(WanConfig {
        dim,
        ffn_dim,
        freq_dim,
        text_dim: text.0,
        text_len: text.1,
        in_dim: channels,
        out_dim: channels,
        num_heads,
        num_layers,
        patch_size: [1, 2, 2],
        eps: 1e-6,
        vae_stride: [4, 8, 8],
        frames: video.0,
        height: video.1,
        width: video.2,
        batch: 1,
    })
}

#[allow(clippy::too_many_arguments)]
fn llama(
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    heads: (usize, usize),
    rope_theta: f64,
    max_position_embeddings: usize,
    seq_len: usize,
) -> LlamaConfig {
    LlamaConfig {
        vocab_size,
        hidden_size,
        intermediate_size,
        num_hidden_layers,
        num_attention_heads: heads.0,
        num_key_value_heads: heads.1,
        rms_norm_eps: 1e-5,
        rope_theta,
        rope_scaling: None,
        tie_word_embeddings: false,
        max_position_embeddings,
        seq_len,
        batch: 1,
    }
}

fn umt5_encoder(
    vocab_size: usize,
    dim: usize,
    dim_ffn: usize,
    num_heads: usize,
    num_layers: usize,
    text_len: usize,
) -> ModelConfig {
    ModelConfig::Umt5(Umt5Config {
        vocab_size,
        dim,
        dim_attn: dim,
        dim_ffn,
        num_heads,
        num_layers,
        num_buckets: 32,
        max_dist: 128,
        eps: 1e-6,
        text_len,
        batch: 1,
    })
}

/// Wan2.1's VAE decoder (`_video_vae`: dim_mult [1, 2, 4, 4], 2 residual
/// blocks, temporal upsampling in the first two stages) at base width `dim`.
fn wan_vae(dim: usize, z_dim: usize, video: (usize, usize, usize)) -> ModelConfig {
    ModelConfig::WanVae(WanVaeConfig {
        dim,
        z_dim,
        dim_mult: vec![1, 2, 4, 4],
        num_res_blocks: 2,
        temporal_upsample: vec![true, true, false],
        frames: video.0,
        height: video.1,
        width: video.2,
        batch: 1,
    })
}

/// Wan2.2 TI2V-5B (`wan/configs/wan_ti2v_5B.py`): its own VAE compresses
/// 4x in time and 16x16 in space into 48 latent channels.
fn wan22_ti2v_5b(video: (usize, usize, usize)) -> ModelConfig {
    let ModelConfig::Wan(c) = wan(3072, 14336, 24, 30, (4096, 512), 256, 48, video) else {
        unreachable!("wan() builds a Wan config")
    };
    ModelConfig::Wan(WanConfig {
        vae_stride: [4, 16, 16],
        ..c
    })
}

/// Every preset, in the order `ditbench list` shows them.
pub fn presets() -> Vec<Preset> {
    // Wan2.1's umT5 text encoder: 512 tokens of width 4096.
    let umt5 = (4096, 512);
    let llama_3_2_1b = LlamaConfig {
        rope_scaling: Some(Llama3RopeScaling {
            factor: 32.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 8192,
        }),
        tie_word_embeddings: true,
        ..llama(128_256, 2048, 8192, 16, (32, 8), 500_000.0, 131_072, 4096)
    };
    vec![
        Preset {
            name: "wan-tiny",
            description: "test size: 2 layers, 48 tokens (latent 3x8x8); milliseconds",
            class: SizeClass::Test,
            config: wan(64, 128, 2, 2, (32, 8), 32, 4, (9, 64, 64)),
        },
        Preset {
            name: "wan-small",
            description: "CPU size: 6 layers, 320 tokens (latent 5x16x16); seconds",
            class: SizeClass::Cpu,
            config: wan(384, 1536, 6, 6, (512, 64), 256, 16, (17, 128, 128)),
        },
        Preset {
            name: "wan2.1-1.3b-480p",
            description: "Wan2.1 T2V-1.3B, 81 frames at 480x832 (latent 21x60x104, 32,760 tokens)",
            class: SizeClass::Real,
            config: wan(1536, 8960, 12, 30, umt5, 256, 16, (81, 480, 832)),
        },
        Preset {
            name: "wan2.1-14b-720p",
            description: "Wan2.1 T2V-14B, 81 frames at 720x1280 (75,600 tokens)",
            class: SizeClass::Real,
            config: wan(5120, 13824, 40, 40, umt5, 256, 16, (81, 720, 1280)),
        },
        // Text-to-image: the same networks denoising one latent frame. They
        // stand in for a ~1B Stable-Diffusion-class image model (1.3B) and a
        // large one (14B).
        Preset {
            name: "wan2.1-1.3b-image-1024",
            description: "Wan2.1 T2V-1.3B as text-to-image: 1 frame at 1024x1024 (latent 1x128x128, 4,096 tokens)",
            class: SizeClass::Real,
            config: wan(1536, 8960, 12, 30, umt5, 256, 16, (1, 1024, 1024)),
        },
        Preset {
            name: "wan2.1-1.3b-image-512",
            description: "Wan2.1 T2V-1.3B as text-to-image: 1 frame at 512x512 (latent 1x64x64, 1,024 tokens)",
            class: SizeClass::Real,
            config: wan(1536, 8960, 12, 30, umt5, 256, 16, (1, 512, 512)),
        },
        Preset {
            name: "wan2.1-14b-image-1024",
            description: "Wan2.1 T2V-14B as text-to-image: 1 frame at 1024x1024 (4,096 tokens)",
            class: SizeClass::Real,
            config: wan(5120, 13824, 40, 40, umt5, 256, 16, (1, 1024, 1024)),
        },
        Preset {
            name: "wan2.1-14b-image-512",
            description: "Wan2.1 T2V-14B as text-to-image: 1 frame at 512x512 (1,024 tokens)",
            class: SizeClass::Real,
            config: wan(5120, 13824, 40, 40, umt5, 256, 16, (1, 512, 512)),
        },
        Preset {
            name: "wan2.2-t2v-a14b-720p",
            description: "Wan2.2 T2V-A14B: two 14B experts of Wan2.1-14B's architecture, one per step (high noise from t >= 0.875 x 1000, then low noise); 81 frames at 720x1280 (75,600 tokens)",
            class: SizeClass::Real,
            config: wan(5120, 13824, 40, 40, umt5, 256, 16, (81, 720, 1280)),
        },
        Preset {
            name: "wan2.2-t2v-a14b-480p",
            description: "Wan2.2 T2V-A14B (one 14B expert per step), 81 frames at 480x832 (32,760 tokens)",
            class: SizeClass::Real,
            config: wan(5120, 13824, 40, 40, umt5, 256, 16, (81, 480, 832)),
        },
        Preset {
            name: "wan2.2-ti2v-5b-720p",
            description: "Wan2.2 TI2V-5B, 121 frames at 704x1280 through its 4x16x16 VAE (48 latent channels, latent 31x44x80, 27,280 tokens)",
            class: SizeClass::Real,
            config: wan22_ti2v_5b((121, 704, 1280)),
        },
        Preset {
            name: "sora-3b-guess-720p",
            description: "HYPOTHETICAL: the public 'Sora is ~3B parameters' claim as a Wan-structured DiT; \
                          5 s at 24 fps (121 frames) at 720x1280, 111,600 tokens",
            class: SizeClass::Real,
            config: wan(2560, 10240, 20, 28, umt5, 256, 16, (121, 720, 1280)),
        },
        Preset {
            name: "llama-tiny",
            description: "test size: 2 layers, 48 tokens",
            class: SizeClass::Test,
            config: ModelConfig::Llama(llama(256, 64, 172, 2, (4, 2), 10_000.0, 4096, 48)),
        },
        Preset {
            name: "llama-small",
            description: "CPU size: 6 layers, 320 tokens, 32k vocabulary",
            class: SizeClass::Cpu,
            config: ModelConfig::Llama(llama(32_000, 384, 1024, 6, (6, 2), 10_000.0, 4096, 320)),
        },
        Preset {
            name: "llama-3.2-1b",
            description: "Llama-3.2-1B (tied embeddings, llama3 RoPE scaling), 4096-token prefill",
            class: SizeClass::Real,
            config: ModelConfig::Llama(llama_3_2_1b),
        },
        Preset {
            name: "llama-2-7b",
            description: "Llama-2-7B, 4096-token prefill",
            class: SizeClass::Real,
            config: ModelConfig::Llama(llama(
                32_000,
                4096,
                11008,
                32,
                (32, 32),
                10_000.0,
                4096,
                4096,
            )),
        },
        Preset {
            name: "llama-3-8b",
            description: "Llama-3-8B (GQA 32/8), 4096-token prefill",
            class: SizeClass::Real,
            config: ModelConfig::Llama(llama(
                128_256,
                4096,
                14336,
                32,
                (32, 8),
                500_000.0,
                8192,
                4096,
            )),
        },
        Preset {
            name: "llama-2-70b",
            description: "Llama-2-70B (GQA 64/8), 4096-token prefill",
            class: SizeClass::Real,
            config: ModelConfig::Llama(llama(
                32_000,
                8192,
                28672,
                80,
                (64, 8),
                10_000.0,
                4096,
                4096,
            )),
        },
        Preset {
            name: "llama-3-70b",
            description: "Llama-3-70B (GQA 64/8), 4096-token prefill",
            class: SizeClass::Real,
            config: ModelConfig::Llama(llama(
                128_256,
                8192,
                28672,
                80,
                (64, 8),
                500_000.0,
                8192,
                4096,
            )),
        },
        Preset {
            name: "umt5-tiny",
            description: "test size: UMT5 encoder, 2 layers, 48 tokens",
            class: SizeClass::Test,
            config: umt5_encoder(256, 64, 128, 4, 2, 48),
        },
        Preset {
            name: "umt5-small",
            description: "CPU size: UMT5 encoder, 6 layers of width 384, 128 tokens, 32k vocabulary",
            class: SizeClass::Cpu,
            config: umt5_encoder(32_000, 384, 1024, 6, 6, 128),
        },
        Preset {
            name: "umt5-xxl",
            description: "Wan's text encoder: umt5-xxl's encoder (24 layers, width 4096, 64 heads), one 512-token prompt",
            class: SizeClass::Real,
            config: umt5_encoder(256_384, 4096, 10240, 64, 24, 512),
        },
        Preset {
            name: "wan-vae-tiny",
            description: "test size: Wan VAE decoder at base width 8, 9 frames at 32x32 (latent 3x4x4)",
            class: SizeClass::Test,
            config: wan_vae(8, 4, (9, 32, 32)),
        },
        Preset {
            name: "wan-vae-small",
            description: "CPU size: Wan VAE decoder at base width 16, 9 frames at 64x64 (latent 3x8x8)",
            class: SizeClass::Cpu,
            config: wan_vae(16, 16, (9, 64, 64)),
        },
        Preset {
            name: "wan2.1-vae-480p",
            description: "Wan2.1's VAE decoder (also Wan2.2 A14B's), 81 frames at 480x832 from a 21x60x104 latent",
            class: SizeClass::Real,
            config: wan_vae(96, 16, (81, 480, 832)),
        },
        Preset {
            name: "wan2.1-vae-720p",
            description: "Wan2.1's VAE decoder (also Wan2.2 A14B's), 81 frames at 720x1280 from a 21x90x160 latent",
            class: SizeClass::Real,
            config: wan_vae(96, 16, (81, 720, 1280)),
        },
    ]
}

/// The presets `ditbench run` uses when none are named.
pub const DEFAULT_PRESETS: [&str; 4] = ["wan-tiny", "wan-small", "llama-tiny", "llama-small"];

pub fn find_preset(name: &str) -> Result<Preset, ConfigError> {
    presets()
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| {
            let names: Vec<_> = presets().iter().map(|p| p.name).collect();
            ConfigError(format!(
                "unknown preset '{name}'; known presets: {}",
                names.join(", ")
            ))
        })
}

/// Dimensions a user can override on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dimension {
    Layers,
    Dim,
    Heads,
    KvHeads,
    Ffn,
    Frames,
    Height,
    Width,
    TextLen,
    SeqLen,
    Vocab,
    Batch,
}

impl Dimension {
    pub const ALL: [Dimension; 12] = [
        Dimension::Layers,
        Dimension::Dim,
        Dimension::Heads,
        Dimension::KvHeads,
        Dimension::Ffn,
        Dimension::Frames,
        Dimension::Height,
        Dimension::Width,
        Dimension::TextLen,
        Dimension::SeqLen,
        Dimension::Vocab,
        Dimension::Batch,
    ];

    /// The name used on the command line and in result files.
    pub fn name(self) -> &'static str {
        match self {
            Dimension::Layers => "layers",
            Dimension::Dim => "dim",
            Dimension::Heads => "heads",
            Dimension::KvHeads => "kv-heads",
            Dimension::Ffn => "ffn",
            Dimension::Frames => "frames",
            Dimension::Height => "height",
            Dimension::Width => "width",
            Dimension::TextLen => "text-len",
            Dimension::SeqLen => "seq-len",
            Dimension::Vocab => "vocab",
            Dimension::Batch => "batch",
        }
    }

    pub fn applies_to(self, family: Family) -> bool {
        use Dimension::*;
        match family {
            Family::Wan => !matches!(self, KvHeads | SeqLen | Vocab),
            Family::Llama => !matches!(self, Frames | Height | Width | TextLen),
            Family::Umt5 => !matches!(self, KvHeads | Frames | Height | Width | SeqLen),
            // Frames come from `layers` (latent frames decoded).
            Family::WanVae => matches!(self, Layers | Dim | Height | Width | Batch),
        }
    }
}

/// Overridden dimensions of one workload, by name.
pub type Overrides = BTreeMap<Dimension, usize>;

/// Apply overrides that concern `config`'s family; others are ignored.
pub fn apply_overrides(config: &ModelConfig, overrides: &Overrides) -> ModelConfig {
    let mut config = config.clone();
    for (&dim, &value) in overrides {
        match &mut config {
            ModelConfig::Wan(c) => match dim {
                Dimension::Layers => c.num_layers = value,
                Dimension::Dim => c.dim = value,
                Dimension::Heads => c.num_heads = value,
                Dimension::Ffn => c.ffn_dim = value,
                Dimension::Frames => c.frames = value,
                Dimension::Height => c.height = value,
                Dimension::Width => c.width = value,
                Dimension::TextLen => c.text_len = value,
                Dimension::Batch => c.batch = value,
                Dimension::KvHeads | Dimension::SeqLen | Dimension::Vocab => {}
            },
            ModelConfig::Llama(c) => match dim {
                Dimension::Layers => c.num_hidden_layers = value,
                Dimension::Dim => c.hidden_size = value,
                Dimension::Heads => c.num_attention_heads = value,
                Dimension::KvHeads => c.num_key_value_heads = value,
                Dimension::Ffn => c.intermediate_size = value,
                Dimension::SeqLen => c.seq_len = value,
                Dimension::Vocab => c.vocab_size = value,
                Dimension::Batch => c.batch = value,
                Dimension::Frames | Dimension::Height | Dimension::Width | Dimension::TextLen => {}
            },
            ModelConfig::Umt5(c) => match dim {
                Dimension::Layers => c.num_layers = value,
                Dimension::Dim => (c.dim, c.dim_attn) = (value, value),
                Dimension::Heads => c.num_heads = value,
                Dimension::Ffn => c.dim_ffn = value,
                Dimension::TextLen => c.text_len = value,
                Dimension::Vocab => c.vocab_size = value,
                Dimension::Batch => c.batch = value,
                Dimension::KvHeads
                | Dimension::Frames
                | Dimension::Height
                | Dimension::Width
                | Dimension::SeqLen => {}
            },
            ModelConfig::WanVae(c) => match dim {
                Dimension::Layers => *c = c.with_chunks(value + 1),
                Dimension::Dim => c.dim = value,
                Dimension::Height => c.height = value,
                Dimension::Width => c.width = value,
                Dimension::Batch => c.batch = value,
                _ => {}
            },
        }
    }
    config
}

/// One concrete workload: a preset with the overrides that apply to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workload {
    pub preset: String,
    /// Overridden dimensions (command-line name -> value), empty when none.
    pub overrides: BTreeMap<String, usize>,
    pub config: ModelConfig,
}

impl Workload {
    /// The workload of `preset` with `overrides`. Blocks can be fewer than
    /// the preset's (0: the rest of the model alone, see [`Workload::rest`]),
    /// never more: the measured blocks stand for the preset's.
    pub fn new(preset: &Preset, overrides: &Overrides) -> Result<Self, ConfigError> {
        let blocks = preset.config.blocks();
        if let Some(&layers) = overrides.get(&Dimension::Layers)
            && layers > blocks
        {
            return bail(format!(
                "--layers {layers} is more than {}'s {blocks} blocks",
                preset.name
            ));
        }
        let family = preset.config.family();
        let applied: Overrides = overrides
            .iter()
            .filter(|(d, _)| d.applies_to(family))
            .map(|(&d, &v)| (d, v))
            .collect();
        let config = apply_overrides(&preset.config, &applied);
        let workload = Workload {
            preset: preset.name.to_string(),
            overrides: applied
                .iter()
                .map(|(d, &v)| (d.name().to_string(), v))
                .collect(),
            config,
        };
        workload
            .config
            .validate()
            .map_err(|e| ConfigError(format!("{}: {}", workload.label(), e.0)))?;
        Ok(workload)
    }

    /// The same workload without blocks (patch, time and text embeddings and
    /// head; token embedding, final norm and LM head; a VAE's first chunk),
    /// whose time is the `rest` of an extrapolation.
    pub fn rest(&self) -> Result<Workload, ConfigError> {
        let preset = find_preset(&self.preset)?;
        let mut overrides: Overrides = self
            .overrides
            .iter()
            .filter_map(|(name, &v)| {
                Dimension::ALL
                    .into_iter()
                    .find(|d| d.name() == name)
                    .map(|d| (d, v))
            })
            .collect();
        overrides.insert(Dimension::Layers, 0);
        Workload::new(&preset, &overrides)
    }

    /// Whether this workload runs fewer blocks than its preset (and at
    /// least one), so the full model can be extrapolated from it.
    pub fn is_partial(&self) -> Result<bool, ConfigError> {
        let preset = find_preset(&self.preset)?;
        let blocks = self.config.blocks();
        Ok(blocks > 0 && blocks < preset.config.blocks())
    }

    /// `preset` or `preset[frames=9,layers=2]`.
    pub fn label(&self) -> String {
        workload_label(&self.preset, &self.overrides, &[])
    }
}

/// `preset` or `preset[frames=9,layers=2]` from `overrides` (command-line
/// name -> value), leaving out the dimensions of `leave_out`: the label of
/// what several workloads share (a model across depths, a sweep's fixed part).
pub fn workload_label(
    preset: &str,
    overrides: &BTreeMap<String, usize>,
    leave_out: &[Dimension],
) -> String {
    let parts: Vec<String> = overrides
        .iter()
        .filter(|(name, _)| !leave_out.iter().any(|d| d.name() == name.as_str()))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if parts.is_empty() {
        preset.to_string()
    } else {
        format!("{preset}[{}]", parts.join(","))
    }
}

/// Expand presets and list-valued overrides into workloads: the cartesian
/// product of every override's values, applied to every preset it concerns.
pub fn expand_workloads(
    preset_names: &[String],
    sweeps: &BTreeMap<Dimension, Vec<usize>>,
) -> Result<Vec<Workload>, ConfigError> {
    if preset_names.is_empty() {
        return bail("no presets selected");
    }
    let presets = preset_names
        .iter()
        .map(|n| find_preset(n))
        .collect::<Result<Vec<_>, _>>()?;
    for (dim, values) in sweeps {
        if values.is_empty() {
            return bail(format!("--{} needs at least one value", dim.name()));
        }
        if !presets.iter().any(|p| dim.applies_to(p.config.family())) {
            return bail(format!(
                "--{} does not apply to any selected preset ({})",
                dim.name(),
                preset_names.join(", ")
            ));
        }
    }
    let mut out = Vec::new();
    for preset in &presets {
        let family = preset.config.family();
        let relevant: Vec<(Dimension, &Vec<usize>)> = sweeps
            .iter()
            .filter(|(d, _)| d.applies_to(family))
            .map(|(&d, v)| (d, v))
            .collect();
        let mut combos: Vec<Overrides> = vec![Overrides::new()];
        for (dim, values) in relevant {
            combos = combos
                .into_iter()
                .flat_map(|base| {
                    values.iter().map(move |&v| {
                        let mut next = base.clone();
                        next.insert(dim, v);
                        next
                    })
                })
                .collect();
        }
        for combo in combos {
            let w = Workload::new(preset, &combo)?;
            if !out.contains(&w) {
                out.push(w);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preset_token_counts_match_published_geometry() {
        let tokens = |name: &str| find_preset(name).unwrap().config.tokens_per_sample();
        assert_eq!(tokens("wan-tiny"), 48);
        assert_eq!(tokens("wan-small"), 320);
        assert_eq!(tokens("wan2.1-1.3b-480p"), 32_760);
        assert_eq!(tokens("wan2.1-14b-720p"), 75_600);
        assert_eq!(tokens("wan2.1-1.3b-image-1024"), 4_096);
        assert_eq!(tokens("wan2.1-14b-image-512"), 1_024);
        assert_eq!(tokens("sora-3b-guess-720p"), 111_600);
        let ModelConfig::Wan(c) = find_preset("wan2.1-1.3b-480p").unwrap().config else {
            panic!()
        };
        assert_eq!(c.latent_shape(), [21, 60, 104]);
    }

    #[test]
    fn every_preset_is_valid() {
        for p in presets() {
            p.config
                .validate()
                .unwrap_or_else(|e| panic!("{}: {e}", p.name));
        }
    }

    #[test]
    fn rope_split_matches_reference_for_head_dim_128() {
        let ModelConfig::Wan(c) = find_preset("wan2.1-14b-720p").unwrap().config else {
            panic!()
        };
        assert_eq!(c.head_dim(), 128);
        // d - 4*(d//6) = 44 channels (22 pairs) for frames, 2*(d//6) = 42 (21 pairs) each.
        assert_eq!(c.rope_pairs(), [22, 21, 21]);
    }

    #[test]
    fn invalid_shapes_are_rejected_with_clear_messages() {
        let sweep = |d: Dimension, v: usize| BTreeMap::from([(d, vec![v])]);
        let err = |name: &str, s| expand_workloads(&[name.to_string()], &s).unwrap_err().0;
        assert!(err("wan-tiny", sweep(Dimension::Heads, 3)).contains("must divide dim"));
        assert!(err("wan-tiny", sweep(Dimension::Frames, 0)).contains("frames must be at least 1"));
        // Absurd sizes are refused before anything counts them (the cost
        // model's products would overflow 64 bits).
        assert!(
            err("wan-tiny", sweep(Dimension::Dim, 4_611_686_018_427_387_904))
                .contains("dim must be at most 1048576")
        );
        assert!(
            err("llama-tiny", sweep(Dimension::Batch, usize::MAX))
                .contains("batch must be at most")
        );
        assert!(
            err("llama-tiny", sweep(Dimension::SeqLen, 1 << 40))
                .contains("seq-len must be at most 16777216")
        );
        assert!(err("wan-tiny", sweep(Dimension::Frames, 10)).contains("4n+1"));
        assert!(err("wan-tiny", sweep(Dimension::Heads, 16)).contains("3-D RoPE"));
        assert!(err("wan-tiny", sweep(Dimension::Height, 60)).contains("multiple of 16"));
        assert!(err("llama-tiny", sweep(Dimension::KvHeads, 3)).contains("grouped-query"));
        assert!(err("llama-tiny", sweep(Dimension::SeqLen, 5000)).contains("longer than"));
        assert!(err("llama-tiny", sweep(Dimension::Frames, 9)).contains("does not apply"));
        assert!(err("nope", BTreeMap::new()).contains("unknown preset 'nope'"));
        assert_eq!(
            err("wan-small", sweep(Dimension::Layers, 7)),
            "--layers 7 is more than wan-small's 6 blocks"
        );
    }

    #[test]
    fn sweeps_expand_to_the_cartesian_product_and_skip_other_families() {
        let sweeps = BTreeMap::from([
            (Dimension::Frames, vec![5, 9]),
            (Dimension::Layers, vec![1, 2]),
        ]);
        let names = ["wan-tiny".to_string(), "llama-tiny".to_string()];
        let w = expand_workloads(&names, &sweeps).unwrap();
        let labels: Vec<_> = w.iter().map(Workload::label).collect();
        assert_eq!(
            labels,
            [
                "wan-tiny[frames=5,layers=1]",
                "wan-tiny[frames=9,layers=1]",
                "wan-tiny[frames=5,layers=2]",
                "wan-tiny[frames=9,layers=2]",
                "llama-tiny[layers=1]",
                "llama-tiny[layers=2]",
            ]
        );
        let ModelConfig::Wan(c) = &w[0].config else {
            panic!()
        };
        assert_eq!((c.frames, c.num_layers, c.tokens_per_sample()), (5, 1, 32));
    }
}
