"""`python -m core stylize ...` and `python -m core weights ...`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ..atomic import check_output
from ..errors import Cancelled, UserError
from ..imageio import MAX_MEGAPIXELS, read_image, write_image
from ..progress import ProgressCallback, TerminalBar
from ..resources import check_memory
from .options import BACKBONES, METHODS, PADDINGS, POOLINGS, PRECISIONS, PRESERVE_COLOR, StyleOptions


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("stylize", help="neural style transfer of CONTENT in the style of STYLE",
                              description="Stylize CONTENT with STYLE; prints one JSON summary line at the end.")
    p.add_argument("content", metavar="CONTENT", help="content image (PNG, JPEG or TIFF; 8 or 16 bit)")
    p.add_argument("style", metavar="STYLE", nargs="+", help="style image(s); several are blended")
    p.add_argument("-o", "--out", required=True, metavar="OUT", help="output image (.png, .jpg, .tif)")
    p.add_argument("--size", type=int, metavar="N", help="long edge of the output in pixels (default: content size)")
    add_engine_arguments(p)
    p.add_argument("--bits", type=int, choices=(8, 16), help="output bit depth (default: 16 for .tif, else 8)")
    p.add_argument("--max-megapixels", type=float, metavar="MP", default=MAX_MEGAPIXELS,
                   help=f"refuse input images larger than this (default {MAX_MEGAPIXELS:g})")
    p.set_defaults(func=run_stylize)

    w = subparsers.add_parser("weights", help="check for (or download) the VGG19 weights",
                              description="Print one JSON line saying whether VGG19 weights were found.")
    w.add_argument("--download", action="store_true", help="download them into the torch hub cache if missing")
    w.add_argument("--weights", metavar="FILE", help="check this VGG19 state dict instead")
    w.set_defaults(func=run_weights)


def add_engine_arguments(p: argparse.ArgumentParser) -> None:
    """The engine's options, shared by `stylize` and `animate` (both build StyleOptions with _options)."""
    p.add_argument("--steps", type=int, metavar="N",
                   help="optimisation steps per scale (the coarsest gets twice as many; default 200)")
    p.add_argument("--weights", metavar="FILE",
                   help="VGG19 state dict: torchvision's layout or a normalised VGG in the AdaIN layout")
    p.add_argument("--backbone", choices=BACKBONES, default="auto",
                   help="vgg19, offline (no download needed) or auto (vgg19 if its weights are present)")
    p.add_argument("--method", choices=METHODS, default="multiscale",
                   help="multiscale (default, coarse-to-fine), gatys (the single-scale seed-000 baseline) or "
                        "fast (a pretrained feed-forward network: under a second)")
    p.add_argument("--strength", type=float, metavar="X", help="fast method: 0 (content's own style) to 1 (default)")
    p.add_argument("--optimizer", choices=("adam", "lbfgs"), help="default: adam")
    p.add_argument("--tileable", action="store_true", help="wrap-around everywhere: tileable in, tileable out")
    p.add_argument("--preserve-color", choices=PRESERVE_COLOR, help="keep the content's colours")
    p.add_argument("--style-weight", type=float, metavar="X",
                   help="style strength (default 300 for multiscale, 10 for gatys)")
    p.add_argument("--content-weight", type=float, metavar="X", default=1.0, help="content weight (default 1)")
    p.add_argument("--tv-weight", type=float, metavar="X", help="smoothing weight")
    p.add_argument("--style-scale", type=float, metavar="X", default=1.0, help="style feature size relative to content")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default 0)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--max-memory", type=float, metavar="GB", help="memory budget; larger jobs run in tiles")
    p.add_argument("--pooling", choices=POOLINGS, help="VGG pooling (default max)")
    p.add_argument("--padding", choices=PADDINGS, help="convolutions' border padding, non-tileable (default reflect)")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="auto: bf16 on GPUs that support it, fp16 with loss scaling on other GPUs, fp32 on CPU")


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


def _output_size(img: np.ndarray, size: int | None) -> tuple[int, int]:
    if not size or max(img.shape[:2]) == size:
        return img.shape[0], img.shape[1]
    from .resample import fit_long_edge
    return fit_long_edge(img.shape[0], img.shape[1], size)


