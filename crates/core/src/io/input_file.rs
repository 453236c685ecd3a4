//! A workload's inputs from a user's safetensors file, in ditbench's names
//! and layouts or the reference code's (Wan's `WanModel.forward(x, t,
//! context)`, Hugging Face's `LlamaForCausalLM(input_ids, labels)`).
//!
//! Every per-sample tensor comes batched (`[B, ...]`), unbatched (`[...]`,
//! batch 1) or as a list (`NAME.0`, `NAME.1`, ... one per sample, as the
//! official Wan model takes lists of `[C, F, H, W]` latents and `[L, D]`
//! contexts). A text context shorter than `text_len` is zero-padded after
//! its last token, as `WanModel` pads it before the text embedding.
//!
//! Training targets are never made up silently: Llama's come from the file
//! (`targets`, pre-shifted; or Hugging Face `labels`, shifted here, -100
//! ignored as `LlamaForCausalLM` ignores it) or from the file's own tokens
//! (next-token, the last position ignored); Wan's come from the file's
//! `target`, or seeded ones only when the run asks for them.

use std::path::Path;

use anyhow::{Result, bail};

use crate::compute::tensors::{HF_IGNORE_INDEX, HostTensor, IGNORED_TARGET, Inputs, seeded_inputs};
use crate::io::files::SafetensorsFile;
use crate::model::workload::{LlamaConfig, ModelConfig, WanConfig};

/// One input and the names it is accepted under (ditbench's first).
struct Accepted {
    names: &'static [&'static str],
}

const WAN_LATENTS: Accepted = Accepted {
    names: &["latents", "x"],
};
const WAN_TIMESTEPS: Accepted = Accepted {
    names: &["timesteps", "timestep", "t"],
};
const WAN_CONTEXT: Accepted = Accepted {
    names: &["context"],
};
const WAN_TARGET: Accepted = Accepted { names: &["target"] };
const LLAMA_TOKENS: Accepted = Accepted {
    names: &["tokens", "input_ids"],
};
const LLAMA_TARGETS: Accepted = Accepted {
    names: &["targets"],
};
const VAE_LATENTS: Accepted = Accepted {
    names: &["latents", "z"],
};
const LLAMA_LABELS: Accepted = Accepted { names: &["labels"] };
const LLAMA_MASK: Accepted = Accepted {
    names: &["attention_mask"],
};

fn accepted(config: &ModelConfig) -> Vec<&'static Accepted> {
    match config {
        ModelConfig::Wan(_) => vec![&WAN_LATENTS, &WAN_TIMESTEPS, &WAN_CONTEXT, &WAN_TARGET],
        ModelConfig::Llama(_) => vec![&LLAMA_TOKENS, &LLAMA_TARGETS, &LLAMA_LABELS, &LLAMA_MASK],
        ModelConfig::Umt5(_) => vec![&LLAMA_TOKENS],
        ModelConfig::WanVae(_) => vec![&VAE_LATENTS],
    }
}

/// What a training target missing from the file becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingTarget {
    /// A training pass needs it: refuse.
    Refuse,
    /// `--seeded-targets`: the seeded target, said so.
    Seeded,
    /// No pass reads it (forward, decode): a seeded placeholder.
    Unused,
}

/// Where the training targets came from, for the terminal and the results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSource {
    /// A tensor of the file, as given (`target`, `targets`).
    File(String),
    /// Hugging Face `labels`, shifted by one; -100 and the last position ignored.
    Labels,
    /// The next token of the file's own tokens; the last position ignored.
    NextToken(String),
    /// Seeded, as `--seeded-targets` asked.
    Seeded,
    /// Seeded, read by no pass of the run.
    Unused,
}

impl TargetSource {
    pub fn describe(&self) -> String {
        match self {
            TargetSource::File(name) => format!("'{name}' from the file"),
            TargetSource::Labels => {
                "Hugging Face 'labels' from the file, shifted by one (-100 and the last position ignored)"
                    .into()
            }
            TargetSource::NextToken(name) => format!(
                "the next token of the file's '{name}' (the last position ignored)"
            ),
            TargetSource::Seeded => "seeded (--seeded-targets)".into(),
            TargetSource::Unused => "none (no pass of this run reads a target)".into(),
        }
    }
}

/// Inputs read from a file, and where their training targets came from.
#[derive(Debug)]
pub struct InputFile {
    pub inputs: Inputs,
    pub targets: TargetSource,
}

