//! Framework-neutral host tensors and the deterministic, seeded source of
//! weights and inputs that every backend loads, so that every backend can
//! compute on the same values.
//!
//! Each parameter and input is drawn from its own ChaCha8 stream, keyed by
//! the seed and its name: a parameter's values do not depend on which other
//! parameters exist (a `--layers 2` model has the same first two blocks as
//! the full one), nor on the order in which a backend asks for them.

use anyhow::{Result, bail};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::model::case::Dtype;
use crate::model::params::{Init, ParamSpec};
use crate::model::workload::{LlamaConfig, ModelConfig, WanConfig};

/// Values of a host tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum HostData {
    F32(Vec<f32>),
    /// Token ids.
    U32(Vec<u32>),
    /// Weights kept as a bf16 or f16 checkpoint stores them, for a run in
    /// that dtype ([`WeightSource::load_for`]): no f32 copy, no rounding.
    Bf16(Vec<half::bf16>),
    F16(Vec<half::f16>),
}

impl HostData {
    fn kind(&self) -> &'static str {
        match self {
            HostData::F32(_) => "f32",
            HostData::U32(_) => "u32",
            HostData::Bf16(_) => "bf16",
            HostData::F16(_) => "f16",
        }
    }
}

/// A row-major tensor on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub data: HostData,
}

impl HostTensor {
    pub fn f32(shape: Vec<usize>, values: Vec<f32>) -> Self {
        assert_eq!(shape.iter().product::<usize>(), values.len());
        HostTensor {
            shape,
            data: HostData::F32(values),
        }
    }

    pub fn u32(shape: Vec<usize>, values: Vec<u32>) -> Self {
        assert_eq!(shape.iter().product::<usize>(), values.len());
        HostTensor {
            shape,
            data: HostData::U32(values),
        }
    }

    pub fn as_f32(&self) -> Result<&[f32]> {
        match &self.data {
            HostData::F32(v) => Ok(v),
            other => bail!("expected an f32 tensor, found {}", other.kind()),
        }
    }

    pub fn as_u32(&self) -> Result<&[u32]> {
        match &self.data {
            HostData::U32(v) => Ok(v),
            other => bail!("expected a u32 tensor, found {}", other.kind()),
        }
    }
}

/// A Llama target position that counts in no loss (Hugging Face's -100 in
/// `labels`, and the last position of shifted labels). Never a token id:
/// vocabularies fit below `u32::MAX`. The loss is the mean over the other
/// positions, as `LlamaForCausalLM`'s; [`target_weights`] splits it out.
pub const IGNORED_TARGET: u32 = u32::MAX;

/// Hugging Face's ignore index in `labels` (and in pre-shifted `targets`
/// files): read as, and written for, [`IGNORED_TARGET`].
pub const HF_IGNORE_INDEX: i64 = -100;

/// Targets with ignored positions set to 0 (any valid id), and each
/// position's weight in the loss: 1/n at the n counted positions, 0 at
/// ignored ones, so that the weighted sum is the mean over counted
/// positions. `None` where every position counts (the plain mean).
pub fn target_weights(targets: &[u32]) -> Option<(Vec<u32>, Vec<f32>)> {
    let counted = targets.iter().filter(|&&t| t != IGNORED_TARGET).count();
    if counted == targets.len() {
        return None;
    }
    let weight = 1.0 / counted.max(1) as f32;
    Some(
        targets
            .iter()
            .map(|&t| match t {
                IGNORED_TARGET => (0, 0.0),
                id => (id, weight),
            })
            .unzip(),
    )
}

/// Where a backend gets its parameter values.
pub trait WeightSource: Sync {
    /// Values of one parameter, f32, in the reference (PyTorch) layout.
    fn load(&self, spec: &ParamSpec) -> Result<HostTensor>;
    /// The same, as stored where the source stores it in `dtype` (a bf16
    /// checkpoint for a bf16 run: [`HostData::Bf16`]), else f32.
    fn load_for(&self, spec: &ParamSpec, dtype: Dtype) -> Result<HostTensor> {
        let _ = dtype;
        self.load(spec)
    }
    /// A short description for results (e.g. `seeded(0)`).
    fn describe(&self) -> String;
}

/// Load one parameter and check its shape against the inventory.
pub fn load_checked(source: &dyn WeightSource, spec: &ParamSpec) -> Result<HostTensor> {
    load_checked_for(source, spec, Dtype::F32)
}

/// [`load_checked`], kept as stored where the source stores `dtype`.
pub fn load_checked_for(
    source: &dyn WeightSource,
    spec: &ParamSpec,
    dtype: Dtype,
) -> Result<HostTensor> {
    let host = source
        .load_for(spec, dtype)
        .map_err(|e| e.context(format!("loading {}", spec.name)))?;
    if host.shape != spec.shape {
        bail!(
            "{}: expected shape {:?}, the source has {:?}",
            spec.name,
            spec.shape,
            host.shape
        );
    }
    Ok(host)
}

