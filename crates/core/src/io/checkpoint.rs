//! Weights as checkpoints ship: one safetensors file, several (shards), a
//! directory of them, or a Hugging Face index (`*.safetensors.index.json`)
//! whose `weight_map` names each tensor's shard, as Wan2.1-T2V-14B and
//! Llama-2-70B ship. Every shard is memory-mapped: opening a checkpoint
//! reads headers only, and a tensor's pages are read when it is loaded.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use safetensors::Dtype as StDtype;
use serde::Deserialize;

use crate::compute::tensors::{HostTensor, WeightSource};
use crate::io::files::{FLOAT_DTYPES, SafetensorsFile, regular_file};
use crate::model::case::Dtype;
use crate::model::params::{ParamSpec, tied_copies};

/// An index file larger than this is not an index (Llama-2-70B's is 66 kB).
const MAX_INDEX_BYTES: u64 = 64 << 20;

/// An index's tensor name -> shard file name.
type WeightMap = BTreeMap<String, String>;

/// An index file and its weight map.
type Index = (PathBuf, WeightMap);

/// The part of a Hugging Face index ditbench reads.
#[derive(Deserialize)]
struct IndexFile {
    weight_map: WeightMap,
}

/// The shards of one checkpoint and which shard holds each tensor.
pub struct Checkpoint {
    shards: Vec<SafetensorsFile>,
    owner: HashMap<String, usize>,
}

/// One source of shards named on the command line, resolved.
struct Resolved {
    shards: Vec<PathBuf>,
    /// The index's weight map, where the source is (or holds) an index.
    index: Option<Index>,
}

fn read_index(path: &Path) -> Result<Resolved> {
    let size = regular_file(path)?;
    if size > MAX_INDEX_BYTES {
        bail!(
            "{} is {size} bytes, too large for a safetensors index",
            path.display()
        );
    }
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let index: IndexFile = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a safetensors index (a JSON object with a \"weight_map\")",
            path.display()
        )
    })?;
    if index.weight_map.is_empty() {
        bail!(
            "{}: the index's weight_map is empty; it names no tensor and no shard",
            path.display()
        );
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut shards: Vec<PathBuf> = Vec::new();
    for file in index.weight_map.values() {
        // Shard names are file names beside the index, never paths elsewhere.
        if Path::new(file).components().count() != 1 || file == ".." {
            bail!(
                "{}: shard '{file}' is not a file name beside the index",
                path.display()
            );
        }
        let shard = dir.join(file);
        if !shards.contains(&shard) {
            shards.push(shard);
        }
    }
    Ok(Resolved {
        shards,
        index: Some((path.to_path_buf(), index.weight_map)),
    })
}

fn is_index(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().ends_with(".json"))
}

fn resolve(path: &Path) -> Result<Resolved> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = fs::read_dir(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        let named = |suffix: &str| -> Vec<PathBuf> {
            entries
                .iter()
                .filter(|p| {
                    p.is_file()
                        && p.file_name()
                            .is_some_and(|n| n.to_string_lossy().ends_with(suffix))
                })
                .cloned()
                .collect()
        };
        let indexes = named(".safetensors.index.json");
        return match indexes.as_slice() {
            [index] => read_index(index),
            [] => {
                let shards = named(".safetensors");
                if shards.is_empty() {
                    bail!(
                        "{} holds no .safetensors file and no .safetensors.index.json",
                        path.display()
                    );
                }
                Ok(Resolved {
                    shards,
                    index: None,
                })
            }
            _ => bail!(
                "{} holds {} index files; name the one to use",
                path.display(),
                indexes.len()
            ),
        };
    }
    if is_index(path) {
        return read_index(path);
    }
    Ok(Resolved {
        shards: vec![path.to_path_buf()],
        index: None,
    })
}

