"""`python -m core texture train|generate`: the command line for texture models (patch synthesis, GANs)."""
from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

from ..atomic import check_output
from ..device import DEVICE_CHOICES, pick_device
from ..errors import UserError
from ..imageio import MAX_MEGAPIXELS, WRITE_EXTENSIONS, read_image, write_images
from ..progress import ProgressCallback, TerminalBar
from ..resources import check_memory
from ..seams import seam_ratio
from .checkpoint import load_checkpoint
from .generation import check_size, generate_maps, generation_memory
from .guided import generation_info, refinable
from .maps import guess_map_name
from .options import MODELS, TrainOptions
from .training import train

CHECKPOINT_EXTENSIONS = (".pt", ".pth", ".ckpt")


def register(subparsers) -> None:
    tex = subparsers.add_parser("texture", help="make a texture model from one exemplar (patch synthesis or a GAN), or generate from one")
    sub = tex.add_subparsers(dest="texture_command", metavar="{train,generate}", parser_class=type(tex))
    sub.required = True

    t = sub.add_parser("train", help="train on EXEMPLAR (plus more maps of the same PBR set)")
    t.add_argument("exemplars", nargs="+", metavar="EXEMPLAR", help="image(s); several files = one PBR set")
    t.add_argument("-o", "--output", required=True, metavar="MODEL.pt", help="checkpoint to write")
    t.add_argument("--steps", type=int, default=None, help="GAN training steps in total (default 1500)")
    t.add_argument("--patch", type=int, default=None, help="training crop size in pixels (default 64)")
    t.add_argument("--batch", type=int, default=None, help="crops per step (default 8)")
    t.add_argument("--lr", type=float, default=None, help="learning rate (default 2e-4)")
    t.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    t.add_argument("--device", default=None, choices=DEVICE_CHOICES, help="default auto: CUDA, then MPS, then CPU")
    t.add_argument("--model", default=None, choices=MODELS, help="patches (default: patch synthesis, no training), psgan, dcgan (seed baseline), optim")
    t.add_argument("--names", default=None, metavar="A,B,…",
                   help="map names, one per file, e.g. albedo,normal,roughness (default: guessed from file names)")
    t.add_argument("--resume", default=None, metavar="MODEL.pt", help="continue training this checkpoint")
    t.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="any other TrainOptions field, e.g. --option ema=0.999 (repeatable)")
    t.add_argument("--max-megapixels", type=float, metavar="MP", default=MAX_MEGAPIXELS,
                   help=f"refuse exemplars larger than this (default {MAX_MEGAPIXELS:g})")
    t.set_defaults(func=_train)

    g = sub.add_parser("generate", help="generate a texture (one file per map) from MODEL.pt")
    g.add_argument("checkpoint", metavar="MODEL.pt")
    g.add_argument("-o", "--output", required=True, metavar="OUT.png",
                   help="output image; with several maps OUT_<map>.png per map")
    g.add_argument("--size", required=True, metavar="WxH", help="exact output size, e.g. 2048x1024")
    g.add_argument("--seed", type=int, default=0, help="variation seed (default 0)")
    g.add_argument("--tileable", action=argparse.BooleanOptionalAction, default=True,
                   help="seamless wrap-around tile (default on; --no-tileable for a plain image)")
    g.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    g.add_argument("--bits", type=int, default=None, choices=(8, 16), help="8 or 16 bits per channel")
    g.add_argument("--raw", action="store_true",
                   help="GAN models: the network's own output, without refining it with the exemplar's patches")
    g.set_defaults(func=_generate)


CHECKPOINT_BYTES = 8 << 20  # room to leave for a checkpoint (the default psgan is ~3 MB)


def _check_output(path: Path, allowed: tuple[str, ...], option: str, inputs: list, nbytes: int = 0) -> None:
    """Before compute: a writable, supported output that is none of the inputs."""
    check_output(path, nbytes, what=option, inputs=inputs)
    if path.suffix.lower() not in allowed:
        raise UserError(f"{option} '{path}': use one of {', '.join(allowed)}")


