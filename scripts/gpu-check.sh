#!/usr/bin/env bash
# The prepared GPU check (issue 21): one call on an NVIDIA machine runs every
# compiled backend on the GPU with parity on the small presets, then one
# block of the real models, and writes the results and the HTML report into
# the output directory. Built here, run there: the GPU machine needs no Rust
# and no internet.
#
#   scripts/build-gpu.sh                 # here: dist/gpu/ditbench.xz, stripped
#   scripts/gpu-check.sh                 # there: results and report in $OUT
#   scripts/gpu-check.sh --dry-run       # anywhere: every step checked on the
#                                        # CPU with `run --plan`, nothing run
#
# Options: --bin FILE (default dist/gpu/ditbench, unpacked from dist/gpu/ditbench.xz
# when only that is there, else target/release/ditbench; without --bin,
# dist/gpu/ditbench-burn-cuda(.xz) also runs Burn's CUDA backend, against
# libtorch on the same GPU),
# --out DIR (default $OUT, else results/gpu-check), --device cuda:N (cuda:0),
# --torch-python FILE (the Python whose torch/lib is the libtorch to use;
# default /opt/torch/.venv/bin/python3, else .venv/bin/python).
#
# libtorch and the CUDA libraries (cudart, cuBLAS, cuRAND, NVRTC, NCCL) are
# found in that Python's torch and nvidia-* wheels and put on the loader's
# path for the runs below only: nothing to export beforehand.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

dry_run=0
bin=""
out="${OUT:-$root/results/gpu-check}"
device="cuda:0"
torch_python=""
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) dry_run=1 ;;
        --bin) bin="$2"; shift ;;
        --out) out="$2"; shift ;;
        --device) device="$2"; shift ;;
        --torch-python) torch_python="$2"; shift ;;
        -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "gpu-check: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done
case "$device" in
    cuda:[0-9]*) ;;
    *) echo "gpu-check: --device must be cuda:N, got '$device'" >&2; exit 2 ;;
