#!/usr/bin/env bash
# The README's second command: runs the tests on a fresh machine, with the
# same set-up as scripts/run-suite.sh (libtorch into .venv when missing), then
# `cargo test --release --workspace --features tch,reference` (and the GPU features on a
# machine with an NVIDIA GPU, or burn-wgpu for the software device where Mesa's
# lavapipe is installed: scripts/gpu-features.sh) with any arguments given
# here, e.g. `scripts/test.sh --test report`. .ci/run calls it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/setup.sh
source scripts/setup.sh
echo "test: cargo test --release --workspace --features $build_features $*"
exec cargo test --release --locked --workspace --features "$build_features" "$@"
