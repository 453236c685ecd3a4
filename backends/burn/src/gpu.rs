//! Burn's GPU backends: which devices they list and how a ditbench device
//! name maps to a Burn device.

use burn::tensor::Device;
#[cfg(feature = "wgpu")]
use burn::tensor::DeviceKind;
use ditbench_core::{DeviceName, FrameworkMemory};

use crate::Kind;

/// The devices a GPU backend offers: the GPUs the NVIDIA driver lists, and
/// for wgpu a software Vulkan device (lavapipe) where the machine has one.
pub fn devices(kind: Kind) -> Vec<DeviceName> {
    let gpus: Vec<DeviceName> = ditbench_core::machine::gpus::nvidia_gpus()
        .iter()
        .map(|g| DeviceName::Cuda(g.index))
        .collect();
    let software = match kind {
        #[cfg(feature = "wgpu")]
        Kind::Wgpu => software_adapter().map(|_| DeviceName::Software),
        _ => None,
    };
    gpus.into_iter().chain(software).collect()
}

/// The Burn device of `name` (already checked to be one `devices` lists).
pub fn device(kind: Kind, name: DeviceName) -> Device {
    let ordinal = match name {
        DeviceName::Cuda(ordinal) => ordinal,
        DeviceName::Cpu | DeviceName::Software => 0,
    };
    match (kind, name) {
        #[cfg(feature = "cuda")]
        (Kind::Cuda, _) => Device::cuda(ordinal),
        // wgpu counts each kind of adapter on its own: cuda:N is its N-th
        // discrete GPU, and a software device is its (single) CPU adapter.
        #[cfg(feature = "wgpu")]
        (Kind::Wgpu, DeviceName::Software) => Device::wgpu(DeviceKind::Cpu),
        #[cfg(feature = "wgpu")]
        (Kind::Wgpu, _) => Device::wgpu(DeviceKind::DiscreteGpu(ordinal)),
        _ => unreachable!("{kind:?} is a CPU backend"),
    }
}

/// The name a GPU backend's device gives itself, with what it is.
pub fn device_name(device: &Device, name: DeviceName) -> String {
    let own = device
        .identity()
        .map(|identity| identity.name)
        .unwrap_or_else(|| format!("{device:?}"));
    match name {
        DeviceName::Software => format!("{own} (software Vulkan device on the CPU, not a GPU)"),
        _ => own,
    }
}

/// What Burn's memory pools hold on `device` (after the timed passes, the
/// pools keep the pages the passes needed); Burn keeps no peak.
pub fn framework_memory(device: &Device) -> Option<FrameworkMemory> {
    let usage = device.memory_pool_usage()?;
    Some(FrameworkMemory {
        peak_allocated_bytes: None,
        allocated_bytes: Some(usage.bytes_in_use),
        reserved_bytes: Some(usage.bytes_reserved),
        source: "burn Device::memory_pool_usage".into(),
    })
}

/// The name of the machine's software Vulkan adapter (Mesa's lavapipe
/// reports itself as a CPU-type adapter), asked of the Vulkan loader
/// without opening a device, once per process: `devices` is asked for every
/// planned case, and each ask would start a Vulkan instance.
#[cfg(feature = "wgpu")]
pub fn software_adapter() -> Option<String> {
    use burn::cubecl::future::block_on;
    use burn::cubecl::wgpu::wgpu;
    static ADAPTER: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    ADAPTER
        .get_or_init(|| {
            let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
                backends: wgpu::Backends::VULKAN,
                ..wgpu::InstanceDescriptor::new_without_display_handle()
            });
            block_on(instance.enumerate_adapters(wgpu::Backends::VULKAN))
                .iter()
                .map(wgpu::Adapter::get_info)
                .find(|info| info.device_type == wgpu::DeviceType::Cpu)
                .map(|info| info.name)
        })
        .clone()
}