/// The one name of `input` the file uses, as a whole tensor or as a list
/// (`NAME.0`, ...); `None` when it uses none.
fn present(file: &SafetensorsFile, input: &Accepted) -> Result<Option<String>> {
    let names = file.names();
    let found: Vec<&str> = input
        .names
        .iter()
        .copied()
        .filter(|n| {
            names
                .iter()
                .any(|x| x == n || x.strip_prefix(n).is_some_and(is_list_suffix))
        })
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.to_string())),
        many => bail!(
            "{} gives the same input as {}: give one",
            file.path().display(),
            many.iter()
                .map(|n| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(" and ")
        ),
    }
}

/// `.N`, the suffix of a list element's name.
fn is_list_suffix(rest: &str) -> bool {
    rest.strip_prefix('.')
        .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
}

/// Refuse tensors the workload does not take, listing those it does.
fn check_names(file: &SafetensorsFile, config: &ModelConfig) -> Result<()> {
    let inputs = accepted(config);
    let unknown: Vec<String> = file
        .names()
        .into_iter()
        .filter(|x| {
            !inputs.iter().any(|i| {
                i.names
                    .iter()
                    .any(|n| x == n || x.strip_prefix(n).is_some_and(is_list_suffix))
            })
        })
        .collect();
    if let Some(first) = unknown.first() {
        let list: Vec<String> = inputs
            .iter()
            .map(|i| match i.names {
                [one] => one.to_string(),
                [first, rest @ ..] => format!("{first} (or {})", rest.join(", ")),
                [] => String::new(),
            })
            .collect();
        bail!(
            "{}: unknown input '{first}'{}; a {} workload takes {} (each per-sample tensor also as NAME.0, NAME.1, ...)",
            file.path().display(),
            if unknown.len() > 1 {
                format!(" and {} more", unknown.len() - 1)
            } else {
                String::new()
            },
            match config {
                ModelConfig::Wan(_) => "Wan",
                ModelConfig::Llama(_) => "Llama",
                ModelConfig::Umt5(_) => "UMT5",
                ModelConfig::WanVae(_) => "Wan VAE",
            },
            list.join(", ")
        );
    }
    Ok(())
}

/// One sample's tensor: its shape and values.
struct Sample<T> {
    shape: Vec<usize>,
    values: Vec<T>,
}

/// The `batch` samples of `name`: batched (`rank + 1` axes, the first the
/// batch), unbatched (`rank` axes, batch 1) or listed (`name.0` ...).
fn samples<T: Clone>(
    file: &SafetensorsFile,
    name: &str,
    rank: usize,
    batch: usize,
    read: &dyn Fn(&str) -> Result<Sample<T>>,
) -> Result<Vec<Sample<T>>> {
    let path = file.path().display();
    let listed: Vec<String> = file
        .names()
        .into_iter()
        .filter(|x| x.strip_prefix(name).is_some_and(is_list_suffix))
        .collect();
    let whole = file.names().iter().any(|x| x == name);
    if whole && !listed.is_empty() {
        bail!(
            "{path}: '{name}' is given both whole and as a list ('{}')",
            listed[0]
        );
    }
    if !listed.is_empty() {
        if listed.len() != batch {
            bail!(
                "{path}: '{name}' lists {} samples, the workload's batch is {batch}",
                listed.len()
            );
        }
        return (0..batch)
            .map(|i| {
                let element = format!("{name}.{i}");
                if !listed.contains(&element) {
                    bail!("{path}: '{name}' lists no '{element}' (elements are {name}.0 to {name}.{})", batch - 1);
                }
                let Sample { shape, values } = read(&element)?;
                if shape.len() != rank {
                    bail!("{path}: '{element}' has shape {shape:?}; one sample has {rank} axes");
                }
                Ok(Sample { shape, values })
            })
            .collect();
    }
    let Sample { shape, values } = read(name)?;
    if shape.len() == rank + 1 {
        if shape[0] != batch {
            bail!(
                "{path}: '{name}' has shape {shape:?}: a batch of {}, the workload's is {batch}",
                shape[0]
            );
        }
        // Exactly `batch` samples of the remaining axes, also when one of
        // them is 0 (empty samples, which the caller's shape check refuses).
        let each: usize = shape[1..].iter().product();
        return Ok((0..batch)
            .map(|i| Sample {
                shape: shape[1..].to_vec(),
                values: values[i * each..(i + 1) * each].to_vec(),
            })
            .collect());
    }
    if shape.len() == rank && batch == 1 {
        return Ok(vec![Sample { shape, values }]);
    }
    bail!(
        "{path}: '{name}' has shape {shape:?}; expected {} axes (batched){}",
        rank + 1,
        if batch == 1 {
            format!(" or {rank} (one sample)")
        } else {
            String::new()
        }
    )
}

