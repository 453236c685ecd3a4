//! The machine and software a run measured, as results record it.

use std::path::Path;

use ditbench_core::machine::gpus::{GpuInfo, nvidia_gpus};
use ditbench_core::machine::threads::ThreadSettings;
use serde::{Deserialize, Serialize};
use sysinfo::{CpuRefreshKind, RefreshKind, System};

/// Facts fixed when the binary was built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildInfo {
    pub tool_version: String,
    /// `git describe --always --dirty` of the source tree, or `unknown`.
    pub git_commit: String,
    pub rustc: String,
    pub cargo_features: Vec<String>,
    /// Opt level and profile the binary was built with.
    pub profile: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Framework {
    /// Backend name (`candle`).
    pub backend: String,
    /// Framework and version (`candle-core 0.11.1`).
    pub version: String,
    /// How this build computes on a CPU where that changes its speed
    /// (threading, SIMD kernels, BLAS), from the backend's compiled features
    /// and the framework's own answers; empty in files written before it existed.
    #[serde(default)]
    pub build_features: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    pub host: String,
    pub os: String,
    pub kernel: String,
    pub arch: String,
    pub cpu_model: String,
    /// The CPU's vector extensions that the kernels of these frameworks
    /// choose between at run time (`avx2`, `avx512f`, `amx-tile`, ...).
    #[serde(default)]
    pub cpu_simd: Vec<String>,
    pub physical_cores: Option<usize>,
    pub logical_cores: usize,
    pub ram_bytes: u64,
    pub gpus: Vec<GpuInfo>,
    pub rustc: String,
    pub frameworks: Vec<Framework>,
    pub cargo_features: Vec<String>,
    pub build_profile: String,
    pub threads: ThreadSettings,
    /// cpufreq scaling governor(s); null where not exposed (and in files
    /// written before it was recorded).
    #[serde(default)]
    pub cpu_governor: Option<String>,
    /// Turbo/boost state and where it was read; null where not exposed.
    #[serde(default)]
    pub cpu_boost: Option<String>,
}

/// This machine's host name, as results record it.
pub fn host_name() -> String {
    System::host_name().unwrap_or_else(|_| "unknown".to_string())
}

/// Physical cores, falling back to logical ones.
pub fn default_threads() -> usize {
    System::physical_core_count()
        .ok()
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The vector extensions this CPU offers, of those CPU kernels dispatch on.
pub fn cpu_simd() -> Vec<String> {
    #[allow(unused_mut)]
    let mut found: Vec<&str> = Vec::new();
    // Each feature through the architecture's run-time detector.
    #[allow(unused_macros)]
    macro_rules! probe {
        ($detect:ident: $($f:tt),*) => {$(
            if std::arch::$detect!($f) {
                found.push($f);
            }
        )*};
    }
    #[cfg(target_arch = "x86_64")]
    {
        probe!(is_x86_feature_detected: "sse4.2", "avx", "avx2", "fma", "f16c", "avx512f",
            "avx512bw", "avx512vl", "avx512vnni", "avx512bf16", "avx512fp16");
        // AMX has no stable run-time probe in std: the kernel's word for it.
        if let Ok(cpuinfo) = std::fs::read_to_string("/proc/cpuinfo")
            && let Some(flags) = cpuinfo.lines().find(|l| l.starts_with("flags"))
        {
            for (flag, name) in [("amx_tile", "amx-tile"), ("amx_bf16", "amx-bf16")] {
                if flags.split_whitespace().any(|f| f == flag) {
                    found.push(name);
                }
            }
        }
    }
    #[cfg(target_arch = "aarch64")]
    probe!(is_aarch64_feature_detected: "neon", "fp16", "dotprod", "bf16", "i8mm", "sve", "sve2");
    found.into_iter().map(String::from).collect()
}

pub fn capture(
    build: &BuildInfo,
    frameworks: Vec<Framework>,
    threads: ThreadSettings,
) -> Environment {
    let unknown = || "unknown".to_string();
    let (cpu_model, logical_cores, ram_bytes) = match System::new_with_specifics(
        RefreshKind::nothing()
            .with_cpu(CpuRefreshKind::nothing())
            .with_memory(sysinfo::MemoryRefreshKind::nothing().with_ram()),
    ) {
        Ok(sys) => (
            sys.cpus()
                .first()
                .map(|c| c.brand().trim().to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(unknown),
            sys.cpus().len(),
            sys.total_memory(),
        ),
        Err(_) => (unknown(), 0, 0),
    };
    let logical_cores = if logical_cores > 0 {
        logical_cores
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    };
    Environment {
        host: host_name(),
        os: System::long_os_version().unwrap_or_else(|_| unknown()),
        kernel: System::kernel_version().unwrap_or_else(|_| unknown()),
        arch: System::cpu_arch(),
        cpu_model,
        cpu_simd: cpu_simd(),
        physical_cores: System::physical_core_count().ok(),
        logical_cores,
        ram_bytes,
        gpus: nvidia_gpus(),
        rustc: build.rustc.clone(),
        frameworks,
        cargo_features: build.cargo_features.clone(),
        build_profile: build.profile.clone(),
        threads,
        cpu_governor: cpu_governor(Path::new(SYS_CPU)),
        cpu_boost: cpu_boost(Path::new(SYS_CPU)),
    }
}

const SYS_CPU: &str = "/sys/devices/system/cpu";

/// The scaling governors of the CPUs under `sys_cpu`, distinct and sorted
/// (`performance`, or `performance, powersave` when they differ); `None`
/// where cpufreq is not exposed.
pub fn cpu_governor(sys_cpu: &Path) -> Option<String> {
    let mut governors: Vec<String> = std::fs::read_dir(sys_cpu)
        .ok()?
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(ditbench_core::machine::threads::is_cpu_name)
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("cpufreq/scaling_governor")).ok())
        .map(|g| g.trim().to_string())
        .filter(|g| !g.is_empty())
        .collect();
    governors.sort();
    governors.dedup();
    (!governors.is_empty()).then(|| governors.join(", "))
}

