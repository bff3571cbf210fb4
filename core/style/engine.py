"""The style-transfer engine: one public entry, `stylize`, and the coarse-to-fine schedule it runs.

Flow: check arrays -> pick device, backbone and precision -> colour handling -> for each scale (coarse
to fine): style targets, objective (core/style/objective.py), optimise -> colour recombination ->
resize back to the content's size -> alpha re-attached.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn

from ..device import pick_device, seed_everything
from ..errors import CancelToken
from ..progress import Progress, ProgressCallback
from . import color
from .inputs import ArrayOrList, check_image, check_masks, check_styles, rgb, to_numpy, to_tensor
from .objective import build_objective, style_targets
from .optimiser import ScaleRun
from .options import INITIAL_STEPS_FACTOR, StyleOptions
from .precision import choose_precision
from .resample import fit_long_edge, resize
from .tiles import bytes_per_pixel, layer_strides, tile_size_for

# Coarsest scale of the multi-scale method (long edge, px). 128 as crowsonkb: on the real VGG-19, a
# 64 px start scored worse at 128 px (render×swirls 3.11/0.63 vs one 128 px scale 2.84/0.61, learned
# style distance / edge correlation; benchmarks/STYLE_RECIPE.md), so images up to 181 px get one scale.
MIN_COARSE_EDGE = 128
SCALE_STEP = math.sqrt(2.0)
PREVIEW_EDGE = 256
# Kernel for resizing images (style, content, the image between scales; masks and Adam's moments stay
# linear): antialiased cubic, as the recipe prototype's bicubic. The tent blurred the 256 px styles down
# to 128 px (mean abs difference 0.019 from bicubic), and their Gram targets with them.
IMAGE_KERNEL = "cubic"


@dataclass
class StyleResult:
    """What `stylize` returns: the image and what was actually done."""

    image: np.ndarray
    losses: dict[str, float]
    device: str
    backbone: str
    steps: int
    seconds: float
    notes: list[str] = field(default_factory=list)


@dataclass
class _Job:
    """A checked request, as every method receives it."""

    content: np.ndarray                 # H×W×C float32 as given
    styles: list[np.ndarray]
    masks: Optional[np.ndarray]         # S×H×W or None
    opts: StyleOptions
    progress: Optional[ProgressCallback]
    cancel: Optional[CancelToken]
    guides: object = None               # core.animation.terms.FrameGuides or None


def stylize(content: np.ndarray, style: ArrayOrList, options: Optional[StyleOptions] = None, *,
            masks: Optional[Sequence[np.ndarray]] = None, progress: Optional[ProgressCallback] = None,
            cancel: Optional[CancelToken] = None, guides=None) -> StyleResult:
    """Neural style transfer.

    content: float32 H×W×3 or H×W×4 (or H×W×1), 0..1, display-referred sRGB.
    style: one such array or a sequence of them. Without masks several styles are blended.
    masks: optional sequence of H×W soft masks (0..1), one per style, at the content's size: each
        style is matched only by the statistics of its region.
    progress: called after every step with Progress(step, total, losses, stage, preview); preview is a
        small H×W×3 image, sent every `options.preview_every` steps and at the end of each scale.
    cancel: CancelToken, checked before every step; raises core.errors.Cancelled within one step.
    guides: optional core.animation.terms.FrameGuides (render-pass guidance at the content's size): a
        start image, a temporal term and a per-pixel content weight.

    Returns StyleResult(image at the content's size, alpha passed through unchanged, final losses,
    device and backbone actually used, steps, seconds, notes)."""
    opts = (options or StyleOptions()).validate()
    content = check_image(content, "content")
    styles = check_styles(style)
    job = _Job(content, styles, check_masks(masks, len(styles), content.shape[:2]), opts, progress, cancel, guides)
    return _METHODS[opts.method](job)


# ----------------------------------------------------------------------------------------------
# the optimisation methods


def _build_backbone(opts: StyleOptions, device: torch.device, notes: list[str]) -> tuple[nn.Module, str]:
    from ..backbones import offline, vgg19

    choice = opts.backbone
    if choice == "auto":
        if vgg19.find_weights(opts.weights) is not None:
            choice = "vgg19"
        else:
            choice = "offline"
            notes.append("VGG19 weights not found; used the offline backbone "
                         "(run 'python -m core weights --download' for better results)")
    if choice == "vgg19":
        net = vgg19.load_vgg19(weights_file=opts.weights, device=device, pooling=opts.resolved("pooling") or "max")
        return net, "vgg19"
    return offline.load_offline(seed=0, device=device, variant="style"), "offline"


def _memory_budget(opts: StyleOptions, device: torch.device) -> float:
    if opts.max_memory_gb is not None:
        return opts.max_memory_gb * 2**30
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return 0.8 * free
    return 4.0 * 2**30


def _scales(h: int, w: int, method: str, align: int) -> list[tuple[int, int]]:
    """Working sizes, coarse to fine (√2 apart), ending at (h, w)."""
    sizes = [(h, w)]
    if method == "gatys":
        return sizes
    long_edge = max(h, w)
    k = 1
    while long_edge / SCALE_STEP ** k >= MIN_COARSE_EDGE:
        sizes.append(fit_long_edge(h, w, int(round(long_edge / SCALE_STEP ** k)), align))
        k += 1
    return sizes[::-1]


def _steps_per_scale(steps: int, n: int) -> list[int]:
    """`steps` at every scale; the coarsest, where the layout forms and steps are cheap, gets more."""
    if n == 1:
        return [steps]
    return [steps * INITIAL_STEPS_FACTOR] + [steps] * (n - 1)


def _colour_inputs(opts: StyleOptions, content_rgb: np.ndarray,
                   styles_rgb: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The content and styles the network sees, after the colour mode's adjustments."""
    if opts.preserve_color == "luminance":
        cy = color.luminance(content_rgb)
        styles = [np.repeat(np.clip(color.match_luminance(color.luminance(s), cy), 0, 1)[..., None], 3, axis=2)
                  for s in styles_rgb]
        return np.repeat(cy[..., None], 3, axis=2), styles
    if opts.preserve_color == "histogram":
        return content_rgb, [color.match_color_histogram(s, content_rgb) for s in styles_rgb]
    return content_rgb, styles_rgb


def _optimise(job: _Job) -> StyleResult:
    """Methods 'multiscale' and 'gatys': optimise the image itself, coarse to fine (or at one scale)."""
    t_start = time.perf_counter()
    opts, cancel, progress = job.opts, job.cancel, job.progress
    H, W = job.content.shape[:2]
    notes: list[str] = []
    device = pick_device(opts.device)
    seed_everything(opts.seed)
    rng = np.random.default_rng(opts.seed)
    net, backbone_name = _build_backbone(opts, device, notes)
    strides = layer_strides(net, device)

    alpha = job.content[..., 3:4] if job.content.shape[2] == 4 else None
    content_rgb = rgb(job.content)
    work_content, styles_rgb = _colour_inputs(opts, content_rgb, [rgb(s) for s in job.styles])

    # Working size.
    align = net.align if opts.tileable else 1
    long_edge = opts.size or max(H, W)
    if opts.tileable or opts.size:
        wh, ww = fit_long_edge(H, W, long_edge, align)
    else:
        wh, ww = H, W
    if opts.tileable and (wh, ww) != (H, W):
        notes.append(f"tileable: worked at {ww}×{wh} (multiples of {align})")

    scales = _scales(wh, ww, opts.method, align)
    per_scale = _steps_per_scale(int(opts.resolved("steps")), len(scales))
    total_steps = sum(per_scale)
    optimizer_name = opts.resolved("optimizer") or "adam"
    lr = opts.resolved("lr") or 0.02
    average = float(opts.resolved("average") or 0.0)
    precision = choose_precision(device, opts.precision, opts.half)
    if precision.dtype is not None:
        notes.append(f"precision {precision.name}" + (" with loss scaling" if precision.needs_loss_scale else ""))

    budget = _memory_budget(opts, device)
    bpp = bytes_per_pixel(net, device)

    content_t_full = to_tensor(work_content, device)
    style_t_full = [to_tensor(s, device) for s in styles_rgb]
    mask_t_full = None if job.masks is None else torch.from_numpy(job.masks)[:, None].float().to(device)

    x: Optional[torch.Tensor] = None
    carried: Optional[dict] = None
    step = 0
    parts: dict[str, float] = {}
    last_total = float("nan")
    tiled_note = False
    for si, ((sh, sw), n_steps) in enumerate(zip(scales, per_scale)):
        if cancel is not None:
            cancel.check()
        stage = f"scale {si + 1}/{len(scales)} {sw}×{sh}"
        content_t = resize(content_t_full, (sh, sw), opts.tileable, IMAGE_KERNEL).clamp(0, 1)
        # Tiles when the whole image would not fit the budget. Image-sized buffers besides the network:
        # ~14 for Adam (x, grad, 2 moments, average, content full and scaled, targets, masks, numpy copies;
        # with 8, an offline 4096² run peaked 1.2 GB over a 3 GB budget), ~54 for L-BFGS's history.
        tile = tile_size_for(sh, sw, net, bpp, budget, 14 if optimizer_name == "adam" else 54, opts.tile_size)
        if tile is not None and not tiled_note:
            notes.append(f"tiled optimisation from {sw}×{sh}: {tile}px tiles, {net.halo}px halo, global style statistics")
            tiled_note = True
        grams = _style_grams_at(net, strides, style_t_full, (sh, sw), opts, tile, budget, bpp, precision.autocast,
                                notes)
        masks_t = None if mask_t_full is None else resize(mask_t_full, (sh, sw), opts.tileable).clamp(0, 1)
        scaled = job.guides.at((sh, sw), device, opts.tileable) if job.guides is not None else None
        objective = build_objective(net, content_t, grams, masks_t, opts, tile, rng, precision.autocast, cancel,
                                    loss_scale=float(sh * sw) if precision.needs_loss_scale else 1.0, guides=scaled)

        if x is None:
            if scaled is not None and scaled.init is not None:
                x = scaled.init.clamp(0, 1)
            elif opts.init == "noise":
                g = torch.Generator().manual_seed(opts.seed)
                x = torch.rand(content_t.shape, generator=g).to(device)
            else:
                x = content_t.clone()
        else:
            x = resize(x, (sh, sw), opts.tileable, IMAGE_KERNEL).clamp(0, 1)
        # The average's time constant 1/(1-decay) is capped at half the scale's steps, so a very short
        # run is not dominated by its start; 200 steps or more keep the recipe's 0.99 (a third capped it at
        # 0.985; benchmarks/STYLE_RECIPE.md measured 0.99 at 200 steps; K: 0.99 over 500 steps).
        decay = min(average, max(0.0, 1.0 - 2.0 / n_steps)) if average > 0 else 0.0
        run = ScaleRun(objective, x, optimizer_name, lr, decay, carried,
                       prox=objective.prox if objective.proximal else None)
        for k in range(n_steps):
            if cancel is not None:
                cancel.check()
            run.step()
            step += 1
            last_total, parts = run.total, run.parts
            if progress is not None:
                preview = None
                end_of_scale = k == n_steps - 1
                if opts.preview_every and (step % opts.preview_every == 0 or end_of_scale):
                    preview = _preview(run.current(), content_rgb if opts.preserve_color == "luminance" else None)
                progress(Progress(step=step, total=total_steps, losses={"total": last_total, **parts},
                                  stage=stage, preview=preview))
        x, last_total, parts = run.result()
        if si + 1 < len(scales):
            carried = run.carry(scales[si + 1], opts.tileable)

    assert x is not None
    result = to_numpy(resize(x, (H, W), opts.tileable, IMAGE_KERNEL).clamp(0, 1) if tuple(x.shape[-2:]) != (H, W)
                      else x)
    if opts.preserve_color == "luminance":
        result = color.recombine_luminance(color.luminance(result), content_rgb)
    if alpha is not None:
        result = np.concatenate([result, alpha.astype(np.float32)], axis=2)
    return StyleResult(image=result.astype(np.float32), losses={"total": last_total, **parts},
                       device=str(device), backbone=backbone_name, steps=step,
                       seconds=time.perf_counter() - t_start, notes=notes)


def _style_grams_at(net: nn.Module, strides: dict[str, int], styles: list[torch.Tensor], hw: tuple[int, int],
                    opts: StyleOptions, tile: Optional[int], budget: float, bpp: float, autocast,
                    notes: list[str]) -> list[dict]:
    """Each style's Gram targets for a working size hw: the style resized to style_scale × the working
    long edge, but never above its own size (an upscaled style gives blurry Gram targets; its features
    then come out at their native size instead, with a note)."""
    grams = []
    wanted = max(2 * net.align, int(round(opts.style_scale * max(hw))))
    edge = opts.resolved("padding") or "zeros"
    for i, st in enumerate(styles):
        native = max(st.shape[-2], st.shape[-1])
        style_long = min(wanted, max(native, 2 * net.align))
        if wanted > native:
            note = (f"style{'' if len(styles) == 1 else f'[{i}]'} is {native} px on its long edge, smaller than "
                    f"the {wanted} px its scale asks for: used at its own size, not upscaled")
            if note not in notes:
                notes.append(note)
        s_hw = fit_long_edge(st.shape[-2], st.shape[-1], style_long, 1)
        s_img = st if tuple(s_hw) == tuple(st.shape[-2:]) else resize(st, s_hw, False, IMAGE_KERNEL).clamp(0, 1)
        too_big = s_hw[0] * s_hw[1] * bpp / 3 > budget / 2
        s_tile = tile if (tile is not None or too_big) else None
        if s_tile is None and too_big:
            s_tile = 512
        grams.append(style_targets(net, strides, s_img, s_tile, autocast, edge))
    return grams


def _preview(x: torch.Tensor, content_rgb: Optional[np.ndarray]) -> np.ndarray:
    h, w = x.shape[-2:]
    if max(h, w) > PREVIEW_EDGE:
        x = resize(x, fit_long_edge(h, w, PREVIEW_EDGE), False)
    img = to_numpy(x)
    if content_rgb is not None:  # luminance mode: show it with the content's colours
        c = to_numpy(resize(to_tensor(content_rgb, torch.device("cpu")), img.shape[:2], False))
        img = color.recombine_luminance(color.luminance(img), c)
    return img


def _feed_forward(job: _Job) -> StyleResult:
    from ..fast import FastOptions, stylize_fast  # imported on use: core.fast imports StyleResult from here

    return stylize_fast(job.content, job.styles, FastOptions.from_style_options(job.opts),
                        masks=job.masks, progress=job.progress, cancel=job.cancel)


# Every method the public entry dispatches to.
_METHODS: dict[str, Callable[[_Job], StyleResult]] = {
    "multiscale": _optimise,
    "gatys": _optimise,
    "fast": _feed_forward,
}
