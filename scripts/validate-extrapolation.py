#!/usr/bin/env python3
"""How close ditbench's extrapolated full model comes to the measured one.

Runs `ditbench run` in rounds on models small enough to measure whole
(wan-small and llama-small, six blocks each), each round one invocation per
depth set, the sets alternating, so a busy spell on a shared machine falls on
every method alike. Two figures per method (k blocks over a base of j):

- the extrapolation T(k) + (6 - k)(T(k) - T(j)) / (k - j) of the medians of
  each depth's case medians over every round, against the median of the
  measured six-block medians: what the method gives on interleaved data;
- the range of ditbench's own per-round figure (`full_model.forward` of
  each round's results) against that round's measured six blocks: how far
  one run on this machine can be off.

    scripts/validate-extrapolation.py [--rounds 5] [--backends tch,candle]
        [--binary target/release/ditbench] [--out DIR] [-- extra run args]

Needs only Python 3's standard library; the binary must have the backends'
features (build with `cargo build --release --features tch`).
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PRESETS = ["wan-small", "llama-small"]
# Each set is one invocation: 1,2,6 gives one block over the rest and two
# blocks over one; 2,6 gives two blocks over the rest.
DEPTH_SETS = ["1,2,6", "2,6"]


def run_round(args, depths, out):
    command = [
        args.binary, "run", "-p", ",".join(PRESETS), "--layers", depths,
        "--extrapolate", "--passes", "forward", "-b", args.backends,
        "--no-parity", "--budget", str(args.budget), "--min-time", str(args.min_time),
        "-o", str(out), *args.extra,
    ]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    (results,) = sorted(Path(out).glob("*.json"))
    return json.loads(results.read_text())


def depth_medians(results, into):
    """(preset, backend, blocks) -> every round's case median."""
    for c in results["cases"]:
        if c["status"] == "ok":
            blocks = c["workload"]["overrides"].get("layers", 6)
            key = (c["workload"]["preset"], c["backend"], blocks)
            into.setdefault(key, []).append(c["stats"]["median_s"])


def errors(results):
    """(preset, backend, 'k over j') -> extrapolated / measured - 1."""
    cases = [c for c in results["cases"] if c["status"] == "ok"]
    measured = {
        (c["workload"]["preset"], c["backend"]): c["stats"]["median_s"]
        for c in cases
        if c["full_model"] and not c["full_model"]["extrapolated"]
    }
    found = {}
    for c in cases:
        full = c["full_model"]
        if not full or not full["extrapolated"]:
            continue
        key = (c["workload"]["preset"], c["backend"])
        if key in measured:
            method = f"{full['measured_blocks']} over {full['base_blocks']}"
            found[key + (method,)] = full["forward"]["median_s"] / measured[key] - 1
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backends", default="tch,candle")
    parser.add_argument("--binary", default="target/release/ditbench")
    parser.add_argument("--budget", type=float, default=4)
    parser.add_argument("--min-time", type=float, default=2)
    parser.add_argument("--out", help="keep each round's results here")
    parser.add_argument("extra", nargs="*", help="more `run` arguments, after --")
    args = parser.parse_args()
    if args.rounds < 1:
        sys.exit("validate-extrapolation: --rounds must be at least 1")
    out = Path(args.out or tempfile.mkdtemp(prefix="ditbench-validate-"))
    rounds, medians = {}, {}
    for r in range(args.rounds):
        for depths in DEPTH_SETS:
            target = out / f"round{r + 1}-{depths.replace(',', '-')}"
            results = run_round(args, depths, target)
            depth_medians(results, medians)
            for key, e in errors(results).items():
                rounds.setdefault(key, []).append(e)
            print(f"round {r + 1}/{args.rounds}, layers {depths}: done", file=sys.stderr)
    print(f"{args.rounds} rounds, results under {out}")
    print("| model (6 blocks) | backend | blocks over base | error of the interleaved medians | one run's error (range) |")
    print("|---|---|---|---:|---:|")
    for (preset, backend, method), es in sorted(rounds.items()):
        k, j = (int(x) for x in method.split(" over "))
        t = lambda blocks: statistics.median(medians[(preset, backend, blocks)])
        extrapolated = t(k) + (6 - k) * (t(k) - t(j)) / (k - j)
        pct = [100 * e for e in es]
        print(
            f"| {preset} | {backend} | {method} | {100 * (extrapolated / t(6) - 1):+.1f}% "
            f"| {min(pct):+.1f} to {max(pct):+.1f}% |"
        )


if __name__ == "__main__":
    main()
