//! Kernel-level micro-benchmarks (criterion): the building blocks of a Wan
//! workload (`ditbench_core::compute::kernels`): one DiT block, attention over one
//! latent frame, half the clip and the whole clip, and the three largest
//! matmuls, forward and train (forward + backward to every operand), on
//! every compiled backend and every device it has.
//!
//! ```text
//! cargo bench --bench kernels                                  # wan-small, f32
//! cargo bench --bench kernels -- --save-baseline before        # keep a baseline
//! cargo bench --bench kernels -- --baseline before             # compare with it
//! cargo bench --bench kernels -- 'attention-forward/candle'    # a subset (regex)
//! DITBENCH_BENCH_PRESET=wan2.1-1.3b-480p DITBENCH_BENCH_DTYPE=bf16 cargo bench ...
//! DITBENCH_THREADS=1 cargo bench ...                           # every framework on 1 thread
//! ```
//!
//! Each sample times `iters` steps with the device synchronized before and
//! after; operands are built once per benchmark, outside the timing.
//! Throughput is reported as "elements" per second, where one element is one
//! FLOP as the cost model counts them (`Kernel::flops`).
//! `cargo test` runs every benchmark once (criterion's test mode).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ditbench::compiled_backends;
use ditbench::registry::thread_variables;
use ditbench_core::compute::kernels::{KernelSpec, wan_kernels};
use ditbench_core::compute::tensors::SeededWeights;
use ditbench_core::machine::threads::{THREADS_ENV, ThreadSettings};
use ditbench_core::model::workload::{ModelConfig, WanConfig, find_preset, presets};
use ditbench_core::{DeviceName, Dtype, Pass};

/// The Wan configuration and dtype the environment asks for.
fn settings() -> Result<(String, WanConfig, Dtype)> {
    let preset = std::env::var("DITBENCH_BENCH_PRESET").unwrap_or_else(|_| "wan-small".into());
    let dtype = match std::env::var("DITBENCH_BENCH_DTYPE") {
        Ok(name) => name
            .parse()
            .map_err(|e: String| anyhow::anyhow!("DITBENCH_BENCH_DTYPE: {e}"))?,
        Err(_) => Dtype::F32,
    };
    let found = find_preset(&preset).context("DITBENCH_BENCH_PRESET")?;
    let ModelConfig::Wan(config) = found.config else {
        let wan: Vec<&str> = presets()
            .into_iter()
            .filter(|p| matches!(p.config, ModelConfig::Wan(_)))
            .map(|p| p.name)
            .collect();
        bail!(
            "DITBENCH_BENCH_PRESET={preset} is not a Wan preset; the kernel benches take one of: {}",
            wan.join(", ")
        );
    };
    Ok((preset, config, dtype))
}

/// Size every framework's pools from `DITBENCH_THREADS`, as `ditbench run
/// --threads` sizes its workers'; unset, each framework keeps its default.
fn apply_threads() -> Result<()> {
    let Ok(value) = std::env::var(THREADS_ENV) else {
        return Ok(());
    };
    let n: usize = match value.parse() {
        Ok(n) if n > 0 => n,
        _ => bail!("{THREADS_ENV}={value} is not a thread count of at least 1"),
    };
    for (key, value) in
        ThreadSettings::new(n, THREADS_ENV, thread_variables(&compiled_backends())).env
    {
        // SAFETY: called first thing in the bench, before any framework
        // starts a thread that could read the environment.
        unsafe { std::env::set_var(key, value) };
    }
    eprintln!("every framework on {n} threads ({THREADS_ENV})");
    Ok(())
}

fn kernels(c: &mut Criterion) {
    // First thing in the bench, before any framework starts a thread.
    #[cfg(feature = "burn-wgpu")]
    ditbench::vulkan::give_wayland_a_runtime_dir();
    let (preset, config, dtype) = apply_threads()
        .and_then(|()| settings())
        .unwrap_or_else(|e| {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        });
    eprintln!("kernels of {preset} in {dtype} (DITBENCH_BENCH_PRESET, DITBENCH_BENCH_DTYPE)");
    let backends = compiled_backends();
    // A software device times the CPU under a GPU API: `ditbench run
    // --devices software` measures it when asked; the benches leave it out.
    if backends
        .iter()
        .any(|b| b.devices().contains(&DeviceName::Software))
    {
        eprintln!("the software device is left out (ditbench run --devices software measures it)");
    }
    let operands = SeededWeights { seed: 0 };
    for kernel in wan_kernels(&config) {
        for pass in Pass::ALL {
            let mut group = c.benchmark_group(format!("{}-{pass}", kernel.kind()));
            group.throughput(Throughput::Elements(kernel.flops(pass) as u64));
            for backend in &backends {
                for device in backend.devices() {
                    if device == DeviceName::Software {
                        continue;
                    }
                    if let Some(reason) = backend.unsupported(device, dtype, pass) {
                        eprintln!("skipped {} on {device}: {reason}", backend.name());
                        continue;
                    }
                    let spec = KernelSpec {
                        kernel: kernel.clone(),
                        device,
                        dtype,
                        pass,
                    };
                    let mut case = backend
                        .prepare_kernel(&spec, &operands)
                        .unwrap_or_else(|e| {
                            panic!("{} {}: cannot build: {e:#}", backend.name(), spec.label())
                        });
                    let id = BenchmarkId::new(
                        format!("{}@{device}", backend.name()),
                        kernel.shape_label(),
                    );
                    group.bench_function(id, |b| {
                        b.iter_custom(|iters| {
                            time_steps(case.as_mut(), iters).unwrap_or_else(|e| {
                                panic!("{} {}: {e:#}", backend.name(), spec.label())
                            })
                        })
                    });
                }
            }
            group.finish();
        }
    }
}

/// `iters` steps between two device synchronizations.
fn time_steps(case: &mut dyn ditbench_core::PreparedCase, iters: u64) -> Result<Duration> {
    case.synchronize()?;
    let start = Instant::now();
    for _ in 0..iters {
        case.step()?;
    }
    case.synchronize()?;
    Ok(start.elapsed())
}

criterion_group! {
    name = benches;
    // Whole blocks take tens of milliseconds on a CPU: fewer, longer samples
    // than criterion's defaults. Changes under 5% count as noise, as in
    // `ditbench compare`'s default gate. Command-line flags override these.
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .noise_threshold(0.05);
    targets = kernels
}
criterion_main!(benches);
