"""`python -m core animate FRAMES... --style STYLE -o OUTDIR`: stylize a rendered animation with
temporal coherence (and optional depth/normal/material guidance) into numbered PNG frames."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..errors import Cancelled, UserError
from ..imageio import read_image
from ..progress import TerminalBar
from ..style.cli import _FLAGS, _options, add_engine_arguments
from .display import DEFAULT_DISPLAY, DEFAULT_VIEW, DisplaySettings
from .regions import BACKGROUND_MODES, RegionSpec
from .sequence import DEFAULT_TEMPORAL_WEIGHT, EDGE_GUIDES, AnimationOptions, FrameInput, stylize_frames


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "animate", help="stylize an animation's frames with temporal coherence from Blender's Vector pass",
        description="Stylize FRAMES in order (Blender multilayer EXR renders, or PNG/TIFF with --vectors) into "
                    "OUTDIR/frame_NNNN.png; a stopped run continues after its last finished frame.")
    p.add_argument("frames", metavar="FRAMES", nargs="+", help="frames in order (.exr, or .png/.tif with --vectors)")
    p.add_argument("--style", required=True, nargs="+", metavar="STYLE", help="style image(s); several are blended")
    p.add_argument("-o", "--out", required=True, metavar="OUTDIR", help="output folder (created if missing)")
    p.add_argument("--vectors", nargs="+", metavar="FILE",
                   help="Vector pass per frame (.exr or .npy H×W×4) for PNG/TIFF frames, same order as FRAMES")
    p.add_argument("--temporal-weight", type=float, default=DEFAULT_TEMPORAL_WEIGHT, metavar="X",
                   help=f"temporal coherence, relative to the style weight (default {DEFAULT_TEMPORAL_WEIGHT:g}; "
                        "0: no temporal term)")
    p.add_argument("--no-warp-init", action="store_true",
                   help="start each frame from its content instead of the warped previous stylized frame")
    p.add_argument("--view-layer", metavar="NAME",
                   help="view layer to read from EXR frames (default: the one with Combined and the most passes)")
    p.add_argument("--overwrite", action="store_true", help="replace frames already in OUTDIR")
    p.add_argument("--ocio", metavar="CONFIG", help="OpenColorIO config for EXR frames (default: Blender's)")
    p.add_argument("--view", default=DEFAULT_VIEW, help=f"view transform for EXR frames (default {DEFAULT_VIEW})")
    p.add_argument("--display", default=DEFAULT_DISPLAY, help=f"display for EXR frames (default {DEFAULT_DISPLAY})")
    p.add_argument("--look", help="look for EXR frames (e.g. 'Medium High Contrast')")
    p.add_argument("--exposure", type=float, default=0.0, help="exposure in stops for EXR frames")
    p.add_argument("--edge-guide", choices=EDGE_GUIDES, default="off",
                   help="keep silhouettes (depth), creases (normal) or both sharper (default off)")
    p.add_argument("--edge-strength", type=float, default=3.0, metavar="X",
                   help="extra content weight on outlines, added to the usual one and also at finer layers; "
                        "flat areas are unchanged (default 3: style loss +4%%; 20 visibly sharper outlines, +14%%)")
    p.add_argument("--depth-stroke-scale", type=float, default=0.0, metavar="X",
                   help="strokes up to (1+X)× larger near the camera (default 0: off)")
    p.add_argument("--material-style", action="append", default=[], metavar="INDEX=IMAGE",
                   help="own style for a Material Index value (repeatable)")
    p.add_argument("--object-style", action="append", default=[], metavar="INDEX=IMAGE",
                   help="own style for an Object Index (pass index) value (repeatable)")
    p.add_argument("--background", choices=BACKGROUND_MODES, default="with-rest",
                   help="the world (no geometry): stylized with the rest (default), kept, or its own style")
    p.add_argument("--background-style", metavar="IMAGE", help="style of the world with --background own")
    # The single-image stylize options that make sense per frame.
    p.add_argument("--size", type=int, metavar="N", help="working long edge (frames are written at their size)")
    add_engine_arguments(p)  # steps, weights, method, weights of the terms... as for one image
    p.set_defaults(func=run_animate)


def _index_styles(items: list[str], flag: str) -> dict[int, Path]:
    out: dict[int, Path] = {}
    for item in items:
        index, sep, path = item.partition("=")
        if not sep or not index.strip().isdigit() or not path:
            raise UserError(f"{flag} '{item}': expected INDEX=IMAGE, e.g. 2=brush.png")
        out[int(index)] = Path(path)
    return out


def run_animate(args: argparse.Namespace) -> int:
    if args.vectors is not None and len(args.vectors) != len(args.frames):
        raise UserError(f"--vectors: got {len(args.vectors)} files for {len(args.frames)} frames; give one per frame")
    try:
        style_options = _options(args)
        if args.size is not None:
            style_options.size = args.size
            style_options.validate()
    except UserError as exc:
        field, _, rest = str(exc).partition(":")
        raise UserError(f"{_FLAGS.get(field, field)}:{rest}") from None
    material_paths = _index_styles(args.material_style, "--material-style")
    object_paths = _index_styles(args.object_style, "--object-style")
    regions = RegionSpec(
        styles=[read_image(s, "--style") for s in args.style],
        material_styles={i: read_image(p, "--material-style") for i, p in material_paths.items()},
        object_styles={i: read_image(p, "--object-style") for i, p in object_paths.items()},
        background=args.background,
        background_style=read_image(args.background_style, "--background-style") if args.background_style else None,
        depth_stroke_scale=args.depth_stroke_scale).validate()
    options = AnimationOptions(
        temporal_weight=args.temporal_weight, warp_init=not args.no_warp_init, edge_guide=args.edge_guide,
        edge_strength=args.edge_strength, overwrite=args.overwrite,
        display=DisplaySettings(config=args.ocio, display=args.display, view=args.view, look=args.look,
                                exposure=args.exposure)).validate()
    vectors = args.vectors or [None] * len(args.frames)
    inputs = [FrameInput(str(Path(f).resolve()), str(Path(v).resolve()) if v else None, args.view_layer)
              for f, v in zip(args.frames, vectors)]
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"-o '{out}': is a file, not a folder")
    if not out.parent.exists():
        raise UserError(f"-o '{out}': folder '{out.parent}' does not exist")
    out.mkdir(exist_ok=True)
    bar = TerminalBar("animate")
    started = time.perf_counter()
    done: list[dict] = []
    try:
        stylize_frames(inputs, regions, out, style_options, options, progress=bar,
                       on_frame=lambda d: done.append({"output": d.output, "resumed": d.resumed,
                                                        **({"style": round(d.losses["style"], 6)}
                                                           if "style" in d.losses else {})}))
    except Cancelled:
        raise UserError("cancelled") from None
    finally:
        bar.close()
    print(json.dumps({"frames": done, "computed": sum(not d["resumed"] for d in done),
                      "seconds": round(time.perf_counter() - started, 3)}), flush=True)
    return 0
