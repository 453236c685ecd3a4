#!/usr/bin/env bash
# Builds the binaries that scripts/gpu-check.sh runs on a GPU machine, which
# has no Rust and no internet, stripped and compressed so the working tree and
# they stay under the device tool's 64 MiB (gpu-check.sh unpacks them there).
# Separate binaries from the CPU one on purpose: Candle's CUDA build links the
# NVIDIA driver (libcuda.so.1), so it does not even start on a machine
# without one.
#
# dist/gpu/ditbench.xz (DITBENCH_GPU_FEATURES, default "tch-cuda,cuda,burn-wgpu"):
# - tch-cuda: libtorch with its CUDA kernels (libtorch_cuda stays linked; the
#   GPU machine's PyTorch provides it);
# - cuda: Candle's CUDA kernels, compiled here with CUDA 13.0's nvcc from PyPI
#   (scripts/setup-cuda.sh) for compute capability $CUDA_COMPUTE_CAP (90:
#   H100, H200);
# - burn-wgpu: Burn on Vulkan (the GPU machine's driver; lavapipe here).
# dist/gpu/ditbench-burn-cuda.xz ("tch-cuda,burn-cuda"; DITBENCH_NO_BURN_CUDA=1
# skips it): Burn's CUDA backend, with libtorch as its parity reference. It
# cannot share a binary with Candle's CUDA: both use cudarc, candle-core turns
# on its `dynamic-linking`, and that removes the `is_culib_present` functions
# cubecl-cuda calls. Its cubecl-llvm builds against PyPI's LLVM 23.1
# (scripts/setup-llvm.sh) instead of the bundle tracel-llvm-bundler downloads
# from GitHub.
#
# Prints the libraries each binary needs (readelf -d): gpu-check.sh finds them
# in the GPU machine's PyTorch wheels and driver.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/setup.sh
source scripts/setup.sh
target="$(cargo_target_dir)"
mkdir -p dist/gpu
rm -rf dist/gpu/lib

# Build `features` into dist/gpu/NAME.xz.
build() {
    local name="$1" features="$2"
    case ",$features," in
        *,cuda,*)
            # shellcheck disable=SC1090
            source <(scripts/setup-cuda.sh --env)
            ;;
    esac
    case ",$features," in
        *,burn-cuda,*) scripts/setup-llvm.sh ;;
    esac
    echo "build-gpu: $name: cargo build --release --locked --features $features --bin ditbench"
    cargo build --release --locked --features "$features" --bin ditbench
    rm -f "dist/gpu/$name" "dist/gpu/$name.xz"
    strip --strip-all -o "dist/gpu/$name.tmp" "$target/release/ditbench"
    echo "build-gpu: $name needs $(readelf -d "dist/gpu/$name.tmp" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')"
    xz -T0 -6 -c "dist/gpu/$name.tmp" >"dist/gpu/$name.xz.tmp"
    mv "dist/gpu/$name.xz.tmp" "dist/gpu/$name.xz"
    echo "build-gpu: dist/gpu/$name.xz ($(du -m "dist/gpu/$name.tmp" | cut -f1) MiB stripped, $(du -m "dist/gpu/$name.xz" | cut -f1) MiB compressed; features $features)"
    rm -f "dist/gpu/$name.tmp"
    # Burn on Vulkan loads the Vulkan loader (libvulkan.so.1) at run time; a
    # GPU machine's driver brings the NVIDIA ICD but not always the loader,
    # and it has no internet: this machine's loader (Debian's libvulkan1,
    # 450 KB) travels beside the binary, used there only when the system has
    # none.
    case ",$features," in
        *,burn-wgpu,*)
            local loader
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
}

build ditbench "${DITBENCH_GPU_FEATURES:-tch-cuda,cuda,burn-wgpu}"
if [ "${DITBENCH_NO_BURN_CUDA:-0}" != 1 ]; then
    build ditbench-burn-cuda "tch-cuda,burn-cuda"
else
    rm -f dist/gpu/ditbench-burn-cuda.xz
fi
# The next CPU build (scripts/run-suite.sh) relinks target/release/ditbench
# without the GPU features; their compiled crates stay cached beside.
