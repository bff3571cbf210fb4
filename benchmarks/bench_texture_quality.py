"""GAN texture quality and speed, side by side, on a procedural 128² stone exemplar.

    .venv/bin/python benchmarks/bench_texture_quality.py [--quick] [--steps N] [--out DIR] [--threads N]

Methods: psgan (default model), dcgan (seed baseline), optim (no training; only with --optim, slow), and the
'tiled' baseline: the exemplar itself tiled 2×2 with a random offset (perfect statistics, but a copy).
Statistics against the exemplar, mean over 3 seeds of 256² outputs:
  swd   sliced W1 of random multi-scale CNN features (lower = closer statistics)
  colW1 colour W1 (palette)
  nn    mean RMS distance of 16² patches to their nearest exemplar patch; 'copy' if below the threshold
        (half the exemplar's own distance to non-overlapping patches of itself)
  seam  seam ratio (tileable outputs only; mean and max over seeds)
  div   mean |difference| between outputs of different seeds
Speed: training iterations/s, generation megapixels/s (psgan at 4096², dcgan at 1024²).
Checkpoints are cached in --out, so a second run only measures. PNGs for viewing go to --out."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.imageio import write_image  # noqa: E402
from core.seams import seam_ratio  # noqa: E402
from core.texture import TrainOptions, generate, load_checkpoint, train  # noqa: E402
from core.texture.metrics import color_w1, copy_threshold, feature_swd, nearest_patch_distance  # noqa: E402
from core.texture.samples import stones  # noqa: E402

SEEDS = (0, 1, 2)
SIZE = 256


def trained(name: str, options: TrainOptions, ex: np.ndarray, out: Path):
    path = out / f"{name}.pt"
    if path.exists():
        ck = load_checkpoint(path)
        if ck.step == options.steps and ck.options.model == options.model:
            return ck, "cached"
    t0, c0 = time.perf_counter(), time.process_time()
    ck = train(ex, options)
    ck.runtime["wall"] = time.perf_counter() - t0
    ck.runtime["cpu"] = time.process_time() - c0
    ck.save(path)
    return ck, "trained now"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer steps, generation speed at 2048²")
    ap.add_argument("--optim", action="store_true", help="also run the (slow) no-training optim synthesis")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--out", default="/tmp/texture_bench")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    steps = args.steps or (150 if args.quick else 400)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ex = stones(128)
    write_image(out / "exemplar.png", ex)
    thr = copy_threshold(ex)
    rng = np.random.default_rng(0)

    outputs: dict[str, list[np.ndarray]] = {}
    speed: dict[str, dict] = {}
    for name, opts in (("psgan", TrainOptions(steps=steps, preview_every=0)),
                       ("dcgan", TrainOptions(model="dcgan", steps=steps, preview_every=0))):
        ck, how = trained(name, opts, ex, out)
        it_s = ck.step / ck.train_seconds if ck.train_seconds else float("nan")
        speed[name] = {"train_it_s": it_s, "how": how, "train_s": ck.train_seconds}
        tile = name == "psgan"
        outputs[name] = [generate(ck, SIZE, SIZE, seed=s, tileable=tile) for s in SEEDS]
        gsize = 1024 if name == "dcgan" else 2048 if args.quick else 4096
        t0 = time.perf_counter()
        generate(ck, gsize, gsize, seed=0, tileable=tile)
        speed[name]["gen_mp_s"] = gsize * gsize / 1e6 / (time.perf_counter() - t0)
        speed[name]["gen_size"] = gsize
    if args.optim:
        ck, _ = trained("optim", TrainOptions(model="optim", optim_steps=100), ex, out)
        t0 = time.perf_counter()
        outputs["optim"] = [generate(ck, SIZE, SIZE, seed=s) for s in SEEDS]
        speed["optim"] = {"gen_mp_s": 3 * SIZE * SIZE / 1e6 / (time.perf_counter() - t0), "gen_size": SIZE}
    big = np.tile(ex, (3, 3, 1))
    outputs["tiled"] = []
    for _ in SEEDS:
        y, x = rng.integers(0, 128, 2)
        outputs["tiled"].append(np.ascontiguousarray(big[y:y + SIZE, x:x + SIZE]))

    rows = {}
    for name, imgs in outputs.items():
        nn = [nearest_patch_distance(i, ex, seed=k) for k, i in enumerate(imgs)]
        rows[name] = {
            "swd": float(np.mean([feature_swd(i, ex) for i in imgs])),
            "colW1": float(np.mean([color_w1(i, ex) for i in imgs])),
            "nn": float(np.mean(nn)),
            "copy": bool(np.mean(nn) < thr),
            "seam": [seam_ratio(i) for i in imgs] if name in ("psgan", "optim") else None,
            "div": float(np.mean([np.abs(imgs[a] - imgs[b]).mean() for a, b in ((0, 1), (0, 2), (1, 2))])),
        }
    ref = rows["tiled"]["swd"]
    print(f"exemplar: procedural stones 128², copy threshold nn < {thr:.4f}; {steps} training steps; "
          f"torch threads {torch.get_num_threads()}")
    print(f"{'method':8} {'swd':>7} {'/tiled':>7} {'/dcgan':>7} {'colW1':>7} {'nn':>7} {'copy?':>6} "
          f"{'seam mean/max':>14} {'div':>6} {'train it/s':>10} {'gen MP/s':>14}")
    for name, r in rows.items():
        seam = f"{np.mean(r['seam']):.3f}/{np.max(r['seam']):.3f}" if r["seam"] else "-"
        sp = speed.get(name, {})
        it = f"{sp['train_it_s']:.2f}" if "train_it_s" in sp else "-"
        gen = f"{sp['gen_mp_s']:.3f}@{sp['gen_size']}" if "gen_mp_s" in sp else "-"
        print(f"{name:8} {r['swd']:7.3f} {r['swd'] / ref:7.2f} {r['swd'] / rows['dcgan']['swd']:7.2f} "
              f"{r['colW1']:7.4f} {r['nn']:7.4f} {('yes' if r['copy'] else 'no'):>6} {seam:>14} {r['div']:6.3f} "
              f"{it:>10} {gen:>14}")
    (out / "results.json").write_text(json.dumps({"rows": rows, "speed": speed, "threshold": thr, "steps": steps},
                                                  indent=1))

    # Grid: exemplar (2× nearest) | psgan seeds 0,1 | dcgan | optim | tiled; and a 2×2 tiling of one psgan tile.
    ex2 = np.repeat(np.repeat(ex, 2, 0), 2, 1)
    cols = [ex2, outputs["psgan"][0], outputs["psgan"][1], outputs["dcgan"][0]]
    if "optim" in outputs:
        cols.append(outputs["optim"][0])
    cols.append(outputs["tiled"][0])
    gap = np.ones((SIZE, 4, 3), np.float32)
    write_image(out / "grid.png", np.concatenate([c for col in cols for c in (col, gap)][:-1], 1))
    write_image(out / "psgan_tile_2x2.png", np.tile(outputs["psgan"][0], (2, 2, 1)))
    print(f"images: {out / 'grid.png'} (exemplar ×2 | psgan s0 | psgan s1 | dcgan | "
          f"{'optim | ' if 'optim' in outputs else ''}tiled), {out / 'psgan_tile_2x2.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
