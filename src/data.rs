//! `ditbench data`: export the seeded weights and inputs of one workload, so
//! that other implementations (e.g. the PyTorch reference models) can load
//! exactly what ditbench runs.

use anyhow::{Context, Result};
use ditbench_core::compute::tensors::seeded_data_bytes;
use ditbench_core::io::files::{FloatType, seeded_inputs_file, seeded_weight_shards};
use ditbench_core::util::write::{file_stem, numbered_names, write_new, write_numbered};

use crate::cli::{DataArgs, WeightsDtype};
use crate::plan::{expand, sweeps};
use crate::{UsageError, out};

/// Files larger than this are refused: the whole file is built in memory.
const MAX_FILE_BYTES: u64 = 4 << 30;

pub fn export(args: &DataArgs) -> Result<()> {
    let workloads = expand(std::slice::from_ref(&args.preset), &sweeps(&args.overrides))?;
    let [workload] = workloads.as_slice() else {
        return Err(UsageError(format!(
            "ditbench data exports one workload; the overrides give {}",
            workloads.len()
        ))
        .into());
    };
    // Both files are built in memory: refused before anything is made.
    let bytes = seeded_data_bytes(&workload.config);
    if bytes > MAX_FILE_BYTES {
        return Err(UsageError(format!(
            "{} has {:.1} GiB of f32 weights and inputs; ditbench data writes at most {} GiB (use --layers to export fewer blocks, or a smaller --batch)",
            workload.label(),
            bytes as f64 / (1u64 << 30) as f64,
            MAX_FILE_BYTES >> 30
        ))
        .into());
    }
    if args.out.exists() && !args.out.is_dir() {
        return Err(UsageError(format!("--out {} is not a directory", args.out.display())).into());
    }
    let label = workload.label();
    let stem = format!("{}-seed{}", file_stem(&label, "workload"), args.seed);
    let floats = match args.weights_dtype {
        WeightsDtype::F32 => FloatType::F32,
        WeightsDtype::Bf16 => FloatType::Bf16,
        WeightsDtype::F16 => FloatType::F16,
    };
    let shards = usize::from(args.shards);
    let inputs = seeded_inputs_file(&workload.config, &label, args.seed)?;
    if shards == 1 {
        let weights = seeded_weight_shards(&workload.config, &label, args.seed, floats, 1)?;
        let path = write_numbered(
            &args.out,
            &format!("{stem}.weights"),
            "safetensors",
            &weights[0].1,
        )?;
        out::line(format!("{:<8} {}", "weights:", path.display()))?;
    } else {
        let files = seeded_weight_shards(&workload.config, &label, args.seed, floats, shards)?;
        let dir = new_dir(&args.out, &format!("{stem}.weights"))?;
        for (name, bytes) in &files {
            write_new(&dir.join(name), bytes)?;
        }
        out::line(format!(
            "{:<8} {} ({} shards and model.safetensors.index.json; pass the directory to --weights)",
            "weights:",
            dir.display(),
            files.len() - 1
        ))?;
    }
    let path = write_numbered(&args.out, &format!("{stem}.inputs"), "safetensors", &inputs)?;
    out::line(format!("{:<8} {}", "inputs:", path.display()))
}

/// A new directory `dir/stem`, or `stem-2`, ... when taken: an export never
/// mixes its shards with another's.
fn new_dir(dir: &std::path::Path, stem: &str) -> Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for name in numbered_names(stem, "") {
        let path = dir.join(name);
        match std::fs::create_dir(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
        }
    }
    anyhow::bail!("{}: no free name for {stem}", dir.display())
}
