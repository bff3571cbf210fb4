"""`python -m core stylize ...` and `python -m core weights ...`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ..errors import Cancelled, UserError
from ..imageio import read_image, write_image
from ..progress import TerminalBar
from .options import BACKBONES, METHODS, PRESERVE_COLOR, StyleOptions


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("stylize", help="neural style transfer of CONTENT in the style of STYLE",
                              description="Stylize CONTENT with STYLE; prints one JSON summary line at the end.")
    p.add_argument("content", metavar="CONTENT", help="content image (PNG, JPEG or TIFF; 8 or 16 bit)")
    p.add_argument("style", metavar="STYLE", nargs="+", help="style image(s); several are blended")
    p.add_argument("-o", "--out", required=True, metavar="OUT", help="output image (.png, .jpg, .tif)")
    p.add_argument("--size", type=int, metavar="N", help="long edge of the output in pixels (default: content size)")
    p.add_argument("--steps", type=int, metavar="N", help="optimisation steps over all scales")
    p.add_argument("--weights", metavar="FILE", help="torchvision-format VGG19 state dict")
    p.add_argument("--backbone", choices=BACKBONES, default="auto",
                   help="vgg19, offline (no download needed) or auto (vgg19 if its weights are present)")
    p.add_argument("--method", choices=METHODS, default="multiscale",
                   help="multiscale (default, coarse-to-fine) or gatys (the single-scale seed-000 baseline)")
    p.add_argument("--optimizer", choices=("adam", "lbfgs"), help="default: adam")
    p.add_argument("--tileable", action="store_true", help="wrap-around everywhere: tileable in, tileable out")
    p.add_argument("--preserve-color", choices=PRESERVE_COLOR, help="keep the content's colours")
    p.add_argument("--style-weight", type=float, metavar="X", help="style strength (default 10)")
    p.add_argument("--content-weight", type=float, metavar="X", default=1.0, help="content weight (default 1)")
    p.add_argument("--tv-weight", type=float, metavar="X", help="smoothing weight")
    p.add_argument("--style-scale", type=float, metavar="X", default=1.0, help="style feature size relative to content")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default 0)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--max-memory", type=float, metavar="GB", help="memory budget; larger jobs run in tiles")
    p.add_argument("--bits", type=int, choices=(8, 16), help="output bit depth (default: 16 for .tif, else 8)")
    p.set_defaults(func=run_stylize)

    w = subparsers.add_parser("weights", help="check for (or download) the VGG19 weights",
                              description="Print one JSON line saying whether VGG19 weights were found.")
    w.add_argument("--download", action="store_true", help="download them into the torch hub cache if missing")
    w.add_argument("--weights", metavar="FILE", help="check this torchvision-format VGG19 state dict instead")
    w.set_defaults(func=run_weights)


def _fit(img: np.ndarray, size: int | None, wrap: bool = False) -> np.ndarray:
    """The content at the requested output size (the engine returns the size it is given);
    `wrap` resizes a tileable image without breaking its wrap edges."""
    if not size or max(img.shape[:2]) == size:
        return img
    import torch

    from .resample import fit_long_edge, resize
    h, w = fit_long_edge(img.shape[0], img.shape[1], size)
    t = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]
    return resize(t, (h, w), wrap)[0].permute(1, 2, 0).numpy().astype(np.float32)


_FLAGS = {"size": "--size", "steps": "--steps", "style_weight": "--style-weight", "content_weight": "--content-weight",
          "tv_weight": "--tv-weight", "style_scale": "--style-scale", "seed": "--seed", "max_memory_gb": "--max-memory"}


def _options(args: argparse.Namespace) -> StyleOptions:
    if args.size is not None:
        StyleOptions(size=args.size)  # validates --size
    return StyleOptions(method=args.method, backbone=args.backbone, weights=args.weights, size=None,
                        steps=args.steps, content_weight=args.content_weight, style_weight=args.style_weight,
                        tv_weight=args.tv_weight, style_scale=args.style_scale,
                        preserve_color=args.preserve_color, tileable=args.tileable, seed=args.seed,
                        device=args.device, max_memory_gb=args.max_memory, optimizer=args.optimizer)


def run_stylize(args: argparse.Namespace) -> int:
    from .engine import stylize

    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".tif", ".tiff"):
        raise UserError(f"-o '{out}': unsupported format '{out.suffix}'; use .png, .jpg or .tif")
    if not out.parent.exists():
        raise UserError(f"-o '{out}': folder '{out.parent}' does not exist")
    try:
        options = _options(args)
    except UserError as exc:  # name the command-line flag, not the field
        field, _, rest = str(exc).partition(":")
        raise UserError(f"{_FLAGS.get(field, field)}:{rest}") from None
    content = read_image(args.content, "content")
    styles = [read_image(s, "style") for s in args.style]
    content = _fit(content, args.size, wrap=args.tileable)
    bar = TerminalBar("stylize")
    try:
        result = stylize(content, styles, options, progress=bar)
    except Cancelled:
        raise UserError("cancelled") from None
    finally:
        bar.close()
    image = result.image
    write_image(out, image, bits=args.bits)
    summary = {"output": str(out), "size": [int(image.shape[1]), int(image.shape[0])], "steps": result.steps,
               "seconds": round(result.seconds, 3), "losses": {k: float(f"{v:.6g}") for k, v in result.losses.items()},
               "device": result.device, "backbone": result.backbone, "notes": result.notes}
    print(json.dumps(summary), flush=True)
    return 0


def run_weights(args: argparse.Namespace) -> int:
    from ..backbones import vgg19

    path = vgg19.find_weights(args.weights)
    if args.weights and path is None:
        raise UserError(f"--weights '{args.weights}': file not found")
    downloaded = False
    if path is None and args.download:
        path = vgg19.download_weights(progress=sys.stderr.isatty())
        downloaded = True
    info = {"found": path is not None, "path": str(path if path else vgg19.default_weights_path()),
            "downloaded": downloaded, "url": vgg19.VGG19_Weights.IMAGENET1K_V1.value.url}
    if path is None:
        info["message"] = vgg19.missing_weights_message()
    print(json.dumps(info), flush=True)
    return 0
