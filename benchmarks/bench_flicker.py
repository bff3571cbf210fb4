"""Flicker of stylized animation: per-frame stylization against temporally coherent stylization
(Ruder et al. 2016 with Blender's exact Vector pass), same style and step budget, side by side; and
the edge score of depth/normal guidance against unguided.

A Cycles clip (blender_addon/demo_clip.py: a cube sliding in front of a turning sphere and a brick
wall, so there is motion, occlusion and disocclusion) is rendered to multilayer EXRs, then:
    flicker  = mean over frames t>1 of mean |out_t − warp(out_{t−1})| on reliable pixels
    floor    = the same for the rendered (display) frames themselves
    style    = Gram style loss of each output frame against the style (same network, mean over frames)
    edges    = Pearson correlation between the gradient magnitude of the output's blurred luminance
               (σ 1.5 px) and the depth/normal edge map, on the first frame
Same budget: per-frame runs the multiscale schedule (`--steps` per scale, twice that at the coarsest);
temporal runs frame 1 the same way and later frames at the finest scale only, from the warped previous
frame, with as many loss+gradient evaluations as a per-frame frame gets.
Targets: flicker ≤ 0.5× per-frame with style loss ≤ 1.1× per-frame.

    .venv/bin/python benchmarks/bench_flicker.py [--frames 8] [--size 96] [--steps 20] [--backbone offline]
        [--temporal-weights 50,200] [--keep DIR]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def render_clip(folder: str, frames: int, size: int, samples: int) -> list[str]:
    import bpy  # noqa: F401  (Blender as a module, benchmark only)

    from blender_addon import clip_render, demo_clip

    scene = demo_clip.build_clip_scene((size, size * 3 // 4), frames=frames, samples=samples)
    return clip_render.render_frames(scene, range(1, frames + 1), folder)


def style_losses(outputs: list[np.ndarray], style: np.ndarray, backbone: str) -> list[float]:
    """Gram style loss (the engine's definition and layer weights) of each output against the style."""
    import torch

    from core.style import StyleOptions, engine, losses
    from core.style.inputs import to_tensor

    net, _ = engine._build_backbone(StyleOptions(backbone=backbone), torch.device("cpu"), [])
    to_t = lambda a: to_tensor(np.ascontiguousarray(a[..., :3]), torch.device("cpu"))  # noqa: E731
    out = []
    with torch.no_grad():
        long_edge = max(outputs[0].shape[:2])
        from core.style.resample import fit_long_edge, resize
        st = to_t(style)
        st = resize(st, fit_long_edge(st.shape[-2], st.shape[-1], long_edge, 1), False)
        sf = net(st)
        weights = dict(net.style_layers)
        for img in outputs:
            f = net(to_t(img))
            total = sum(w * float(losses.style_loss(losses.gram(f[k]), losses.gram(sf[k]))) for k, w in weights.items())
            out.append(total / sum(weights.values()))
    return out


def edge_score(image: np.ndarray, edges: np.ndarray) -> float:
    import cv2

    lum = image[..., :3] @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    lum = cv2.GaussianBlur(lum.astype(np.float32), (0, 0), 1.5)
    gy, gx = np.gradient(lum)
    mag = np.hypot(gx, gy).ravel()
    return float(np.corrcoef(mag, edges.ravel())[0, 1])


def silhouette_fidelity(image: np.ndarray, content: np.ndarray, edges: np.ndarray) -> float:
    """Correlation of the output's and the content's gradient magnitudes on the depth/normal edge band:
    1 when the stylized outlines sit exactly where the rendered ones are."""
    import cv2

    def grad(img: np.ndarray) -> np.ndarray:
        lum = cv2.GaussianBlur((img[..., :3] @ np.array([0.2126, 0.7152, 0.0722], np.float32)).astype(np.float32),
                               (0, 0), 1.5)
        gy, gx = np.gradient(lum)
        return np.hypot(gx, gy)

    band = edges > 0.3
    return float(np.corrcoef(grad(image)[band], grad(content)[band])[0, 1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--size", type=int, default=96, help="frame width in pixels (height 3/4 of it)")
    ap.add_argument("--samples", type=int, default=16, help="Cycles samples per pixel")
    ap.add_argument("--steps", type=int, default=20, help="steps per scale (multiscale; the coarsest gets 2x)")
    ap.add_argument("--backbone", default="offline", choices=("offline", "vgg19"))
    ap.add_argument("--temporal-weights", default="", help="comma-separated γ values, relative to the style weight (default: the default γ)")
    ap.add_argument("--style", default=str(ROOT / "core" / "samples" / "style_swirls.png"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--keep", metavar="DIR", help="write the frames and a contact sheet here")
    ap.add_argument("--edges-only", action="store_true", help="skip the flicker part")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from core.animation import display, frames, guidance, motion, regions, sequence
    from core.imageio import read_image, write_image
    from core.style.options import StyleOptions

    work = Path(args.keep or tempfile.mkdtemp(prefix="bench-flicker-"))
    (work / "exr").mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    clip = render_clip(str(work / "exr"), args.frames, args.size, args.samples)
    print(f"rendered {len(clip)} frames {args.size}×{args.size * 3 // 4} in {time.perf_counter() - t0:.1f}s")
    fs = [frames.read_frame(p) for p in clip]
    shown = [display.to_display(f.image)[..., :3] for f in fs]
    masks = [None] + [motion.reliability(fs[t].vector, fs[t - 1].vector) for t in range(1, len(fs))]
    style = read_image(args.style)
    spec = regions.RegionSpec([style])

    def flicker(images: list[np.ndarray]) -> float:
        return float(np.mean([motion.flicker(images[t], images[t - 1], fs[t].vector, masks[t])
                              for t in range(1, len(images))]))

    def run(name: str, anim: sequence.AnimationOptions) -> dict:
        out = work / name
        out.mkdir(exist_ok=True)
        start = time.perf_counter()
        steps: list[int] = []
        paths = sequence.stylize_frames([sequence.FrameInput(p) for p in clip], spec, out,
                                        StyleOptions(steps=args.steps, backbone=args.backbone, preview_every=0),
                                        anim.__class__(**{**anim.__dict__, "overwrite": True}),
                                        on_frame=lambda d: steps.append(d.steps))
        images = [read_image(p)[..., :3] for p in paths]
        return {"name": name, "images": images, "flicker": flicker(images), "seconds": time.perf_counter() - start,
                "steps": sum(steps),
                "style": float(np.mean(style_losses(images, style, args.backbone)))}

    gammas = [float(g) for g in args.temporal_weights.split(",") if g] or [sequence.DEFAULT_TEMPORAL_WEIGHT]
    rows = [] if args.edges_only else [run("per-frame", sequence.AnimationOptions(temporal_weight=0.0,
                                                                                 warp_init=False))]
    # Same budget: later temporal frames run at the finest scale only, with as many steps (loss and
    # gradient evaluations) as a per-frame multiscale run spends on a frame over all its scales.
    per_frame_steps = rows[0]["steps"] // len(clip) if rows else None
    for g in [] if args.edges_only else gammas:
        rows.append(run(f"temporal γ={g:g}", sequence.AnimationOptions(temporal_weight=g,
                                                                        refine_steps=per_frame_steps)))
    floor = flicker(shown)
    base = rows[0] if rows else None
    if rows:
        assert base is not None
        print(f"\nflicker ({len(fs)} frames, {args.steps} steps/frame, {args.backbone}); content floor {floor:.4f}; "
              f"reliable pixels {np.mean([m.mean() for m in masks[1:]]):.0%}")
        print(f"{'method':<20}{'flicker':>9}{'ratio':>8}{'style':>9}{'ratio':>8}{'steps':>7}{'seconds':>9}")
        for r in rows:
            print(f"{r['name']:<20}{r['flicker']:9.4f}{r['flicker'] / base['flicker']:8.2f}{r['style']:9.4f}"
                  f"{r['style'] / base['style']:8.2f}{r['steps']:7d}{r['seconds']:9.1f}")

    # Edge score on the first frame: unguided vs depth+normal guided.
    one = [sequence.FrameInput(clip[0])]
    edges = guidance.structure_edges(fs[0])
    print(f"\nedge score (frame 1): 'edges' = correlation of the output's gradients with the depth/normal "
          f"edge map (content's own {edge_score(shown[0], edges):.3f}); 'silhouette' = correlation of output and "
          f"content gradients on the edge band")
    print(f"{'guide':<20}{'edges':>9}{'silhouette':>11}{'style':>9}")
    edge_rows = []
    for name, guide, strength in (("unguided", "off", 0.0), ("depth+normal x3", "both", 3.0),
                                  ("depth+normal x8", "both", 8.0)):
        out = work / f"edges-{guide}-{strength:g}"
        out.mkdir(exist_ok=True)
        paths = sequence.stylize_frames(one, spec, out, StyleOptions(steps=args.steps, backbone=args.backbone,
                                                                     preview_every=0),
                                        sequence.AnimationOptions(edge_guide=guide, edge_strength=strength,
                                                                  overwrite=True))
        img = read_image(paths[0])[..., :3]
        edge_rows.append(img)
        print(f"{name:<20}{edge_score(img, edges):9.3f}{silhouette_fidelity(img, shown[0], edges):11.3f}"
              f"{style_losses([img], style, args.backbone)[0]:9.4f}")
    if args.keep:
        if rows:
            sheet = np.concatenate([np.concatenate(shown[:4], 1)] + [np.concatenate(r["images"][:4], 1) for r in rows], 0)
            write_image(work / "flicker_sheet.png", sheet)
        write_image(work / "edges_sheet.png", np.concatenate([shown[0]] + edge_rows, 1))
        print(f"\nframes and sheets in {work}")


if __name__ == "__main__":
    main()