/// The shard files `paths` name (files, directories, index files), in
/// order, each once, and the weight maps of the indexes among them: every
/// path resolved (and every index read) once.
fn resolve_all(paths: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<Index>)> {
    let mut shards: Vec<PathBuf> = Vec::new();
    let mut indexes = Vec::new();
    let mut seen = HashSet::new();
    for path in paths {
        let resolved = resolve(path)?;
        indexes.extend(resolved.index);
        for shard in resolved.shards {
            let key = fs::canonicalize(&shard).unwrap_or_else(|_| shard.clone());
            if seen.insert(key) {
                shards.push(std::path::absolute(&shard).unwrap_or(shard));
            }
        }
    }
    Ok((shards, indexes))
}

impl Checkpoint {
    /// Open every shard `paths` name (headers only) and check that they
    /// agree: no tensor in two shards, and each index's listing matches
    /// what its shards hold.
    pub fn open(paths: &[PathBuf]) -> Result<Self> {
        if paths.is_empty() {
            bail!("no weights file given");
        }
        let (files, indexes) = resolve_all(paths)?;
        let mut shards = Vec::with_capacity(files.len());
        let mut owner: HashMap<String, usize> = HashMap::new();
        for (i, file) in files.iter().enumerate() {
            let shard = SafetensorsFile::open(file)?;
            for name in shard.names() {
                if let Some(&first) = owner.get(&name) {
                    let first: &SafetensorsFile = &shards[first];
                    bail!(
                        "tensor '{name}' is in two shards: {} and {}",
                        first.path().display(),
                        file.display()
                    );
                }
                owner.insert(name, i);
            }
            shards.push(shard);
        }
        let checkpoint = Checkpoint { shards, owner };
        for (index, map) in &indexes {
            checkpoint.check_index(index, map)?;
        }
        Ok(checkpoint)
    }

    /// Each tensor the index lists is in the shard it names, and each
    /// tensor of its shards is listed.
    fn check_index(&self, index: &Path, map: &WeightMap) -> Result<()> {
        let mut listed_shards = HashSet::new();
        for (name, file) in map {
            listed_shards.insert(file.as_str());
            let held = self
                .owner
                .get(name)
                .map(|&i| self.shards[i].path())
                .filter(|p| p.file_name().is_some_and(|n| n == file.as_str()));
            if held.is_none() {
                bail!(
                    "{}: '{name}' is listed in {file}, which does not hold it",
                    index.display()
                );
            }
        }
        for shard in &self.shards {
            let in_index = shard
                .path()
                .file_name()
                .is_some_and(|n| listed_shards.contains(n.to_string_lossy().as_ref()));
            if !in_index {
                continue;
            }
            if let Some(name) = shard.names().into_iter().find(|n| !map.contains_key(n)) {
                bail!(
                    "{} holds '{name}', which its index {} does not list",
                    shard.path().display(),
                    index.display()
                );
            }
        }
        Ok(())
    }

    fn shard(&self, name: &str) -> Option<&SafetensorsFile> {
        self.owner.get(name).map(|&i| &self.shards[i])
    }

    /// Every tensor name, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.owner.keys().cloned().collect();
        names.sort();
        names
    }

    pub fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.shard(name).and_then(|s| s.shape(name))
    }

    pub fn dtype(&self, name: &str) -> Option<StDtype> {
        self.shard(name).and_then(|s| s.dtype(name))
    }

    /// Whether `a` and `b` hold the same tensor: type, shape and bytes.
    pub fn same_tensor(&self, a: &str, b: &str) -> Result<bool> {
        let stored = |name: &str| match self.shard(name) {
            Some(shard) => shard.stored(name),
            None => bail!("{} has no tensor '{name}'", self.describe()),
        };
        Ok(stored(a)? == stored(b)?)
    }

    /// A BF16 or F16 tensor as stored; `None` for other types.
    pub fn halves(&self, name: &str) -> Result<Option<HostTensor>> {
        match self.shard(name) {
            Some(shard) => shard.halves(name),
            None => bail!("{} has no tensor '{name}'", self.describe()),
        }
    }

    /// A floating-point tensor as f32.
    pub fn float(&self, name: &str) -> Result<HostTensor> {
        match self.shard(name) {
            Some(shard) => shard.float(name),
            None => bail!("{} has no tensor '{name}'", self.describe()),
        }
    }

    /// The shard files, absolute: what a worker is given to open.
    pub fn shard_paths(&self) -> Vec<PathBuf> {
        self.shards.iter().map(|s| s.path().to_path_buf()).collect()
    }

    /// The shard files, for results and messages.
    pub fn describe(&self) -> String {
        match self.shards.as_slice() {
            [one] => format!("file {}", one.path().display()),
            many => format!(
                "{} shards in {}",
                many.len(),
                many[0].path().parent().unwrap_or(Path::new(".")).display()
            ),
        }
    }
}

