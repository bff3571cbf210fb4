"""Train a texture GAN on random crops of one exemplar (or one stacked PBR set)."""
from __future__ import annotations

import copy
import math
import os
import time
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn

from ..device import pick_device, seed_everything
from ..errors import CancelToken, UserError
from ..progress import Progress, ProgressCallback
from .augment import diff_augment
from .checkpoint import Checkpoint, load_checkpoint
from .colour import colour_stats
from .generation import autocast_for, render
from .losses import d_loss, g_loss
from .maps import exemplar_sha256, prepare_exemplars, preview_rgb
from .models import build_discriminator, build_generator
from .options import DCGAN_PATCHES, PATCH_RANGE, TrainOptions
from .psgan import UPSAMPLES

PREVIEW_SEED = 12345
# Options that change the network's shape: a resumed run must keep them.
SHAPE_FIELDS = ("model", "patch", "local_dim", "global_dim", "periodic_dim", "width", "spectral_norm")


def _patch_advice(options: TrainOptions, w: int, h: int) -> str:
    """Advice that can be followed: a smaller patch only when an allowed one fits the exemplar."""
    side = min(h, w)
    if options.model == "dcgan":
        fits = [p for p in DCGAN_PATCHES if p <= side]
        ok = f"a patch of {', '.join(map(str, fits))}" if fits else None
        low = DCGAN_PATCHES[0]
    else:
        low = PATCH_RANGE[0]
        ok = f"a patch of {low}..{side}" if side >= low else None
    if ok is None:
        return (f"patch: the exemplar ({w}x{h}) is too small for the {options.model} model; use an exemplar "
                f"of at least {low}x{low} pixels")
    return f"patch: {options.patch} is larger than the exemplar ({w}x{h}); use {ok}, or a larger exemplar"


def _cpu_state(module_or_opt) -> dict:
    sd = module_or_opt.state_dict()

    def conv(v):
        if isinstance(v, torch.Tensor):
            return v.detach().cpu().clone()
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, list):
            return [conv(x) for x in v]
        return v

    return conv(sd)


def _resolve(options, resume) -> tuple[TrainOptions, Checkpoint | None]:
    prev = None
    if resume is not None:
        prev = resume if isinstance(resume, Checkpoint) else load_checkpoint(Path(resume))
    if options is None:
        options = copy.deepcopy(prev.options) if prev else TrainOptions()
    elif isinstance(options, Mapping):
        options = TrainOptions.from_dict(options)
    elif not isinstance(options, TrainOptions):
        raise UserError(f"options: expected TrainOptions or a dict, got {type(options).__name__}")
    options.validate()
    if prev is not None:
        for name in SHAPE_FIELDS:
            if getattr(options, name) != getattr(prev.options, name):
                raise UserError(f"resume: option '{name}' is {getattr(options, name)!r} but the checkpoint was "
                                f"trained with {getattr(prev.options, name)!r}; keep it to resume")
    return options, prev


def _random_crops(x: torch.Tensor, size: int, batch: int) -> torch.Tensor:
    """batch random size×size crops of x (1×C×H×W), drawn from torch's seeded global generator."""
    _, _, h, w = x.shape
    ys = torch.randint(0, h - size + 1, (batch,)).tolist()
    xs = torch.randint(0, w - size + 1, (batch,)).tolist()
    return torch.stack([x[0, :, y:y + size, xx:xx + size] for y, xx in zip(ys, xs)])


def _fake_batch(g: nn.Module, options: TrainOptions, batch: int, device: torch.device) -> torch.Tensor:
    if options.model == "dcgan":
        return g(g.sample_latent(batch, device=device))
    # psgan: a torus one latent cell larger than the patch, then random crops, so that the network learns
    # what it will see inside a big output rather than at the edge of a tiny wrapped one.
    cells = math.ceil(options.patch / 2 ** UPSAMPLES) + 1
    full = g(g.sample_latent(batch, cells, cells, device=device))
    return _random_crops_each(full, options.patch)


