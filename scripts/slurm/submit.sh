#!/usr/bin/env bash
# Submit a ditbench suite to Slurm: a job array that runs one shard per task
# (each on a whole node: --exclusive), then a job that waits for every task
# (afterany: also when one fails) and merges the shards into one report.
#
#   scripts/slurm/submit.sh --shards N --out DIR [--partition P] [--gpu]
#                           [--ditbench BIN] [--set NAME] [-- RUN-ARGS...]
#
# RUN-ARGS go to every `ditbench run` (e.g. -p wan-small --budget 30); the
# partition of the cases depends only on them, so every task runs its own
# part. DIR must be on storage every node sees; it gets shards/ (one results
# file per shard), logs/ and report.html + report.md. --gpu asks each task
# for one GPU (--gres=gpu:1). Other sbatch options: SBATCH_* variables.
set -euo pipefail

usage() {
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
shards="" out="" partition="" gpu=0 set="" ditbench=""
here="$(cd "$(dirname "$0")" && pwd)"
while [ $# -gt 0 ]; do
    case "$1" in
        --shards) shards="${2:-}"; shift 2 ;;
        --out) out="${2:-}"; shift 2 ;;
        --partition) partition="${2:-}"; shift 2 ;;
        --gpu) gpu=1; shift ;;
        --set) set="${2:-}"; shift 2 ;;
        --ditbench) ditbench="${2:-}"; shift 2 ;;
        --) shift; break ;;
        -h|--help) usage ;;
        *) echo "submit.sh: unknown option '$1' (run options go after --)" >&2; exit 2 ;;
    esac
done
case "$shards" in
    ''|*[!0-9]*|0) echo "submit.sh: --shards must be a whole number of at least 1, got '$shards'" >&2; exit 2 ;;
esac
[ -n "$out" ] || { echo "submit.sh: --out DIR is required (storage every node sees)" >&2; exit 2; }
ditbench="${ditbench:-$here/../../target/release/ditbench}"
[ -x "$ditbench" ] || { echo "submit.sh: no ditbench binary at $ditbench (build it, or pass --ditbench BIN)" >&2; exit 2; }
ditbench="$(cd "$(dirname "$ditbench")" && pwd)/$(basename "$ditbench")"
mkdir -p "$out/shards" "$out/logs"
out="$(cd "$out" && pwd)"
if ls "$out"/shards/*.json >/dev/null 2>&1; then
    echo "submit.sh: $out/shards already holds results files; give each launch its own --out" >&2
    exit 2
fi
# The arguments are checked once here, before anything is queued.
"$ditbench" run --plan --shard "1/$shards" -o "$out/shards" "$@" >/dev/null

common=()
[ -n "$partition" ] && common+=(--partition "$partition")
task=("${common[@]}" --exclusive)
[ "$gpu" -eq 1 ] && task+=(--gres=gpu:1)
export DITBENCH="$ditbench" DITBENCH_OUT="$out" DITBENCH_SHARDS="$shards" DITBENCH_SHARD_SET="$set"
array=$(sbatch --parsable "${task[@]}" --array="1-$shards" --job-name=ditbench-shard \
    --output="$out/logs/shard-%a.log" --export=ALL "$here/shard.sbatch" "$@")
array="${array%%;*}"
merge=$(sbatch --parsable "${common[@]}" --dependency="afterany:$array" --job-name=ditbench-merge \
    --output="$out/logs/merge.log" --export=ALL "$here/merge.sbatch")
merge="${merge%%;*}"
echo "array job $array ($shards shards), merge job $merge; report: $out/report.html"