/// Weights from a checkpoint with the reference parameter names: one
/// safetensors file or a sharded one ([`Checkpoint`]).
pub struct FileWeights {
    checkpoint: Checkpoint,
    /// What was accepted that the user should hear of (a tied copy).
    notes: Vec<String>,
}

impl FileWeights {
    /// Open the checkpoint `paths` name (headers only) and check that it
    /// holds every parameter of `specs` with the right shape and a float
    /// type. With `whole`, the parameters of the whole model (`specs` may be
    /// its first blocks: the rest are expected and never read), every other
    /// tensor is unexpected. The error lists every problem found.
    pub fn open(
        paths: &[PathBuf],
        specs: &[ParamSpec],
        whole: Option<&[ParamSpec]>,
    ) -> Result<Self> {
        let checkpoint = Checkpoint::open(paths)?;
        let mut problems = Vec::new();
        for spec in specs {
            match checkpoint.shape(&spec.name) {
                None => problems.push(format!("missing '{}'", spec.name)),
                Some(shape) if shape != spec.shape => problems.push(format!(
                    "'{}' has shape {shape:?}, the model needs {:?}",
                    spec.name, spec.shape
                )),
                Some(_) => {}
            }
            // Weights are floats; an integer tensor of the right shape would
            // fail only inside every worker.
            if let Some(dtype) = checkpoint.dtype(&spec.name)
                && !FLOAT_DTYPES.contains(&dtype)
            {
                problems.push(format!(
                    "'{}' is {dtype:?}, not a float type (F32, F64, F16 or BF16)",
                    spec.name
                ));
            }
        }
        let mut notes = Vec::new();
        if let Some(whole) = whole {
            let known: HashSet<&str> = whole.iter().map(|s| s.name.as_str()).collect();
            let copies = tied_copies(whole);
            for name in checkpoint.names() {
                if known.contains(name.as_str()) {
                    continue;
                }
                match copies.iter().find(|(copy, _)| *copy == name) {
                    Some((copy, of)) if checkpoint.same_tensor(copy, of)? => notes.push(format!(
                        "'{copy}' equals '{of}' (a tied model's state_dict saves both): the model reads '{of}'"
                    )),
                    Some((copy, of)) => problems.push(format!(
                        "'{copy}' differs from '{of}', but the model ties them (tie_word_embeddings): an untied checkpoint needs an untied preset"
                    )),
                    None => problems.push(format!("unexpected '{name}'")),
                }
            }
        }
        if !problems.is_empty() {
            let shown: Vec<_> = problems.iter().take(8).cloned().collect();
            let more = problems.len().saturating_sub(shown.len());
            bail!(
                "{} does not match the workload's parameters ({} problem(s)): {}{}",
                checkpoint.describe(),
                problems.len(),
                shown.join("; "),
                if more > 0 {
                    format!("; and {more} more")
                } else {
                    String::new()
                }
            );
        }
        Ok(FileWeights { checkpoint, notes })
    }
}

impl FileWeights {
    /// What was accepted that the user should hear of, one line each.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The checkpoint's shard files, absolute.
    pub fn shard_paths(&self) -> Vec<PathBuf> {
        self.checkpoint.shard_paths()
    }

