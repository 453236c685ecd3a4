//! `ditbench data`: export the seeded weights and inputs of one workload, so
//! that other implementations (e.g. the PyTorch reference models) can load
//! exactly what ditbench runs.

use anyhow::Result;
use ditbench_harness::files::{seeded_inputs_file, seeded_weights_file};
use ditbench_harness::params::parameters;
use ditbench_harness::workload::expand_workloads;
use ditbench_harness::write::{file_stem, write_numbered};

use crate::UsageError;
use crate::cli::DataArgs;
use crate::run::sweeps;

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
    let label = workload.label();
    let stem = format!("{}-seed{}", file_stem(&label, "workload"), args.seed);
    let files = [
        (
            "weights",
            seeded_weights_file(&workload.config, &label, args.seed)?,
        ),
        (
            "inputs",
            seeded_inputs_file(&workload.config, &label, args.seed)?,
        ),
    ];
    for (what, bytes) in files {
        let path = write_numbered(&args.out, &format!("{stem}.{what}"), "safetensors", &bytes)?;
        println!("{:<8} {}", format!("{what}:"), path.display());
    }
    Ok(())
}
