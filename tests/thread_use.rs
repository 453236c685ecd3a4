//! Guard: every CPU backend computes a large matmul on two cores when it is
//! given two threads. A build with a framework's threading compiled out (as
//! Burn once was: `rayon` off) runs it on one core and fails here.
//!
//! In-process and alone in its test binary, so that no other test's work is
//! counted; skipped with a message on a machine with fewer than two idle cores.

use std::time::{Duration, Instant};

use ditbench::compiled_backends;
use ditbench::registry::thread_variables;
use ditbench_core::compute::kernels::{Kernel, KernelSpec, wan_kernels};
use ditbench_core::compute::tensors::SeededWeights;
use ditbench_core::machine::threads::{THREADS_ENV, ThreadSettings};
use ditbench_core::machine::threads::{ThreadTimes, activity, spin_two_threads};
use ditbench_core::model::workload::{ModelConfig, find_preset};
use ditbench_core::{DeviceName, Dtype, Pass, PreparedCase};

/// Below this many cores' worth of CPU time per wall second, a matmul given
/// two threads did not run on two cores (a serial one gives 1.0; a parallel
/// one 1.45 (NdArray's matrixmultiply) to 2.0 (libtorch) on an idle 2-core machine).
const MIN_PARALLELISM: f64 = 1.25;

/// Cores' worth of CPU the run of `work` kept busy, from `/proc/self/task`.
fn parallelism(work: impl FnOnce()) -> f64 {
    let before = ThreadTimes::now().expect("/proc/self/task is readable");
    let t = Instant::now();
    work();
    let wall = t.elapsed().as_secs_f64();
    let after = ThreadTimes::now().unwrap();
    activity(&after.since(&before), wall).cpu_parallelism
}

/// What two spinning threads get from this machine right now: below 1.6 the
/// machine is too busy to tell a serial matmul from a parallel one.
fn idle_cores_now() -> f64 {
    spin_two_threads(Duration::from_millis(300))
        .expect("/proc/self/task is readable")
        .cpu_parallelism
}

/// Steps of `case` for at least `seconds`.
fn run_for(case: &mut dyn PreparedCase, seconds: f64) {
    let t = Instant::now();
    while t.elapsed().as_secs_f64() < seconds {
        case.step().unwrap();
    }
    case.synchronize().unwrap();
}

#[test]
fn every_cpu_backend_computes_a_large_matmul_on_two_cores() {
    for (key, value) in
        ThreadSettings::new(2, THREADS_ENV, thread_variables(&compiled_backends())).env
    {
        // SAFETY: the only test in this binary, before any framework starts
        // a thread pool that reads these.
        unsafe { std::env::set_var(key, value) };
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        eprintln!("skipped: this machine has {cores} core; the check needs two");
        return;
    }
    let ModelConfig::Wan(config) = find_preset("wan-small").unwrap().config else {
        unreachable!("wan-small is a Wan preset")
    };
    // FFN up, 320 x 384 x 1536: far above every framework's threshold for
    // splitting a matmul across threads.
    let kernel = wan_kernels(&config)
        .into_iter()
        .find(|k| matches!(k, Kernel::Matmul { site: "ffn.0", .. }))
        .expect("wan-small has an FFN-up matmul");
    let operands = SeededWeights { seed: 0 };
    let mut checked = Vec::new();
    for backend in compiled_backends() {
        if !backend.devices().contains(&DeviceName::Cpu) {
            continue;
        }
        let spec = KernelSpec {
            kernel: kernel.clone(),
            device: DeviceName::Cpu,
            dtype: Dtype::F32,
            pass: Pass::Forward,
        };
        let mut case = backend.prepare_kernel(&spec, &operands).unwrap();
        run_for(case.as_mut(), 0.1);
        let idle = idle_cores_now();
        if idle < 1.6 {
            eprintln!(
                "skipped {}: two spinning threads got {idle:.2} cores; the machine is too busy to judge",
                backend.name()
            );
            continue;
        }
        // The best of three half-second measurements: steal or a
        // neighbour's burst takes cores from one of them, and a framework
        // that computes on one thread stays near 1.0 in every one.
        let used = (0..3)
            .map(|_| parallelism(|| run_for(case.as_mut(), 0.5)))
            .fold(0.0, f64::max);
        // Judged only if the machine is still free after it was measured.
        let idle_after = idle_cores_now();
        if idle_after < 1.6 {
            eprintln!(
                "skipped {}: the machine got busy while measuring ({idle_after:.2} cores free after, {used:.2} used)",
                backend.name()
            );
            continue;
        }
        checked.push((backend.name(), used));
    }
    eprintln!("cores' worth of CPU per backend: {checked:.2?}");
    let serial: Vec<_> = checked
        .iter()
        .filter(|(_, used)| *used < MIN_PARALLELISM)
        .collect();
    assert!(
        serial.is_empty(),
        "computed the FFN-up matmul on fewer than {MIN_PARALLELISM} cores of the 2 threads given: {serial:.2?}"
    );
}
