#!/usr/bin/env bash
# The GPU features this machine can build and run, for scripts/run-suite.sh
# and scripts/test.sh: the cargo features on standard output (comma-separated,
# empty without an NVIDIA GPU) and one line on standard error saying what was
# chosen and why anything was left out.
#
# An NVIDIA GPU is one that `nvidia-smi -L` lists. With one:
# - tch-cuda: libtorch's CUDA kernels (the torch wheel in .venv carries CUDA 13);
# - cuda: Candle's CUDA kernels (CUDA 13.0's nvcc from PyPI, scripts/setup-cuda.sh);
# - burn-wgpu: Burn on Vulkan, where a Vulkan driver for the GPU is installed
#   (an NVIDIA ICD file in $DITBENCH_VULKAN_ICD_DIRS, default the loader's
#   /etc/vulkan/icd.d and /usr/share/vulkan/icd.d);
# never burn-cuda (cubecl-llvm needs LLVM 23.1, a download from GitHub).
set -euo pipefail
icd_dirs="${DITBENCH_VULKAN_ICD_DIRS:-/etc/vulkan/icd.d /usr/share/vulkan/icd.d}"

gpus=0
if command -v nvidia-smi >/dev/null 2>&1; then
    gpus="$(nvidia-smi -L 2>/dev/null | grep -c '^GPU [0-9]' || true)"
fi
if [ "$gpus" -eq 0 ]; then
    echo "GPU: no NVIDIA GPU (nvidia-smi lists none): CPU backends only" >&2
    echo ""
    exit 0
fi

features="tch-cuda,cuda"
left="burn-cuda (its cubecl-llvm needs LLVM 23.1, downloaded from GitHub)"
vulkan=""
for dir in $icd_dirs; do
    for icd in "$dir"/nvidia*.json; do
        [ -f "$icd" ] && vulkan="$icd" && break 2
    done
done
if [ -n "$vulkan" ]; then
    features="$features,burn-wgpu"
else
    left="burn-wgpu (no NVIDIA Vulkan driver: no nvidia*.json in $icd_dirs); $left"
fi
name="$(nvidia-smi -L | sed -n '1s/^GPU 0: \(.*\) (UUID.*/\1/p')"
echo "GPU: $gpus NVIDIA GPU(s) (${name:-GPU 0}): building $features; left out: $left" >&2
echo "$features"
