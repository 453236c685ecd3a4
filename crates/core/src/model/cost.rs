//! Analytic cost model: parameters, FLOPs and a memory estimate per workload.
//!
//! FLOPs count matrix multiplications only, 2·m·n·k each; attention counts
//! QKᵀ and AV as 4·S_q·S_k·d per layer; elementwise work (norms, RoPE,
//! softmax, activations, modulation) is excluded. Causal attention is counted
//! as full attention, as most published figures do. Training = 3 × forward
//! (backward costs two matmuls per forward matmul). A Llama decode step is
//! one new token per sequence through every linear layer, attending over a
//! context of `seq_len` positions (the step's own included).

use serde::{Deserialize, Serialize};

use crate::model::attention::ScoreMemory;
use crate::model::case::Pass;
use crate::model::params::parameter_count;
use crate::model::umt5::umt5_flops;
use crate::model::wan_vae::{WanVaeConfig, decode_count};
use crate::model::workload::{LlamaConfig, ModelConfig, WanConfig};

/// Text definitions of the cost-model figures, written into every result file.
pub const DEFINITIONS: &[(&str, &str)] = &[
    (
        "cost.parameters",
        "exact parameter count of the model as built (reference state-dict names and shapes)",
    ),
    (
        "cost.tokens_per_sample",
        "Wan: space-time patches of one clip (latent frames/pt x height/ph x width/pw); Llama: sequence length; UMT5: prompt tokens; Wan VAE: latent positions decoded (latent frames x height x width)",
    ),
    (
        "cost.forward_flops",
        "FLOPs of one forward pass over the whole batch: matmuls as 2*m*n*k, attention as 4*S_q*S_k*d per layer, elementwise ops excluded; causal attention counted as full; a VAE decode's convolutions as 2*C_in*C_out*taps per output element, chunk by chunk as the reference decodes, its middle attention as 4*(H*W)^2*C per latent frame",
    ),
    (
        "cost.train_flops",
        "3 x forward_flops (forward + backward); listed for the text encoder and the VAE decoder, which ditbench runs forward only",
    ),
    (
        "cost.decode_flops",
        "Llama: FLOPs of one decode step over the batch: one token per sequence through every linear layer and the LM head (2*m*n*k), and attention over a context of seq_len positions as 4*seq_len*d per layer and query head (grouped-query kv heads shared); 0 for Wan",
    ),
    (
        "cost.decode_read_elements",
        "Llama: elements one decode step must read from memory at least: every weight (of an untied input embedding only the batch's rows) and the KV cache; times the dtype's bytes it is the step's memory traffic floor",
    ),
    (
        "cost.kv_cache_elements",
        "Llama: elements of the KV cache at the context: 2 (keys, values) x layers x batch x seq_len x kv heads x head_dim",
    ),
    (
        "cost.self_attention_flops",
        "share of forward_flops spent in self-attention scores and weighted sums (4*S^2*d per layer)",
    ),
    (
        "cost.estimated_memory",
        "rough estimate of the worker's peak memory: weights, gradients, live activations following the attention path that runs (all of a layer's scores for composite attention, one tile's for tiled inference, none for fused kernels), and the runtime (this binary's resident size at start, measured by the parent); used to skip cases that cannot fit",
    ),
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostFigures {
    pub parameters: u64,
    pub tokens_per_sample: u64,
    /// Tokens in one pass (batch × tokens_per_sample).
    pub tokens: u64,
    pub forward_flops: f64,
    pub train_flops: f64,
    /// FLOPs of linear layers (projections, FFN, embeddings, head).
    pub linear_flops: f64,
    pub self_attention_flops: f64,
    pub cross_attention_flops: f64,
    /// Llama: one decode step over the batch (0 for Wan and in files
    /// written before decode was measured).
    #[serde(default)]
    pub decode_flops: f64,
    /// Llama: elements a decode step reads at least (weights and KV cache).
    #[serde(default)]
    pub decode_read_elements: f64,
    /// Llama: elements of the KV cache at the context.
    #[serde(default)]
    pub kv_cache_elements: u64,
}

/// Memory estimate in bytes for a pass at a given element size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryEstimate {
    pub weights_bytes: u64,
    pub gradients_bytes: u64,
    pub activations_bytes: u64,
    /// The worker process before the model: this binary and the frameworks'
    /// libraries resident, as the parent measured itself at start (0 in
    /// files written before it was counted).
    #[serde(default)]
    pub runtime_bytes: u64,
    pub total_bytes: u64,
}

