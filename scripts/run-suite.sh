#!/usr/bin/env bash
# The README's first command: runs the default suite with its HTML report on a
# fresh machine. Installs libtorch into .venv when it is missing (with a
# progress line), builds ditbench with every backend (--features tch,reference: libtorch and
# candle-transformers for reference-check; and on a
# machine with an NVIDIA GPU the GPU backends that build there: see
# scripts/gpu-features.sh), then runs `ditbench run --report`, on every CPU and
# GPU it finds, with any arguments given here, e.g.
#   scripts/run-suite.sh -p wan-small --passes forward
# Safe to rerun: the set-up and the build only do what is missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/setup.sh
source scripts/setup.sh
echo "run-suite: building ditbench (release, --features $build_features; the first build takes 20 to 30 minutes on 2 cores)"
cargo build --release --locked --features "$build_features"
exec "$(cargo_target_dir)/release/ditbench" run --report "$@"
