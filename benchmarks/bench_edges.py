"""Depth/normal outline guidance against unguided on one rendered frame, side by side: edge score,
silhouette fidelity and style loss per edge strength, at the engine's defaults on real VGG-19 weights.

One Cycles frame of blender_addon/demo_clip.py (cube, turning sphere, brick wall) is rendered to a
multilayer EXR with Depth and Normal passes and stylized through core.animation.sequence, as the add-on does:
    edges      = Pearson correlation of the output's gradient magnitude (blurred luminance, σ 1.5 px) and
                 the depth/normal edge map (higher: the outlines stand out in the stylized image)
    silhouette = correlation of output and content gradient magnitudes on the edge band (edge > 0.3)
    outline    = mean |output − content| on the edge band / on flat areas (edge < 0.05): lower means
                 strokes disturb outlines less than the rest
    style      = Gram style loss against the style (the engine's layer weights); target: guided within
                 ±5% of unguided.

    .venv/bin/python benchmarks/bench_edges.py [--size 128] [--steps 30] [--strengths 3,8,20]
        [--backbone vgg19] [--keep DIR]
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
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=128, help="frame width in pixels (height 3/4 of it)")
    ap.add_argument("--samples", type=int, default=16, help="Cycles samples per pixel")
    ap.add_argument("--steps", type=int, default=30, help="steps per scale (multiscale; the coarsest gets 2x)")
    ap.add_argument("--strengths", default="3,8,20", help="comma-separated edge strengths to compare")
    ap.add_argument("--unguided-style-weights", default="",
                    help="comma-separated β for extra unguided rows: the trade-off of simply weakening the style, "
                         "to compare guided rows with at equal style loss")
    ap.add_argument("--backbone", default="vgg19", choices=("offline", "vgg19"))
    ap.add_argument("--style", default=str(ROOT / "core" / "samples" / "style_swirls.png"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--keep", metavar="DIR", help="write the outputs and a contact sheet here")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from bench_flicker import edge_score, render_clip, silhouette_fidelity, style_losses

    from core.animation import display, frames, guidance, regions, sequence
    from core.imageio import read_image, write_image
    from core.style.options import StyleOptions

    work = Path(args.keep or tempfile.mkdtemp(prefix="bench-edges-"))
    (work / "exr").mkdir(parents=True, exist_ok=True)
    clip = render_clip(str(work / "exr"), 1, args.size, args.samples)
    frame = frames.read_frame(clip[0])
    content = display.to_display(frame.image)[..., :3]
    edges = guidance.structure_edges(frame)
    assert edges is not None, "the rendered frame has no Depth/Normal pass"
    near, flat = edges > 0.3, edges < 0.05
    style = read_image(args.style)
    spec = regions.RegionSpec([style])
    print(f"frame {content.shape[1]}×{content.shape[0]}, {args.backbone}, {args.steps} steps/scale; "
          f"content's own edge score {edge_score(content, edges):.3f}; edge band {near.mean():.0%} of pixels")
    print(f"{'guide':<18}{'edges':>8}{'silhouette':>11}{'outline':>9}{'style':>9}{'ratio':>7}{'seconds':>9}")
    runs = [("unguided", "off", 0.0, None)]
    runs += [(f"unguided β={b:g}", "off", 0.0, b) for b in (float(v) for v in args.unguided_style_weights.split(",") if v)]
    runs += [(f"depth+normal x{s:g}", "both", s, None) for s in (float(v) for v in args.strengths.split(",") if v)]
    images, base_style = [], None
    for name, guide, strength, beta in runs:
        out = work / f"edges-{guide}-{strength:g}-{beta or 0:g}"
        out.mkdir(exist_ok=True)
        start = time.perf_counter()
        paths = sequence.stylize_frames([sequence.FrameInput(clip[0])], spec, out,
                                        StyleOptions(steps=args.steps, backbone=args.backbone, preview_every=0,
                                                     style_weight=beta),
                                        sequence.AnimationOptions(edge_guide=guide, edge_strength=strength,
                                                                  overwrite=True))
        seconds = time.perf_counter() - start
        img = read_image(paths[0])[..., :3]
        images.append(img)
        s = style_losses([img], style, args.backbone)[0]
        base_style = base_style or s
        change = np.abs(img - content).mean(axis=2)
        print(f"{name:<18}{edge_score(img, edges):8.3f}{silhouette_fidelity(img, content, edges):11.3f}"
              f"{change[near].mean() / change[flat].mean():9.3f}{s:9.4f}{s / base_style:7.2f}{seconds:9.1f}")
    if args.keep:
        edge_rgb = np.repeat(edges[..., None], 3, axis=2)
        write_image(work / "edges_sheet.png", np.concatenate([content, edge_rgb] + images, 1))
        print(f"\noutputs and edges_sheet.png (content, edge map, then the rows above) in {work}")


if __name__ == "__main__":
    main()