def _random_crops_each(full: torch.Tensor, size: int) -> torch.Tensor:
    b, _, h, w = full.shape
    ys = torch.randint(0, h - size + 1, (b,)).tolist()
    xs = torch.randint(0, w - size + 1, (b,)).tolist()
    return torch.stack([full[i, :, y:y + size, x:x + size] for i, (y, x) in enumerate(zip(ys, xs))])


@torch.no_grad()
def _ema_update(ema: nn.Module, live: nn.Module, decay: float) -> None:
    for pe, p in zip(ema.parameters(), live.parameters()):
        pe.lerp_(p, 1.0 - decay)
    for be, b in zip(ema.buffers(), live.buffers()):
        be.copy_(b)


def train(exemplars: np.ndarray | Sequence[np.ndarray], options: TrainOptions | Mapping | None = None,
          progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
          resume: Checkpoint | str | os.PathLike | None = None, map_names: Sequence[str] | None = None) -> Checkpoint:
    """Train on one exemplar (H×W×C float32 0..1) or a same-size PBR set; returns a Checkpoint.

    `resume`: a checkpoint (or its path) to continue from, up to options.steps in total; the exemplar must be
    the one it was trained on. Raises core.errors.Cancelled within one step of `cancel.cancel()`."""
    options, prev = _resolve(options, resume)
    if map_names is None and prev is not None:
        map_names = [m.name for m in prev.maps]
    stack, infos = prepare_exemplars(exemplars, map_names)
    sha = exemplar_sha256(stack)
    h, w, channels = stack.shape
    if prev is not None:
        if prev.exemplar_sha256 != sha:
            raise UserError("resume: these exemplar maps differ from the ones the checkpoint was trained on "
                            f"(sha256 {sha[:12]}… vs {prev.exemplar_sha256[:12]}…)")
        if prev.step >= options.steps:
            raise UserError(f"resume: the checkpoint already has {prev.step} steps; ask for more than that (steps)")
    if options.model in ("psgan", "dcgan") and options.patch > min(h, w):
        raise UserError(_patch_advice(options, w, h))
    if options.model in ("optim", "patches"):
        return _store_exemplar(stack, infos, sha, options, progress)

    device = pick_device(options.device)
    start = prev.step if prev is not None else 0
    seed_everything(options.seed + start)
    g = build_generator(options, channels)
    d = build_discriminator(options, channels)
    lr_d = options.lr_d or options.lr
    opt_g = torch.optim.Adam(g.parameters(), lr=options.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=lr_d, betas=(0.5, 0.999))
    ema = copy.deepcopy(g)
    if prev is not None:
        try:
            g.load_state_dict(prev.state["generator_train"])
            d.load_state_dict(prev.state["discriminator"])
            ema.load_state_dict(prev.state["generator"])
            opt_g.load_state_dict(prev.state["opt_g"])
            opt_d.load_state_dict(prev.state["opt_d"])
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise UserError(f"resume: the checkpoint lacks usable training state ({type(exc).__name__})") from None
    g.to(device).train()
    d.to(device).train()
    ema.to(device).eval()
    for o in (opt_g, opt_d):  # optimizer state follows its parameters
        for st in o.state.values():
            for k, v in st.items():
                if isinstance(v, torch.Tensor) and k != "step":
                    st[k] = v.to(device)

    real_all = torch.from_numpy(np.ascontiguousarray(stack.transpose(2, 0, 1)))[None].to(device) * 2 - 1
    loss_kind = options.resolved_loss()
    aug_ops = options.augment_ops() if options.model == "psgan" else []
    use_amp = options.mixed_precision and device.type == "cuda"
    scaler_needed = use_amp and not torch.cuda.is_bf16_supported()
    scaler_g = torch.amp.GradScaler("cuda", enabled=scaler_needed)
    scaler_d = torch.amp.GradScaler("cuda", enabled=scaler_needed)
    t0 = time.perf_counter()
    ld_v = lg_v = float("nan")
    for step in range(start, options.steps):
        if cancel is not None:
            cancel.check()
        real = _random_crops(real_all, options.patch, options.batch)
        with autocast_for(device, use_amp):
            fake = _fake_batch(g, options, options.batch, device)
            both = diff_augment(torch.cat([real, fake.detach()]), aug_ops) if aug_ops else torch.cat([real, fake.detach()])
            logits = d(both)
            ld = d_loss(loss_kind, logits[:options.batch], logits[options.batch:])
        opt_d.zero_grad(set_to_none=True)
        scaler_d.scale(ld).backward()
        scaler_d.step(opt_d)
        scaler_d.update()
        with autocast_for(device, use_amp):
            fl = d(diff_augment(fake, aug_ops) if aug_ops else fake)
            lg = g_loss(loss_kind, fl)
        opt_g.zero_grad(set_to_none=True)
        scaler_g.scale(lg).backward()
        scaler_g.step(opt_g)
        scaler_g.update()
        ld_v, lg_v = float(ld.detach()), float(lg.detach())
        if not (math.isfinite(ld_v) and math.isfinite(lg_v)):
            raise UserError(f"training diverged at step {step + 1} (loss is not a number); try a lower lr")
        _ema_update(ema, g, min(options.ema, (1 + step) / (10 + step)) if options.ema > 0 else 0.0)
        if progress is not None:
            done = step + 1
            preview = None
            if options.preview_every and (done % options.preview_every == 0 or done == options.steps):
                preview = _preview(ema, options, channels, infos, device)
            progress(Progress(done, options.steps, {"d": ld_v, "g": lg_v}, "train", preview))

    _standing_statistics(ema, options, device)
    seconds = time.perf_counter() - t0 + (prev.train_seconds if prev else 0.0)
    state = {
        "generator": _cpu_state(ema),
        "generator_train": _cpu_state(g),
        "discriminator": _cpu_state(d),
        "opt_g": _cpu_state(opt_g),
        "opt_d": _cpu_state(opt_d),
        **colour_stats(stack, infos),  # generation matches the exemplar's colours (no hue drift)
        "exemplar": _exemplar_tensor(stack),  # patch refinement of the GAN's output reads its pixels (guided.py)
    }
    return Checkpoint(options=options, maps=list(infos), exemplar_sha256=sha, exemplar_size=(w, h),
                      step=options.steps, state=state, train_seconds=seconds, losses={"d": ld_v, "g": lg_v})