fn floats(file: &SafetensorsFile) -> impl Fn(&str) -> Result<Sample<f32>> + '_ {
    |name| {
        let t = file.float(name)?;
        let shape = t.shape.clone();
        Ok(Sample {
            shape,
            values: t.as_f32()?.to_vec(),
        })
    }
}

fn integers(file: &SafetensorsFile) -> impl Fn(&str) -> Result<Sample<i64>> + '_ {
    |name| {
        let (shape, values) = file.integers(name)?;
        Ok(Sample { shape, values })
    }
}

/// Timesteps as f32, from a floating-point or an integer tensor: Wan's own
/// pipeline passes int64 timesteps, which `WanModel` converts.
fn timestep_values(file: &SafetensorsFile) -> impl Fn(&str) -> Result<Sample<f32>> + '_ {
    use safetensors::Dtype as D;
    |name| match file.dtype(name) {
        Some(D::I8 | D::I16 | D::I32 | D::I64 | D::U8 | D::U16 | D::U32 | D::U64) => {
            let (shape, values) = file.integers(name)?;
            Ok(Sample {
                shape,
                values: values.into_iter().map(|v| v as f32).collect(),
            })
        }
        _ => floats(file)(name),
    }
}

/// Samples of one fixed shape, stacked into `[batch, ...shape]`.
fn stacked(
    file: &SafetensorsFile,
    name: &str,
    samples: Vec<Sample<f32>>,
    shape: &[usize],
) -> Result<HostTensor> {
    let mut values = Vec::with_capacity(samples.len() * shape.iter().product::<usize>());
    for (i, s) in samples.iter().enumerate() {
        if s.shape != shape {
            bail!(
                "{}: '{name}' sample {i} has shape {:?}, the workload needs {shape:?}",
                file.path().display(),
                s.shape
            );
        }
        values.extend_from_slice(&s.values);
    }
    let mut full = vec![samples.len()];
    full.extend_from_slice(shape);
    Ok(HostTensor::f32(full, values))
}

/// One timestep per sample, or one for the whole batch, as [B].
fn wan_timesteps(file: &SafetensorsFile, t_name: &str, b: usize) -> Result<HostTensor> {
    let path = file.path().display();
    let (t_shape, t_values) = if file.names().iter().any(|n| n == t_name) {
        let t = timestep_values(file)(t_name)?;
        (t.shape, t.values)
    } else {
        let s = samples(file, t_name, 0, b, &timestep_values(file))?;
        (vec![b], s.into_iter().flat_map(|s| s.values).collect())
    };
    Ok(match (t_shape.as_slice(), t_values.as_slice()) {
        ([n], _) if *n == b => HostTensor::f32(vec![b], t_values),
        ([] | [1], [t]) => HostTensor::f32(vec![b], vec![*t; b]),
        _ => bail!(
            "{path}: '{t_name}' has shape {t_shape:?}; expected [{b}] (one per sample) or one value for the batch"
        ),
    })
}

/// Contexts of up to text_len tokens each, zero-padded after the last, as
/// [B, text_len, text_dim].
fn padded_contexts(file: &SafetensorsFile, name: &str, c: &WanConfig) -> Result<HostTensor> {
    let path = file.path().display();
    let b = c.batch;
    let context = samples(file, name, 2, b, &floats(file))?;
    let mut values = Vec::with_capacity(b * c.text_len * c.text_dim);
    for (i, s) in context.iter().enumerate() {
        let [len, dim] = s.shape[..] else {
            unreachable!("samples() returns rank-2 contexts")
        };
        if dim != c.text_dim || len > c.text_len || len == 0 {
            bail!(
                "{path}: 'context' sample {i} has shape {:?}; the workload takes 1 to {} tokens of width {}",
                s.shape,
                c.text_len,
                c.text_dim
            );
        }
        values.extend_from_slice(&s.values);
        values.resize(values.len() + (c.text_len - len) * dim, 0.0);
    }
    Ok(HostTensor::f32(vec![b, c.text_len, c.text_dim], values))
}

