//! The machine and software a run measured, as results record it.

use std::collections::BTreeMap;

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
pub struct GpuInfo {
    pub index: usize,
    pub name: String,
    /// Where the facts came from (e.g. `/proc/driver/nvidia`).
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Framework {
    /// Backend name (`candle`).
    pub backend: String,
    /// Framework and version (`candle-core 0.11.1`).
    pub version: String,
}

/// The one thread setting every framework gets, and how it was applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadSettings {
    pub threads: usize,
    /// `--threads` or `default: physical cores`.
    pub source: String,
    /// Environment variables set in every worker.
    pub env: BTreeMap<String, String>,
}

/// The thread count itself, for frameworks sized through an API call rather
/// than an environment variable (libtorch's `set_num_threads`).
pub const THREADS_ENV: &str = "DITBENCH_THREADS";

/// The thread setting this worker was started with, if any.
pub fn worker_threads() -> Option<usize> {
    std::env::var(THREADS_ENV)
        .ok()?
        .parse()
        .ok()
        .filter(|&n| n > 0)
}

impl ThreadSettings {
    /// Environment variables that size the thread pools of every framework.
    pub fn new(threads: usize, source: &str) -> Self {
        let env = [
            THREADS_ENV,
            "RAYON_NUM_THREADS",
            "CANDLE_NUM_THREADS",
            "OMP_NUM_THREADS",
            "MKL_NUM_THREADS",
        ]
        .into_iter()
        .map(|k| (k.to_string(), threads.to_string()))
        .collect();
        ThreadSettings {
            threads,
            source: source.to_string(),
            env,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    pub host: String,
    pub os: String,
    pub kernel: String,
    pub arch: String,
    pub cpu_model: String,
    pub physical_cores: Option<usize>,
    pub logical_cores: usize,
    pub ram_bytes: u64,
    pub gpus: Vec<GpuInfo>,
    pub rustc: String,
    pub frameworks: Vec<Framework>,
    pub cargo_features: Vec<String>,
    pub build_profile: String,
    pub threads: ThreadSettings,
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

/// NVIDIA GPUs the kernel driver lists; empty on machines without one.
pub fn nvidia_gpus() -> Vec<GpuInfo> {
    let Ok(dir) = std::fs::read_dir("/proc/driver/nvidia/gpus") else {
        return Vec::new();
    };
    let mut entries: Vec<_> = dir.flatten().map(|e| e.path()).collect();
    entries.sort();
    entries
        .iter()
        .enumerate()
        .filter_map(|(index, path)| {
            let info = std::fs::read_to_string(path.join("information")).ok()?;
            let name = info
                .lines()
                .find_map(|l| l.strip_prefix("Model:"))?
                .trim()
                .to_string();
            Some(GpuInfo {
                index,
                name,
                source: "/proc/driver/nvidia".into(),
            })
        })
        .collect()
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
        physical_cores: System::physical_core_count().ok(),
        logical_cores,
        ram_bytes,
        gpus: nvidia_gpus(),
        rustc: build.rustc.clone(),
        frameworks,
        cargo_features: build.cargo_features.clone(),
        build_profile: build.profile.clone(),
        threads,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_this_machine() {
        let build = BuildInfo {
            tool_version: "0".into(),
            git_commit: "unknown".into(),
            rustc: "rustc".into(),
            cargo_features: vec!["candle".into()],
            profile: "test".into(),
        };
        let env = capture(&build, vec![], ThreadSettings::new(2, "--threads"));
        assert!(env.logical_cores >= 1);
        assert!(env.ram_bytes > 0);
        assert!(!env.host.is_empty());
        assert_eq!(env.threads.env["RAYON_NUM_THREADS"], "2");
        assert!(default_threads() >= 1);
    }
}
