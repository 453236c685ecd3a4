#!/usr/bin/env bash
# Builds the binary that scripts/gpu-check.sh runs on a GPU machine, which has
# no Rust and no internet: dist/gpu/ditbench.xz, stripped and compressed so the
# working tree and it stay under the device tool's 64 MiB (gpu-check.sh unpacks
# it there). A separate binary from the CPU one on purpose: Candle's CUDA
# build links the NVIDIA driver (libcuda.so.1), so it does not even start on a
# machine without one.
#
# Backends (DITBENCH_GPU_FEATURES, default "tch-cuda,cuda,burn-wgpu"):
# - tch-cuda: libtorch with its CUDA kernels (libtorch_cuda stays linked; the
#   GPU machine's PyTorch provides it);
# - cuda: Candle's CUDA kernels, compiled here with CUDA 13.0's nvcc from PyPI
#   (scripts/setup-cuda.sh) for compute capability $CUDA_COMPUTE_CAP (90:
#   H100, H200);
# - burn-wgpu: Burn on Vulkan (the GPU machine's driver; lavapipe here).
# Not here: Burn's `burn-cuda` (cubecl-cuda needs cubecl-llvm, whose build
# compiles against LLVM 23.1 from the tracel-llvm bundle, downloaded from
# GitHub: unreachable here). docs/backends.md "GPUs" has the details.
#
# Prints the libraries the binary needs (readelf -d): gpu-check.sh finds them
# in the GPU machine's PyTorch wheels and driver.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/setup.sh
source scripts/setup.sh
features="${DITBENCH_GPU_FEATURES:-tch-cuda,cuda,burn-wgpu}"
case ",$features," in
    *,cuda,*)
        # shellcheck disable=SC1090
        source <(scripts/setup-cuda.sh --env)
        ;;
esac
echo "build-gpu: cargo build --release --locked --features $features --bin ditbench"
cargo build --release --locked --features "$features" --bin ditbench
target="$(cargo_target_dir)"
mkdir -p dist/gpu
rm -f dist/gpu/ditbench dist/gpu/ditbench.xz
strip --strip-all -o dist/gpu/ditbench.tmp "$target/release/ditbench"
echo "build-gpu: needs $(readelf -d dist/gpu/ditbench.tmp | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')"
# Burn on Vulkan loads the Vulkan loader (libvulkan.so.1) at run time; a GPU
# machine's driver brings the NVIDIA ICD but not always the loader, and it
# has no internet: this machine's loader (Debian's libvulkan1, 450 KB)
# travels beside the binary, used there only when the system has none.
rm -rf dist/gpu/lib
case ",$features," in
    *,burn-wgpu,*)
        loader="$(ldconfig -p | sed -n 's/^[[:space:]]*libvulkan\.so\.1 (libc6,x86-64) => //p' | head -1)"
        if [ -z "$loader" ]; then
            echo "build-gpu: no Vulkan loader here (apt-get install libvulkan1) to carry for burn-wgpu" >&2
            exit 1
        fi
        mkdir -p dist/gpu/lib
        cp -L "$loader" dist/gpu/lib/libvulkan.so.1
        echo "build-gpu: carries the Vulkan loader $loader as dist/gpu/lib/libvulkan.so.1"
        ;;
esac
xz -T0 -6 -c dist/gpu/ditbench.tmp >dist/gpu/ditbench.xz.tmp
mv dist/gpu/ditbench.xz.tmp dist/gpu/ditbench.xz
echo "build-gpu: dist/gpu/ditbench.xz ($(du -m dist/gpu/ditbench.tmp | cut -f1) MiB stripped, $(du -m dist/gpu/ditbench.xz | cut -f1) MiB compressed; features $features)"
rm -f dist/gpu/ditbench.tmp
# The next CPU build (scripts/run-suite.sh) relinks target/release/ditbench
# without the GPU features; their compiled crates stay cached beside.