    /// How many of `specs` [`WeightSource::load_for`] hands over as stored
    /// for a run in `dtype` (no f32 copy), for the case's notes.
    pub fn stored_in(&self, specs: &[ParamSpec], dtype: Dtype) -> usize {
        let stored = match dtype {
            Dtype::Bf16 => StDtype::BF16,
            Dtype::F16 => StDtype::F16,
            Dtype::F32 => return 0,
        };
        specs
            .iter()
            .filter(|s| self.checkpoint.dtype(&s.name) == Some(stored))
            .count()
    }
}

impl WeightSource for FileWeights {
    fn load(&self, spec: &ParamSpec) -> Result<HostTensor> {
        self.checkpoint.float(&spec.name)
    }

    fn load_for(&self, spec: &ParamSpec, dtype: Dtype) -> Result<HostTensor> {
        let stored = match (dtype, self.checkpoint.dtype(&spec.name)) {
            (Dtype::Bf16, Some(StDtype::BF16)) | (Dtype::F16, Some(StDtype::F16)) => {
                self.checkpoint.halves(&spec.name)?
            }
            _ => None,
        };
        match stored {
            Some(t) => Ok(t),
            None => self.load(spec),
        }
    }

    fn describe(&self) -> String {
        self.checkpoint.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::files::encode;

    fn shard(dir: &Path, file: &str, names: &[&str]) -> PathBuf {
        let tensors: Vec<(String, HostTensor)> = names
            .iter()
            .map(|n| (n.to_string(), HostTensor::f32(vec![2], vec![1.0, 2.0])))
            .collect();
        let path = dir.join(file);
        fs::write(&path, encode(&tensors, HashMap::new()).unwrap()).unwrap();
        path
    }

    fn index(dir: &Path, map: &[(&str, &str)]) -> PathBuf {
        let map: BTreeMap<&str, &str> = map.iter().copied().collect();
        let path = dir.join("model.safetensors.index.json");
        let json = serde_json::json!({"metadata": {"total_size": 16}, "weight_map": map});
        fs::write(&path, json.to_string()).unwrap();
        path
    }

    #[test]
    fn an_index_that_names_no_shard_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let idx = index(dir.path(), &[]);
        let err = Checkpoint::open(&[idx]).err().expect("refused").to_string();
        assert!(err.contains("weight_map is empty"), "{err}");
    }

    #[test]
    fn an_index_a_directory_and_a_file_list_open_the_same_shards() {
        let dir = tempfile::tempdir().unwrap();
        let a = shard(dir.path(), "model-00001-of-00002.safetensors", &["x", "y"]);
        let b = shard(dir.path(), "model-00002-of-00002.safetensors", &["z"]);
        let idx = index(
            dir.path(),
            &[
                ("x", "model-00001-of-00002.safetensors"),
                ("y", "model-00001-of-00002.safetensors"),
                ("z", "model-00002-of-00002.safetensors"),
            ],
        );
        for paths in [
            vec![idx.clone()],
            vec![dir.path().to_path_buf()],
            vec![a, b],
        ] {
            let c = Checkpoint::open(&paths).unwrap();
            assert_eq!(c.names(), ["x", "y", "z"], "{paths:?}");
            assert_eq!(c.float("z").unwrap().as_f32().unwrap(), [1.0, 2.0]);
            assert!(c.describe().starts_with("2 shards in"), "{}", c.describe());
        }
        // Without an index, a directory is every .safetensors file in it.
        fs::remove_file(&idx).unwrap();
        assert_eq!(
            Checkpoint::open(&[dir.path().to_path_buf()])
                .unwrap()
                .names(),
            ["x", "y", "z"]
        );
    }

