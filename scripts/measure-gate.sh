#!/usr/bin/env bash
# Measures the regression gate on this machine (docs/ci-and-clusters.md, "How
# well the gate works"): runs the suite N times, one after another, into
# DIR/runs, then `ditbench gate-study` over them: every ordered pair of runs
# is an A/A pair, and slowdowns of 1.03x to 2x are injected into the
# candidate's samples. Writes DIR/gate-study.md and DIR/gate-study.json.
#
#   scripts/measure-gate.sh [--runs N] [--out DIR] [-- ditbench run arguments]
#
# Defaults: 7 runs of the default suite into results/gate-study. Runs already
# in DIR/runs count towards N, so a rerun with a larger N adds runs. Leave the
# machine alone meanwhile: the study measures its quiet noise.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

runs=7
out=results/gate-study
while [ $# -gt 0 ]; do
    case "$1" in
        --runs)
            runs="${2:-}"
            shift 2 || { echo "measure-gate: --runs needs a number" >&2; exit 2; }
            ;;
        --out)
            out="${2:-}"
            shift 2 || { echo "measure-gate: --out needs a directory" >&2; exit 2; }
            ;;
        --) shift; break ;;
        *) echo "measure-gate: unknown argument '$1' (usage: scripts/measure-gate.sh [--runs N] [--out DIR] [-- run arguments])" >&2; exit 2 ;;
    esac
done
case "$runs" in
    ''|*[!0-9]*|0|1) echo "measure-gate: --runs must be a whole number of at least 2, got '$runs'" >&2; exit 2 ;;
esac
[ -n "$out" ] || { echo "measure-gate: --out must name a directory" >&2; exit 2; }

# shellcheck source=scripts/setup.sh
source scripts/setup.sh
cargo build --release --locked --features "$build_features"
bin="$(cargo_target_dir)/release/ditbench"

mkdir -p "$out/runs"
have="$(find "$out/runs" -maxdepth 1 -name '*.json' | wc -l)"
for ((i = have; i < runs; i++)); do
    echo "measure-gate: run $((i + 1)) of $runs into $out/runs"
    "$bin" run --out "$out/runs" "$@"
done

# Written aside first: a failed study leaves the last good tables in place.
for format in md json; do
    "$bin" gate-study "$out/runs" --format "$format" > "$out/gate-study.$format.partial"
    mv "$out/gate-study.$format.partial" "$out/gate-study.$format"
done
echo "measure-gate: $out/gate-study.md"