struct FlopBreakdown {
    linear: f64,
    self_attention: f64,
    cross_attention: f64,
}

fn wan_flops(c: &WanConfig) -> FlopBreakdown {
    let b = c.batch as f64;
    let s = c.tokens_per_sample() as f64;
    let d = c.dim as f64;
    let t = c.text_len as f64;
    let layers = c.num_layers as f64;
    let mm = |m: f64, n: f64, k: f64| 2.0 * m * n * k;

    let patch = mm(s, d, c.patch_values(c.in_dim) as f64);
    let text = mm(t, d, c.text_dim as f64) + mm(t, d, d);
    let time = mm(1.0, d, c.freq_dim as f64) + mm(1.0, d, d) + mm(1.0, 6.0 * d, d);
    let head = mm(s, c.patch_values(c.out_dim) as f64, d);
    let block = wan_block_flops(c);
    FlopBreakdown {
        linear: b * (patch + text + time + head) + layers * block.linear,
        self_attention: layers * block.self_attention,
        cross_attention: layers * block.cross_attention,
    }
}

/// FLOPs of one DiT block's forward over the whole batch.
fn wan_block_flops(c: &WanConfig) -> FlopBreakdown {
    let b = c.batch as f64;
    let s = c.tokens_per_sample() as f64;
    let d = c.dim as f64;
    let t = c.text_len as f64;
    let f = c.ffn_dim as f64;
    let mm = |m: f64, n: f64, k: f64| 2.0 * m * n * k;
    let linear = mm(s, d, d) * 4.0 // self-attention q, k, v, o
        + mm(s, d, d) * 2.0 // cross-attention q, o
        + mm(t, d, d) * 2.0 // cross-attention k, v over the text tokens
        + mm(s, f, d) + mm(s, d, f); // FFN
    FlopBreakdown {
        linear: b * linear,
        self_attention: b * 4.0 * s * s * d,
        cross_attention: b * 4.0 * s * t * d,
    }
}

/// Forward FLOPs of one Wan DiT block over the whole batch, counted as
/// [`cost`] counts them.
pub fn wan_block_forward_flops(c: &WanConfig) -> f64 {
    let block = wan_block_flops(c);
    block.linear + block.self_attention + block.cross_attention
}

/// FLOPs of one token through a Llama's linear layers: (one decoder
/// layer's projections and MLP, the LM head).
fn llama_linear_flops_per_token(c: &LlamaConfig) -> (f64, f64) {
    let d = c.hidden_size as f64;
    let q = (c.num_attention_heads * c.head_dim()) as f64;
    let kv = (c.num_key_value_heads * c.head_dim()) as f64;
    let f = c.intermediate_size as f64;
    let per_layer = 2.0 * (d * q + 2.0 * d * kv + q * d + 3.0 * d * f);
    (per_layer, 2.0 * d * c.vocab_size as f64)
}

/// Elements of a Llama's KV cache at its context: keys and values of every
/// layer, sequence, position and kv head.
fn llama_kv_cache_elements(c: &LlamaConfig) -> u128 {
    [
        c.num_hidden_layers,
        c.batch,
        c.seq_len,
        c.num_key_value_heads,
        c.head_dim(),
    ]
    .iter()
    .fold(2, |n, &d| n * d as u128)
}