esac
# Carried compressed (scripts/build-gpu.sh): each unpacked once, beside it.
for packed in "$root"/dist/gpu/*.xz; do
    [ -f "$packed" ] || continue
    unpacked="${packed%.xz}"
    if [ ! -x "$unpacked" ] || [ "$packed" -nt "$unpacked" ]; then
        xz -dc "$packed" >"$unpacked.tmp"
        chmod +x "$unpacked.tmp"
        mv "$unpacked.tmp" "$unpacked"
    fi
done
# Burn's CUDA backend comes in its own binary (it cannot share one with
# Candle's CUDA); with the default binary only.
burn_cuda_bin=""
if [ -z "$bin" ] && [ -x "$root/dist/gpu/ditbench-burn-cuda" ]; then
    burn_cuda_bin="$root/dist/gpu/ditbench-burn-cuda"
fi
if [ -z "$bin" ]; then
    for candidate in "$root/dist/gpu/ditbench" "$root/target/release/ditbench"; do
        if [ -x "$candidate" ]; then bin="$candidate"; break; fi
    done
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "gpu-check: no ditbench binary (build one with scripts/build-gpu.sh, or pass --bin)" >&2
    exit 2
fi

# Each step: a label, a time limit in seconds, and ditbench's arguments.
# Budgets keep the whole check under 8 minutes on an H100/H200.
small="-p wan-tiny,wan-small,llama-tiny,llama-small --dtypes f32,bf16 --budget 1 --min-time 0.2"
steps=(
    "small-presets-with-parity|240|run $small"
    "wan2.1-1.3b-480p-2-blocks|120|run -p wan2.1-1.3b-480p --layers 2 --passes forward --dtypes bf16 --budget 3 --extrapolate"
    "image-1024|90|run -p wan2.1-1.3b-image-1024 --layers 2 --passes forward --dtypes bf16 --budget 3 --extrapolate"
    "llama-2-7b-2-layers|120|run -p llama-2-7b --layers 2 --dtypes bf16 --budget 3 --extrapolate"
)
# The same for burn-cuda's binary, against libtorch on the same GPU.
burn_cuda_steps=(
    "burn-cuda-small-presets-with-parity|150|run -b tch,burn-cuda $small"
    "burn-cuda-wan2.1-1.3b-480p-2-blocks|90|run -b burn-cuda -p wan2.1-1.3b-480p --layers 2 --passes forward --dtypes bf16 --budget 3 --extrapolate"
)

if [ "$dry_run" -eq 1 ]; then
    # The same arguments, planned for $device on this machine (`run --plan`
    # gives a GPU it lacks to the backends built for NVIDIA GPUs): presets,
    # overrides, passes, dtypes and each backend's cases are checked as on
    # the GPU; nothing runs and nothing is written. A binary without any
    # GPU backend (the CPU build) plans on the CPU instead.
    plan_device="$device"
    if ! "$bin" run -p wan-tiny --passes forward --devices "$device" --plan --out "$out" >/dev/null 2>&1; then
        plan_device="cpu"
        echo "gpu-check: $bin has no backend built for NVIDIA GPUs: planning on the CPU"
    fi
    echo "gpu-check: dry run with $bin, planned for --devices $plan_device (the GPU run uses --devices $device)"
    for step in "${steps[@]}"; do
        IFS='|' read -r label limit args <<<"$step"
        echo "== $label (up to ${limit}s on the GPU)"
        # shellcheck disable=SC2086
        "$bin" $args --devices "$plan_device" --plan --out "$out" --case-timeout "$limit"
    done
    planned=${#steps[@]}
    if [ -n "$burn_cuda_bin" ]; then
        for step in "${burn_cuda_steps[@]}"; do
            IFS='|' read -r label limit args <<<"$step"
            echo "== $label (up to ${limit}s on the GPU; $burn_cuda_bin)"
            # shellcheck disable=SC2086
            "$burn_cuda_bin" $args --devices "$device" --plan --out "$out" --case-timeout "$limit"
        done
        planned=$((planned + ${#burn_cuda_steps[@]}))
    fi
    "$bin" report --help >/dev/null
    echo "gpu-check: dry run passed ($planned steps planned)"
    exit 0
fi

# The libraries of the GPU machine's PyTorch, for these runs only.
if [ -z "$torch_python" ]; then
    for candidate in /opt/torch/.venv/bin/python3 "$root/.venv/bin/python"; do
        if [ -x "$candidate" ]; then torch_python="$candidate"; break; fi
    done
fi
if [ -z "$torch_python" ]; then
    echo "gpu-check: no Python with torch (pass --torch-python)" >&2
    exit 2
fi
lib_path="$("$torch_python" - <<'PY'
import glob, os, torch
site = os.path.dirname(os.path.dirname(torch.__file__))
dirs = [os.path.join(os.path.dirname(torch.__file__), "lib")]
dirs += sorted(glob.glob(os.path.join(site, "nvidia", "*", "lib")))
dirs += sorted(glob.glob(os.path.join(site, "nvidia", "cu*", "lib")))
print(":".join(d for d in dict.fromkeys(dirs) if os.path.isdir(d)))
PY
)"
export LD_LIBRARY_PATH="$lib_path${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# Burn on Vulkan: the system's Vulkan loader, else the one carried beside the
# binary (scripts/build-gpu.sh); the NVIDIA driver's ICD file names the GPU.
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 ' && [ -f "$root/dist/gpu/lib/libvulkan.so.1" ]; then
    export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$root/dist/gpu/lib"
    echo "gpu-check: no Vulkan loader on this system: using the carried dist/gpu/lib/libvulkan.so.1"
fi
# Every library the binary needs (libtorch, cuBLAS, NVRTC, cuRAND from the
# wheels; libcuda.so.1 from the driver) must resolve before anything runs.
for each_bin in "$bin" $burn_cuda_bin; do
    missing="$(ldd "$each_bin" | sed -n 's/^[[:space:]]*\([^ ]*\) => not found.*/\1/p' | tr '\n' ' ')"
    if [ -n "$missing" ]; then
        echo "gpu-check: $each_bin needs libraries found neither in $torch_python's wheels nor on the system: $missing" >&2
        exit 2
    fi
done
# CUDA's numbering then matches NVML's (the GPU sampler reads NVML).
export CUDA_DEVICE_ORDER=PCI_BUS_ID
# One pool for libtorch's allocator: the NVML per-process figure sees it.
export PYTORCH_CUDA_ALLOC_CONF=backend:cudaMallocAsync

mkdir -p "$out"
echo "gpu-check: $("$bin" --version) on $device; libraries from $torch_python"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
status=0
# One line per step in $out/steps.txt: what passed, what did not and how it ended.
: >"$out/steps.txt"
all_steps=()
for step in "${steps[@]}"; do all_steps+=("$bin|$step"); done
if [ -n "$burn_cuda_bin" ]; then
    for step in "${burn_cuda_steps[@]}"; do all_steps+=("$burn_cuda_bin|$step"); done
fi
for step in "${all_steps[@]}"; do
    IFS='|' read -r step_bin label limit args <<<"$step"
    echo "== $label"
    code=0
    # shellcheck disable=SC2086
    timeout "$limit" "$step_bin" $args --devices "$device" --out "$out" --case-timeout "$limit" || code=$?
    case "$code" in
        0) outcome="passed" ;;
        1) outcome="did not pass: a case failed or failed its parity check (exit 1; see its results file)" ;;
        2) outcome="did not pass: refused its arguments (exit 2)" ;;
        124) outcome="did not pass: stopped after ${limit}s (timeout)" ;;
        *) outcome="did not pass: exit $code" ;;
    esac
    echo "$label: $outcome" >>"$out/steps.txt"
    if [ "$code" -ne 0 ]; then
        echo "gpu-check: step $label $outcome; continuing" >&2
        status=1
    fi
done
"$bin" report "$out" -o "$out/report.html" || status=1
cat "$out/steps.txt"
echo "gpu-check: results and report in $out"
exit "$status"
