// libtorch's CUDA caching-allocator statistics, for ditbench's per-framework
// device memory: tch's C API does not expose them.
#include <c10/cuda/CUDACachingAllocator.h>
#include <cstdint>

extern "C" {

// Peak and current allocated bytes and current reserved bytes of `device`
// (all pools together). Returns 0, or 1 when libtorch raised an error.
int ditbench_torch_cuda_memory(int device, uint64_t *peak_allocated, uint64_t *allocated,
                               uint64_t *reserved) {
  try {
    using c10::CachingAllocator::StatType;
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(
        static_cast<c10::DeviceIndex>(device));
    const auto all = static_cast<size_t>(StatType::AGGREGATE);
    *peak_allocated = static_cast<uint64_t>(stats.allocated_bytes[all].peak);
    *allocated = static_cast<uint64_t>(stats.allocated_bytes[all].current);
    *reserved = static_cast<uint64_t>(stats.reserved_bytes[all].current);
    return 0;
  } catch (...) {
    return 1;
  }
}

// Restart `device`'s peaks (after the model is built). Returns 0 or 1.
int ditbench_torch_cuda_reset_peak(int device) {
  try {
    c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(device));
    return 0;
  } catch (...) {
    return 1;
  }
}
}