/// Version of the seeded generator's output: bump it whenever the values it
/// produces change, so cached data files are regenerated.
pub const SEEDED_DATA_VERSION: u32 = 1;

/// FNV-1a: a stable 64-bit key for a name, independent of platform and
/// compiler (std's hasher makes no such promise).
pub fn name_key(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn stream(seed: u64, name: &str) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(name_key(name));
    rng
}

/// Uniform in [-1, 1) with 24 bits of resolution (exact in f32).
fn unit(rng: &mut ChaCha8Rng) -> f32 {
    let u = (rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32;
    2.0 * u - 1.0
}

/// `n` draws of zero mean and standard deviation `std` (uniform, half-width std·√3).
pub fn uniform_values(seed: u64, name: &str, n: usize, std: f64) -> Vec<f32> {
    let half_width = (std * 3f64.sqrt()) as f32;
    let mut rng = stream(seed, name);
    (0..n).map(|_| half_width * unit(&mut rng)).collect()
}

/// Deterministic weights from a seed.
#[derive(Debug, Clone)]
pub struct SeededWeights {
    pub seed: u64,
}

impl WeightSource for SeededWeights {
    fn load(&self, spec: &ParamSpec) -> Result<HostTensor> {
        let n = spec.numel();
        let values = match spec.init {
            Init::Xavier { fan_in, fan_out } => {
                let std = (2.0 / (fan_in + fan_out) as f64).sqrt();
                uniform_values(self.seed, &spec.name, n, std)
            }
            Init::Std(std) => uniform_values(self.seed, &spec.name, n, std),
            Init::OnePlus(std) => uniform_values(self.seed, &spec.name, n, std)
                .into_iter()
                .map(|v| 1.0 + v)
                .collect(),
        };
        Ok(HostTensor::f32(spec.shape.clone(), values))
    }

    fn describe(&self) -> String {
        format!("seeded({})", self.seed)
    }
}

/// Inputs of one pass.
#[derive(Debug, Clone)]
pub enum Inputs {
    Wan {
        /// Noisy latents [B, C, F, H, W].
        latents: HostTensor,
        /// Diffusion timestep per sample \[B\], in \[0, 1000).
        timesteps: HostTensor,
        /// Text-encoder output [B, text_len, text_dim].
        context: HostTensor,
        /// Flow-matching target (velocity) of the output's shape [B, C_out, F, H, W].
        target: HostTensor,
    },
    Llama {
        /// Token ids [B, S].
        tokens: HostTensor,
        /// Next-token targets [B, S] (the ids shifted by one).
        targets: HostTensor,
    },
    /// A prompt for the text encoder.
    Umt5 {
        /// Token ids [B, text_len], every position a prompt token (the
        /// encoder's cost is the padded length's whatever the prompt).
        tokens: HostTensor,
    },
    /// A latent video for the VAE decoder.
    WanVae {
        /// Latents [B, z_dim, F, H, W].
        latents: HostTensor,
    },
}

fn wan_inputs(c: &WanConfig, seed: u64) -> Inputs {
    let [f, h, w] = c.latent_shape();
    let b = c.batch;
    let latent = |name: &str, ch: usize| {
        let shape = vec![b, ch, f, h, w];
        let n = shape.iter().product();
        HostTensor::f32(shape, uniform_values(seed, name, n, 1.0))
    };
    let timesteps = uniform_values(seed, "inputs.timesteps", b, 1.0)
        .into_iter()
        .map(|u| ((u + 1.0) * 500.0).floor().min(999.0))
        .collect();
    let text = vec![b, c.text_len, c.text_dim];
    let text_n = text.iter().product();
    Inputs::Wan {
        latents: latent("inputs.latents", c.in_dim),
        timesteps: HostTensor::f32(vec![b], timesteps),
        context: HostTensor::f32(text, uniform_values(seed, "inputs.context", text_n, 1.0)),
        target: latent("inputs.target", c.out_dim),
    }
}

/// A token id drawn uniformly from `[0, vocab)` (the high bits of a 32-bit
/// draw times `vocab`, the same on every platform).
fn token_id(rng: &mut ChaCha8Rng, vocab: u64) -> u32 {
    ((u64::from(rng.next_u32()) * vocab) >> 32) as u32
}

fn llama_inputs(c: &LlamaConfig, seed: u64) -> Inputs {
    let (b, s) = (c.batch, c.seq_len);
    let mut rng = stream(seed, "inputs.tokens");
    let vocab = c.vocab_size as u64;
    // One sequence of s+1 tokens per sample; ids are the first s, targets the last s.
    let all: Vec<Vec<u32>> = (0..b)
        .map(|_| (0..=s).map(|_| token_id(&mut rng, vocab)).collect())
        .collect();
    let tokens = all.iter().flat_map(|r| r[..s].iter().copied()).collect();
    let targets = all.iter().flat_map(|r| r[1..].iter().copied()).collect();
    Inputs::Llama {
        tokens: HostTensor::u32(vec![b, s], tokens),
        targets: HostTensor::u32(vec![b, s], targets),
    }
}

/// Deterministic inputs for a workload.
pub fn seeded_inputs(config: &ModelConfig, seed: u64) -> Inputs {
    match config {
        ModelConfig::Wan(c) => wan_inputs(c, seed),
        ModelConfig::Llama(c) => llama_inputs(c, seed),
        ModelConfig::Umt5(c) => {
            let mut rng = stream(seed, "inputs.tokens");
            let vocab = c.vocab_size as u64;
            let n = c.batch * c.text_len;
            let ids = (0..n).map(|_| token_id(&mut rng, vocab)).collect();
            Inputs::Umt5 {
                tokens: HostTensor::u32(vec![c.batch, c.text_len], ids),
            }
        }
        ModelConfig::WanVae(c) => {
            let [f, h, w] = c.latent_shape();
            let shape = vec![c.batch, c.z_dim, f, h, w];
            let n = shape.iter().product();
            Inputs::WanVae {
                latents: HostTensor::f32(shape, uniform_values(seed, "inputs.latents", n, 1.0)),
            }
        }
    }
}

/// Bytes of the seeded weights and inputs files of a workload (f32 weights
/// and float inputs, i64 token ids), computed without making them: the
/// parent decides from this whether it may build them at all.
pub fn seeded_data_bytes(config: &ModelConfig) -> u64 {
    let weights = crate::model::params::parameter_count(config).saturating_mul(4);
    let inputs = match config {
        ModelConfig::Wan(c) => {
            let b = c.batch as u64;
            let patch: u64 = c.patch_size.iter().map(|&p| p as u64).product();
            let latent = (c.tokens_per_sample() as u64).saturating_mul(patch);
            let latents = b.saturating_mul(latent).saturating_mul(c.in_dim as u64);
            let target = b.saturating_mul(latent).saturating_mul(c.out_dim as u64);
            let context = b
                .saturating_mul(c.text_len as u64)
                .saturating_mul(c.text_dim as u64);
            latents
                .saturating_add(target)
                .saturating_add(context)
                .saturating_add(b)
                .saturating_mul(4)
        }
        ModelConfig::Llama(c) => (c.batch as u64)
            .saturating_mul(c.seq_len as u64)
            .saturating_mul(2 * 8),
        ModelConfig::Umt5(c) => (c.batch as u64)
            .saturating_mul(c.text_len as u64)
            .saturating_mul(8),
        ModelConfig::WanVae(c) => (config.tokens_per_sample() as u64)
            .saturating_mul(c.batch as u64)
            .saturating_mul(c.z_dim as u64)
            .saturating_mul(4),
    };
    weights.saturating_add(inputs)
}

/// Where a case's weights and inputs came from, for the results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSource {
    pub weights: String,
    pub inputs: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::params::parameters;
    use crate::model::workload::find_preset;

    #[test]
    fn seeded_values_are_stable_and_independent_of_order() {
        let a = uniform_values(7, "blocks.0.ffn.0.weight", 5, 1.0);
        let b = uniform_values(7, "blocks.0.ffn.0.weight", 5, 1.0);
        let other = uniform_values(7, "blocks.0.ffn.2.weight", 5, 1.0);
        let reseeded = uniform_values(8, "blocks.0.ffn.0.weight", 5, 1.0);
        assert_eq!(a, b);
        assert_ne!(a, other);
        assert_ne!(a, reseeded);
        // A longer draw starts with the same values.
        assert_eq!(
            &uniform_values(7, "blocks.0.ffn.0.weight", 9, 1.0)[..5],
            &a[..]
        );
    }

    #[test]
    fn seeded_values_have_the_requested_spread() {
        let v = uniform_values(0, "x", 100_000, 0.5);
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / v.len() as f64;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var.sqrt() - 0.5).abs() < 0.01, "{}", var.sqrt());
    }

    #[test]
    fn weights_follow_their_init_rules() {
        let config = find_preset("wan-tiny").unwrap().config;
        let source = SeededWeights { seed: 0 };
        for spec in parameters(&config) {
            let t = source.load(&spec).unwrap();
            let v = t.as_f32().unwrap();
            assert_eq!(v.len(), spec.numel());
            assert!(v.iter().all(|x| x.is_finite() && *x != 0.0 || v.len() == 1));
            if let Init::OnePlus(_) = spec.init {
                assert!(v.iter().all(|&x| (0.8..1.2).contains(&x)), "{}", spec.name);
            }
        }
    }

    #[test]
    fn llama_targets_are_the_next_tokens() {
        let config = find_preset("llama-tiny").unwrap().config;
        let Inputs::Llama { tokens, targets } = seeded_inputs(&config, 3) else {
            panic!()
        };
        let (t, y) = (tokens.as_u32().unwrap(), targets.as_u32().unwrap());
        assert_eq!(tokens.shape, vec![1, 48]);
        assert_eq!(&t[1..], &y[..47]);
        assert!(t.iter().all(|&id| id < 256));
    }
}
