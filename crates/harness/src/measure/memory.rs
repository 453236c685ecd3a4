//! Memory measurement: the process's resident set from `/proc/self/status`
//! and a counting wrapper of the Rust global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use ditbench_core::FrameworkMemory;
use serde::{Deserialize, Serialize};

pub const DEFINITIONS: &[(&str, &str)] = &[
    (
        "memory.peak_rss_bytes",
        "peak resident set size of the worker during warm-up and timed passes (VmHWM from /proc/self/status, reset after the model was built and the host copies of weights and inputs were freed): the model, its activations and the framework runtime",
    ),
    (
        "memory.rss_before_build_bytes",
        "resident set size of the worker (VmRSS) before any weights or inputs were read",
    ),
    (
        "memory.rss_growth_bytes",
        "peak_rss_bytes - rss_before_build_bytes: memory the model, its inputs and the timed passes added",
    ),
    (
        "memory.build_peak_rss_bytes",
        "peak resident set size of the worker while it built the model (weights read, converted and uploaded; inputs read), before the peak was reset for the timed passes: what loading a checkpoint costs",
    ),
    (
        "memory.peak_heap_bytes",
        "peak bytes live in the Rust global allocator during warm-up and timed passes (high-water mark restarted after the model was built); null when the framework allocates outside it",
    ),
    (
        "memory.framework",
        "device memory as the framework's own allocator reports it after the timed passes, where it reports any (GPU and software devices): peak_allocated_bytes = the most bytes its tensors held at once since the model was built (libtorch's CUDA caching allocator), allocated_bytes = bytes its tensors hold now, reserved_bytes = bytes its allocator holds from the device, reuse pools included (Burn's memory pools; Candle allocates through CUDA directly and reports the device's used memory, every process's); source names the call. NVML's per-process figure (gpu.peak_process_memory_bytes) is the common one beside it",
    ),
];

/// A [`GlobalAlloc`] that forwards to the system allocator and tracks live
/// and peak bytes. Install it in a binary with `#[global_allocator]`.
pub struct CountingAllocator;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

fn grow(bytes: usize) {
    let now = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrink(bytes: usize) {
    LIVE.fetch_sub(bytes, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grow(layout.size());
            INSTALLED.store(true, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grow(layout.size());
            INSTALLED.store(true, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the pointer came from this allocator with this layout.
        unsafe { System.dealloc(ptr, layout) };
        shrink(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the pointer came from this allocator with this layout.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            shrink(layout.size());
            grow(new_size);
        }
        p
    }
}

/// Heap counters of the [`CountingAllocator`], when the binary installed it.
pub mod heap {
    use super::*;

    /// Whether allocations go through the counting allocator.
    pub fn installed() -> bool {
        INSTALLED.load(Ordering::Relaxed)
    }

    pub fn live_bytes() -> usize {
        LIVE.load(Ordering::Relaxed)
    }

    pub fn peak_bytes() -> usize {
        PEAK.load(Ordering::Relaxed)
    }

    /// Start a new high-water mark from the bytes live now.
    pub fn reset_peak() {
        PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

/// A `kB` field of `/proc/self/status`, in bytes.
fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_status_field(&status, field)
}

fn parse_status_field(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        let kb: u64 = rest.trim().strip_suffix("kB")?.trim().parse().ok()?;
        Some(kb * 1024)
    })
}

/// Start a new peak-RSS high-water mark from the current RSS (Linux
/// `clear_refs` 5). Returns whether the kernel accepted it.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Current resident set size (VmRSS).
pub fn current_rss_bytes() -> Option<u64> {
    proc_status_bytes("VmRSS")
}

/// Peak resident set size of this process so far (VmHWM).
pub fn peak_rss_bytes() -> Option<u64> {
    proc_status_bytes("VmHWM")
}

/// The memory figures of one case; see [`DEFINITIONS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryFigures {
    pub peak_rss_bytes: Option<u64>,
    pub rss_before_build_bytes: Option<u64>,
    /// Absent in files written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_peak_rss_bytes: Option<u64>,
    pub rss_growth_bytes: Option<u64>,
    pub peak_heap_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework: Option<FrameworkMemory>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_status_fields() {
        let status = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(parse_status_field(status, "VmHWM"), Some(2048 * 1024));
        assert_eq!(parse_status_field(status, "VmRSS"), Some(1024 * 1024));
        assert_eq!(parse_status_field(status, "VmPeak"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process_rss() {
        let rss = current_rss_bytes().unwrap();
        let peak = peak_rss_bytes().unwrap();
        assert!(rss > 0 && peak >= rss);
    }
}
