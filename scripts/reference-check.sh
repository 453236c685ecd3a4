#!/usr/bin/env bash
# Each backend's model beside its framework's own model code, timed in turns,
# with parity (docs/methodology.md "Is it the framework or our code?"):
#   scripts/reference-check.sh --install                 # the committed table's run
#   scripts/reference-check.sh -p llama-2-7b --layers 1 --passes forward,decode
# Builds ditbench as scripts/run-suite.sh does (with candle-transformers, the
# `reference` feature), then runs `ditbench reference-check` with the arguments
# given. --install (first) adds Hugging Face transformers and diffusers to
# .venv (scripts/reference/requirements.txt) for libtorch's references; without
# them those pairs are listed as not run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/setup.sh
source scripts/setup.sh
if [ "${1:-}" = --install ]; then
    shift
    echo "reference-check: installing scripts/reference/requirements.txt into .venv"
    .venv/bin/python -m pip install -q --disable-pip-version-check -r scripts/reference/requirements.txt
fi
echo "reference-check: building ditbench (release, --features $build_features)"
cargo build --release --locked --features "$build_features"
exec "$(cargo_target_dir)/release/ditbench" reference-check --python .venv/bin/python "$@"
