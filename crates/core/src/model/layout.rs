//! Each model's parameters as typed structs, generic over a backend's tensor
//! handle `T`: the one place that maps the reference names of
//! [`crate::model::params`] (`blocks.3.self_attn.q.weight`) to fields. A backend
//! resolves them once when it prepares a case, so a timed step formats no
//! name and searches no map, and every backend reads the same fields. The
//! inputs of one pass, on the device, are here too.

use crate::model::workload::{LlamaConfig, WanConfig};

/// A layer's `weight` and `bias` (a Linear; the patch embedding's Conv3d).
#[derive(Debug, Clone, PartialEq)]
pub struct Linear<T> {
    pub weight: T,
    pub bias: T,
}

impl<T> Linear<T> {
    pub(crate) fn resolve<E>(
        name: &str,
        get: &mut impl FnMut(&str) -> Result<T, E>,
    ) -> Result<Self, E> {
        Ok(Linear {
            weight: get(&format!("{name}.weight"))?,
            bias: get(&format!("{name}.bias"))?,
        })
    }
}

/// `WanSelfAttention` / `WanT2VCrossAttention`: projections, q/k RMSNorms.
#[derive(Debug, Clone, PartialEq)]
pub struct WanAttention<T> {
    pub q: Linear<T>,
    pub k: Linear<T>,
    pub v: Linear<T>,
    pub o: Linear<T>,
    pub norm_q: T,
    pub norm_k: T,
}

impl<T> WanAttention<T> {
    fn resolve<E>(p: &str, get: &mut impl FnMut(&str) -> Result<T, E>) -> Result<Self, E> {
        Ok(WanAttention {
            q: Linear::resolve(&format!("{p}.q"), get)?,
            k: Linear::resolve(&format!("{p}.k"), get)?,
            v: Linear::resolve(&format!("{p}.v"), get)?,
            o: Linear::resolve(&format!("{p}.o"), get)?,
            norm_q: get(&format!("{p}.norm_q.weight"))?,
            norm_k: get(&format!("{p}.norm_k.weight"))?,
        })
    }
}

/// One `WanAttentionBlock`.
#[derive(Debug, Clone, PartialEq)]
pub struct WanBlock<T> {
    /// [1, 6, dim]: shift, scale and gate of self-attention and of the FFN.
    pub modulation: T,
    pub self_attn: WanAttention<T>,
    /// The affine LayerNorm before cross-attention.
    pub norm3: Linear<T>,
    pub cross_attn: WanAttention<T>,
    /// `ffn.0` (dim -> ffn_dim) and `ffn.2` (ffn_dim -> dim).
    pub ffn_in: Linear<T>,
    pub ffn_out: Linear<T>,
}

impl<T> WanBlock<T> {
    /// The block whose parameters are named `{prefix}.…` (`blocks.3`).
    pub fn resolve<E>(prefix: &str, get: &mut impl FnMut(&str) -> Result<T, E>) -> Result<Self, E> {
        let p = prefix;
        Ok(WanBlock {
            modulation: get(&format!("{p}.modulation"))?,
            self_attn: WanAttention::resolve(&format!("{p}.self_attn"), get)?,
            norm3: Linear::resolve(&format!("{p}.norm3"), get)?,
            cross_attn: WanAttention::resolve(&format!("{p}.cross_attn"), get)?,
            ffn_in: Linear::resolve(&format!("{p}.ffn.0"), get)?,
            ffn_out: Linear::resolve(&format!("{p}.ffn.2"), get)?,
        })
    }
}

/// Every parameter of Wan2.1's `WanModel` (t2v).
#[derive(Debug, Clone, PartialEq)]
pub struct WanParams<T> {
    /// The Conv3d patch weight [dim, C, pt, ph, pw] and its bias.
    pub patch_embedding: Linear<T>,
    /// `text_embedding.0` and `.2` (GELU between).
    pub text_in: Linear<T>,
    pub text_out: Linear<T>,
    /// `time_embedding.0` and `.2` (SiLU between).
    pub time_in: Linear<T>,
    pub time_out: Linear<T>,
    /// `time_projection.1`: the six modulation rows of every block.
    pub time_projection: Linear<T>,
    pub blocks: Vec<WanBlock<T>>,
    /// [1, 2, dim]: the head's shift and scale.
    pub head_modulation: T,
    pub head: Linear<T>,
}

impl<T> WanParams<T> {
    /// Resolve every parameter once through `get` (name -> handle).
    pub fn resolve<E>(
        cfg: &WanConfig,
        mut get: impl FnMut(&str) -> Result<T, E>,
    ) -> Result<Self, E> {
        let get = &mut get;
        Ok(WanParams {
            patch_embedding: Linear::resolve("patch_embedding", get)?,
            text_in: Linear::resolve("text_embedding.0", get)?,
            text_out: Linear::resolve("text_embedding.2", get)?,
            time_in: Linear::resolve("time_embedding.0", get)?,
            time_out: Linear::resolve("time_embedding.2", get)?,
            time_projection: Linear::resolve("time_projection.1", get)?,
            blocks: (0..cfg.num_layers)
                .map(|i| WanBlock::resolve(&format!("blocks.{i}"), get))
                .collect::<Result<_, E>>()?,
            head_modulation: get("head.modulation")?,
            head: Linear::resolve("head.head", get)?,
        })
    }
}