fn wan_inputs(
    file: &SafetensorsFile,
    c: &WanConfig,
    seeded_target: &dyn Fn() -> HostTensor,
    missing: MissingTarget,
) -> Result<InputFile> {
    let path = file.path().display();
    let b = c.batch;
    let [f, h, w] = c.latent_shape();
    let need = |input: &Accepted| need(file, input);
    let latents_name = need(&WAN_LATENTS)?;
    let latents = samples(file, &latents_name, 4, b, &floats(file))?;
    let latents = stacked(file, &latents_name, latents, &[c.in_dim, f, h, w])?;

    let timesteps = wan_timesteps(file, &need(&WAN_TIMESTEPS)?, b)?;
    let context = padded_contexts(file, &need(&WAN_CONTEXT)?, c)?;

    let (target, targets) = match present(file, &WAN_TARGET)? {
        Some(name) => {
            let s = samples(file, &name, 4, b, &floats(file))?;
            (
                stacked(file, &name, s, &[c.out_dim, f, h, w])?,
                TargetSource::File(name),
            )
        }
        None => match missing {
            MissingTarget::Refuse => bail!(
                "{path} has no 'target' for the training pass: add the flow-matching target [B, C_out, F, H, W], or pass --seeded-targets to train on seeded ones"
            ),
            MissingTarget::Seeded => (seeded_target(), TargetSource::Seeded),
            MissingTarget::Unused => (seeded_target(), TargetSource::Unused),
        },
    };
    Ok(InputFile {
        inputs: Inputs::Wan {
            latents,
            timesteps,
            context,
            target,
        },
        targets,
    })
}

/// Token ids of one sample, each in `[0, vocab)` or, where `ignorable`,
/// the ignore index (-100).
fn token_ids(
    file: &SafetensorsFile,
    name: &str,
    values: &[i64],
    vocab: usize,
    ignorable: bool,
) -> Result<Vec<u32>> {
    values
        .iter()
        .map(|&v| {
            if ignorable && v == HF_IGNORE_INDEX {
                Ok(IGNORED_TARGET)
            } else if (0..vocab as i64).contains(&v) {
                Ok(v as u32)
            } else {
                bail!(
                    "{}: '{name}' holds {v}, outside the vocabulary [0, {vocab}){}",
                    file.path().display(),
                    if ignorable {
                        " and not the ignore index -100"
                    } else {
                        ""
                    }
                )
            }
        })
        .collect()
}

/// The geometry token ids are checked against: Llama's sequences, or the
/// text encoder's prompts.
struct Sequences {
    batch: usize,
    seq_len: usize,
    vocab_size: usize,
}

impl From<&LlamaConfig> for Sequences {
    fn from(c: &LlamaConfig) -> Self {
        Sequences {
            batch: c.batch,
            seq_len: c.seq_len,
            vocab_size: c.vocab_size,
        }
    }
}

/// `[batch, seq_len]` ids of `name` (batched, unbatched or listed).
fn id_rows(
    file: &SafetensorsFile,
    name: &str,
    c: &Sequences,
    ignorable: bool,
) -> Result<Vec<Vec<u32>>> {
    samples(file, name, 1, c.batch, &integers(file))?
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            if s.shape != [c.seq_len] {
                bail!(
                    "{}: '{name}' sample {i} has {} positions, the workload's seq-len is {}",
                    file.path().display(),
                    s.shape.first().copied().unwrap_or(0),
                    c.seq_len
                );
            }
            token_ids(file, name, &s.values, c.vocab_size, ignorable)
        })
        .collect()
}

/// Position `i` predicts token `i + 1`; the last position predicts nothing.
fn shifted(row: &[u32]) -> Vec<u32> {
    let mut out: Vec<u32> = row.iter().skip(1).copied().collect();
    out.push(IGNORED_TARGET);
    out
}

/// The name under which the file holds `input`, or an error naming it.
fn need(file: &SafetensorsFile, input: &Accepted) -> Result<String> {
    present(file, input)?.ok_or_else(|| {
        anyhow::anyhow!(
            "{} has no '{}' (accepted names: {})",
            file.path().display(),
            input.names[0],
            input.names.join(", ")
        )
    })
}

