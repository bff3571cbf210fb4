"""Generate textures of any exact size from a trained checkpoint."""
from __future__ import annotations

import math
import os
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from ..device import pick_device
from ..errors import UserError
from . import guided, patches
from .checkpoint import Checkpoint, load_checkpoint
from .colour import match_colour
from .maps import MapInfo, split_maps
from .models import build_generator

MAX_SIDE = 16384
STRIP_PIXELS = 1 << 21  # output pixels per strip: bounds memory at any size
UNTILED_MARGIN = 32  # pixels of context around a non-tileable output


def as_checkpoint(checkpoint: Checkpoint | str | os.PathLike) -> Checkpoint:
    if isinstance(checkpoint, Checkpoint):
        return checkpoint
    if isinstance(checkpoint, (str, os.PathLike)):
        return load_checkpoint(Path(checkpoint))
    raise UserError(f"checkpoint: expected a Checkpoint or a file path, got {type(checkpoint).__name__}")


def check_size(width, height) -> tuple[int, int]:
    for name, v in (("width", width), ("height", height)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise UserError(f"size: {name} must be a whole number, got {v!r}")
        if not 1 <= int(v) <= MAX_SIDE:
            raise UserError(f"size: {name} {v} is out of range 1..{MAX_SIDE}")
    return int(width), int(height)


def autocast_for(device: torch.device, enabled: bool = True):
    if enabled and device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return nullcontext()


def load_generator(ck: Checkpoint, device: torch.device) -> nn.Module:
    """The generator in eval mode on `device`, cached on the checkpoint object (the worker reuses it)."""
    cache = ck.runtime.setdefault("generators", {})
    key = str(device)
    if key not in cache:
        g = build_generator(ck.options, ck.channels)
        try:
            g.load_state_dict(ck.state["generator"])
        except (RuntimeError, KeyError, TypeError) as exc:
            raise UserError(f"checkpoint: generator weights do not fit the recorded model ({str(exc)[:120]})") from None
        cache[key] = g.to(device).eval()
    return cache[key]


@torch.inference_mode()
def render(generator: nn.Module, model: str, channels: int, width: int, height: int, seed: int, tileable: bool,
           device: torch.device, mixed_precision: bool = True) -> np.ndarray:
    """H×W×C float32 0..1, straight from the network (maps still stacked, normals not yet repaired)."""
    gen = torch.Generator().manual_seed(int(seed))
    out = np.empty((height, width, channels), dtype=np.float32)
    with autocast_for(device, mixed_precision):
        if model == "psgan":
            m = 0 if tileable else UNTILED_MARGIN
            th, tw = height + 2 * m, width + 2 * m
            h0, w0 = generator.latent_size(th, tw)
            z = generator.sample_latent(1, h0, w0, gen, device, quantise=tileable)
            rows = max(1, STRIP_PIXELS // tw)
            for r in range(0, height, rows):
                n = min(rows, height - r)
                x = generator.run(z, th, tw, r + m, n)[0, :, :, m:m + width]
                out[r:r + n] = x.permute(1, 2, 0).float().cpu().numpy()
        elif model == "dcgan":
            if tileable:
                raise UserError("model 'dcgan' (the seed baseline) cannot make tileable textures; "
                                "generate with tileable off, or train the default 'psgan' model")
            p = generator.patch
            ny, nx = math.ceil(height / p), math.ceil(width / p)
            tiles = []
            for i in range(0, ny * nx, 64):
                z = generator.sample_latent(min(64, ny * nx - i), gen, device)
                tiles.append(generator(z).float().cpu())
            t = torch.cat(tiles).view(ny, nx, channels, p, p).permute(0, 3, 1, 4, 2).reshape(ny * p, nx * p, channels)
            out[:] = t[:height, :width].numpy()
        else:
            raise ValueError(model)
    return np.clip((out + 1.0) * 0.5, 0.0, 1.0)


def generate_stack(checkpoint, width: int, height: int, seed: int = 0, tileable: bool = True,
                   device: str | torch.device | None = None, check: Callable[[], None] | None = None,
                   raw: bool = False) -> tuple[Checkpoint, np.ndarray]:
    """`check` (e.g. a CancelToken's check) is called between refinement rounds of patch synthesis.
    A GAN's output is refined with the exemplar's patches (guided.py) unless `raw` (the network's own
    output) or the checkpoint predates that (carries no exemplar; guided.refinement_note says so)."""
    ck = as_checkpoint(checkpoint)
    width, height = check_size(width, height)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UserError(f"seed: must be a whole number ≥ 0, got {seed!r}")
    dev = device if isinstance(device, torch.device) else pick_device(device or "auto")
    if ck.model == "optim":
        from .optim import synthesize  # no network: optimise pixels against the stored exemplar

        return ck, synthesize(ck, width, height, int(seed), tileable, dev)
    if ck.model == "patches":
        return ck, patches.synthesize(stored_exemplar(ck), ck.maps, width, height, int(seed), tileable,
                                      device=dev, check=check)
    refining = not raw and guided.refinable(ck)
    g = load_generator(ck, dev)
    render_tiles = guided.raw_render_tileable(ck.model, tileable, refining)
    stack = render(g, ck.model, ck.channels, width, height, int(seed), render_tiles, dev, ck.options.mixed_precision)
    if "colour_mean" in ck.state and "colour_cov" in ck.state:  # checkpoints from before the hue fix lack it
        stack = match_colour(stack, ck.maps, ck.state)
    if refining:
        stack = guided.refine(stack, stored_exemplar(ck), ck.maps, int(seed), tileable, device=dev, check=check,
                              guide_tiles=render_tiles)
    return ck, stack


def generation_memory(ck: Checkpoint, width: int, height: int, tileable: bool = True) -> int:
    """Bytes of memory generating width×height needs: measured for patch synthesis (its matching grows
    with the output and the exemplar), else the output stack and its float copies (strips bound the rest)."""
    w, h = ck.exemplar_size
    if ck.model == "patches":
        return patches.memory_estimate((h, w), ck.channels, width, height, tileable)
    network = width * height * (ck.channels * 16 + 8)
    if guided.refinable(ck):  # the network's stack stays alive while its refinement runs
        return network + patches.memory_estimate((h, w), ck.channels, width, height, tileable)
    return network


def stored_exemplar(ck: Checkpoint) -> torch.Tensor:
    """The exemplar stack (C×H×W) a checkpoint carries (every model since GAN refinement), checked against
    its metadata."""
    ex = ck.state.get("exemplar")
    w, h = ck.exemplar_size
    if not isinstance(ex, torch.Tensor) or tuple(ex.shape) != (ck.channels, h, w):
        raise UserError(f"checkpoint: the stored exemplar is missing or does not match its recorded size "
                        f"{w}x{h} with {ck.channels} channels; train the model again")
    return ex.float()


def generate_maps(checkpoint, width: int, height: int, seed: int = 0, tileable: bool = True,
                  device: str | torch.device | None = None, check: Callable[[], None] | None = None,
                  raw: bool = False) -> list[tuple[MapInfo, np.ndarray]]:
    """One (MapInfo, H×W×C float32 0..1) per map of the set; normal maps are unit length, 0..1 encoded.
    `raw`: a GAN's own output, without patch refinement."""
    ck, stack = generate_stack(checkpoint, width, height, seed, tileable, device, check, raw)
    return list(zip(ck.maps, split_maps(stack, ck.maps)))


def generate(checkpoint, width: int, height: int, seed: int = 0, tileable: bool = True,
             device: str | torch.device | None = None, raw: bool = False) -> np.ndarray | list[np.ndarray]:
    """One array for a single-map model, else a list (one per map); float32 0..1, exactly height×width.
    `raw`: a GAN's own output, without patch refinement."""
    maps = [a for _, a in generate_maps(checkpoint, width, height, seed, tileable, device, raw=raw)]
    return maps[0] if len(maps) == 1 else maps