_FLAGS = {"size": "--size", "steps": "--steps", "style_weight": "--style-weight", "content_weight": "--content-weight",
          "tv_weight": "--tv-weight", "style_scale": "--style-scale", "seed": "--seed", "max_memory_gb": "--max-memory",
          "strength": "--strength"}


def _options(args: argparse.Namespace) -> StyleOptions:
    if args.size is not None:
        StyleOptions(size=args.size)  # validates --size
    return StyleOptions(method=args.method, backbone=args.backbone, weights=args.weights, size=None,
                        steps=args.steps, content_weight=args.content_weight, style_weight=args.style_weight,
                        tv_weight=args.tv_weight, style_scale=args.style_scale,
                        preserve_color=args.preserve_color, tileable=args.tileable, seed=args.seed,
                        device=args.device, max_memory_gb=args.max_memory, optimizer=args.optimizer,
                        pooling=args.pooling, padding=args.padding, precision=args.precision,
                        strength=args.strength)


def run_stylize(args: argparse.Namespace) -> int:
    print(json.dumps(stylize_to_file(args)), flush=True)
    return 0


def stylize_to_file(args: argparse.Namespace, progress: ProgressCallback | None = None) -> dict:
    """`stylize` without printing: writes the image, returns the summary (also used by `batch`)."""
    from .engine import stylize

    out = Path(args.out)
    inputs = [args.content, *args.style] + ([args.weights] if args.weights else [])
    check_output(out, what="-o", inputs=inputs)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".tif", ".tiff"):
        raise UserError(f"-o '{out}': unsupported format '{out.suffix}'; use .png, .jpg or .tif")
    try:
        options = _options(args)
    except UserError as exc:  # name the command-line flag, not the field
        field, _, rest = str(exc).partition(":")
        raise UserError(f"{_FLAGS.get(field, field)}:{rest}") from None
    content = read_image(args.content, "content", args.max_megapixels)
    styles = [read_image(s, "style", args.max_megapixels) for s in args.style]
    h, w = _output_size(content, args.size)
    # full-size copies the job holds at once (content, resized, tensors, result, encoding); the
    # optimisation itself tiles within the memory budget
    check_memory(h * w * 3 * 4 * 10, f"--size {args.size or max(h, w)}", "use a smaller --size")
    check_output(out, nbytes=h * w * 4 * (2 if (args.bits or 8) == 16 else 1), what="-o", inputs=inputs)
    content = _fit(content, args.size, wrap=args.tileable)
    bar = TerminalBar("stylize") if progress is None else None
    try:
        result = stylize(content, styles, options, progress=progress or bar)
    except Cancelled:
        raise UserError("cancelled") from None
    finally:
        if bar is not None:
            bar.close()
    image = result.image
    write_image(out, image, bits=args.bits)
    summary = {"output": str(out), "size": [int(image.shape[1]), int(image.shape[0])], "steps": result.steps,
               "seconds": round(result.seconds, 3), "losses": {k: float(f"{v:.6g}") for k, v in result.losses.items()},
               "device": result.device, "backbone": result.backbone, "notes": result.notes}
    return summary


def run_weights(args: argparse.Namespace) -> int:
    from ..backbones import vgg19, vgg19_weights as vw

    if args.weights and not Path(args.weights).expanduser().is_file():
        raise UserError(f"--weights '{args.weights}': file not found")
    source = vw.locate(args.weights)
    downloaded = False
    if source is None and args.download:
        source = vw.locate(vw.download_weights(progress=sys.stderr.isatty()))
        downloaded = True
    info = {"found": source is not None, "path": str(source.path if source else vw.default_weights_path()),
            "source": source.origin if source else None, "licence": source.licence if source else vw.WEIGHTS_LICENCE,
            "downloaded": downloaded, "url": vw.VGG19_Weights.IMAGENET1K_V1.value.url}
    if source is None:
        info["message"] = vw.missing_weights_message()
    else:
        vw.check_hash(source)
        # "found" means usable: loaded and checked exactly as stylize would
        vgg19.load_vgg19(weights_file=args.weights or None)
        info["message"] = f"VGG19 weights from {source.origin}: {source.path} ({source.licence})"
    print(json.dumps(info), flush=True)
    return 0