@torch.no_grad()
def _standing_statistics(g: nn.Module, options: TrainOptions, device: torch.device, rounds: int = 16) -> None:
    """Recompute batch-norm running statistics for the EMA weights (BigGAN's "standing statistics").

    The running statistics lag the weights (momentum 0.1 from a start of mean 0, var 1, and an EMA generator
    copies the live one's statistics, which belong to other weights); in eval mode that mismatch squashed
    DCGAN's outputs towards one flat image for every seed (batch spread 0.04 in eval vs 0.12 in train mode)."""
    norms = [m for m in g.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the rounds below
    g.train()
    for _ in range(rounds):
        _fake_batch(g, options, max(8, options.batch), device)
    g.eval()
    for m, mom in zip(norms, saved):
        m.momentum = mom


def _preview(ema: nn.Module, options: TrainOptions, channels: int, infos, device) -> np.ndarray:
    size = options.preview_size
    stack = render(ema, options.model, channels, size, size, PREVIEW_SEED, options.model == "psgan", device,
                   options.mixed_precision)
    return preview_rgb(stack, infos)


def _store_exemplar(stack: np.ndarray, infos, sha: str, options: TrainOptions,
                    progress: ProgressCallback | None) -> Checkpoint:
    """'patches' and 'optim' need no training: the checkpoint carries the exemplar (float32 tensor, loaded
    with weights_only=True) and generate() synthesises from it."""
    h, w, _ = stack.shape
    state = {"generator": {}, "exemplar": _exemplar_tensor(stack)}
    if progress is not None:
        progress(Progress(1, 1, {}, "store", preview_rgb(stack, infos)))
    return Checkpoint(options=options, maps=list(infos), exemplar_sha256=sha, exemplar_size=(w, h), step=0,
                      state=state)


def _exemplar_tensor(stack: np.ndarray) -> torch.Tensor:
    """The exemplar stack as a C×H×W float32 tensor: what a checkpoint carries for generate() to read."""
    return torch.from_numpy(np.ascontiguousarray(stack.transpose(2, 0, 1))).float()