/// Turbo/boost: intel_pstate's `no_turbo`, else cpufreq's `boost`; `None`
/// where neither is exposed.
pub fn cpu_boost(sys_cpu: &Path) -> Option<String> {
    let read = |p: &str| {
        std::fs::read_to_string(sys_cpu.join(p))
            .ok()
            .map(|v| v.trim().to_string())
    };
    match (read("intel_pstate/no_turbo"), read("cpufreq/boost")) {
        (Some(v), _) if v == "0" => Some("on (intel_pstate no_turbo = 0)".into()),
        (Some(v), _) if v == "1" => Some("off (intel_pstate no_turbo = 1)".into()),
        (_, Some(v)) if v == "1" => Some("on (cpufreq boost = 1)".into()),
        (_, Some(v)) if v == "0" => Some("off (cpufreq boost = 0)".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn governor_and_boost_read_sysfs_where_exposed() {
        let dir = tempfile::tempdir().unwrap();
        let sys = dir.path();
        assert_eq!(cpu_governor(sys), None);
        assert_eq!(cpu_boost(sys), None);
        for (cpu, g) in [
            ("cpu0", "performance"),
            ("cpu1", "powersave"),
            ("cpu2", "performance"),
        ] {
            std::fs::create_dir_all(sys.join(cpu).join("cpufreq")).unwrap();
            std::fs::write(
                sys.join(cpu).join("cpufreq/scaling_governor"),
                format!("{g}\n"),
            )
            .unwrap();
        }
        // cpufreq/ itself is not a CPU.
        std::fs::create_dir_all(sys.join("cpufreq")).unwrap();
        assert_eq!(cpu_governor(sys).as_deref(), Some("performance, powersave"));
        std::fs::write(sys.join("cpufreq/boost"), "0\n").unwrap();
        assert_eq!(cpu_boost(sys).as_deref(), Some("off (cpufreq boost = 0)"));
        std::fs::create_dir_all(sys.join("intel_pstate")).unwrap();
        std::fs::write(sys.join("intel_pstate/no_turbo"), "0\n").unwrap();
        assert_eq!(
            cpu_boost(sys).as_deref(),
            Some("on (intel_pstate no_turbo = 0)")
        );
    }

    #[test]
    fn captures_this_machine() {
        let build = BuildInfo {
            tool_version: "0".into(),
            git_commit: "unknown".into(),
            rustc: "rustc".into(),
            cargo_features: vec!["candle".into()],
            profile: "test".into(),
        };
        let env = capture(
            &build,
            vec![],
            ThreadSettings::new(2, "--threads", ["RAYON_NUM_THREADS"]),
        );
        assert!(env.logical_cores >= 1);
        assert!(env.ram_bytes > 0);
        assert!(!env.host.is_empty());
        assert_eq!(env.threads.env["RAYON_NUM_THREADS"], "2");
        assert!(default_threads() >= 1);
        // Every x86-64 CPU ditbench runs on has SSE4.2 or better.
        #[cfg(target_arch = "x86_64")]
        assert!(
            env.cpu_simd.iter().any(|f| f == "sse4.2"),
            "{:?}",
            env.cpu_simd
        );
    }
}
