//! Weights, inputs and outputs as safetensors files, so that ditbench's data
//! can be checked against any other implementation (e.g. the PyTorch
//! reference models) and users can bring their own.
//!
//! Names: weights use the reference state-dict names (`blocks.0.self_attn.q.weight`,
//! `model.layers.0.mlp.up_proj.weight`, ...). Inputs as ditbench writes them
//! ([`crate::io::input_file`] also reads the reference code's names): Wan `latents`
//! \[B, C, F, H, W\], `timesteps` \[B\], `context` \[B, text_len, text_dim\],
//! `target` [B, C_out, F, H, W]; Llama `tokens` [B, S] and `targets` [B, S].
//! Outputs: `output`, and for `train` `loss`, `grad_norm` (global L2 norm of
//! all gradients) and `grad_norm.<parameter>`.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use memmap2::{Mmap, UncheckedAdvice};
use safetensors::tensor::{TensorInfo, TensorView};
use safetensors::{Dtype as StDtype, SafeTensors};

use crate::compute::backend::PassOutput;
use crate::compute::tensors::{
    HF_IGNORE_INDEX, HostData, HostTensor, IGNORED_TARGET, Inputs, WeightSource, seeded_inputs,
};
use crate::model::workload::ModelConfig;
use crate::util::write::{file_stem, write_new};

/// `FILE.sha256`: where a cache file's content hash is kept.
fn digest_beside(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex(&Sha256::digest(bytes))
}

