"""Peak memory of the default texture method (patch synthesis) against core.texture.patches.memory_estimate.

    .venv/bin/python benchmarks/bench_texture_memory.py [--sizes 256,512] [--exemplar 128] [--channels 3,7]

Each case runs in a fresh subprocess; its peak is resource.getrusage's max RSS minus the RSS just before
synthesis starts (torch imported, exemplar built), so only the method's own memory counts."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys
import numpy as np, torch
sys.path.insert(0, sys.argv[1])
torch.set_num_threads(1)
from core.texture import patches
from core.texture.maps import MapInfo
size, ex_side, channels = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
maps = [MapInfo("albedo", "color", 3)] + [MapInfo(f"data{i}", "data", 1) for i in range(channels - 3)]
ex = torch.rand(channels, ex_side, ex_side)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
patches.synthesize(ex, maps, size, size, seed=0)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
print(json.dumps({"size": size, "exemplar": ex_side, "channels": channels, "measured": peak,
                  "estimate": patches.memory_estimate((ex_side, ex_side), channels, size, size)}))
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--exemplar", type=int, default=128)
    ap.add_argument("--channels", default="3")
    args = ap.parse_args()
    print(f"{'size':>6} {'ex':>5} {'ch':>3} {'measured MB':>12} {'estimate MB':>12} {'ratio':>6}")
    for ch in (int(c) for c in args.channels.split(",")):
        for size in (int(s) for s in args.sizes.split(",")):
            res = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), str(size), str(args.exemplar), str(ch)],
                                 capture_output=True, text=True, check=True)
            r = json.loads(res.stdout.strip().splitlines()[-1])
            print(f"{size:6} {args.exemplar:5} {ch:3} {r['measured'] / 1e6:12.0f} {r['estimate'] / 1e6:12.0f} "
                  f"{r['estimate'] / max(1, r['measured']):6.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