fn llama_flops(c: &LlamaConfig) -> FlopBreakdown {
    let b = c.batch as f64;
    let s = c.seq_len as f64;
    let q = (c.num_attention_heads * c.head_dim()) as f64;
    let layers = c.num_hidden_layers as f64;
    let (per_layer, lm_head) = llama_linear_flops_per_token(c);
    FlopBreakdown {
        linear: b * s * (layers * per_layer + lm_head),
        self_attention: b * layers * 4.0 * s * s * q,
        cross_attention: 0.0,
    }
}

/// A Llama decode step: (FLOPs, elements read, KV cache elements).
fn llama_decode(c: &LlamaConfig, parameters: u64) -> (f64, f64, u64) {
    let b = c.batch as f64;
    let s = c.seq_len as f64;
    let q = (c.num_attention_heads * c.head_dim()) as f64;
    let layers = c.num_hidden_layers as f64;
    let (per_layer, lm_head) = llama_linear_flops_per_token(c);
    let flops = b * (layers * (per_layer + 4.0 * s * q) + lm_head);
    let cache = saturate(llama_kv_cache_elements(c));
    // An untied input embedding is read only at the batch's tokens.
    let unread = if c.tie_word_embeddings {
        0.0
    } else {
        ((c.vocab_size as f64) - b).max(0.0) * c.hidden_size as f64
    };
    (flops, parameters as f64 - unread + cache as f64, cache)
}

pub fn cost(config: &ModelConfig) -> CostFigures {
    let flops = match config {
        ModelConfig::Wan(c) => wan_flops(c),
        ModelConfig::Llama(c) => llama_flops(c),
        ModelConfig::Umt5(c) => {
            let (linear, self_attention) = umt5_flops(c);
            FlopBreakdown {
                linear,
                self_attention,
                cross_attention: 0.0,
            }
        }
        ModelConfig::WanVae(c) => {
            let count = decode_count(c);
            FlopBreakdown {
                linear: count.conv_flops,
                self_attention: count.attention_flops,
                cross_attention: 0.0,
            }
        }
    };
    let parameters = parameter_count(config);
    let (decode_flops, decode_read_elements, kv_cache_elements) = match config {
        ModelConfig::Llama(c) => llama_decode(c, parameters),
        _ => (0.0, 0.0, 0),
    };
    let forward = flops.linear + flops.self_attention + flops.cross_attention;
    let per_sample = config.tokens_per_sample() as u64;
    CostFigures {
        parameters,
        tokens_per_sample: per_sample,
        tokens: per_sample * config.batch() as u64,
        forward_flops: forward,
        train_flops: 3.0 * forward,
        linear_flops: flops.linear,
        self_attention_flops: flops.self_attention,
        cross_attention_flops: flops.cross_attention,
        decode_flops,
        decode_read_elements,
        kv_cache_elements,
    }
}

/// Estimated memory of one pass. Activations: forward keeps one layer's
/// working set live (q/k/v, FFN hidden and the attention scores the path
/// keeps: all of a layer's, one tile's, or none); training keeps every
/// layer's saved tensors for the backward pass; decode holds the KV cache
/// beside what the prompt's prefill (a forward) needed to fill it.
///
/// A figure beyond 64 bits (16 EiB) saturates at `u64::MAX`, which no
/// memory limit admits; [`check_counts`] refuses such configurations up front.
pub fn estimate_memory(
    config: &ModelConfig,
    pass: Pass,
    bytes_per_element: u64,
    attention: ScoreMemory,
    tile_score_bytes: u64,
    runtime_bytes: u64,
) -> MemoryEstimate {
    let [weights, gradients, activations, runtime, total] = wide_memory(
        config,
        pass,
        bytes_per_element,
        attention,
        tile_score_bytes,
        runtime_bytes,
    );
    MemoryEstimate {
        weights_bytes: saturate(weights),
        gradients_bytes: saturate(gradients),
        activations_bytes: saturate(activations),
        runtime_bytes: saturate(runtime),
        total_bytes: saturate(total),
    }
}

