//! A pass's host inputs, matched to its workload and split the way every
//! backend uploads them: one function instead of the same plumbing in each
//! framework's `prepare`.

use anyhow::{Result, bail};

use crate::compute::tensors::{HostTensor, Inputs, target_weights};
use crate::model::case::{CaseSpec, Pass};
use crate::model::workload::{LlamaConfig, ModelConfig, Umt5Config, WanConfig, WanVaeConfig};

/// The inputs of one case, by the kind of pass the backend builds.
pub enum PassInputs<'a> {
    /// A Wan forward or training step.
    Wan {
        config: &'a WanConfig,
        /// Noisy latents [B, C, F, H, W].
        latents: &'a HostTensor,
        /// Diffusion timestep per sample [B].
        timesteps: &'a [f32],
        /// Text-encoder output [B, text_len, text_dim].
        context: &'a HostTensor,
        /// Flow-matching target [B, C_out, F, H, W], kept in f32.
        target: &'a HostTensor,
    },
    /// A Llama prefill or training step.
    Llama {
        config: &'a LlamaConfig,
        /// Token ids [B, S].
        tokens: &'a [u32],
        targets: Targets<'a>,
    },
    /// A Llama decode step: the KV cache holds each sequence but its last
    /// token (filled while preparing, outside the timed steps), and each
    /// step decodes that last token ([`split_last`] splits them on the host).
    Decode {
        config: &'a LlamaConfig,
        /// Token ids [B, S], whole.
        tokens: &'a [u32],
    },
    /// A text-encoder forward.
    Umt5 {
        config: &'a Umt5Config,
        /// Token ids [B, text_len].
        tokens: &'a [u32],
    },
    /// A VAE decode.
    WanVae {
        config: &'a WanVaeConfig,
        /// Latents [B, z_dim, F, H, W].
        latents: &'a HostTensor,
    },
}

/// Next-token targets [B, S], with the ignored positions (Hugging Face's
/// -100, stored as [`IGNORED_TARGET`](crate::compute::tensors::IGNORED_TARGET)).
pub struct Targets<'a> {
    /// As stored: a backend whose loss has an ignore index uses these.
    pub ids: &'a [u32],
    /// Where some positions are ignored: ids with those set to 0, and each
    /// position's loss weight (1/n at the n counted, 0 at ignored ones);
    /// `None` when every position counts.
    pub weighted: Option<(Vec<u32>, Vec<f32>)>,
}

/// `inputs` of `case`, checked to be of its model family.
pub fn pass_inputs<'a>(case: &'a CaseSpec, inputs: &'a Inputs) -> Result<PassInputs<'a>> {
    Ok(match (&case.workload.config, inputs) {
        (
            ModelConfig::Wan(config),
            Inputs::Wan {
                latents,
                timesteps,
                context,
                target,
            },
        ) => PassInputs::Wan {
            config,
            latents,
            timesteps: timesteps.as_f32()?,
            context,
            target,
        },
        (ModelConfig::Llama(config), Inputs::Llama { tokens, .. }) if case.pass == Pass::Decode => {
            PassInputs::Decode {
                config,
                tokens: tokens.as_u32()?,
            }
        }
        (ModelConfig::Llama(config), Inputs::Llama { tokens, targets }) => {
            let ids = targets.as_u32()?;
            PassInputs::Llama {
                config,
                tokens: tokens.as_u32()?,
                targets: Targets {
                    ids,
                    weighted: target_weights(ids),
                },
            }
        }
        (ModelConfig::Umt5(config), Inputs::Umt5 { tokens }) => PassInputs::Umt5 {
            config,
            tokens: tokens.as_u32()?,
        },
        (ModelConfig::WanVae(config), Inputs::WanVae { latents }) => {
            PassInputs::WanVae { config, latents }
        }
        _ => bail!("inputs do not match the workload's model family"),
    })
}

/// Each sequence of `seq_len` ids split into its first `seq_len - 1` (all
/// sequences' together, [B * (S - 1)]) and its last ([B]).
pub fn split_last(ids: &[u32], seq_len: usize) -> (Vec<u32>, Vec<u32>) {
    let prompt = ids
        .chunks(seq_len)
        .flat_map(|seq| &seq[..seq.len() - 1])
        .copied()
        .collect();
    let last = ids.chunks(seq_len).map(|seq| seq[seq.len() - 1]).collect();
    (prompt, last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::tensors::{IGNORED_TARGET, seeded_inputs};
    use crate::model::case::{AttentionPath, AttentionPlan, DeviceName, Dtype};
    use crate::model::workload::{Overrides, Workload, find_preset};

    fn case(preset: &str, pass: Pass) -> CaseSpec {
        CaseSpec {
            workload: Workload::new(&find_preset(preset).unwrap(), &Overrides::new()).unwrap(),
            backend: "test".into(),
            device: DeviceName::Cpu,
            dtype: Dtype::F32,
            pass,
            seed: 7,
            attention: AttentionPlan {
                path: AttentionPath::Composite,
                tile_score_bytes: 0,
            },
        }
    }

    #[test]
    fn a_decode_splits_each_sequence_before_its_last_token() {
        assert_eq!(
            split_last(&[1, 2, 3, 4, 5, 6], 3),
            (vec![1, 2, 4, 5], vec![3, 6])
        );
        let c = case("llama-tiny", Pass::Decode);
        let inputs = seeded_inputs(&c.workload.config, 7);
        let PassInputs::Decode { config, tokens } = pass_inputs(&c, &inputs).unwrap() else {
            panic!("a decode case gives decode inputs");
        };
        let (prompt, last) = split_last(tokens, config.seq_len);
        assert_eq!(tokens.len(), config.batch * config.seq_len);
        assert_eq!(prompt.len(), config.batch * (config.seq_len - 1));
        assert_eq!(last.len(), config.batch);
        assert_eq!(last[0], tokens[config.seq_len - 1]);
    }

    #[test]
    fn ignored_targets_get_zero_weight_and_the_rest_share_the_mean() {
        let c = case("llama-tiny", Pass::Train);
        let Inputs::Llama { tokens, targets } = seeded_inputs(&c.workload.config, 7) else {
            panic!()
        };
        let mut ids = targets.as_u32().unwrap().to_vec();
        ids[0] = IGNORED_TARGET;
        let n = ids.len();
        let inputs = Inputs::Llama {
            tokens,
            targets: HostTensor::u32(targets.shape.clone(), ids),
        };
        let PassInputs::Llama { targets, .. } = pass_inputs(&c, &inputs).unwrap() else {
            panic!("a train case gives Llama inputs");
        };
        assert_eq!(targets.ids[0], IGNORED_TARGET);
        let (weighted, weights) = targets.weighted.unwrap();
        assert_eq!((weighted[0], weights[0]), (0, 0.0));
        assert!((weights[1] - 1.0 / (n - 1) as f32).abs() < 1e-9);
    }

    #[test]
    fn inputs_of_another_family_are_refused() {
        let c = case("wan-tiny", Pass::Forward);
        let llama = seeded_inputs(&case("llama-tiny", Pass::Forward).workload.config, 7);
        let err = pass_inputs(&c, &llama).err().unwrap().to_string();
        assert!(err.contains("model family"), "{err}");
    }
}
