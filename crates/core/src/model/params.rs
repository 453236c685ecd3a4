//! The parameter inventory of each model: names (exactly as in the PyTorch
//! reference state dicts), shapes and how the seeded source initialises them.
//!
//! The cost model counts parameters from this list and every backend builds
//! its model from it, so the count in the results is the model that ran.

use serde::{Deserialize, Serialize};

use crate::model::umt5::Umt5Config;
use crate::model::wan_vae::WanVaeConfig;
use crate::model::workload::{LlamaConfig, ModelConfig, WanConfig};

/// How the seeded weight source fills a parameter. All draws are uniform
/// with the given standard deviation, so every platform gets identical bits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Init {
    /// Xavier/Glorot uniform over (fan_in, fan_out), as `nn.init.xavier_uniform_`.
    Xavier { fan_in: usize, fan_out: usize },
    /// Zero-mean, given standard deviation.
    Std(f64),
    /// `1 + U` with U zero-mean of the given standard deviation: norm weights
    /// near one but perturbed, so a backend that ignored them would not match.
    OnePlus(f64),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub init: Init,
}

impl ParamSpec {
    pub fn new(name: impl Into<String>, shape: &[usize], init: Init) -> Self {
        ParamSpec {
            name: name.into(),
            shape: shape.to_vec(),
            init,
        }
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

// Small non-zero biases: the reference zero-initialises them, but then a
// backend that dropped a bias would still agree with the others.
const BIAS_STD: f64 = 0.02;
const NORM_STD: f64 = 0.1;

fn linear(out: &mut Vec<ParamSpec>, prefix: &str, fan_in: usize, fan_out: usize, bias: bool) {
    out.push(ParamSpec::new(
        format!("{prefix}.weight"),
        &[fan_out, fan_in],
        Init::Xavier { fan_in, fan_out },
    ));
    if bias {
        out.push(ParamSpec::new(
            format!("{prefix}.bias"),
            &[fan_out],
            Init::Std(BIAS_STD),
        ));
    }
}

fn linear_std(out: &mut Vec<ParamSpec>, prefix: &str, fan_in: usize, fan_out: usize, std: f64) {
    out.push(ParamSpec::new(
        format!("{prefix}.weight"),
        &[fan_out, fan_in],
        Init::Std(std),
    ));
    out.push(ParamSpec::new(
        format!("{prefix}.bias"),
        &[fan_out],
        Init::Std(BIAS_STD),
    ));
}

/// Parameters of Wan2.1's `WanModel` (t2v, qk_norm, cross_attn_norm).
pub fn wan_parameters(c: &WanConfig) -> Vec<ParamSpec> {
    let d = c.dim;
    let mut p = Vec::new();
    let patch_in = c.patch_values(c.in_dim);
    let [pt, ph, pw] = c.patch_size;
    // Conv3d weight [dim, C, pt, ph, pw]; the reference inits it as a flattened xavier.
    p.push(ParamSpec::new(
        "patch_embedding.weight",
        &[d, c.in_dim, pt, ph, pw],
        Init::Xavier {
            fan_in: patch_in,
            fan_out: d,
        },
    ));
    p.push(ParamSpec::new(
        "patch_embedding.bias",
        &[d],
        Init::Std(BIAS_STD),
    ));
    linear_std(&mut p, "text_embedding.0", c.text_dim, d, 0.02);
    linear_std(&mut p, "text_embedding.2", d, d, 0.02);
    linear_std(&mut p, "time_embedding.0", c.freq_dim, d, 0.02);
    linear_std(&mut p, "time_embedding.2", d, d, 0.02);
    linear(&mut p, "time_projection.1", d, 6 * d, true);
    let modulation_std = 1.0 / (d as f64).sqrt();
    for i in 0..c.num_layers {
        let b = format!("blocks.{i}");
        for attn in ["self_attn", "cross_attn"] {
            for proj in ["q", "k", "v", "o"] {
                linear(&mut p, &format!("{b}.{attn}.{proj}"), d, d, true);
            }
            for norm in ["norm_q", "norm_k"] {
                p.push(ParamSpec::new(
                    format!("{b}.{attn}.{norm}.weight"),
                    &[d],
                    Init::OnePlus(NORM_STD),
                ));
            }
        }
        p.push(ParamSpec::new(
            format!("{b}.norm3.weight"),
            &[d],
            Init::OnePlus(NORM_STD),
        ));
        p.push(ParamSpec::new(
            format!("{b}.norm3.bias"),
            &[d],
            Init::Std(BIAS_STD),
        ));
        linear(&mut p, &format!("{b}.ffn.0"), d, c.ffn_dim, true);
        linear(&mut p, &format!("{b}.ffn.2"), c.ffn_dim, d, true);
        p.push(ParamSpec::new(
            format!("{b}.modulation"),
            &[1, 6, d],
            Init::Std(modulation_std),
        ));
    }
    // The reference zero-initialises head.head.weight; a non-zero head keeps
    // the output informative for parity checks.
    linear(&mut p, "head.head", d, c.patch_values(c.out_dim), true);
    p.push(ParamSpec::new(
        "head.modulation",
        &[1, 2, d],
        Init::Std(modulation_std),
    ));
    p
}

/// Parameters of HF transformers' `LlamaForCausalLM` (no biases).
pub fn llama_parameters(c: &LlamaConfig) -> Vec<ParamSpec> {
    let d = c.hidden_size;
    let hd = c.head_dim();
    let q_out = c.num_attention_heads * hd;
    let kv_out = c.num_key_value_heads * hd;
    // HF initialises every Linear and Embedding with normal(0, initializer_range=0.02).
    let std = Init::Std(0.02);
    let mut p = vec![ParamSpec::new(
        "model.embed_tokens.weight",
        &[c.vocab_size, d],
        std,
    )];
    for i in 0..c.num_hidden_layers {
        let l = format!("model.layers.{i}");
        for (name, out, inp) in [
            ("self_attn.q_proj", q_out, d),
            ("self_attn.k_proj", kv_out, d),
            ("self_attn.v_proj", kv_out, d),
            ("self_attn.o_proj", d, q_out),
            ("mlp.gate_proj", c.intermediate_size, d),
            ("mlp.up_proj", c.intermediate_size, d),
            ("mlp.down_proj", d, c.intermediate_size),
        ] {
            p.push(ParamSpec::new(
                format!("{l}.{name}.weight"),
                &[out, inp],
                std,
            ));
        }
        for norm in ["input_layernorm", "post_attention_layernorm"] {
            p.push(ParamSpec::new(
                format!("{l}.{norm}.weight"),
                &[d],
                Init::OnePlus(NORM_STD),
            ));
        }
    }
    p.push(ParamSpec::new(
        "model.norm.weight",
        &[d],
        Init::OnePlus(NORM_STD),
    ));
    if !c.tie_word_embeddings {
        p.push(ParamSpec::new("lm_head.weight", &[c.vocab_size, d], std));
    }
    p
}

/// Parameters of `T5Encoder` (no biases anywhere), with the reference's
/// `init_weights` standard deviations.
pub fn umt5_parameters(c: &Umt5Config) -> Vec<ParamSpec> {
    let (d, a, f) = (c.dim, c.dim_attn, c.dim_ffn);
    let std = |x: usize| Init::Std((x as f64).powf(-0.5));
    let mut p = vec![ParamSpec::new(
        "token_embedding.weight",
        &[c.vocab_size, d],
        Init::Std(1.0),
    )];
    for i in 0..c.num_layers {
        let b = format!("blocks.{i}");
        let norm = |name: &str| {
            ParamSpec::new(format!("{b}.{name}.weight"), &[d], Init::OnePlus(NORM_STD))
        };
        p.push(norm("norm1"));
        for (name, shape, init) in [
            ("attn.q", [a, d], std(d * a)),
            ("attn.k", [a, d], std(d)),
            ("attn.v", [a, d], std(d)),
            ("attn.o", [d, a], std(c.num_heads * a)),
        ] {
            p.push(ParamSpec::new(format!("{b}.{name}.weight"), &shape, init));
        }
        p.push(norm("norm2"));
        for (name, shape, init) in [
            ("ffn.gate.0", [f, d], std(d)),
            ("ffn.fc1", [f, d], std(d)),
            ("ffn.fc2", [d, f], std(f)),
        ] {
            p.push(ParamSpec::new(format!("{b}.{name}.weight"), &shape, init));
        }
        p.push(ParamSpec::new(
            format!("{b}.pos_embedding.embedding.weight"),
            &[c.num_buckets, c.num_heads],
            std(2 * c.num_buckets * c.num_heads),
        ));
    }
    p.push(ParamSpec::new("norm.weight", &[d], Init::OnePlus(NORM_STD)));
    p
}

/// A convolution's weight [out, in, k...] (xavier over the kernel's fan)
/// and bias.
fn conv(p: &mut Vec<ParamSpec>, name: &str, input: usize, out: usize, kernel: &[usize]) {
    let taps: usize = kernel.iter().product();
    let mut shape = vec![out, input];
    shape.extend_from_slice(kernel);
    p.push(ParamSpec::new(
        format!("{name}.weight"),
        &shape,
        Init::Xavier {
            fan_in: input * taps,
            fan_out: out * taps,
        },
    ));
    p.push(ParamSpec::new(
        format!("{name}.bias"),
        &[out],
        Init::Std(BIAS_STD),
    ));
}

/// An `RMS_norm` gamma [C, 1, 1, 1] (video) or [C, 1, 1] (images).
fn gamma(p: &mut Vec<ParamSpec>, name: &str, channels: usize, video: bool) {
    let shape: &[usize] = if video {
        &[channels, 1, 1, 1]
    } else {
        &[channels, 1, 1]
    };
    p.push(ParamSpec::new(
        format!("{name}.gamma"),
        shape,
        Init::OnePlus(NORM_STD),
    ));
}

fn res_block(p: &mut Vec<ParamSpec>, name: &str, input: usize, out: usize) {
    gamma(p, &format!("{name}.residual.0"), input, true);
    conv(p, &format!("{name}.residual.2"), input, out, &[3, 3, 3]);
    gamma(p, &format!("{name}.residual.3"), out, true);
    conv(p, &format!("{name}.residual.6"), out, out, &[3, 3, 3]);
    if input != out {
        conv(p, &format!("{name}.shortcut"), input, out, &[1, 1, 1]);
    }
}

/// Parameters of `WanVAE_.conv2` and `WanVAE_.decoder`.
pub fn wan_vae_parameters(c: &WanVaeConfig) -> Vec<ParamSpec> {
    let mut p = Vec::new();
    conv(&mut p, "conv2", c.z_dim, c.z_dim, &[1, 1, 1]);
    let top = c.decoder_dims()[0];
    conv(&mut p, "decoder.conv1", c.z_dim, top, &[3, 3, 3]);
    res_block(&mut p, "decoder.middle.0", top, top);
    gamma(&mut p, "decoder.middle.1.norm", top, false);
    conv(&mut p, "decoder.middle.1.to_qkv", top, 3 * top, &[1, 1]);
    conv(&mut p, "decoder.middle.1.proj", top, top, &[1, 1]);
    res_block(&mut p, "decoder.middle.2", top, top);
    let mut index = 0;
    let mut out = top;
    for stage in c.decoder_stages() {
        for (input, o) in stage.res_blocks {
            res_block(&mut p, &format!("decoder.upsamples.{index}"), input, o);
            index += 1;
            out = o;
        }
        if let Some(up) = stage.upsample {
            let name = format!("decoder.upsamples.{index}");
            if up.temporal {
                let ch = up.channels;
                conv(&mut p, &format!("{name}.time_conv"), ch, 2 * ch, &[3, 1, 1]);
            }
            conv(
                &mut p,
                &format!("{name}.resample.1"),
                up.channels,
                up.channels / 2,
                &[3, 3],
            );
            index += 1;
        }
    }
    gamma(&mut p, "decoder.head.0", out, true);
    conv(&mut p, "decoder.head.2", out, 3, &[3, 3, 3]);
    p
}

/// Tensors a checkpoint of the model `params` describe may hold as copies
/// of one of its parameters, (copy, parameter): a tied Llama's
/// `lm_head.weight`, which its `state_dict()` saves beside the embedding
/// (a Llama's parameters hold `lm_head.weight` exactly when it is untied).
pub fn tied_copies(params: &[ParamSpec]) -> Vec<(&'static str, &'static str)> {
    let has = |name: &str| params.iter().any(|p| p.name == name);
    match has("model.embed_tokens.weight") && !has("lm_head.weight") {
        true => vec![("lm_head.weight", "model.embed_tokens.weight")],
        false => Vec::new(),
    }
}

pub fn parameters(config: &ModelConfig) -> Vec<ParamSpec> {
    match config {
        ModelConfig::Wan(c) => wan_parameters(c),
        ModelConfig::Llama(c) => llama_parameters(c),
        ModelConfig::Umt5(c) => umt5_parameters(c),
        ModelConfig::WanVae(c) => wan_vae_parameters(c),
    }
}

pub fn parameter_count(config: &ModelConfig) -> u64 {
    parameters(config).iter().map(|p| p.numel() as u64).sum()
}