/// The SHA-256 of a file, read in 1 MiB pieces (cache files are GBs at
/// real scale; the parent never holds one whole).
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Serialize named host tensors (f32 as F32, token ids as I64, PyTorch's `long`).
pub fn encode(
    tensors: &[(String, HostTensor)],
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>> {
    encode_as(tensors, metadata, FloatType::F32)
}

/// The element type floats are written in (`data --weights-dtype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatType {
    F32,
    Bf16,
    F16,
}

impl FloatType {
    fn dtype(self) -> StDtype {
        match self {
            FloatType::F32 => StDtype::F32,
            FloatType::Bf16 => StDtype::BF16,
            FloatType::F16 => StDtype::F16,
        }
    }

    pub fn bytes(self) -> u64 {
        match self {
            FloatType::F32 => 4,
            FloatType::Bf16 | FloatType::F16 => 2,
        }
    }

    fn encode(self, values: &[f32]) -> Vec<u8> {
        match self {
            FloatType::F32 => values.iter().flat_map(|x| x.to_le_bytes()).collect(),
            FloatType::Bf16 => values
                .iter()
                .flat_map(|&x| half::bf16::from_f32(x).to_le_bytes())
                .collect(),
            FloatType::F16 => values
                .iter()
                .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
                .collect(),
        }
    }
}

/// [`encode`] with floats in `floats` (rounded to nearest where narrower).
pub fn encode_as(
    tensors: &[(String, HostTensor)],
    metadata: HashMap<String, String>,
    floats: FloatType,
) -> Result<Vec<u8>> {
    let bytes: Vec<(String, StDtype, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, t)| {
            let (dtype, data) = match &t.data {
                HostData::F32(v) => (floats.dtype(), floats.encode(v)),
                HostData::Bf16(v) => (
                    StDtype::BF16,
                    v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                ),
                HostData::F16(v) => (
                    StDtype::F16,
                    v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                ),
                // An ignored target as Hugging Face's ignore index, -100.
                HostData::U32(v) => (
                    StDtype::I64,
                    v.iter()
                        .flat_map(|&x| match x {
                            IGNORED_TARGET => HF_IGNORE_INDEX.to_le_bytes(),
                            id => i64::from(id).to_le_bytes(),
                        })
                        .collect(),
                ),
            };
            (name.clone(), dtype, t.shape.clone(), data)
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, dtype, shape, data)| {
            Ok((name.as_str(), TensorView::new(*dtype, shape.clone(), data)?))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(safetensors::serialize(views, Some(metadata))?)
}

/// A safetensors file mapped into memory: opening it reads and checks the
/// header only; a tensor's pages are read when it is loaded, and are file
/// pages the kernel can drop, so a worker holds at most its framework's copy
/// of the weights (plus the one tensor being converted).
pub struct SafetensorsFile {
    path: PathBuf,
    bytes: Mmap,
    /// Where the tensor data begins in `bytes`.
    data_start: usize,
    /// The header, parsed once when the file is opened.
    index: HashMap<String, TensorInfo>,
}

fn float_values(view: &TensorView<'_>) -> Option<Vec<f32>> {
    let data = view.data();
    Some(match view.dtype() {
        StDtype::F32 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        StDtype::F64 => data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32)
            .collect(),
        StDtype::F16 => data
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        StDtype::BF16 => data
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        _ => return None,
    })
}

/// The element types [`float_values`] reads.
pub(crate) const FLOAT_DTYPES: [StDtype; 4] =
    [StDtype::F32, StDtype::F64, StDtype::F16, StDtype::BF16];

fn integer_values(view: &TensorView<'_>) -> Option<Vec<i64>> {
    let data = view.data();
    Some(match view.dtype() {
        StDtype::I64 => data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        StDtype::I32 => data
            .chunks_exact(4)
            .map(|c| i64::from(i32::from_le_bytes(c.try_into().unwrap())))
            .collect(),
        StDtype::U32 => data
            .chunks_exact(4)
            .map(|c| i64::from(u32::from_le_bytes(c.try_into().unwrap())))
            .collect(),
        StDtype::I16 => data
            .chunks_exact(2)
            .map(|c| i64::from(i16::from_le_bytes([c[0], c[1]])))
            .collect(),
        StDtype::U8 => data.iter().map(|&b| i64::from(b)).collect(),
        _ => return None,
    })
}

/// The size of `path` if it is a regular file (after symlinks). A FIFO
/// would block its reader forever and `/dev/zero` never ends, so neither
/// is ever opened as data.
pub fn regular_file(path: &Path) -> Result<u64> {
    let meta = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_file() {
        bail!(
            "{} is not a regular file (a directory, device, FIFO or socket)",
            path.display()
        );
    }
    Ok(meta.len())
}

impl SafetensorsFile {
    pub fn open(path: &Path) -> Result<Self> {
        regular_file(path)?;
        let file =
            fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        // SAFETY: the map is read-only and private to this process. Another
        // process truncating or rewriting the file while it is mapped is
        // undefined behaviour, as for every mmap-based loader (safetensors,
        // candle); ditbench never writes a file it has open.
        let bytes = unsafe { Mmap::map(&file) }
            .with_context(|| format!("cannot read {}", path.display()))?;
        // The error's own text only: safetensors' errors also name their
        // source, which says the same again.
        let invalid = |e: safetensors::SafeTensorError| {
            anyhow::anyhow!("{} is not a valid safetensors file: {e}", path.display())
        };
        // Validates the header against the buffer (offsets, sizes) once.
        SafeTensors::deserialize(&bytes).map_err(invalid)?;
        let (header_len, metadata) = SafeTensors::read_metadata(&bytes).map_err(invalid)?;
        let index = metadata
            .tensors()
            .into_iter()
            .map(|(name, info)| (name, info.clone()))
            .collect();
        Ok(SafetensorsFile {
            path: path.to_path_buf(),
            bytes,
            data_start: 8 + header_len,
            index,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.index.keys().cloned().collect();
        names.sort();
        names
    }

    pub fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.index.get(name).map(|info| info.shape.clone())
    }

    /// The tensor's element type as safetensors names it (`F32`, `I32`, ...).
    pub fn dtype(&self, name: &str) -> Option<StDtype> {
        self.index.get(name).map(|info| info.dtype)
    }

    fn view(&self, name: &str) -> Result<TensorView<'_>> {
        let info = self
            .index
            .get(name)
            .with_context(|| format!("{} has no tensor '{name}'", self.path.display()))?;
        let (begin, end) = info.data_offsets;
        let data = &self.bytes[self.data_start + begin..self.data_start + end];
        Ok(TensorView::new(info.dtype, info.shape.clone(), data)?)
    }

    /// `name`'s element type, shape and bytes as stored (borrowed from the map).
    pub fn stored(&self, name: &str) -> Result<(StDtype, Vec<usize>, &[u8])> {
        let view = self.view(name)?;
        Ok((view.dtype(), view.shape().to_vec(), view.data()))
    }

    /// A floating-point tensor as f32 (F32, F64, F16 and BF16 are accepted).
    pub fn float(&self, name: &str) -> Result<HostTensor> {
        let view = self.view(name)?;
        let values = float_values(&view).with_context(|| {
            format!(
                "{}: '{name}' is {:?}, expected a floating-point tensor",
                self.path.display(),
                view.dtype()
            )
        })?;
        let shape = view.shape().to_vec();
        drop(view);
        self.release(name);
        Ok(HostTensor::f32(shape, values))
    }

    /// Drop `name`'s pages from this process's resident set once its values
    /// are copied out, so that a worker holds its framework's copy of the
    /// weights and not the file's pages beside it (the page cache keeps
    /// them for the next worker). Advice only: a failure changes nothing.
    fn release(&self, name: &str) {
        if let Some(info) = self.index.get(name) {
            let (begin, end) = info.data_offsets;
            // SAFETY: the map is read-only and private, and nothing borrows
            // it now (the values were copied out); a later read of these
            // pages faults the same file bytes back in.
            let _ = unsafe {
                self.bytes.unchecked_advise_range(
                    UncheckedAdvice::DontNeed,
                    self.data_start + begin,
                    end - begin,
                )
            };
        }
    }

    /// An integer tensor's shape and values as i64 (any integer type).
    pub fn integers(&self, name: &str) -> Result<(Vec<usize>, Vec<i64>)> {
        let view = self.view(name)?;
        let values = integer_values(&view).with_context(|| {
            format!(
                "{}: '{name}' is {:?}, expected integer token ids",
                self.path.display(),
                view.dtype()
            )
        })?;
        Ok((view.shape().to_vec(), values))
    }

    /// A BF16 or F16 tensor as stored (no f32 copy); `None` for other types.
    pub fn halves(&self, name: &str) -> Result<Option<HostTensor>> {
        let view = self.view(name)?;
        let data = view.data();
        let pairs = data.chunks_exact(2).map(|c| [c[0], c[1]]);
        let values = match view.dtype() {
            StDtype::BF16 => HostData::Bf16(pairs.map(half::bf16::from_le_bytes).collect()),
            StDtype::F16 => HostData::F16(pairs.map(half::f16::from_le_bytes).collect()),
            _ => return Ok(None),
        };
        let shape = view.shape().to_vec();
        drop(view);
        self.release(name);
        Ok(Some(HostTensor {
            shape,
            data: values,
        }))
    }

    /// Token ids as u32 (any integer type; values must fit in [0, vocab)).
    pub fn tokens(&self, name: &str, vocab: usize) -> Result<HostTensor> {
        let view = self.view(name)?;
        let values = integer_values(&view).with_context(|| {
            format!(
                "{}: '{name}' is {:?}, expected integer token ids",
                self.path.display(),
                view.dtype()
            )
        })?;
        if let Some(bad) = values.iter().find(|&&v| v < 0 || v as u64 >= vocab as u64) {
            bail!(
                "{}: '{name}' holds token id {bad}, outside the vocabulary [0, {vocab})",
                self.path.display()
            );
        }
        Ok(HostTensor::u32(
            view.shape().to_vec(),
            values.iter().map(|&v| v as u32).collect(),
        ))
    }
}

/// Named tensors of a workload's inputs, as [`crate::io::input_file::load_inputs`] reads them.
pub fn input_tensors(inputs: &Inputs) -> Vec<(String, HostTensor)> {
    match inputs {
        Inputs::Wan {
            latents,
            timesteps,
            context,
            target,
        } => vec![
            ("latents".into(), latents.clone()),
            ("timesteps".into(), timesteps.clone()),
            ("context".into(), context.clone()),
            ("target".into(), target.clone()),
        ],
        Inputs::Llama { tokens, targets } => {
            vec![
                ("tokens".into(), tokens.clone()),
                ("targets".into(), targets.clone()),
            ]
        }
        Inputs::Umt5 { tokens } => vec![("tokens".into(), tokens.clone())],
        Inputs::WanVae { latents } => vec![("latents".into(), latents.clone())],
    }
}

/// L2 norm accumulated in f64: an f32 sum over millions of squares loses
/// about as much precision as the parity check tolerates.
pub fn l2_norm(values: &[f32]) -> f64 {
    values
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt()
}

/// Global L2 norm of all gradients.
pub fn global_grad_norm(out: &PassOutput) -> Option<f64> {
    (!out.grad_norms.is_empty()).then(|| {
        out.grad_norms
            .iter()
            .map(|(_, n)| n * n)
            .sum::<f64>()
            .sqrt()
    })
}

/// Named tensors of a pass's results (see the module documentation).
pub fn output_tensors(out: &PassOutput) -> Vec<(String, HostTensor)> {
    let scalar = |v: f64| HostTensor::f32(vec![1], vec![v as f32]);
    let mut t = vec![("output".to_string(), out.output.clone())];
    if let Some(loss) = out.loss {
        t.push(("loss".into(), scalar(loss)));
    }
    if let Some(norm) = global_grad_norm(out) {
        t.push(("grad_norm".into(), scalar(norm)));
    }
    for (name, norm) in &out.grad_norms {
        t.push((format!("grad_norm.{name}"), scalar(*norm)));
    }
    t
}

/// The metadata every ditbench data file carries.
fn data_metadata(config: &ModelConfig, label: &str, seed: u64) -> Result<HashMap<String, String>> {
    Ok([
        ("format".to_string(), "ditbench".to_string()),
        ("workload".to_string(), label.to_string()),
        ("seed".to_string(), seed.to_string()),
        ("config".to_string(), serde_json::to_string(config)?),
    ]
    .into_iter()
    .collect())
}

/// A workload's seeded weights, encoded as a safetensors file.
pub fn seeded_weights_file(config: &ModelConfig, label: &str, seed: u64) -> Result<Vec<u8>> {
    let source = crate::compute::tensors::SeededWeights { seed };
    let tensors = crate::model::params::parameters(config)
        .iter()
        .map(|s| Ok((s.name.clone(), source.load(s)?)))
        .collect::<Result<Vec<_>>>()?;
    encode(&tensors, data_metadata(config, label, seed)?)
}

/// A workload's seeded weights as a sharded checkpoint, as Hugging Face
/// writes one: `shards` files of about equal size in parameter order
/// (`model-0000K-of-0000N.safetensors`), floats in `floats`, and the index
/// `model.safetensors.index.json` naming each tensor's shard. Returns
/// (file name, contents) pairs, the index last.
pub fn seeded_weight_shards(
    config: &ModelConfig,
    label: &str,
    seed: u64,
    floats: FloatType,
    shards: usize,
) -> Result<Vec<(String, Vec<u8>)>> {
    let specs = crate::model::params::parameters(config);
    let shards = shards.clamp(1, specs.len().max(1));
    let total: u64 = specs
        .iter()
        .map(|s| s.numel() as u64 * floats.bytes())
        .sum();
    let source = crate::compute::tensors::SeededWeights { seed };
    let mut files = Vec::with_capacity(shards + 1);
    let mut weight_map = serde_json::Map::new();
    let mut rest = specs.as_slice();
    for k in 1..=shards {
        let name = format!("model-{k:05}-of-{shards:05}.safetensors");
        // Shard k ends where the running total passes k/N of the bytes,
        // leaving at least one tensor for each later shard.
        let target = total * k as u64 / shards as u64;
        let done: u64 = specs[..specs.len() - rest.len()]
            .iter()
            .map(|s| s.numel() as u64 * floats.bytes())
            .sum();
        let mut take = 0;
        let mut size = done;
        while take < rest.len() - (shards - k) && (take == 0 || size < target || k == shards) {
            size += rest[take].numel() as u64 * floats.bytes();
            take += 1;
        }
        let (mine, later) = rest.split_at(take);
        rest = later;
        let tensors = mine
            .iter()
            .map(|s| Ok((s.name.clone(), source.load(s)?)))
            .collect::<Result<Vec<_>>>()?;
        for s in mine {
            weight_map.insert(s.name.clone(), serde_json::Value::String(name.clone()));
        }
        files.push((
            name,
            encode_as(&tensors, data_metadata(config, label, seed)?, floats)?,
        ));
    }
    let index = serde_json::json!({
        "metadata": {"total_size": total},
        "weight_map": weight_map,
    });
    files.push((
        "model.safetensors.index.json".to_string(),
        serde_json::to_vec_pretty(&index)?,
    ));
    Ok(files)
}

/// A workload's seeded inputs, encoded as a safetensors file.
pub fn seeded_inputs_file(config: &ModelConfig, label: &str, seed: u64) -> Result<Vec<u8>> {
    let tensors = input_tensors(&seeded_inputs(config, seed));
    encode(&tensors, data_metadata(config, label, seed)?)
}

/// Something other than a regular file where the seeded-data cache keeps
/// one: the user's to remove (a usage error, not a failure of the run).
#[derive(Debug, thiserror::Error)]
#[error("cache: {0}")]
pub struct CachePathError(pub String);

/// The seeded weights and inputs of a workload as safetensors, written once
/// under `dir` and reused: the file names carry a hash of the configuration,
/// seed and generator version, so a stale file is never picked up.
pub fn cached_seeded_data(
    dir: &Path,
    config: &ModelConfig,
    label: &str,
    seed: u64,
) -> Result<(PathBuf, PathBuf)> {
    let key = crate::compute::tensors::name_key(&format!(
        "{}|{seed}|{}",
        serde_json::to_string(config)?,
        crate::compute::tensors::SEEDED_DATA_VERSION
    ));
    let stem = format!("{}-seed{seed}-{key:016x}", file_stem(label, "workload"));
    let weights = dir.join(format!("{stem}.weights.safetensors"));
    let inputs = dir.join(format!("{stem}.inputs.safetensors"));
    // Generated only when missing, never seen half-written; a concurrent
    // run that wrote the same file first wrote the same bytes. Each file's
    // SHA-256 sits beside it (`FILE.sha256`) and is checked on every use: a
    // truncated, emptied or overwritten cache file is regenerated, never fed
    // to every backend alike (where parity would not see it).
    let write = |path: &Path, contents: &dyn Fn() -> Result<Vec<u8>>| -> Result<()> {
        let digest_path = digest_beside(path);
        // A FIFO would block the hash forever, a directory cannot be replaced:
        // only regular files (or nothing) at both names.
        for p in [path, digest_path.as_path()] {
            if fs::symlink_metadata(p).is_ok() {
                regular_file(p).map_err(|e| CachePathError(format!("{e:#}; remove it")))?;
            }
        }
        if path.exists() {
            let recorded = fs::read_to_string(&digest_path).unwrap_or_default();
            let actual = sha256_file(path).unwrap_or_default();
            if !recorded.is_empty() && recorded.trim() == actual {
                return Ok(());
            }
            let bytes = contents()?;
            if sha256_hex(&bytes) != actual {
                eprintln!(
                    "warning: cache file {} does not hold the data it names (its content hash differs); regenerated",
                    path.display()
                );
                crate::util::write::replace(path, &bytes)?;
            }
            return crate::util::write::replace(&digest_path, sha256_hex(&bytes).as_bytes());
        }
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let bytes = contents()?;
        match write_new(path, &bytes) {
            Err(_) if path.exists() => Ok(()),
            other => other,
        }?;
        match write_new(&digest_path, sha256_hex(&bytes).as_bytes()) {
            Err(_) if digest_path.exists() => Ok(()),
            other => other,
        }
    };
    write(&weights, &|| seeded_weights_file(config, label, seed))?;
    write(&inputs, &|| seeded_inputs_file(config, label, seed))?;
    Ok((weights, inputs))
}

/// Read a pass's results back from a file written by [`output_tensors`].
pub fn read_outputs(path: &Path) -> Result<PassOutput> {
    let file = SafetensorsFile::open(path)?;
    let scalar = |name: &str| -> Result<f64> { Ok(f64::from(file.float(name)?.as_f32()?[0])) };
    let names = file.names();
    let loss = if names.iter().any(|n| n == "loss") {
        Some(scalar("loss")?)
    } else {
        None
    };
    let mut grad_norms = Vec::new();
    for name in &names {
        if let Some(param) = name.strip_prefix("grad_norm.") {
            grad_norms.push((param.to_string(), scalar(name)?));
        }
    }
    grad_norms.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(PassOutput {
        output: file.float("output")?,
        loss,
        grad_norms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::tensors::SeededWeights;
    use crate::model::params::parameters;
    use crate::model::workload::find_preset;

    fn write(dir: &Path, name: &str, tensors: &[(String, HostTensor)]) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, encode(tensors, HashMap::new()).unwrap()).unwrap();
        path
    }

    #[test]
    fn tensors_round_trip_and_half_precision_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let f = HostTensor::f32(vec![2, 2], vec![1.0, -2.5, 3.25, 0.0]);
        let ids = HostTensor::u32(vec![1, 3], vec![0, 7, 255]);
        let path = write(
            dir.path(),
            "a.safetensors",
            &[("f".into(), f.clone()), ("ids".into(), ids.clone())],
        );
        let file = SafetensorsFile::open(&path).unwrap();
        assert_eq!(file.float("f").unwrap(), f);
        assert_eq!(file.tokens("ids", 256).unwrap(), ids);
        assert!(
            file.tokens("ids", 100)
                .unwrap_err()
                .to_string()
                .contains("outside the vocabulary")
        );
        assert!(
            file.float("ids")
                .unwrap_err()
                .to_string()
                .contains("expected a floating-point")
        );
        assert!(
            file.float("nope")
                .unwrap_err()
                .to_string()
                .contains("has no tensor 'nope'")
        );

        let halves: Vec<u8> = [1.5f32, -0.25]
            .iter()
            .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
            .collect();
        let view = TensorView::new(StDtype::BF16, vec![2], &halves).unwrap();
        let bytes = safetensors::serialize(vec![("h", view)], None).unwrap();
        fs::write(dir.path().join("h.safetensors"), bytes).unwrap();
        let file = SafetensorsFile::open(&dir.path().join("h.safetensors")).unwrap();
        assert_eq!(file.float("h").unwrap().as_f32().unwrap(), &[1.5, -0.25]);

        fs::write(dir.path().join("bad"), b"not safetensors").unwrap();
        let err = SafetensorsFile::open(&dir.path().join("bad"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("not a valid safetensors file"));
        // A header that is not JSON: its parser's message once, not twice.
        let header = b"{not json";
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header);
        fs::write(dir.path().join("bad2"), bytes).unwrap();
        let err = SafetensorsFile::open(&dir.path().join("bad2"))
            .err()
            .unwrap();
        let text = format!("{err:#}");
        assert!(text.contains("invalid JSON in header"), "{text}");
        assert_eq!(text.matches("key must be a string").count(), 1, "{text}");
    }

    #[test]
    fn seeded_data_is_cached_once_and_matches_the_generator() {
        let dir = tempfile::tempdir().unwrap();
        let config = find_preset("wan-tiny").unwrap().config;
        let (w, i) = cached_seeded_data(dir.path(), &config, "wan-tiny", 0).unwrap();
        let written = fs::metadata(&w).unwrap().modified().unwrap();
        let again = cached_seeded_data(dir.path(), &config, "wan-tiny", 0).unwrap();
        assert_eq!(again, (w.clone(), i.clone()));
        assert_eq!(
            fs::metadata(&w).unwrap().modified().unwrap(),
            written,
            "reused, not rewritten"
        );
        let specs = parameters(&config);
        let file = SafetensorsFile::open(&w).unwrap();
        let seeded = SeededWeights { seed: 0 };
        for spec in &specs {
            assert_eq!(file.float(&spec.name).unwrap(), seeded.load(spec).unwrap());
        }
        let file = SafetensorsFile::open(&i).unwrap();
        for (name, tensor) in input_tensors(&seeded_inputs(&config, 0)) {
            let read = match tensor.data {
                HostData::F32(_) => file.float(&name),
                _ => file.tokens(&name, u32::MAX as usize),
            };
            assert_eq!(read.unwrap(), tensor, "{name}");
        }
        let (other, _) = cached_seeded_data(dir.path(), &config, "wan-tiny", 1).unwrap();
        assert_ne!(other, w, "another seed is another file");
    }

    #[test]
    fn the_data_size_is_known_before_the_data_is_made() {
        for name in ["wan-tiny", "llama-tiny"] {
            let config = find_preset(name).unwrap().config;
            let made = seeded_weights_file(&config, name, 0).unwrap().len()
                + seeded_inputs_file(&config, name, 0).unwrap().len();
            let estimate = crate::compute::tensors::seeded_data_bytes(&config) as usize;
            // The files add their headers (names, shapes) to the raw data.
            assert!(
                estimate <= made && made < estimate + 64 * 1024,
                "{name}: {estimate} vs {made}"
            );
        }
    }

    #[test]
    fn a_corrupt_or_truncated_cache_file_is_regenerated() {
        let dir = tempfile::tempdir().unwrap();
        let config = find_preset("wan-tiny").unwrap().config;
        let (w, i) = cached_seeded_data(dir.path(), &config, "wan-tiny", 0).unwrap();
        let good = fs::read(&w).unwrap();
        assert_eq!(
            fs::read_to_string(digest_beside(&w)).unwrap(),
            sha256_hex(&good)
        );
        // Same-size garbage, then a truncation, then an empty file.
        let garbage: Vec<u8> = good.iter().map(|b| b.wrapping_add(1)).collect();
        let specs = parameters(&config);
        let seeded = SeededWeights { seed: 0 };
        for broken in [garbage, good[..good.len() / 2].to_vec(), Vec::new()] {
            fs::write(&w, &broken).unwrap();
            cached_seeded_data(dir.path(), &config, "wan-tiny", 0).unwrap();
            // The same tensors again (the header's order may differ), and
            // the hash beside them is theirs.
            let file = SafetensorsFile::open(&w).unwrap();
            for spec in &specs {
                assert_eq!(file.float(&spec.name).unwrap(), seeded.load(spec).unwrap());
            }
            assert_eq!(
                fs::read_to_string(digest_beside(&w)).unwrap(),
                sha256_file(&w).unwrap()
            );
        }
        // A cache from before the hashes: checked once, then hashed.
        fs::remove_file(digest_beside(&i)).unwrap();
        cached_seeded_data(dir.path(), &config, "wan-tiny", 0).unwrap();
        assert!(digest_beside(&i).exists());
    }
}
