#!/usr/bin/env bash
# Installs the LLVM 23.1 that Burn's `burn-cuda` needs to build, from PyPI
# instead of GitHub: cubecl-cuda depends on cubecl-llvm, whose build script
# compiles C++ shims and links LLVM through `tracel-llvm-bundler` 23.1.0-4.
# That bundler downloads its LLVM bundle from GitHub, unless its directory
# already holds one (a `.tracel-llvm-installed` file in
# $XDG_DATA_HOME/tracel/tracel-llvm-23.1.0-4, by default under
# ~/.local/share), which it then reads through its `bin/llvm-config`.
#
# PyPI's relocatable LLVM 23.1 (`mlc-llvm-static`: static libraries, headers
# and a self-contained llvm-config; `mlc-llvm-static-extra-targets`: the other
# targets' libraries, NVPTX among them) goes into .venv, and the bundler's
# directory becomes a link to it. An existing bundle there is left alone.
# Safe to rerun.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
version=23.1.1.post0
bundle="${XDG_DATA_HOME:-$HOME/.local/share}/tracel/tracel-llvm-23.1.0-4"

if [ ! -x "$venv/bin/python" ]; then
    echo "setup-llvm: no $venv: run scripts/setup-libtorch.sh first" >&2
    exit 1
fi
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
llvm="$site/mlc_llvm_static/static"
if [ ! -e "$llvm/lib/libLLVMNVPTXCodeGen.a" ]; then
    echo "setup-llvm: installing LLVM $version from PyPI into $venv (mlc-llvm-static, mlc-llvm-static-extra-targets; about 400 MB)"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
        "mlc-llvm-static==$version" "mlc-llvm-static-extra-targets==$version"
fi
if ! "$llvm/bin/llvm-config" --link-static --targets-built | grep -qw NVPTX; then
    echo "setup-llvm: $llvm/bin/llvm-config lists no NVPTX target" >&2
    exit 1
fi

if [ -L "$bundle" ] || [ ! -e "$bundle" ]; then
    mkdir -p "$(dirname "$bundle")"
    ln -sfn "$llvm" "$bundle"
    touch "$llvm/.tracel-llvm-installed"
    echo "setup-llvm: LLVM $("$llvm/bin/llvm-config" --link-static --version) for burn-cuda at $bundle -> $llvm"
elif [ -f "$bundle/.tracel-llvm-installed" ]; then
    echo "setup-llvm: $bundle already holds an LLVM bundle; left as it is"
else
    echo "setup-llvm: $bundle exists but is not an installed bundle (no .tracel-llvm-installed): remove it and rerun" >&2
    exit 1
fi
