//! libtorch's CUDA caching-allocator statistics (`torch.cuda.max_memory_allocated`
//! and friends), through a small C++ shim (cpp/cuda_memory.cpp): tch's C API
//! does not expose them.

use ditbench_core::FrameworkMemory;

unsafe extern "C" {
    fn ditbench_torch_cuda_memory(
        device: i32,
        peak_allocated: *mut u64,
        allocated: *mut u64,
        reserved: *mut u64,
    ) -> i32;
    fn ditbench_torch_cuda_reset_peak(device: i32) -> i32;
}

/// Restart GPU `ordinal`'s peak (after the model is built); false when
/// libtorch refused.
pub fn reset_peak(ordinal: usize) -> bool {
    // SAFETY: the shim catches every C++ exception and takes a plain index.
    unsafe { ditbench_torch_cuda_reset_peak(ordinal as i32) == 0 }
}

/// GPU `ordinal`'s figures from the caching allocator; `None` when libtorch
/// raised an error (no such device, CUDA not initialized).
pub fn framework_memory(ordinal: usize) -> Option<FrameworkMemory> {
    let (mut peak, mut allocated, mut reserved) = (0u64, 0u64, 0u64);
    // SAFETY: the three pointers are valid for writes; exceptions are caught.
    let status = unsafe {
        ditbench_torch_cuda_memory(ordinal as i32, &mut peak, &mut allocated, &mut reserved)
    };
    (status == 0).then(|| FrameworkMemory {
        peak_allocated_bytes: Some(peak),
        allocated_bytes: Some(allocated),
        reserved_bytes: Some(reserved),
        source: "libtorch c10::cuda::CUDACachingAllocator::getDeviceStats (all pools; peak restarted after the model was built)".into(),
    })
}
