"""What does running a batch on Ray buy on one machine, and what does Ray cost per job?

N tiny stylize jobs (offline backbone) from one manifest, side by side in one run:
  sequential       the local runner, one job at a time in this process (torch uses every core)
  sequential 1t    the same with one torch thread (what each Ray CPU task gets)
  ray x2           a fresh local Ray cluster of 2 CPUs: two jobs at once, one torch thread each
  ray x1           the same with 1 CPU: its wall time minus the jobs' own compute is Ray's overhead
Each mode runs --rounds times, interleaved (a shared machine's load drifts); the best round counts.
The ratio sequential / ray x2 is the speed-up; overhead per job = (ray x1 wall - sum of in-task job
seconds) / N, and the first job's share (worker process start, torch import) is shown apart.

Then (--part animation, when this build has `core animate`) the flicker at chunk boundaries: a panning
clip (1 px/frame, exact Vector pass) stylized as one chunk, as two chunks with a hard cut, and as two
chunks overlapping by --overlap frames with the cross-fade; flicker of a frame pair = mean |out_t −
warp(out_t−1)| on reliable pixels (core.animation.motion.flicker), at boundary pairs vs inside chunks.

    .venv/bin/python benchmarks/bench_batch.py [--part stylize|animation|all] [--jobs 8] [--size 48] [--steps 8]
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.batch.graph import build_plan  # noqa: E402
from core.batch.local import run_local  # noqa: E402
from core.batch.manifest import load_manifest  # noqa: E402
from core.batch.ray_runner import run_ray  # noqa: E402
from core.batch.report import Reporter  # noqa: E402
from core.batch.state import BatchState  # noqa: E402
from core.imageio import read_image, write_image  # noqa: E402


def _folder(base: Path, name: str, jobs: int, size: int, steps: int) -> Path:
    folder = base / name
    folder.mkdir()
    content = read_image(ROOT / "core/samples/content_house.png")
    styles = [read_image(ROOT / f"core/samples/{s}.png") for s in ("style_mosaic", "style_swirls")]
    write_image(folder / "c.png", content)
    for i, style in enumerate(styles):
        write_image(folder / f"s{i}.png", style)
    manifest = {"jobs": [{"id": f"j{i}", "kind": "stylize", "content": "c.png", "style": f"s{i % 2}.png",
                          "out": f"out/j{i}.png", "options": {"size": size, "steps": steps, "backbone": "offline",
                                                               "seed": i}} for i in range(jobs)]}
    (folder / "m.json").write_text(json.dumps(manifest))
    return folder


def _run(folder: Path, mode: str, cpus: int) -> tuple[float, list]:
    import torch

    plan = build_plan(load_manifest(folder / "m.json"))
    reporter = Reporter(len(plan.order), mode, out=io.StringIO(), err=io.StringIO())
    state = BatchState(plan.manifest)
    t0 = time.perf_counter()
    if mode == "local":
        threads = torch.get_num_threads()
        torch.set_num_threads(cpus or threads)
        t0 = time.perf_counter()
        try:
            results = run_local(plan, reporter, state, workers=1)
        finally:
            torch.set_num_threads(threads)
    else:
        import ray

        ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
        t0 = time.perf_counter()  # cluster start-up is reported apart
        results = run_ray(plan, reporter, state)
        wall = time.perf_counter() - t0
        ray.shutdown()
        return wall, results
    return time.perf_counter() - t0, results


def _clip(folder: Path, frames: int, width: int) -> list[np.ndarray]:
    base = read_image(ROOT / "core/samples/content_house.png")
    step = max(1, base.shape[1] // width)
    base = base[::step, ::step]
    vector = np.tile(np.float32([-1, 0, -1, 0]), base.shape[:2] + (1,))
    for i in range(frames):
        write_image(folder / f"f_{i + 1:04d}.png", np.roll(base, i, axis=1))
        np.save(folder / f"v_{i + 1:04d}.npy", vector)
    write_image(folder / "s.png", read_image(ROOT / "core/samples/style_mosaic.png"))
    return [vector] * frames


def animation_flicker(ns: argparse.Namespace) -> None:
    from core.batch.chunks import boundary_pairs, plan_chunks
    from core.batch.kinds import KINDS, available

    if not available(KINDS["animate"]):
        print("animation: `python -m core animate` is not in this build; flicker not measured")
        return
    from core.animation import motion

    half = ns.frames // 2
    variants = {"one chunk": (ns.frames, 0), "hard cut": (half, 0), f"overlap {ns.overlap}": (half + ns.overlap, ns.overlap)}
    print(f"\nanimation: {ns.frames} frames panning 1 px/frame, {ns.size}px, {ns.steps} steps/frame, offline backbone")
    print(f"{'chunks':12s} {'inside':>8s} {'boundary':>9s} {'ratio':>6s}  (mean flicker per frame pair, 0..1 units)")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (chunk, overlap) in variants.items():
            folder = Path(tmp) / name.replace(" ", "")
            folder.mkdir()
            vectors = _clip(folder, ns.frames, ns.size)
            job = {"id": "anim", "kind": "animate", "frames": "f_*.png", "style": "s.png",
                   "vectors": [f"v_{i + 1:04d}.npy" for i in range(ns.frames)], "out": "styled",
                   "chunk": chunk, "overlap": overlap, "options": {"steps": ns.steps, "backbone": "offline"}}
            (folder / "m.json").write_text(json.dumps({"jobs": [job]}))
            plan = build_plan(load_manifest(folder / "m.json"))
            results = run_local(plan, Reporter(len(plan.order), "local", io.StringIO(), io.StringIO()),
                                BatchState(plan.manifest))
            assert all(r.status == "succeeded" for r in results), [r.error for r in results]
            out = [read_image(p) for p in sorted((folder / "styled").glob("frame_*.png"))]
            flicker = [motion.flicker(out[t], out[t - 1], vectors[t], motion.reliability(vectors[t], vectors[t - 1]))
                       for t in range(1, len(out))]
            at = set(boundary_pairs(plan_chunks(ns.frames, chunk, overlap))) if chunk < ns.frames else {half - 1}
            inside = float(np.mean([f for i, f in enumerate(flicker) if i not in at]))
            boundary = float(np.mean([flicker[i] for i in sorted(at)]))
            print(f"{name:12s} {inside:8.4f} {boundary:9.4f} {boundary / inside:6.2f}"
                  + ("  (pair at the middle, no boundary)" if chunk >= ns.frames else ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--size", type=int, default=48)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--part", choices=("stylize", "animation", "all"), default="all")
    ap.add_argument("--frames", type=int, default=12, help="animation: clip length")
    ap.add_argument("--overlap", type=int, default=2, help="animation: frames shared by the two chunks")
    ns = ap.parse_args()
    if ns.part in ("stylize", "all"):
        stylize_jobs(ns)
    if ns.part in ("animation", "all"):
        animation_flicker(ns)


def stylize_jobs(ns: argparse.Namespace) -> None:
    import ray
    import torch

    print(f"{ns.jobs} stylize jobs, {ns.size}px, {ns.steps} steps, offline backbone; torch threads here: "
          f"{torch.get_num_threads()}; ray {ray.__version__}")
    t = time.perf_counter()
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.shutdown()
    print(f"ray.init + shutdown of a local cluster: {time.perf_counter() - t:.2f} s (not in the rows below)")
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        # warm this process once so the sequential row does not pay imports the Ray workers pay per process
        _run(_folder(Path(tmp), "warm", 1, ns.size, 1), "local", 0)
        modes = (("sequential", "local", 0), ("sequential 1t", "local", 1), ("ray x2", "ray", 2), ("ray x1", "ray", 1))
        for round_ in range(ns.rounds):
            for name, mode, cpus in modes:
                folder = _folder(Path(tmp), f"{name.replace(' ', '')}-{round_}", ns.jobs, ns.size, ns.steps)
                wall, results = _run(folder, mode, cpus)
                assert all(r.status == "succeeded" for r in results), [r.error for r in results]
                if name not in rows or wall < rows[name][0]:
                    rows[name] = (wall, [r.seconds for r in results])
    seq = rows["sequential"][0]
    print(f"{'mode':12s} {'wall s':>8s} {'per job s':>10s} {'vs sequential':>14s}")
    for name, (wall, secs) in rows.items():
        print(f"{name:12s} {wall:8.2f} {wall / ns.jobs:10.2f} {seq / wall:13.2f}x")
    wall1, secs1 = rows["ray x1"]
    overhead = (wall1 - sum(secs1)) / ns.jobs
    print(f"Ray overhead per job (ray x1 wall - in-task seconds) / N: {overhead:.3f} s; "
          f"first job in a fresh worker {secs1[0]:.2f} s vs later jobs median "
          f"{sorted(secs1[1:])[len(secs1[1:]) // 2] if len(secs1) > 1 else float('nan'):.2f} s")
    print(f"speed-up with 2 Ray workers: {seq / rows['ray x2'][0]:.2f}x vs sequential, "
          f"{rows['sequential 1t'][0] / rows['ray x2'][0]:.2f}x vs sequential on one thread (ideal 2x on 2 idle cores)")


if __name__ == "__main__":
    main()