/// A VAE decode's live elements besides the attention scores: a residual
/// block's working set at the largest activation (input, normed, activated,
/// conv output, shortcut, sum: six of it), the convolutions' frame caches,
/// the latent, and the decoded video twice (the reference concatenates each
/// chunk's frames onto the ones before).
fn vae_activation_elements(c: &WanVaeConfig) -> u128 {
    let count = decode_count(c);
    let latent = (c.batch * c.z_dim) as u128 * c.latent_shape().iter().product::<usize>() as u128;
    let video = (c.batch * 3 * c.frames) as u128 * (c.height * c.width) as u128;
    6 * count.largest_activation + count.cache_elements + 2 * latent + 2 * video
}

fn saturate(n: u128) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// The memory estimate's figures in bytes (weights, gradients, activations,
/// runtime, total), counted in 128 bits: with every dimension within its
/// ceiling ([`crate::model::workload::ceiling`]) the largest, a training pass's
/// kept scores, stays below 2^110.
fn wide_memory(
    config: &ModelConfig,
    pass: Pass,
    bytes_per_element: u64,
    attention: ScoreMemory,
    tile_score_bytes: u64,
    runtime_bytes: u64,
) -> [u128; 5] {
    let train = pass == Pass::Train;
    let bytes = u128::from(bytes_per_element.max(1));
    let params = u128::from(parameter_count(config));
    let kv_cache = match (config, pass) {
        (ModelConfig::Llama(c), Pass::Decode) => llama_kv_cache_elements(c),
        _ => 0,
    };
    let (heads, s, d, ffn, layers, extra) = match config {
        ModelConfig::Wan(c) => (
            c.num_heads,
            c.tokens_per_sample(),
            c.dim,
            c.ffn_dim,
            c.num_layers,
            0u128,
        ),
        ModelConfig::Llama(c) => (
            c.num_attention_heads,
            c.seq_len,
            c.hidden_size,
            c.intermediate_size,
            c.num_hidden_layers,
            // Logits, their log-softmax and, in training, their gradient.
            c.seq_len as u128 * c.vocab_size as u128 * if train { 3 } else { 2 },
        ),
        ModelConfig::Umt5(c) => (
            c.num_heads,
            c.text_len,
            c.dim,
            c.dim_ffn,
            c.num_layers,
            // A layer's position bias [heads, L, L].
            c.num_heads as u128 * (c.text_len as u128).pow(2),
        ),
        // One head over a latent frame's positions; the chunk's working
        // set is counted below.
        ModelConfig::WanVae(c) => (1, c.latent_shape()[1] * c.latent_shape()[2], 0, 0, 0, 0),
    };
    let [heads, s, d, ffn, layers] = [heads, s, d, ffn, layers].map(|n| n as u128);
    let b = config.batch() as u128;
    // Scores and probabilities of one layer's self-attention, in elements
    // (they are computed in f32 whatever the dtype: counted as such).
    let full_scores = 2 * b * heads * s * s * 4 / bytes;
    let live_scores = match attention {
        ScoreMemory::Full => full_scores,
        ScoreMemory::Tile => full_scores.min(2 * u128::from(tile_score_bytes) / bytes),
        ScoreMemory::None => 0,
    };
    // Constants fitted loosely to composite implementations, which keep many
    // intermediates (norm statistics, softmax exponentials) for backward.
    let activations = if let ModelConfig::WanVae(c) = config {
        live_scores + vae_activation_elements(c)
    } else if train {
        let kept_scores = if attention == ScoreMemory::None {
            0
        } else {
            2 * full_scores
        };
        layers * kept_scores + b * (layers * s * (48 * d + 8 * ffn) + extra)
    } else if layers == 0 {
        // No blocks: the embedded tokens in and out, and the head's output.
        b * (s * 2 * d + extra)
    } else {
        live_scores + b * (s * (8 * d + 2 * ffn) + extra)
    };
    let weights = params * bytes;
    let gradients = if train { weights } else { 0 };
    let activations = (activations + kv_cache) * bytes;
    let runtime = u128::from(runtime_bytes);
    [
        weights,
        gradients,
        activations,
        runtime,
        weights + gradients + activations + runtime,
    ]
}

