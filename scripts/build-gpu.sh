#!/usr/bin/env bash
# Builds the binary that scripts/gpu-check.sh runs on a GPU machine, which
# has no Rust and no internet: dist/gpu/ditbench, debug info stripped so the
# working tree and it stay under the device tool's 64 MiB. Carry `dist/gpu`.
#
# Backends: libtorch with its CUDA kernels (`tch-cuda`: libtorch_cuda stays
# linked; the GPU machine's PyTorch provides it). Not here, with the reasons:
# - Candle's `cuda` feature compiles its kernels with nvcc, which this machine
#   does not have (no CUDA toolkit).
# - Burn's `burn-cuda`: cubecl-cuda 0.11.3 depends on cubecl-llvm (feature
#   nvptx) unconditionally, whose build script compiles C++ shims against
#   LLVM 23.1's headers found through the tracel-llvm bundle's llvm-config;
#   the bundle is downloaded from GitHub (unreachable here). Its `xtask`
#   feature skips the download but leaves no headers, and Debian has no
#   LLVM 23. docs/backends.md "GPUs" has the details.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/setup.sh
features="${DITBENCH_GPU_FEATURES:-tch-cuda}"
echo "build-gpu: cargo build --release --locked --features $features --bin ditbench"
cargo build --release --locked --features "$features" --bin ditbench
target="$(cargo_target_dir)"
mkdir -p dist/gpu
objcopy --strip-debug "$target/release/ditbench" dist/gpu/ditbench.tmp
mv dist/gpu/ditbench.tmp dist/gpu/ditbench
echo "build-gpu: dist/gpu/ditbench ($(du -m dist/gpu/ditbench | cut -f1) MiB; features $features)"