/// One `LlamaDecoderLayer` (Llama's projections have no biases).
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaLayer<T> {
    pub input_layernorm: T,
    pub q_proj: T,
    pub k_proj: T,
    pub v_proj: T,
    pub o_proj: T,
    pub post_attention_layernorm: T,
    pub gate_proj: T,
    pub up_proj: T,
    pub down_proj: T,
}

/// Every parameter of Hugging Face's `LlamaForCausalLM`.
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaParams<T> {
    pub embed_tokens: T,
    pub layers: Vec<LlamaLayer<T>>,
    pub norm: T,
    /// `lm_head.weight`; `None` when tied to the embedding.
    pub lm_head: Option<T>,
}

impl<T> LlamaParams<T> {
    /// Resolve every parameter once through `get` (name -> handle).
    pub fn resolve<E>(
        cfg: &LlamaConfig,
        mut get: impl FnMut(&str) -> Result<T, E>,
    ) -> Result<Self, E> {
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let mut weight = |name: &str| get(&format!("model.layers.{i}.{name}.weight"));
            layers.push(LlamaLayer {
                input_layernorm: weight("input_layernorm")?,
                q_proj: weight("self_attn.q_proj")?,
                k_proj: weight("self_attn.k_proj")?,
                v_proj: weight("self_attn.v_proj")?,
                o_proj: weight("self_attn.o_proj")?,
                post_attention_layernorm: weight("post_attention_layernorm")?,
                gate_proj: weight("mlp.gate_proj")?,
                up_proj: weight("mlp.up_proj")?,
                down_proj: weight("mlp.down_proj")?,
            });
        }
        Ok(LlamaParams {
            embed_tokens: get("model.embed_tokens.weight")?,
            layers,
            norm: get("model.norm.weight")?,
            lm_head: if cfg.tie_word_embeddings {
                None
            } else {
                Some(get("lm_head.weight")?)
            },
        })
    }
}

/// The inputs of one Wan pass, on the device.
pub struct WanInputs<T> {
    /// [B, C, F, H, W]
    pub latents: T,
    /// Sinusoidal embedding of each timestep [B, freq_dim].
    pub time_freqs: T,
    /// [B, text_len, text_dim]
    pub context: T,
    /// [B, C_out, F, H, W], f32
    pub target: T,
}

/// The inputs of one Llama pass, on the device.
pub struct LlamaInputs<T> {
    /// Token ids [B, S].
    pub tokens: T,
    /// Next-token targets [B, S].
    pub targets: T,
    /// Where some targets are ignored: each position's loss weight, f32
    /// [B * S] ([`crate::compute::tensors::target_weights`]); `None`: the plain mean.
    pub weights: Option<T>,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::model::params::parameters;
    use crate::model::umt5::Umt5Params;
    use crate::model::wan_vae::WanVaeParams;
    use crate::model::workload::{ModelConfig, find_preset};

    /// Resolve with each handle being its own name: every name the layout
    /// asks for, once each.
    fn names_asked(config: &ModelConfig) -> Vec<String> {
        let mut asked = Vec::new();
        let mut get = |name: &str| -> Result<(), ()> {
            asked.push(name.to_string());
            Ok(())
        };
        match config {
            ModelConfig::Wan(c) => drop(WanParams::resolve(c, &mut get).unwrap()),
            ModelConfig::Llama(c) => drop(LlamaParams::resolve(c, &mut get).unwrap()),
            ModelConfig::Umt5(c) => drop(Umt5Params::resolve(c, &mut get).unwrap()),
            ModelConfig::WanVae(c) => drop(WanVaeParams::resolve(c, &mut get).unwrap()),
        }
        asked
    }

    #[test]
    fn the_layout_reads_every_parameter_of_the_inventory_once() {
        for preset in [
            "wan-tiny",
            "wan-small",
            "llama-tiny",
            "llama-small",
            "llama-3-8b",
            "umt5-tiny",
            "umt5-xxl",
            "wan-vae-tiny",
            "wan2.1-vae-720p",
        ] {
            let config = find_preset(preset).unwrap().config;
            let asked = names_asked(&config);
            let unique: BTreeSet<&String> = asked.iter().collect();
            assert_eq!(unique.len(), asked.len(), "{preset}: a name asked twice");
            let inventory: BTreeSet<String> =
                parameters(&config).into_iter().map(|p| p.name).collect();
            assert_eq!(
                unique.into_iter().cloned().collect::<BTreeSet<_>>(),
                inventory,
                "{preset}"
            );
        }
    }

    #[test]
    fn a_missing_parameter_stops_the_resolution_with_its_error() {
        let ModelConfig::Wan(c) = find_preset("wan-tiny").unwrap().config else {
            panic!()
        };
        let err = WanParams::resolve(&c, |name: &str| {
            if name == "blocks.1.norm3.bias" {
                Err(format!("missing parameter {name}"))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert_eq!(err, "missing parameter blocks.1.norm3.bias");
    }
}