/// Refuses a configuration the cost model cannot count in 64 bits: its
/// tokens, KV cache, or any pass's estimated bytes (f32, every score kept,
/// the largest case it can plan) above 16 EiB. Dimension ceilings keep each
/// dimension sane; this keeps their products honest.
pub fn check_counts(config: &ModelConfig) -> Result<(), String> {
    let tokens = config.tokens_per_sample() as u128 * config.batch() as u128;
    let kv_cache = match config {
        ModelConfig::Llama(c) => llama_kv_cache_elements(c),
        _ => 0,
    };
    let passes = [Pass::Forward, Pass::Train, Pass::Decode];
    let largest = passes
        .iter()
        .map(|&pass| wide_memory(config, pass, 4, ScoreMemory::Full, 0, 0)[4])
        .max()
        .unwrap_or(0);
    if largest > u128::from(u64::MAX)
        || tokens > u128::from(u64::MAX)
        || kv_cache > u128::from(u64::MAX)
    {
        return Err(format!(
            "too large to count: its memory estimate is about {:.1e} bytes, beyond 64 bits (16 EiB); lower --batch or the sequence dimensions",
            largest as f64
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::workload::find_preset;

    fn params(name: &str) -> u64 {
        cost(&find_preset(name).unwrap().config).parameters
    }

    #[test]
    fn parameter_counts_match_published_and_reference_models() {
        assert_eq!(params("wan-tiny"), 141_008);
        assert_eq!(params("wan-small"), 15_742_144);
        assert_eq!(params("wan2.1-1.3b-480p"), 1_418_996_800);
        assert_eq!(params("wan2.1-14b-720p"), 14_288_491_584);
        assert_eq!(params("llama-2-7b"), 6_738_415_616);
        assert_eq!(params("llama-3-8b"), 8_030_261_248);
        assert_eq!(params("llama-2-70b"), 68_976_648_192);
        // Published sizes of the remaining configs.
        assert_eq!(params("llama-3.2-1b"), 1_235_814_400);
        assert_eq!(params("llama-3-70b"), 70_553_706_496);
        let sora = params("sora-3b-guess-720p");
        assert!((2.9e9..3.1e9).contains(&(sora as f64)), "{sora}");
        // Wan2.2's experts are Wan2.1-14B's architecture; TI2V-5B's 48
        // latent channels widen its patch embedding and head.
        assert_eq!(params("wan2.2-t2v-a14b-720p"), params("wan2.1-14b-720p"));
        let ti2v = params("wan2.2-ti2v-5b-720p");
        assert!((4.9e9..5.1e9).contains(&(ti2v as f64)), "{ti2v}");
        // umt5-xxl's encoder: 5.68B, the 11.4 GB of Wan's
        // models_t5_umt5-xxl-enc-bf16.pth at two bytes each.
        assert_eq!(params("umt5-xxl"), 5_680_910_336);
        // Wan2.1's VAE decoder and conv2 as diffusers 0.42.1's
        // AutoencoderKLWan() counts them (decoder + post_quant_conv; its
        // encoder half adds 53,596,928 for the 127M of the Wan paper).
        assert_eq!(params("wan2.1-vae-480p"), 73_295_603);
        assert_eq!(params("wan2.1-vae-720p"), 73_295_603);
    }

    #[test]
    fn umt5_and_vae_flops_by_hand() {
        // umt5-tiny: dim 64, ffn 128, 48 tokens, 2 layers.
        let c = cost(&find_preset("umt5-tiny").unwrap().config);
        let (l, d, f) = (48.0, 64.0, 128.0);
        assert_eq!(c.linear_flops, 2.0 * l * 2.0 * (4.0 * d * d + 3.0 * d * f));
        assert_eq!(c.self_attention_flops, 2.0 * 4.0 * l * l * d);
        // wan-vae-tiny's first chunk alone (one latent frame of 4x4, base
        // width 8: widths 32, 32, 32, 16, 8), every conv by hand.
        let ModelConfig::WanVae(v) = find_preset("wan-vae-tiny").unwrap().config else {
            panic!()
        };
        let one = cost(&ModelConfig::WanVae(v.with_chunks(1)));
        let conv = |i: f64, o: f64, taps: f64, px: f64| 2.0 * i * o * taps * px;
        let res = |i: f64, o: f64, px: f64| {
            conv(i, o, 27.0, px)
                + conv(o, o, 27.0, px)
                + if i != o { conv(i, o, 1.0, px) } else { 0.0 }
        };
        let (p4, p8, p16, p32) = (16.0, 64.0, 256.0, 1024.0);
        let expected = conv(4.0, 4.0, 1.0, p4)
            + conv(4.0, 32.0, 27.0, p4)
            + 2.0 * res(32.0, 32.0, p4)
            + conv(32.0, 96.0, 1.0, p4)
            + conv(32.0, 32.0, 1.0, p4)
            + 3.0 * res(32.0, 32.0, p4)
            + conv(32.0, 16.0, 9.0, p8)
            + res(16.0, 32.0, p8)
            + 2.0 * res(32.0, 32.0, p8)
            + conv(32.0, 16.0, 9.0, p16)
            + 3.0 * res(16.0, 16.0, p16)
            + conv(16.0, 8.0, 9.0, p32)
            + 3.0 * res(8.0, 8.0, p32)
            + conv(8.0, 3.0, 27.0, p32);
        assert_eq!(one.linear_flops, expected);
        assert_eq!(one.self_attention_flops, 4.0 * p4 * p4 * 32.0);
        // Later chunks double frames at each temporal upsample: 9 frames.
        assert_eq!(v.frames, 9);
        assert!(
            cost(&find_preset("wan-vae-tiny").unwrap().config).forward_flops
                > 5.0 * one.forward_flops
        );
    }

    #[test]
    fn wan_tiny_flops_by_hand() {
        // dim 64, ffn 128, 48 tokens, 8 text tokens, 2 layers, batch 1.
        let c = cost(&find_preset("wan-tiny").unwrap().config);
        let (s, d, t, f) = (48.0, 64.0, 8.0, 128.0);
        let patch = 2.0 * s * d * 16.0;
        let text = 2.0 * t * d * 32.0 + 2.0 * t * d * d;
        let time = 2.0 * d * 32.0 + 2.0 * d * d + 2.0 * 6.0 * d * d;
        let layer = 2.0 * s * d * d * 6.0 + 2.0 * t * d * d * 2.0 + 2.0 * 2.0 * s * d * f;
        let head = 2.0 * s * 16.0 * d;
        assert_eq!(c.linear_flops, patch + text + time + 2.0 * layer + head);
        assert_eq!(c.self_attention_flops, 2.0 * 4.0 * s * s * d);
        assert_eq!(c.cross_attention_flops, 2.0 * 4.0 * s * t * d);
        assert_eq!(c.train_flops, 3.0 * c.forward_flops);
        assert_eq!(c.tokens, 48);
    }

    #[test]
    fn llama_flops_are_close_to_two_flops_per_parameter_per_token() {
        // For short sequences the forward is ~2 * (non-embedding params) * tokens.
        let cfg = find_preset("llama-2-7b").unwrap().config;
        let c = cost(&cfg);
        let ModelConfig::Llama(l) = &cfg else {
            panic!()
        };
        let non_embedding = c.parameters as f64 - (l.vocab_size * l.hidden_size) as f64;
        let approx = 2.0 * non_embedding * l.seq_len as f64;
        assert!((c.linear_flops / approx - 1.0).abs() < 1e-3);
        // Attention at 4096 tokens: 4 * S^2 * d * layers.
        assert_eq!(
            c.self_attention_flops,
            4.0 * 4096.0 * 4096.0 * 4096.0 * 32.0
        );
    }

    #[test]
    fn a_decode_step_is_two_flops_per_parameter_plus_attention_over_the_context() {
        let cfg = find_preset("llama-2-70b").unwrap().config;
        let c = cost(&cfg);
        let ModelConfig::Llama(l) = &cfg else {
            panic!()
        };
        let (d, vocab) = (l.hidden_size as f64, l.vocab_size as f64);
        // Every weight but the input embedding is a matmul of one token
        // (but the norms' 1.3M weights: 2e-5 of them).
        let matmul_params = c.parameters as f64 - vocab * d;
        let attention = 80.0 * 4.0 * 4096.0 * 8192.0;
        assert!((c.decode_flops / (2.0 * matmul_params + attention) - 1.0).abs() < 1e-4);
        // GQA: 8 kv heads of 128 over 4,096 positions, keys and values, 80 layers.
        assert_eq!(c.kv_cache_elements, 2 * 80 * 4096 * 8 * 128);
        let read = matmul_params + d + c.kv_cache_elements as f64;
        assert!((c.decode_read_elements / read - 1.0).abs() < 1e-12);
        // Per token, prefill and decode cost about the same FLOPs.
        let prefill_per_token = c.forward_flops / 4096.0;
        assert!((c.decode_flops / prefill_per_token - 1.0).abs() < 0.05);
        // Wan has no decode.
        let wan = cost(&find_preset("wan-small").unwrap().config);
        assert_eq!((wan.decode_flops, wan.kv_cache_elements), (0.0, 0));
    }

    #[test]
    fn video_attention_dominates_at_real_scale() {
        let c = cost(&find_preset("wan2.1-14b-720p").unwrap().config);
        assert!(c.self_attention_flops > c.linear_flops);
        let tiny = cost(&find_preset("wan-tiny").unwrap().config);
        assert!(tiny.self_attention_flops < tiny.linear_flops);
    }

    /// `preset` with `dims` set (the names `run` takes).
    fn with(preset: &str, dims: &[(crate::model::workload::Dimension, usize)]) -> ModelConfig {
        let overrides = dims.iter().copied().collect();
        crate::model::workload::apply_overrides(&find_preset(preset).unwrap().config, &overrides)
    }

    #[test]
    fn counts_beyond_64_bits_are_refused_not_wrapped() {
        use crate::model::workload::{Dimension as D, ceiling};
        // Every dimension valid and within its ceiling; a 1024^3 token grid
        // at the largest batch: one layer's scores alone are 2^81 bytes.
        let huge = with(
            "wan-tiny",
            &[
                (D::Batch, 1 << 16),
                (D::Frames, 4093),
                (D::Height, 16384),
                (D::Width, 16384),
            ],
        );
        huge.validate().unwrap();
        let err = check_counts(&huge).unwrap_err();
        assert!(err.starts_with("too large to count"), "{err}");
        // The estimate saturates instead of wrapping to a small figure.
        let e = estimate_memory(&huge, Pass::Forward, 4, ScoreMemory::Full, 0, 0);
        assert_eq!(e.total_bytes, u64::MAX);
        assert_eq!(e.activations_bytes, u64::MAX);
        // A Llama at every ceiling the model allows: its KV cache is 2^74.
        let mut llama = with(
            "llama-tiny",
            &[
                (D::Batch, ceiling("batch")),
                (D::Layers, 8),
                (D::Dim, ceiling("dim")),
            ],
        );
        if let ModelConfig::Llama(c) = &mut llama {
            c.seq_len = ceiling("seq-len");
            c.max_position_embeddings = c.seq_len;
            c.num_hidden_layers = ceiling("layers");
        }
        llama.validate().unwrap();
        assert!(check_counts(&llama).is_err());
        assert_eq!(cost(&llama).kv_cache_elements, u64::MAX);
        // Every shipped preset counts within 64 bits, and its estimate agrees
        // with the 128-bit sum.
        for p in crate::model::workload::presets() {
            check_counts(&p.config).unwrap_or_else(|e| panic!("{}: {e}", p.name));
            let e = estimate_memory(&p.config, Pass::Train, 4, ScoreMemory::Full, 0, 7);
            assert_eq!(
                e.total_bytes,
                e.weights_bytes + e.gradients_bytes + e.activations_bytes + 7
            );
        }
    }

    #[test]
    fn memory_estimate_scales_with_pass_and_dtype() {
        let cfg = find_preset("wan-small").unwrap().config;
        let full = ScoreMemory::Full;
        let fwd = estimate_memory(&cfg, Pass::Forward, 4, full, 0, 0);
        let train = estimate_memory(&cfg, Pass::Train, 4, full, 0, 0);
        let half = estimate_memory(&cfg, Pass::Train, 2, full, 0, 0);
        assert_eq!(fwd.weights_bytes, 15_742_144 * 4);
        assert_eq!(fwd.gradients_bytes, 0);
        assert_eq!(train.gradients_bytes, train.weights_bytes);
        assert!(train.activations_bytes > fwd.activations_bytes);
        assert_eq!(half.weights_bytes * 2, train.weights_bytes);
        assert!(half.total_bytes < train.total_bytes);
    }

    #[test]
    fn one_real_block_fits_a_24_gb_machine_unless_its_scores_are_materialised() {
        use crate::model::workload::{Dimension, Overrides, apply_overrides};
        let one_block = |name: &str| {
            let overrides = Overrides::from([(Dimension::Layers, 1)]);
            apply_overrides(&find_preset(name).unwrap().config, &overrides)
        };
        let ram = 23.5 * (1u64 << 30) as f64;
        let runtime = 150 << 20;
        for name in [
            "wan2.1-1.3b-480p",
            "wan2.1-1.3b-image-1024",
            "llama-2-7b",
            "llama-2-70b",
        ] {
            let cfg = one_block(name);
            for scores in [ScoreMemory::Tile, ScoreMemory::None] {
                let e = estimate_memory(&cfg, Pass::Forward, 4, scores, 64 << 20, runtime);
                assert!((e.total_bytes as f64) < ram, "{name} {scores:?}: {e:?}");
            }
        }
        let full = estimate_memory(
            &one_block("wan2.1-1.3b-480p"),
            Pass::Forward,
            4,
            ScoreMemory::Full,
            0,
            0,
        );
        assert!(full.total_bytes as f64 > ram);
    }

    #[test]
    fn a_decode_case_holds_its_kv_cache_beside_the_prefill() {
        let cfg = find_preset("llama-small").unwrap().config;
        let none = ScoreMemory::None;
        let forward = estimate_memory(&cfg, Pass::Forward, 4, none, 0, 0);
        let decode = estimate_memory(&cfg, Pass::Decode, 4, none, 0, 0);
        let cache = cost(&cfg).kv_cache_elements * 4;
        assert!(cache > 0);
        assert_eq!(decode.total_bytes, forward.total_bytes + cache);
    }

    #[test]
    fn memory_estimate_follows_the_attention_path() {
        let cfg = find_preset("wan2.1-1.3b-480p").unwrap().config;
        let with =
            |scores| estimate_memory(&cfg, Pass::Forward, 4, scores, 64 << 20, 0).activations_bytes;
        let (full, tile, none) = (
            with(ScoreMemory::Full),
            with(ScoreMemory::Tile),
            with(ScoreMemory::None),
        );
        // 12 heads x 32,760^2 f32 scores and probabilities: about 103 GB.
        assert!(full > 100_000_000_000, "{full}");
        assert_eq!(tile - none, 2 * (64 << 20));
        // One layer's other activations: a few GB, as measured (about 4 GB
        // peak RSS for a one-block model).
        assert!((2_000_000_000..8_000_000_000).contains(&none), "{none}");
        let train = |scores| estimate_memory(&cfg, Pass::Train, 4, scores, 64 << 20, 0).total_bytes;
        assert!(train(ScoreMemory::None) < train(ScoreMemory::Full));
    }
}