fn llama_inputs(file: &SafetensorsFile, c: &LlamaConfig) -> Result<InputFile> {
    let path = file.path().display();
    let tokens_name = need(file, &LLAMA_TOKENS)?;
    let sequences = Sequences::from(c);
    let tokens = id_rows(file, &tokens_name, &sequences, false)?;
    // Padding would need a mask in attention; only all-ones masks are taken.
    if let Some(mask) = present(file, &LLAMA_MASK)? {
        let rows = samples(file, &mask, 1, c.batch, &integers(file))?;
        if rows
            .iter()
            .any(|r| r.shape != [c.seq_len] || r.values.iter().any(|&v| v != 1))
        {
            bail!(
                "{path}: 'attention_mask' masks positions: padded sequences are not supported (give unpadded rows of seq-len tokens)"
            );
        }
    }
    let (rows, targets) = match (
        present(file, &LLAMA_TARGETS)?,
        present(file, &LLAMA_LABELS)?,
    ) {
        (Some(_), Some(_)) => bail!(
            "{path} has both 'targets' (pre-shifted) and 'labels' (Hugging Face, unshifted): give one"
        ),
        (Some(name), None) => (
            id_rows(file, &name, &sequences, true)?,
            TargetSource::File(name),
        ),
        (None, Some(name)) => (
            id_rows(file, &name, &sequences, true)?
                .iter()
                .map(|r| shifted(r))
                .collect(),
            TargetSource::Labels,
        ),
        (None, None) => (
            tokens.iter().map(|r| shifted(r)).collect(),
            TargetSource::NextToken(tokens_name.clone()),
        ),
    };
    let targets_flat: Vec<u32> = rows.into_iter().flatten().collect();
    if targets_flat.iter().all(|&t| t == IGNORED_TARGET) {
        bail!("{path}: the targets ignore every position: there is no loss to compute");
    }
    let shape = vec![c.batch, c.seq_len];
    Ok(InputFile {
        inputs: Inputs::Llama {
            tokens: HostTensor::u32(shape.clone(), tokens.into_iter().flatten().collect()),
            targets: HostTensor::u32(shape, targets_flat),
        },
        targets,
    })
}

