"""Checks the PyTorch reference's map from ditbench's Wan parameter names to
diffusers' WanTransformer3DModel's (tests/reference_check.rs):

  check_wan_names.py WEIGHTS FIXTURE

WEIGHTS: a ditbench Wan weights file (`ditbench data`); FIXTURE: diffusers'
parameter names of that configuration, one per line. Every name must map to
a distinct diffusers name and together onto FIXTURE exactly; where diffusers
is installed, FIXTURE is checked against the model diffusers builds.
Reads the safetensors header itself: needs torch only (the reference's import).
"""

import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_reference import wan_to_diffusers  # noqa: E402


def header(path):
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(size))


def main():
    weights, fixture = sys.argv[1:3]
    meta = header(weights)
    config = json.loads(meta["__metadata__"]["config"])
    ours = sorted(k for k in meta if k != "__metadata__")
    mapped = [wan_to_diffusers(name) for name in ours]
    if len(set(mapped)) != len(mapped):
        sys.exit("two ditbench names map to one diffusers name")
    with open(fixture) as f:
        expected = {line.strip() for line in f if line.strip()}
    if set(mapped) != expected:
        sys.exit(
            f"mapped names differ from diffusers': missing {sorted(expected - set(mapped))[:5]}, "
            f"extra {sorted(set(mapped) - expected)[:5]}"
        )
    try:
        import diffusers  # noqa: F401
    except ImportError:
        print("diffusers not installed: checked against the fixture only")
    else:
        from torch_reference import build_wan

        import torch

        model = build_wan(config, torch.float32, torch.device("cpu"))
        live = {name for name, _ in model.named_parameters()}
        if live != expected:
            sys.exit(f"the fixture differs from diffusers {diffusers.__version__}'s parameters")
        print(f"fixture matches diffusers {diffusers.__version__}")
    print(f"wan-tiny: {len(ours)} parameters map onto {len(expected)} diffusers parameters")


if __name__ == "__main__":
    main()
