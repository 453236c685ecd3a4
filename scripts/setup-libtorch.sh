#!/usr/bin/env bash
# Installs libtorch for the `tch` backend: PyPI's torch==2.11.0 wheel (the
# version tch 0.24 is written against) into the project's own virtualenv,
# .venv, and links .venv/libtorch to it. .cargo/config.toml points torch-sys
# there, and the binaries carry an rpath to it: nothing to export afterwards.
#
# PyPI's Linux wheel is the CUDA 13 build (about 4.6 GB installed with its
# NVIDIA libraries): the same install runs on the CPU and on NVIDIA GPUs.
# Safe to rerun; it only installs what is missing.
set -euo pipefail

TORCH_VERSION=2.11.0
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
python="${PYTHON:-python3}"

if ! command -v "$python" >/dev/null; then
    echo "setup-libtorch: $python not found; install Python 3.10-3.14 with venv and pip" >&2
    exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
    echo "setup-libtorch: creating $venv"
    "$python" -m venv "$venv"
fi
installed="$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("torch"))' 2>/dev/null || true)"
if [ "${installed%%+*}" != "$TORCH_VERSION" ]; then
    echo "setup-libtorch: installing torch==$TORCH_VERSION from PyPI into $venv (about 5 GB, once; minutes)"
    # pip's progress bar on a terminal; one line per package otherwise (CI logs).
    pip=("$venv/bin/python" -m pip install --disable-pip-version-check "torch==$TORCH_VERSION")
    if [ -t 1 ]; then
        "${pip[@]}"
    else
        "${pip[@]}" --progress-bar off | { grep -E '^(Collecting|Successfully installed)' || true; }
    fi
fi
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
if [ ! -f "$site/torch/lib/libtorch_cpu.so" ] || [ ! -d "$site/torch/include/torch" ]; then
    echo "setup-libtorch: $site/torch has no libtorch_cpu.so or C++ headers; remove $venv and rerun" >&2
    exit 1
fi
# Relinked only when it points elsewhere: `ln -sfn` removes the link before it
# makes the new one, and a ditbench starting in that instant (a test beside
# this script) would not find libtorch.
if [ "$(readlink "$venv/libtorch" 2>/dev/null)" != "$site/torch" ]; then
    ln -sfn "$site/torch" "$venv/libtorch"
fi
echo "setup-libtorch: libtorch $TORCH_VERSION ready at $venv/libtorch"
