//! The NVIDIA GPUs on this machine: NVML's facts where its library loads
//! (cargo feature `nvml`), otherwise the names the kernel driver lists.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuInfo {
    /// NVML's index (PCI bus order; CUDA numbers devices the same way with
    /// `CUDA_DEVICE_ORDER=PCI_BUS_ID`).
    pub index: usize,
    pub name: String,
    /// Where the facts came from: `NVML`, or `/proc/driver/nvidia` (name only).
    pub source: String,
    /// Total device memory in bytes.
    #[serde(default)]
    pub memory_bytes: Option<u64>,
    /// NVIDIA driver version.
    #[serde(default)]
    pub driver: Option<String>,
    /// The newest CUDA version the driver supports, e.g. `13.0`.
    #[serde(default)]
    pub cuda_driver: Option<String>,
    /// Maximum SM clock in MHz.
    #[serde(default)]
    pub max_sm_clock_mhz: Option<u32>,
    /// Maximum memory clock in MHz.
    #[serde(default)]
    pub max_memory_clock_mhz: Option<u32>,
    /// Enforced power limit in watts.
    #[serde(default)]
    pub power_limit_w: Option<f64>,
}

/// NVIDIA GPUs, with NVML's facts where its library loads (it is looked up
/// at run time, so machines without the driver run unchanged), otherwise the
/// names the kernel driver lists; empty on machines without one.
pub fn nvidia_gpus() -> Vec<GpuInfo> {
    #[cfg(feature = "nvml")]
    if let Some(gpus) = nvml_gpus()
        && !gpus.is_empty()
    {
        return gpus;
    }
    proc_gpus()
}

/// GPUs as NVML describes them; `None` where NVML cannot be loaded.
#[cfg(feature = "nvml")]
fn nvml_gpus() -> Option<Vec<GpuInfo>> {
    use nvml_wrapper::enum_wrappers::device::Clock;
    use nvml_wrapper::{Nvml, cuda_driver_version_major, cuda_driver_version_minor};
    let nvml = Nvml::init().ok()?;
    let driver = nvml.sys_driver_version().ok();
    let cuda_driver = nvml.sys_cuda_driver_version().ok().map(|v| {
        format!(
            "{}.{}",
            cuda_driver_version_major(v),
            cuda_driver_version_minor(v)
        )
    });
    let count = nvml.device_count().ok()?;
    let gpus = (0..count)
        .filter_map(|i| {
            let device = nvml.device_by_index(i).ok()?;
            Some(GpuInfo {
                index: i as usize,
                name: device.name().ok()?,
                source: "NVML".into(),
                memory_bytes: device.memory_info().ok().map(|m| m.total),
                driver: driver.clone(),
                cuda_driver: cuda_driver.clone(),
                max_sm_clock_mhz: device.max_clock_info(Clock::SM).ok(),
                max_memory_clock_mhz: device.max_clock_info(Clock::Memory).ok(),
                power_limit_w: device
                    .enforced_power_limit()
                    .ok()
                    .map(|mw| f64::from(mw) / 1000.0),
            })
        })
        .collect();
    Some(gpus)
}

/// GPU names from the kernel driver's `/proc` entries.
fn proc_gpus() -> Vec<GpuInfo> {
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
                memory_bytes: None,
                driver: None,
                cuda_driver: None,
                max_sm_clock_mhz: None,
                max_memory_clock_mhz: None,
                power_limit_w: None,
            })
        })
        .collect()
}