/// Inputs from the safetensors file at `path`, checked against the
/// workload's shapes; see the module documentation for the names and
/// layouts taken, and `missing` for a training target the file lacks.
pub fn load_inputs(
    path: &Path,
    config: &ModelConfig,
    seed: u64,
    missing: MissingTarget,
) -> Result<InputFile> {
    let file = SafetensorsFile::open(path)?;
    check_names(&file, config)?;
    match config {
        ModelConfig::Wan(c) => {
            let seeded_target = || match seeded_inputs(config, seed) {
                Inputs::Wan { target, .. } => target,
                _ => unreachable!("seeded inputs follow the config's family"),
            };
            wan_inputs(&file, c, &seeded_target, missing)
        }
        ModelConfig::Llama(c) => llama_inputs(&file, c),
        ModelConfig::Umt5(c) => {
            let name = need(&file, &LLAMA_TOKENS)?;
            let geometry = Sequences {
                batch: c.batch,
                seq_len: c.text_len,
                vocab_size: c.vocab_size,
            };
            let ids = id_rows(&file, &name, &geometry, false)?;
            Ok(InputFile {
                inputs: Inputs::Umt5 {
                    tokens: HostTensor::u32(
                        vec![c.batch, c.text_len],
                        ids.into_iter().flatten().collect(),
                    ),
                },
                targets: TargetSource::Unused,
            })
        }
        ModelConfig::WanVae(c) => {
            let name = need(&file, &VAE_LATENTS)?;
            let [f, h, w] = c.latent_shape();
            let latents = samples(&file, &name, 4, c.batch, &floats(&file))?;
            Ok(InputFile {
                inputs: Inputs::WanVae {
                    latents: stacked(&file, &name, latents, &[c.z_dim, f, h, w])?,
                },
                targets: TargetSource::Unused,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::fs;
    use std::path::PathBuf;

    use super::*;
    use crate::io::files::{encode, input_tensors};
    use crate::model::workload::{Dimension, apply_overrides, find_preset};

    fn write(dir: &Path, name: &str, tensors: &[(&str, HostTensor)]) -> PathBuf {
        let named: Vec<(String, HostTensor)> = tensors
            .iter()
            .map(|(n, t)| (n.to_string(), t.clone()))
            .collect();
        let path = dir.join(name);
        fs::write(&path, encode(&named, HashMap::new()).unwrap()).unwrap();
        path
    }

    fn err(path: &Path, config: &ModelConfig, missing: MissingTarget) -> String {
        format!("{:#}", load_inputs(path, config, 0, missing).unwrap_err())
    }

    /// Integer tensors with values ditbench's `u32` cannot hold (-100).
    fn ids(dir: &Path, name: &str, tensors: &[(&str, Vec<usize>, Vec<i64>)]) -> PathBuf {
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
            .iter()
            .map(|(n, shape, v)| {
                let data = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                (n.to_string(), shape.clone(), data)
            })
            .collect();
        let views: Vec<(&str, safetensors::tensor::TensorView<'_>)> = bytes
            .iter()
            .map(|(n, shape, data)| {
                let view = safetensors::tensor::TensorView::new(
                    safetensors::Dtype::I64,
                    shape.clone(),
                    data,
                )
                .unwrap();
                (n.as_str(), view)
            })
            .collect();
        let path = dir.join(name);
        fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
        path
    }

    #[test]
    fn ditbench_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        for preset in ["wan-tiny", "llama-tiny"] {
            let config = find_preset(preset).unwrap().config;
            let inputs = seeded_inputs(&config, 4);
            let tensors = input_tensors(&inputs);
            let named: Vec<(&str, HostTensor)> = tensors
                .iter()
                .map(|(n, t)| (n.as_str(), t.clone()))
                .collect();
            let path = write(dir.path(), &format!("{preset}.safetensors"), &named);
            let loaded = load_inputs(&path, &config, 0, MissingTarget::Refuse).unwrap();
            assert_eq!(input_tensors(&loaded.inputs), tensors);
            assert!(
                matches!(loaded.targets, TargetSource::File(_)),
                "{:?}",
                loaded.targets
            );
        }
    }

    #[test]
    fn wan_takes_the_reference_layouts_and_pads_a_short_context() {
        let dir = tempfile::tempdir().unwrap();
        let config = find_preset("wan-tiny").unwrap().config;
        let ModelConfig::Wan(c) = &config else {
            unreachable!()
        };
        let Inputs::Wan {
            latents,
            timesteps,
            context,
            target,
        } = seeded_inputs(&config, 0)
        else {
            unreachable!()
        };
        // WanModel.forward(x=[latent], t, context=[u]): an unbatched latent,
        // one timestep, a 3-token context as a list.
        let unbatched =
            |t: &HostTensor| HostTensor::f32(t.shape[1..].to_vec(), t.as_f32().unwrap().to_vec());
        let short = 3 * c.text_dim;
        let u = HostTensor::f32(
            vec![3, c.text_dim],
            context.as_f32().unwrap()[..short].to_vec(),
        );
        let t = HostTensor::f32(vec![], vec![timesteps.as_f32().unwrap()[0]]);
        let path = write(
            dir.path(),
            "reference.safetensors",
            &[
                ("x", unbatched(&latents)),
                ("timestep", t),
                ("context.0", u),
            ],
        );
        let loaded = load_inputs(&path, &config, 0, MissingTarget::Unused).unwrap();
        let Inputs::Wan {
            latents: l,
            timesteps: ts,
            context: ctx,
            ..
        } = &loaded.inputs
        else {
            unreachable!()
        };
        assert_eq!(l, &latents);
        assert_eq!(ts, &timesteps);
        assert_eq!(ctx.shape, context.shape);
        let ctx = ctx.as_f32().unwrap();
        assert_eq!(&ctx[..short], &context.as_f32().unwrap()[..short]);
        assert!(
            ctx[short..].iter().all(|&v| v == 0.0),
            "zero-padded after the last token"
        );
        assert_eq!(loaded.targets, TargetSource::Unused);
        // A training pass: no silent target.
        let e = err(&path, &config, MissingTarget::Refuse);
        assert!(
            e.contains("has no 'target' for the training pass") && e.contains("--seeded-targets"),
            "{e}"
        );
        let seeded = load_inputs(&path, &config, 0, MissingTarget::Seeded).unwrap();
        assert_eq!(seeded.targets, TargetSource::Seeded);
        let Inputs::Wan { target: st, .. } = &seeded.inputs else {
            unreachable!()
        };
        assert_eq!(st, &target);

        // Refusals, each naming what is wrong.
        let long = HostTensor::f32(
            vec![1, c.text_len + 1, c.text_dim],
            vec![0.0; (c.text_len + 1) * c.text_dim],
        );
        let cases: Vec<(Vec<(&str, HostTensor)>, &str)> = vec![
            (
                vec![("x", unbatched(&latents)), ("latents", latents.clone())],
                "give one",
            ),
            (
                vec![
                    ("latents", latents.clone()),
                    ("t", timesteps.clone()),
                    ("context", long),
                ],
                "1 to 8 tokens",
            ),
            (
                vec![
                    ("latents", latents.clone()),
                    ("t", timesteps.clone()),
                    ("context", context.clone()),
                    ("clip_fea", context.clone()),
                ],
                "unknown input 'clip_fea'",
            ),
            (
                vec![("latents", latents.clone()), ("context", context.clone())],
                "has no 'timesteps' (accepted names: timesteps, timestep, t)",
            ),
            (
                vec![
                    ("latents.1", unbatched(&latents)),
                    ("t", timesteps.clone()),
                    ("context", context.clone()),
                ],
                "lists no 'latents.0'",
            ),
        ];
        for (i, (tensors, message)) in cases.into_iter().enumerate() {
            let path = write(dir.path(), &format!("bad{i}.safetensors"), &tensors);
            let e = err(&path, &config, MissingTarget::Unused);
            assert!(e.contains(message), "{i}: {e}");
        }
        let e = err(
            &path,
            &find_preset("llama-tiny").unwrap().config,
            MissingTarget::Unused,
        );
        assert!(
            e.contains(
                "a Llama workload takes tokens (or input_ids), targets, labels, attention_mask"
            ),
            "{e}"
        );
    }

    #[test]
    fn llama_targets_come_from_the_users_data_as_hugging_face_shifts_them() {
        let dir = tempfile::tempdir().unwrap();
        let config = apply_overrides(
            &find_preset("llama-tiny").unwrap().config,
            &[(Dimension::SeqLen, 4)].into_iter().collect(),
        );
        let targets_of = |path: &Path| {
            let f = load_inputs(path, &config, 0, MissingTarget::Refuse).unwrap();
            let Inputs::Llama { tokens, targets } = f.inputs else {
                unreachable!()
            };
            (
                tokens.as_u32().unwrap().to_vec(),
                targets.as_u32().unwrap().to_vec(),
                f.targets,
            )
        };
        let x = IGNORED_TARGET;
        // input_ids alone: the next token, the last position ignored.
        let p = ids(
            dir.path(),
            "ids.safetensors",
            &[("input_ids", vec![4], vec![5, 6, 7, 8])],
        );
        assert_eq!(
            targets_of(&p),
            (
                vec![5, 6, 7, 8],
                vec![6, 7, 8, x],
                TargetSource::NextToken("input_ids".into())
            )
        );
        // HF labels, -100 ignored, shifted here.
        let p = ids(
            dir.path(),
            "labels.safetensors",
            &[
                ("input_ids", vec![1, 4], vec![5, 6, 7, 8]),
                ("labels", vec![1, 4], vec![-100, -100, 7, 8]),
                ("attention_mask", vec![1, 4], vec![1, 1, 1, 1]),
            ],
        );
        assert_eq!(
            targets_of(&p),
            (vec![5, 6, 7, 8], vec![x, 7, 8, x], TargetSource::Labels)
        );
        // ditbench's pre-shifted targets may carry -100 too.
        let p = ids(
            dir.path(),
            "targets.safetensors",
            &[
                ("tokens", vec![4], vec![5, 6, 7, 8]),
                ("targets", vec![4], vec![6, -100, 8, 9]),
            ],
        );
        assert_eq!(targets_of(&p).1, vec![6, x, 8, 9]);
        for (i, (tensors, message)) in [
            (
                vec![
                    ("input_ids", vec![4], vec![5, 6, 7, 8]),
                    ("labels", vec![4], vec![5, -5, 7, 8]),
                ],
                "holds -5, outside the vocabulary [0, 256) and not the ignore index",
            ),
            (
                vec![("input_ids", vec![4], vec![5, 6, 7, -100])],
                "holds -100, outside the vocabulary [0, 256)",
            ),
            (
                vec![
                    ("input_ids", vec![4], vec![5, 6, 7, 8]),
                    ("labels", vec![4], vec![5, -100, -100, -100]),
                ],
                "ignore every position",
            ),
            (
                vec![
                    ("input_ids", vec![4], vec![5, 6, 7, 8]),
                    ("labels", vec![4], vec![5, 6, 7, 8]),
                    ("targets", vec![4], vec![5, 6, 7, 8]),
                ],
                "give one",
            ),
            (
                vec![
                    ("input_ids", vec![4], vec![5, 6, 7, 8]),
                    ("attention_mask", vec![4], vec![0, 1, 1, 1]),
                ],
                "padded sequences are not supported",
            ),
            (
                vec![("input_ids", vec![5], vec![5, 6, 7, 8, 9])],
                "has 5 positions, the workload's seq-len is 4",
            ),
            (
                vec![("input_ids", vec![2, 4], vec![5, 6, 7, 8, 5, 6, 7, 8])],
                "a batch of 2, the workload's is 1",
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let p = ids(dir.path(), &format!("bad{i}.safetensors"), &tensors);
            let e = err(&p, &config, MissingTarget::Refuse);
            assert!(e.contains(message), "{i}: {e}");
        }
    }

    #[test]
    fn a_zero_size_axis_anywhere_is_refused_as_a_shape_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let wan = find_preset("wan-tiny").unwrap().config;
        let ModelConfig::Wan(c) = &wan else {
            unreachable!()
        };
        let Inputs::Wan {
            latents,
            timesteps,
            context,
            ..
        } = seeded_inputs(&wan, 0)
        else {
            unreachable!()
        };
        let [f, h, w] = c.latent_shape();
        let empty = |shape: Vec<usize>| HostTensor::f32(shape, vec![]);
        for (i, (name, tensor, message)) in [
            (
                "context",
                empty(vec![1, 0, c.text_dim]),
                "takes 1 to 8 tokens",
            ),
            ("context", empty(vec![1, 8, 0]), "takes 1 to 8 tokens"),
            (
                "latents",
                empty(vec![1, c.in_dim, 0, h, w]),
                "the workload needs",
            ),
            (
                "latents",
                empty(vec![1, c.in_dim, f, h, 0]),
                "the workload needs",
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let mut tensors = vec![
                ("latents", latents.clone()),
                ("t", timesteps.clone()),
                ("context", context.clone()),
            ];
            tensors.retain(|(n, _)| *n != name);
            tensors.push((name, tensor));
            let p = write(dir.path(), &format!("wan{i}.safetensors"), &tensors);
            let e = err(&p, &wan, MissingTarget::Unused);
            assert!(e.contains(message) && e.contains("sample 0"), "{i}: {e}");
        }
        let llama = find_preset("llama-tiny").unwrap().config;
        let p = ids(
            dir.path(),
            "llama.safetensors",
            &[("input_ids", vec![1, 0], vec![])],
        );
        let e = err(&p, &llama, MissingTarget::Refuse);
        assert!(e.contains("sample 0 has 0 positions"), "{e}");
    }

    #[test]
    fn integer_timesteps_are_taken_as_wan_pipelines_pass_them() {
        let dir = tempfile::tempdir().unwrap();
        let wan = find_preset("wan-tiny").unwrap().config;
        let Inputs::Wan {
            latents, context, ..
        } = seeded_inputs(&wan, 0)
        else {
            unreachable!()
        };
        let floats = write(
            dir.path(),
            "floats.safetensors",
            &[("latents", latents), ("context", context)],
        );
        // The same file with an int64 [1] timestep of 999 added.
        let file = SafetensorsFile::open(&floats).unwrap();
        let mut named: Vec<(String, Vec<usize>, Vec<u8>)> = file
            .names()
            .into_iter()
            .map(|n| {
                let t = file.float(&n).unwrap();
                let bytes = t.as_f32().unwrap().iter().flat_map(|v| v.to_le_bytes());
                (n, t.shape.clone(), bytes.collect())
            })
            .collect();
        named.push(("timestep".into(), vec![1], 999_i64.to_le_bytes().to_vec()));
        let views: Vec<(&str, safetensors::tensor::TensorView<'_>)> = named
            .iter()
            .map(|(n, shape, data)| {
                let dtype = match n.as_str() {
                    "timestep" => safetensors::Dtype::I64,
                    _ => safetensors::Dtype::F32,
                };
                let view = safetensors::tensor::TensorView::new(dtype, shape.clone(), data);
                (n.as_str(), view.unwrap())
            })
            .collect();
        let path = dir.path().join("int-t.safetensors");
        fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
        let loaded = load_inputs(&path, &wan, 0, MissingTarget::Unused).unwrap();
        let Inputs::Wan { timesteps, .. } = &loaded.inputs else {
            unreachable!()
        };
        assert_eq!(timesteps.as_f32().unwrap(), &[999.0]);
    }
}
