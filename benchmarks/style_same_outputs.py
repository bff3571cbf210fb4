"""Refactoring guard: run fixed-seed style jobs and save or compare their output arrays.

    python benchmarks/style_same_outputs.py --save DIR      # before a change
    python benchmarks/style_same_outputs.py --compare DIR   # after: max/mean abs difference per case

Covers the schedule (multiscale, gatys), both optimisers, tiles, masks, wrap-around and colour modes,
on the offline backbone and a random-weight VGG-19 at 48-64 px (about a minute on one core)."""
from __future__ import annotations

import argparse
import atexit
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _entry():
    """The public entry returning the result object (older trees called it stylize_ex)."""
    import core.style as style
    return getattr(style, "stylize_ex", None) or style.stylize


def _images():
    rng = np.random.default_rng(0)
    h = w = 64
    yy, xx = np.mgrid[0:h, 0:w] / 64
    content = np.stack([0.5 + 0.4 * np.sin(6 * xx), 0.5 + 0.4 * np.cos(5 * yy), 0.5 + 0.3 * np.sin(4 * (xx + yy))], -1)
    content[16:32, 16:48] = (0.9, 0.2, 0.2)
    content = np.clip(content + rng.normal(0, 0.02, content.shape), 0, 1).astype(np.float32)
    yy, xx = np.mgrid[0:48, 0:48]
    stripes = np.where(((((xx + yy) // 3) % 2) == 0)[..., None], np.array([0.9, 0.1, 0.1]),
                       np.array([0.1, 0.1, 0.1])).astype(np.float32)
    dots = np.where(((((yy % 8) - 4) ** 2 + ((xx % 8) - 4) ** 2) < 6)[..., None], np.array([0.95, 0.95, 1.0]),
                    np.array([0.1, 0.2, 0.8])).astype(np.float32)
    left = np.zeros((64, 64), np.float32)
    left[:, :32] = 1.0
    return content, stripes, dots, [left, 1.0 - left]


def cases(weights: str) -> dict[str, tuple]:
    vgg = dict(backbone="vgg19", weights=weights)
    off = dict(backbone="offline")
    return {
        "offline_multiscale": (dict(off, steps=12), False),
        "offline_gatys_tiled": (dict(off, method="gatys", steps=6, tile_size=32), False),
        "offline_tileable_lbfgs": (dict(off, tileable=True, steps=8, optimizer="lbfgs"), False),
        "offline_masks": (dict(off, steps=8, style_weight=100.0), True),
        "offline_luminance_noise": (dict(off, steps=6, preserve_color="luminance", init="noise", seed=3), False),
        "vgg_multiscale": (dict(vgg, steps=6), False),
        "vgg_gatys_tiled": (dict(vgg, method="gatys", steps=3, tile_size=32), False),
        "vgg_histogram_masks": (dict(vgg, steps=4, preserve_color="histogram"), True),
    }


def run(weights: str) -> dict[str, np.ndarray]:
    from core.style import StyleOptions
    stylize = _entry()
    content, stripes, dots, masks = _images()
    out = {}
    for name, (opts, with_masks) in cases(weights).items():
        style = [stripes, dots] if with_masks else stripes
        res = stylize(content, style, StyleOptions(preview_every=0, **opts), masks=masks if with_masks else None)
        out[name] = res.image
        print(name, res.losses, flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--save", type=Path)
    g.add_argument("--compare", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    import torchvision
    tmp = Path(tempfile.mkdtemp())
    atexit.register(shutil.rmtree, tmp, True)  # 550 MB of throwaway weights
    weights = tmp / "vgg19-random.pth"
    torch.manual_seed(0)
    torch.save(torchvision.models.vgg19(weights=None).state_dict(), weights)
    arrays = run(str(weights))
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        np.savez(args.save / "style_outputs.npz", **arrays)
        return
    ref = np.load(args.compare / "style_outputs.npz")
    worst = 0.0
    for name, img in arrays.items():
        d = np.abs(img - ref[name])
        worst = max(worst, float(d.max()))
        print(f"{name:28s} max|diff| {d.max():.2e}  mean|diff| {d.mean():.2e}")
    print(f"worst max|diff| {worst:.2e}")
    sys.exit(0 if worst < 1e-4 else 1)


if __name__ == "__main__":
    main()
