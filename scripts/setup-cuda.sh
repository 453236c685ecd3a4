#!/usr/bin/env bash
# Installs what Candle's `cuda` feature needs to build on a machine without a
# CUDA toolkit or a GPU, all from PyPI into the project's .venv (beside the
# torch wheel that scripts/setup-libtorch.sh installs), and lays out one CUDA
# root at .venv/cuda:
#
# - nvcc, ptxas, cicc and the crt and CCCL headers of CUDA 13.0, pinned below
#   13.1: a newer nvcc writes PTX that a CUDA 13.0 driver (the H100/H200
#   machines') cannot load, and unpinned companions pull 13.5 parts whose PTX
#   ptxas 13.0 rejects;
# - the runtime libraries the link needs (cuBLAS, cuBLASLt, cuRAND, NVRTC), from
#   the torch wheel's nvidia/cu13, under their unversioned names;
# - a stub libcuda.so (soname libcuda.so.1, one empty function per `cu*` name
#   that cuda.h declares, `_v2` names included), for the link only: cudarc's
#   `dynamic-linking`, which candle-core turns on, links the driver, and the
#   real one comes with the NVIDIA driver on the GPU machine. The stub is never
#   on a loader path.
#
# Prints the environment a build needs (`source <(scripts/setup-cuda.sh --env)`
# sets it); scripts/build-gpu.sh calls it. Safe to rerun: it only does what is
# missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
cuda_root="$venv/cuda"
# CUDA 13.0 parts (nvidia-cuda-cccl numbers its 13.0 release 13.0.85).
packages=(
    nvidia-cuda-nvcc==13.0.88
    nvidia-nvvm==13.0.88
    nvidia-cuda-crt==13.0.88
    nvidia-cuda-cccl==13.0.85
)

env_only=0
[ "${1:-}" = "--env" ] && env_only=1

say() { [ "$env_only" -eq 1 ] && echo "$*" >&2 || echo "$*"; }

if [ ! -x "$venv/bin/python" ]; then
    echo "setup-cuda: no $venv: run scripts/setup-libtorch.sh first" >&2
    exit 1
fi
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
cu13="$site/nvidia/cu13"
if [ ! -x "$cu13/bin/nvcc" ] || ! "$cu13/bin/nvcc" --version | grep -q "release 13.0,"; then
    say "setup-cuda: installing CUDA 13.0's compiler from PyPI into $venv (${packages[*]})"
    # --no-deps: the torch wheel's CUDA 13.0 runtime stays as it is.
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps "${packages[@]}" >&2
fi

if [ ! -e "$cuda_root/lib64/libcuda.so" ]; then
    say "setup-cuda: laying out the CUDA root $cuda_root"
    rm -rf "$cuda_root"
    mkdir -p "$cuda_root/lib64"
    for dir in bin include nvvm; do
        ln -s "$cu13/$dir" "$cuda_root/$dir"
    done
    for lib in "$cu13"/lib/*.so.*; do
        name="$(basename "$lib")"
        ln -s "$lib" "$cuda_root/lib64/$name"
        # libcublas.so.13 -> libcublas.so: what `-lcublas` looks for.
        unversioned="${name%%.so.*}.so"
        [ -e "$cuda_root/lib64/$unversioned" ] || ln -s "$lib" "$cuda_root/lib64/$unversioned"
    done
    # Every driver API name: those cuda.h declares and, after its macros,
    # the versioned ones (cuMemAlloc -> cuMemAlloc_v2) cudarc links.
    stub="$cuda_root/stub"
    mkdir -p "$stub"
    {
        grep -oE '\bcu[A-Z][A-Za-z0-9_]*[[:space:]]*\(' "$cu13/include/cuda.h"
        cc -E -P -I "$cu13/include" "$cu13/include/cuda.h" | grep -oE '\bcu[A-Z][A-Za-z0-9_]*[[:space:]]*\('
    } | tr -d '( \t' | sort -u | sed 's/.*/void &(void) {}/' >"$stub/libcuda.c"
    cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$cuda_root/lib64/libcuda.so" "$stub/libcuda.c"
    say "setup-cuda: stub libcuda.so with $(wc -l <"$stub/libcuda.c") driver functions (for the link only)"
fi

if [ "$env_only" -eq 1 ]; then
    # CUDA_COMPUTE_CAP 90: Hopper (H100, H200); PTX for 9.0 also loads on newer GPUs.
    echo "export CUDA_ROOT='$cuda_root' CUDA_PATH='$cuda_root'"
    echo "export PATH='$cuda_root/bin':\"\$PATH\""
    echo "export CUDA_COMPUTE_CAP=\"\${CUDA_COMPUTE_CAP:-90}\""
    echo "export LIBRARY_PATH='$cuda_root/lib64'\${LIBRARY_PATH:+:\$LIBRARY_PATH}"
else
    echo "setup-cuda: CUDA 13.0 for builds at $cuda_root (nvcc $("$cuda_root/bin/nvcc" --version | sed -n 's/.*release \([0-9.]*\),.*/\1/p'))"
fi