    #[test]
    fn inconsistent_shards_and_indexes_are_refused_with_the_names() {
        let dir = tempfile::tempdir().unwrap();
        let a = shard(dir.path(), "a.safetensors", &["x", "y"]);
        let b = shard(dir.path(), "b.safetensors", &["y"]);
        let err = Checkpoint::open(&[a.clone(), b]).err().unwrap().to_string();
        assert!(err.contains("tensor 'y' is in two shards"), "{err}");
        // The index names a shard that lacks the tensor.
        let idx = index(
            dir.path(),
            &[("x", "a.safetensors"), ("y", "c.safetensors")],
        );
        shard(dir.path(), "c.safetensors", &["w"]);
        let err = format!("{:#}", Checkpoint::open(&[idx]).err().unwrap());
        assert!(err.contains("'y' is listed in c.safetensors"), "{err}");
        // A shard holds a tensor its index does not list.
        let idx = index(dir.path(), &[("x", "a.safetensors")]);
        let err = format!("{:#}", Checkpoint::open(&[idx]).err().unwrap());
        assert!(err.contains("holds 'y', which its index"), "{err}");
        // Shards are file names beside the index.
        let idx = index(dir.path(), &[("x", "../a.safetensors")]);
        let err = format!("{:#}", Checkpoint::open(&[idx]).err().unwrap());
        assert!(err.contains("not a file name beside the index"), "{err}");
        // Two indexes in one directory: which one is ambiguous.
        fs::write(dir.path().join("other.safetensors.index.json"), "{}").unwrap();
        let err = format!(
            "{:#}",
            Checkpoint::open(&[dir.path().to_path_buf()]).err().unwrap()
        );
        assert!(err.contains("holds 2 index files"), "{err}");
        let empty = tempfile::tempdir().unwrap();
        let err = format!(
            "{:#}",
            Checkpoint::open(&[empty.path().to_path_buf()])
                .err()
                .unwrap()
        );
        assert!(err.contains("holds no .safetensors file"), "{err}");
        let not_index = dir.path().join("config.json");
        fs::write(&not_index, "[1]").unwrap();
        let err = format!("{:#}", Checkpoint::open(&[not_index]).err().unwrap());
        assert!(err.contains("is not a safetensors index"), "{err}");
    }

