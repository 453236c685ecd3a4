//! `ditbench data`: export the seeded weights and inputs of one workload, so
//! that other implementations (e.g. the PyTorch reference models) can load
//! exactly what ditbench runs.

use std::collections::HashMap;

use anyhow::Result;
use ditbench_harness::files::{encode, input_tensors, write_new_file};
use ditbench_harness::params::parameters;
use ditbench_harness::tensors::{SeededWeights, WeightSource, seeded_inputs};
use ditbench_harness::workload::expand_workloads;

use crate::UsageError;
use crate::cli::DataArgs;
use crate::run::{file_safe, sweeps};

/// Files larger than this are refused: the whole file is built in memory.
const MAX_FILE_BYTES: u64 = 4 << 30;

pub fn export(args: &DataArgs) -> Result<()> {
    let workloads = expand_workloads(std::slice::from_ref(&args.preset), &sweeps(&args.overrides))
        .map_err(|e| UsageError(e.0))?;
    let [workload] = workloads.as_slice() else {
        return Err(UsageError(format!(
            "ditbench data exports one workload; the overrides give {}",
            workloads.len()
        ))
        .into());
    };
    let specs = parameters(&workload.config);
    let bytes: u64 = specs.iter().map(|s| s.numel() as u64 * 4).sum();
    if bytes > MAX_FILE_BYTES {
        return Err(UsageError(format!(
            "{} has {:.1} GiB of f32 weights; ditbench data writes at most {} GiB (use --layers to export fewer blocks)",
            workload.label(),
            bytes as f64 / (1u64 << 30) as f64,
            MAX_FILE_BYTES >> 30
        ))
        .into());
    }
    if args.out.exists() && !args.out.is_dir() {
        return Err(UsageError(format!("--out {} is not a directory", args.out.display())).into());
    }
    let metadata: HashMap<String, String> = [
        ("format".to_string(), "ditbench".to_string()),
        ("workload".to_string(), workload.label()),
        ("seed".to_string(), args.seed.to_string()),
        (
            "config".to_string(),
            serde_json::to_string(&workload.config)?,
        ),
    ]
    .into_iter()
    .collect();
    let source = SeededWeights { seed: args.seed };
    let weights = specs
        .iter()
        .map(|s| Ok((s.name.clone(), source.load(s)?)))
        .collect::<Result<Vec<_>>>()?;
    let inputs = input_tensors(&seeded_inputs(&workload.config, args.seed));
    let stem = format!("{}-seed{}", file_safe(&workload.label()), args.seed);
    let w = write_new_file(
        &args.out,
        &format!("{stem}.weights"),
        "safetensors",
        &encode(&weights, metadata.clone())?,
    )?;
    let i = write_new_file(
        &args.out,
        &format!("{stem}.inputs"),
        "safetensors",
        &encode(&inputs, metadata)?,
    )?;
    println!("weights: {}", w.display());
    println!("inputs:  {}", i.display());
    Ok(())
}