def _parse_option(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise UserError(f"--option '{text}': expected KEY=VALUE")
    key, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw  # a bare string such as augment=cutout
    return key.strip(), value


def _train(args) -> int:
    print(json.dumps(train_to_file(args)))
    return 0


def train_to_file(args: argparse.Namespace, progress: ProgressCallback | None = None) -> dict:
    """`texture train` without printing: writes the checkpoint, returns the summary (also used by `batch`)."""
    out = Path(args.output)
    _check_output(out, CHECKPOINT_EXTENSIONS, "-o", [*args.exemplars, *([args.resume] if args.resume else [])],
                  CHECKPOINT_BYTES)
    settings: dict = {}
    resume = None
    if args.resume:
        resume = load_checkpoint(args.resume)
        settings.update(resume.options.to_dict())
    for text in args.option:
        k, v = _parse_option(text)
        settings[k] = v
    for name in ("steps", "patch", "batch", "lr", "seed", "device", "model"):
        v = getattr(args, name)
        if v is not None:
            settings[name] = v
    options = TrainOptions.from_dict(settings)  # its errors name the field, e.g. 'patch' for --patch
    paths = [Path(p) for p in args.exemplars]
    images = [read_image(p, what="exemplar", max_megapixels=args.max_megapixels) for p in paths]
    if args.names:
        names = [n.strip() for n in args.names.split(",")]
        if len(names) != len(paths):
            raise UserError(f"--names: {len(names)} names for {len(paths)} exemplar files")
    elif len(paths) == 1:
        guess = guess_map_name(paths[0].stem, 0)
        names = [guess if guess != paths[0].stem else "albedo"]
    else:
        names = [guess_map_name(p.stem, i) for i, p in enumerate(paths)]
        if len(set(names)) != len(names):
            raise UserError(f"exemplars: could not tell the maps apart by file name ({', '.join(names)}); "
                            "name them with --names albedo,normal,roughness")
    if resume is not None:
        names = [m.name for m in resume.maps] if not args.names else names
    device = pick_device(options.device)
    bar = TerminalBar("texture train") if progress is None else None
    t0 = time.perf_counter()
    try:
        ck = train(images, options, progress=progress or bar, resume=resume, map_names=names)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t0
    ck.save(out)
    done = ck.step - (resume.step if resume is not None else 0)
    summary = {
        "command": "texture train", "output": str(out), "model": ck.model, "steps": ck.step, "patch": options.patch,
        "device": str(device), "seconds": round(seconds, 3),
        "it_per_s": round(done / seconds, 3) if seconds > 0 and ck.model not in ("optim", "patches") else None,
        "maps": [{"name": m.name, "kind": m.kind, "channels": m.channels, "file": str(p)} for m, p in zip(ck.maps, paths)],
        "exemplar_size": list(ck.exemplar_size), "exemplar_sha256": ck.exemplar_sha256,
        "losses": {k: round(v, 5) for k, v in ck.losses.items()},
    }
    return summary


def _parse_size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text or "")
    if not m:
        raise UserError(f"--size '{text}': expected WxH, e.g. 1024x512")
    try:
        return check_size(int(m.group(1)), int(m.group(2)))
    except UserError as exc:
        raise UserError(f"--size '{text}': {str(exc).split(': ', 1)[1]}") from None


def _generate(args) -> int:
    print(json.dumps(generate_to_files(args)))
    return 0


def generate_to_files(args: argparse.Namespace) -> dict:
    """`texture generate` without printing: writes the image set, returns the summary (also used by `batch`)."""
    width, height = _parse_size(args.size)
    out = Path(args.output)
    _check_output(out, WRITE_EXTENSIONS, "-o", [args.checkpoint])
    if args.seed < 0:
        raise UserError(f"--seed {args.seed}: must be 0 or more")
    ck = load_checkpoint(args.checkpoint)
    raw = bool(getattr(args, "raw", False))  # `batch` builds its own namespaces
    if ck.model == "dcgan" and args.tileable and (raw or not refinable(ck)):
        raise UserError(f"--tileable: '{args.checkpoint}' is the dcgan baseline, whose raw output cannot tile; "
                        "pass --no-tileable, or drop --raw (refined output tiles) with a checkpoint trained now")
    if len(ck.maps) == 1:
        targets = [out]
    else:
        targets = [out.with_name(f"{out.stem}_{m.name}{out.suffix}") for m in ck.maps]
    # every full-size map at once, plus the network's stack and its clipped and encoded copies
    check_memory(generation_memory(ck, width, height, args.tileable), f"--size {width}x{height}",
                 "use a smaller --size (a tileable texture can be repeated)")
    bytes_per_map = width * height * 4 * (2 if args.bits == 16 or (args.bits is None and out.suffix.lower()
                                                                   in (".tif", ".tiff")) else 1)
    for path in targets:
        check_output(path, bytes_per_map * len(targets), what="-o", inputs=[args.checkpoint])
    t0 = time.perf_counter()
    maps = generate_maps(ck, width, height, seed=args.seed, tileable=args.tileable, device=args.device, raw=raw)
    seconds = time.perf_counter() - t0
    write_images([(path, arr) for (_, arr), path in zip(maps, targets)], bits=args.bits)  # all maps or none
    outputs = []
    for (info, arr), path in zip(maps, targets):
        entry = {"map": info.name, "kind": info.kind, "path": str(path)}
        if args.tileable:
            entry["seam_ratio"] = round(seam_ratio(arr), 4)
        outputs.append(entry)
    return {"command": "texture generate", "model": ck.model, "width": width, "height": height,
            "seed": args.seed, "tileable": args.tileable, "seconds": round(seconds, 3),
            "megapixels_per_s": round(width * height / 1e6 / seconds, 3) if seconds > 0 else None,
            "outputs": outputs, **generation_info(ck, raw)}