    #[test]
    fn weights_are_checked_against_the_model_and_the_whole_model() {
        use crate::compute::tensors::SeededWeights;
        use crate::model::params::parameters;
        use crate::model::workload::{Dimension, apply_overrides, find_preset};
        let dir = tempfile::tempdir().unwrap();
        let config = find_preset("wan-tiny").unwrap().config;
        let specs = parameters(&config);
        let seeded = SeededWeights { seed: 0 };
        let mut all: Vec<(String, HostTensor)> = specs
            .iter()
            .map(|s| (s.name.clone(), seeded.load(s).unwrap()))
            .collect();
        let write = |name: &str, tensors: &[(String, HostTensor)]| {
            let path = dir.path().join(name);
            fs::write(&path, encode(tensors, HashMap::new()).unwrap()).unwrap();
            path
        };
        let good = write("good.safetensors", &all);
        let weights = FileWeights::open(std::slice::from_ref(&good), &specs, Some(&specs)).unwrap();
        for s in &specs {
            assert_eq!(weights.load(s).unwrap(), seeded.load(s).unwrap());
        }
        // One block of two: the second block's tensors are expected, unread.
        let one = apply_overrides(&config, &[(Dimension::Layers, 1)].into_iter().collect());
        let first = parameters(&one);
        FileWeights::open(std::slice::from_ref(&good), &first, Some(&specs)).unwrap();
        // Against the one-block model as a whole they are unexpected.
        let err = FileWeights::open(std::slice::from_ref(&good), &first, Some(&first))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("unexpected 'blocks.1."), "{err}");
        all.retain(|(n, _)| n != "head.modulation");
        all[0].1 = HostTensor::f32(vec![1], vec![0.0]);
        all.push(("stray".into(), HostTensor::f32(vec![1], vec![0.0])));
        let bad = write("bad.safetensors", &all);
        let err = FileWeights::open(&[bad], &specs, Some(&specs))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("3 problem(s)"), "{err}");
        assert!(err.contains("missing 'head.modulation'"), "{err}");
        assert!(
            err.contains("'patch_embedding.weight' has shape [1]"),
            "{err}"
        );
        assert!(err.contains("unexpected 'stray'"), "{err}");
    }

    #[test]
    fn a_tied_checkpoint_may_hold_lm_head_when_it_equals_the_embedding() {
        use crate::compute::tensors::SeededWeights;
        use crate::model::params::parameters;
        use crate::model::workload::{ModelConfig, find_preset};
        let dir = tempfile::tempdir().unwrap();
        let ModelConfig::Llama(untied) = find_preset("llama-tiny").unwrap().config else {
            unreachable!()
        };
        let tied = ModelConfig::Llama(crate::model::workload::LlamaConfig {
            tie_word_embeddings: true,
            ..untied
        });
        let specs = parameters(&tied);
        let seeded = SeededWeights { seed: 0 };
        let mut all: Vec<(String, HostTensor)> = specs
            .iter()
            .map(|s| (s.name.clone(), seeded.load(s).unwrap()))
            .collect();
        let embedding = all
            .iter()
            .find(|(n, _)| n == "model.embed_tokens.weight")
            .unwrap()
            .1
            .clone();
        let open = |name: &str, all: &[(String, HostTensor)]| {
            let path = dir.path().join(name);
            fs::write(&path, encode(all, HashMap::new()).unwrap()).unwrap();
            FileWeights::open(&[path], &specs, Some(&specs))
        };
        all.push(("lm_head.weight".into(), embedding.clone()));
        let weights = open("tied.safetensors", &all).unwrap();
        assert_eq!(weights.notes().len(), 1);
        assert!(
            weights.notes()[0].contains("'lm_head.weight' equals 'model.embed_tokens.weight'"),
            "{:?}",
            weights.notes()
        );
        let mut changed = embedding.as_f32().unwrap().to_vec();
        changed[0] += 1.0;
        all.last_mut().unwrap().1 = HostTensor::f32(embedding.shape.clone(), changed);
        let err = open("untied.safetensors", &all).err().unwrap().to_string();
        assert!(
            err.contains("'lm_head.weight' differs from 'model.embed_tokens.weight'"),
            "{err}"
        );
    }

    #[test]
    fn a_half_precision_checkpoint_is_kept_as_stored_for_a_run_in_its_dtype() {
        use crate::compute::tensors::HostData;
        use crate::io::files::{FloatType, seeded_weight_shards};
        use crate::model::params::parameters;
        use crate::model::workload::find_preset;
        let dir = tempfile::tempdir().unwrap();
        let config = find_preset("wan-tiny").unwrap().config;
        let files = seeded_weight_shards(&config, "wan-tiny", 0, FloatType::Bf16, 2).unwrap();
        assert_eq!(files.len(), 3, "two shards and the index");
        for (name, bytes) in &files {
            fs::write(dir.path().join(name), bytes).unwrap();
        }
        let specs = parameters(&config);
        let weights = FileWeights::open(&[dir.path().to_path_buf()], &specs, Some(&specs)).unwrap();
        let seeded = crate::compute::tensors::SeededWeights { seed: 0 };
        for spec in &specs {
            let kept = weights.load_for(spec, Dtype::Bf16).unwrap();
            let HostData::Bf16(halves) = &kept.data else {
                panic!("{}: not kept as bf16", spec.name)
            };
            let widened = weights.load_for(spec, Dtype::F32).unwrap();
            let exact: Vec<f32> = halves.iter().map(|h| h.to_f32()).collect();
            assert_eq!(
                widened.as_f32().unwrap(),
                exact.as_slice(),
                "bf16 to f32 is exact"
            );
            // The stored values are the seeded ones rounded to bf16.
            let rounded: Vec<f32> = seeded
                .load(spec)
                .unwrap()
                .as_f32()
                .unwrap()
                .iter()
                .map(|&v| half::bf16::from_f32(v).to_f32())
                .collect();
            assert_eq!(exact, rounded, "{}", spec.name);
            // An f16 run of a bf16 checkpoint converts (through f32).
            assert!(matches!(
                weights.load_for(spec, Dtype::F16).unwrap().data,
                HostData::F32(_)
            ));
        }
    }
}
