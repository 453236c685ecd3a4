#!/usr/bin/env bash
# The GPU features this machine can build and run, for scripts/run-suite.sh
# and scripts/test.sh: the cargo features on standard output (comma-separated,
# empty without an NVIDIA GPU or a software Vulkan driver) and one line on
# standard error saying what was chosen and why anything was left out.
#
# Without an NVIDIA GPU, a software Vulkan driver (Mesa's lavapipe, an
# lvp_icd*.json in the ICD directories) still gets burn-wgpu: Burn's GPU code
# path runs on the CPU there, in the tests and with `--devices software`
# (never in a default run, and never counted as a GPU).
#
# An NVIDIA GPU is one that `nvidia-smi -L` lists. With one:
# - tch-cuda: libtorch's CUDA kernels (the torch wheel in .venv carries CUDA 13);
# - cuda: Candle's CUDA kernels (CUDA 13.0's nvcc from PyPI, scripts/setup-cuda.sh);
# - burn-wgpu: Burn on Vulkan, where a Vulkan driver for the GPU is installed
#   (an NVIDIA ICD file in $DITBENCH_VULKAN_ICD_DIRS, default the loader's
#   /etc/vulkan/icd.d and /usr/share/vulkan/icd.d);
# never burn-cuda: it cannot share a binary with Candle's CUDA (both use
# cudarc, and candle-core's `dynamic-linking` removes what cubecl-cuda calls);
# scripts/build-gpu.sh builds it as a second binary.
set -euo pipefail
icd_dirs="${DITBENCH_VULKAN_ICD_DIRS:-/etc/vulkan/icd.d /usr/share/vulkan/icd.d}"

gpus=0
if command -v nvidia-smi >/dev/null 2>&1; then
    gpus="$(nvidia-smi -L 2>/dev/null | grep -c '^GPU [0-9]' || true)"
fi
# The first ICD file in the loader's directories matching $1 (a glob).
vulkan_icd() {
    for dir in $icd_dirs; do
        for icd in "$dir"/$1; do
            [ -f "$icd" ] && echo "$icd" && return 0
        done
    done
    return 0
}

if [ "$gpus" -eq 0 ]; then
    software="$(vulkan_icd 'lvp_icd*.json')"
    if [ -n "$software" ]; then
        echo "GPU: no NVIDIA GPU (nvidia-smi lists none): CPU backends, and burn-wgpu for the software Vulkan device ($software; runs only with --devices software)" >&2
        echo "burn-wgpu"
    else
        echo "GPU: no NVIDIA GPU (nvidia-smi lists none): CPU backends only" >&2
        echo ""
    fi
    exit 0
fi

features="tch-cuda,cuda"
left="burn-cuda (it cannot share a binary with Candle's CUDA; scripts/build-gpu.sh builds it as a second binary)"
if [ -n "$(vulkan_icd 'nvidia*.json')" ]; then
    features="$features,burn-wgpu"
else
    left="burn-wgpu (no NVIDIA Vulkan driver: no nvidia*.json in $icd_dirs); $left"
fi
name="$(nvidia-smi -L | sed -n '1s/^GPU 0: \(.*\) (UUID.*/\1/p')"
echo "GPU: $gpus NVIDIA GPU(s) (${name:-GPU 0}): building $features; left out: $left" >&2
echo "$features"
