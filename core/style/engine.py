"""The style-transfer engine: one objective, optimised coarse-to-fine, whole or in tiles.

Flow of `stylize_ex`: validate arrays -> pick device and backbone -> colour handling -> for each
scale (coarse to fine): style targets, content targets, optimise -> colour recombination -> resize
back to the content's size -> alpha re-attached.

Tiled optimisation keeps style statistics global: a first pass (no grad) sums Σ m·f fᵀ over all tiles,
a second pass backpropagates each tile against the whole image's Gram error. Tiles carry a halo of
context, their grid shifts every step, and tileable images wrap around, so no tile seams form.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Iterator, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn

from ..device import pick_device, seed_everything
from ..errors import CancelToken, UserError
from ..progress import Progress, ProgressCallback
from ..wrap import circular_padding
from . import color, losses
from .options import StyleOptions
from .resample import fit_long_edge, resize

ArrayOrList = Union[np.ndarray, Sequence[np.ndarray]]

MIN_COARSE_EDGE = 64   # coarsest scale of the multi-scale method (long edge, px)
SCALE_STEP = math.sqrt(2.0)
PREVIEW_EDGE = 256


@dataclass
class StyleResult:
    """What `stylize_ex` returns: the image and what was actually done."""

    image: np.ndarray
    losses: dict[str, float]
    device: str
    backbone: str
    steps: int
    seconds: float
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------
# input checks


def _check_image(arr: object, what: str) -> np.ndarray:
    if not isinstance(arr, np.ndarray):
        raise UserError(f"{what}: expected a numpy array, got {type(arr).__name__}")
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise UserError(f"{what}: expected H×W×3 or H×W×4, got shape {arr.shape}")
    if arr.shape[0] < 8 or arr.shape[1] < 8:
        raise UserError(f"{what}: {arr.shape[1]}×{arr.shape[0]} is too small (at least 8×8 px)")
    if not np.issubdtype(arr.dtype, np.floating):
        raise UserError(f"{what}: expected float values 0..1, got dtype {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise UserError(f"{what}: contains NaN or infinite values")
    return arr


def _rgb(arr: np.ndarray) -> np.ndarray:
    rgb = np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr[..., :3]
    return np.clip(rgb, 0.0, 1.0)


def _to_tensor(arr: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))[None].float().to(device)


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    return t[0].detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy().astype(np.float32)


# ----------------------------------------------------------------------------------------------
# backbone


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
        return vgg19.load_vgg19(weights_file=opts.weights, device=device), "vgg19"
    return offline.load_offline(seed=0, device=device), "offline"


_STRIDES: dict[int, dict[str, int]] = {}
_BYTES_PER_PIXEL: dict[int, float] = {}


def _layer_strides(net: nn.Module, device: torch.device) -> dict[str, int]:
    """Downsampling factor of each tapped layer, probed once per network."""
    key = id(net)
    if key not in _STRIDES:
        n = 4 * net.align
        with torch.no_grad():
            feats = net(torch.zeros(1, 3, n, n, device=device))
        _STRIDES[key] = {k: n // v.shape[-1] for k, v in feats.items()}
    return _STRIDES[key]


def _bytes_per_pixel(net: nn.Module, device: torch.device) -> float:
    """Rough memory of one forward+backward per input pixel (activations kept for backward, grads)."""
    key = id(net)
    if key not in _BYTES_PER_PIXEL:
        total = [0]
        hooks = [m.register_forward_hook(lambda _m, _i, o: total.__setitem__(0, total[0] + o.numel()))
                 for m in net.modules() if len(list(m.children())) == 0]
        n = 4 * net.align
        try:
            with torch.no_grad():
                net(torch.zeros(1, 3, n, n, device=device))
        finally:
            for h in hooks:
                h.remove()
        # ×4 bytes ×1.25: activations kept for backward plus transient gradients. Calibrated on VGG-19:
        # an untiled 1024² step peaked at 3.2 GB resident, about 1.05× this count (benchmarks/).
        _BYTES_PER_PIXEL[key] = total[0] / (n * n) * 4 * 1.25
    return _BYTES_PER_PIXEL[key]


# ----------------------------------------------------------------------------------------------
# tiles


@dataclass
class _Tile:
    rows: torch.Tensor      # image row indices of the region (core + halo), wrapped or clipped
    cols: torch.Tensor
    core_y: tuple[int, int]  # core rows [start, end) in image coordinates
    core_x: tuple[int, int]
    local_y: int            # core start inside the region
    local_x: int


def _spans(n: int, tile: int, offset: int, wrap: bool) -> list[tuple[int, int]]:
    starts = list(range(0, n, tile))
    spans = [(s, min(s + tile, n)) for s in starts]
    if offset == 0:
        return spans
    if wrap:
        return [(s + offset, e + offset) for s, e in spans]  # taken modulo n later
    shifted = [(0, offset)] + [(s + offset, min(e + offset, n)) for s, e in spans if s + offset < n]
    return shifted


def _axis(n: int, span: tuple[int, int], halo: int, wrap: bool, device) -> tuple[torch.Tensor, int]:
    s, e = span
    if wrap:
        lo, hi = s - halo, e + halo
        return torch.arange(lo, hi, device=device) % n, halo
    lo, hi = max(0, s - halo), min(n, e + halo)
    return torch.arange(lo, hi, device=device), s - lo


def _tiles(h: int, w: int, tile: int, halo: int, offset: tuple[int, int], wrap: bool, device) -> Iterator[_Tile]:
    for ys in _spans(h, tile, offset[0], wrap):
        rows, ly = _axis(h, ys, halo, wrap, device)
        for xs in _spans(w, tile, offset[1], wrap):
            cols, lx = _axis(w, xs, halo, wrap, device)
            yield _Tile(rows, cols, ys, xs, ly, lx)


def _crop(feat: torch.Tensor, t: _Tile, stride: int, img_hw: tuple[int, int], wrap: bool) -> torch.Tensor:
    """The part of a tile's feature map that belongs to its core."""
    def one(axis_len: int, span: tuple[int, int], local: int, n_img: int) -> tuple[int, int]:
        s, e = span
        start = local // stride
        if not wrap and e == n_img:
            n_f = n_img // stride - s // stride
        else:
            n_f = (e - s) // stride
        return start, min(start + n_f, axis_len)
    y0, y1 = one(feat.shape[-2], t.core_y, t.local_y, img_hw[0])
    x0, x1 = one(feat.shape[-1], t.core_x, t.local_x, img_hw[1])
    return feat[..., y0:y1, x0:x1]


def _feature_index(span: tuple[int, int], stride: int, n_img: int, wrap: bool, device) -> torch.Tensor:
    s, e = span
    n_feat = n_img // stride
    if not wrap and e == n_img:
        return torch.arange(s // stride, n_feat, device=device)
    idx = torch.arange(s // stride, s // stride + (e - s) // stride, device=device)
    return idx % n_feat if wrap else idx


# ----------------------------------------------------------------------------------------------
# the objective


class _Objective:
    """α·content + β·style + tv of one scale, with its gradient, whole or tiled."""

    def __init__(self, net: nn.Module, strides: dict[str, int], content: torch.Tensor,
                 style_grams: list[dict[str, torch.Tensor]], masks: Optional[torch.Tensor],
                 opts: StyleOptions, tile: Optional[int], rng: np.random.Generator, autocast,
                 cancel: Optional[CancelToken] = None, guides=None) -> None:
        self.net, self.strides, self.opts, self.tile, self.rng = net, strides, opts, tile, rng
        self.cancel = cancel  # checked per tile too: a big tiled step can take minutes
        self.autocast = autocast
        self.wrap = opts.tileable
        self.hw = tuple(content.shape[-2:])
        self.style_grams = style_grams
        self.content_layers = tuple(net.content_layers)
        self.style_layers = dict(net.style_layers)
        self.wsum = sum(self.style_layers.values())
        self.alpha = float(opts.content_weight)
        self.beta = float(opts.resolved("style_weight"))
        self.tvw = float(opts.resolved("tv_weight"))
        self.masks = masks  # S×1×H×W or None
        # Content targets (whole feature maps; assembled from tiles when tiled).
        self.content_targets = self._features_whole(content, self.content_layers)
        self.content_energy = {k: (v.float() ** 2).mean() for k, v in self.content_targets.items()}
        self.content_count = {k: float(v.numel()) for k, v in self.content_targets.items()}
        # Render-pass guides (core.animation.terms.ScaledGuides): per-pixel content weight, temporal term.
        self.content_weights = {k: guides.content_weight_at(tuple(v.shape[-2:])) for k, v in
                                self.content_targets.items()} if guides is not None else {}
        self.pixel_terms = [guides.temporal] if guides is not None and guides.temporal is not None else []
        self.masks_at: dict[int, torch.Tensor] = {}
        if masks is not None:
            for s in set(strides[k] for k in self.style_layers):
                self.masks_at[s] = masks if s == 1 else torch.nn.functional.avg_pool2d(masks, s)

    # -- helpers ---------------------------------------------------------------------------
    def _net(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        with self.autocast():
            return self.net(x)

    def _features_whole(self, img: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        with torch.no_grad(), circular_padding(self.net, self.wrap):
            if self.tile is None:
                f = self._net(img)
                return {k: f[k].float() for k in layers}
            h, w = self.hw
            out: dict[str, torch.Tensor] = {}
            for t in _tiles(h, w, self.tile, self.net.halo, (0, 0), self.wrap, img.device):
                f = self._net(img[:, :, t.rows][:, :, :, t.cols])
                for k in layers:
                    s = self.strides[k]
                    part = _crop(f[k], t, s, self.hw, self.wrap).float()
                    if k not in out:
                        out[k] = torch.zeros(1, part.shape[1], h // s, w // s, device=img.device)
                    ry = _feature_index(t.core_y, s, h, self.wrap, img.device)
                    rx = _feature_index(t.core_x, s, w, self.wrap, img.device)
                    out[k][:, :, ry[:, None], rx[None, :]] = part
            return out

    def _mask_crop(self, stride: int, t: Optional[_Tile]) -> Optional[torch.Tensor]:
        if self.masks is None:
            return None
        m = self.masks_at[stride]
        if t is None:
            return m
        ry = _feature_index(t.core_y, stride, self.hw[0], self.wrap, m.device)
        rx = _feature_index(t.core_x, stride, self.hw[1], self.wrap, m.device)
        return m[:, :, ry[:, None], rx[None, :]]

    def _style_sums(self, feats: dict[str, torch.Tensor], t: Optional[_Tile]):
        """{(style i, layer): (Σ m f fᵀ, Σ m)} for one tile's core (or the whole image)."""
        sums = {}
        for k in self.style_layers:
            s = self.strides[k]
            f = feats[k] if t is None else _crop(feats[k], t, s, self.hw, self.wrap)
            m = self._mask_crop(s, t)
            for i in range(len(self.style_grams)):
                mi = None if m is None else m[i:i + 1, :, :f.shape[-2], :f.shape[-1]]
                sums[(i, k)] = losses.gram_sums(f, mi)
        return sums

    def _content_part(self, feats: dict[str, torch.Tensor], t: Optional[_Tile]) -> torch.Tensor:
        total = 0.0
        for k in self.content_layers:
            s = self.strides[k]
            if t is None:
                f, p = feats[k], self.content_targets[k]
            else:
                f = _crop(feats[k], t, s, self.hw, self.wrap)
                ry = _feature_index(t.core_y, s, self.hw[0], self.wrap, f.device)
                rx = _feature_index(t.core_x, s, self.hw[1], self.wrap, f.device)
                p = self.content_targets[k][:, :, ry[:, None], rx[None, :]]
            w = self.content_weights.get(k)
            if w is not None:  # Σ w·(f−p)² as the plain loss of √w·f against √w·p
                w = (w if t is None else w[:, :, ry[:, None], rx[None, :]]).sqrt()
                f, p = f * w, p * w
            total = total + losses.content_loss(f, p, self.content_energy[k], self.content_count[k])
        return total / max(1, len(self.content_layers))

    def _style_value(self, grams: dict) -> torch.Tensor:
        total = 0.0
        for (i, k), g in grams.items():
            total = total + self.style_layers[k] / self.wsum * losses.style_loss(g, self.style_grams[i][k])
        return total / len(self.style_grams)

    # -- evaluation ------------------------------------------------------------------------
    def __call__(self, x: torch.Tensor) -> tuple[float, dict[str, float], torch.Tensor]:
        """(total loss, parts, d total / d x)."""
        with circular_padding(self.net, self.wrap):
            if self.tile is None:
                return self._whole(x)
            return self._tiled(x)

    def _whole(self, x: torch.Tensor):
        xv = x.detach().requires_grad_(True)
        feats = self._net(xv)
        lc = self._content_part(feats, None)
        grams = {key: losses.gram_from_sums(*v) for key, v in self._style_sums(feats, None).items()}
        ls = self._style_value(grams)
        ltv = losses.tv_loss(xv, self.wrap)
        total = self.alpha * lc + self.beta * ls + self.tvw * ltv
        extra = {term.name: term(xv) for term in self.pixel_terms}
        total = total + sum(extra.values())
        (grad,) = torch.autograd.grad(total, xv)
        return (float(total.detach()), {"content": float(lc.detach()), "style": float(ls.detach()),
                                        "tv": float(ltv.detach()), **{k: float(v.detach()) for k, v in extra.items()}},
                grad)

    def _tiled(self, x: torch.Tensor):
        h, w = self.hw
        align, halo = self.net.align, self.net.halo
        span = max(1, self.tile // align)
        offset = (int(self.rng.integers(span)) * align, int(self.rng.integers(span)) * align)
        tiles = list(_tiles(h, w, self.tile, halo, offset, self.wrap, x.device))
        # Pass 1: global statistics (no grad).
        acc: dict = {}
        with torch.no_grad():
            lc = 0.0
            for t in tiles:
                if self.cancel is not None:
                    self.cancel.check()
                feats = self._net(x[:, :, t.rows][:, :, :, t.cols])
                for key, (s, m) in self._style_sums(feats, t).items():
                    if key in acc:
                        acc[key] = (acc[key][0] + s, acc[key][1] + m)
                    else:
                        acc[key] = (s, m)
                lc = lc + float(self._content_part(feats, t))
            grams = {key: losses.gram_from_sums(*v) for key, v in acc.items()}
            ls = float(self._style_value(grams))
            # d(β·style)/d(G) per style and layer, constant during pass 2.
            coeff = {}
            for (i, k), g in grams.items():
                c = self.beta * self.style_layers[k] / self.wsum / len(self.style_grams)
                coeff[(i, k)] = c * losses.style_loss_grad_coeff(g, self.style_grams[i][k]) / (
                    acc[(i, k)][1].clamp_min(1e-8) * g.shape[0])
        # Pass 2: per-tile gradients against the global Gram error.
        grad = torch.zeros_like(x)
        for t in tiles:
            if self.cancel is not None:
                self.cancel.check()
            xt = x[:, :, t.rows][:, :, :, t.cols].detach().requires_grad_(True)
            feats = self._net(xt)
            surrogate = self.alpha * self._content_part(feats, t)
            for key, (s, _m) in self._style_sums(feats, t).items():
                surrogate = surrogate + (coeff[key] * s).sum()
            (gt,) = torch.autograd.grad(surrogate, xt)
            grad.index_add_(2, t.rows, torch.zeros(1, 3, len(t.rows), w, device=x.device).index_add_(3, t.cols, gt))
        xv = x.detach().requires_grad_(True)
        ltv = losses.tv_loss(xv, self.wrap)
        extra = {term.name: term(xv) for term in self.pixel_terms}  # pixel-wise: whole image, no tiles
        (gtv,) = torch.autograd.grad(self.tvw * ltv + sum(extra.values()), xv)
        grad += gtv
        ltv = float(ltv.detach())
        extra = {k: float(v.detach()) for k, v in extra.items()}
        total = self.alpha * lc + self.beta * ls + self.tvw * ltv + sum(extra.values())
        return float(total), {"content": float(lc), "style": ls, "tv": ltv, **extra}, grad


# ----------------------------------------------------------------------------------------------
# public API


def _as_list(style: ArrayOrList) -> list[np.ndarray]:
    if isinstance(style, np.ndarray):
        return [style]
    if isinstance(style, (list, tuple)) and style:
        return list(style)
    raise UserError("style: expected an image array or a non-empty list of them")


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


def _steps_per_scale(total: int, n: int) -> list[int]:
    """Equal shares, the finest scale getting half a share: most work happens where it is cheap."""
    if n == 1:
        return [total]
    shares = [1.0] * (n - 1) + [0.5]
    raw = [total * s / sum(shares) for s in shares]
    steps = [max(1, int(r)) for r in raw]
    steps[-1] += total - sum(steps)
    return [max(1, s) for s in steps]


def _style_grams(net, strides, img: torch.Tensor, tile: Optional[int], autocast) -> dict[str, torch.Tensor]:
    """Global Gram targets of one style image (tiled when it is large)."""
    h, w = img.shape[-2:]
    acc: dict[str, tuple] = {}
    with torch.no_grad():
        tiles = [None] if tile is None else list(_tiles(h, w, tile, net.halo, (0, 0), False, img.device))
        for t in tiles:
            with autocast():
                feats = net(img if t is None else img[:, :, t.rows][:, :, :, t.cols])
            for k in net.style_layers:
                f = feats[k] if t is None else _crop(feats[k], t, strides[k], (h, w), False)
                s, m = losses.gram_sums(f)
                acc[k] = (s, m) if k not in acc else (acc[k][0] + s, acc[k][1] + m)
    return {k: losses.gram_from_sums(*v) for k, v in acc.items()}


def stylize_ex(content: np.ndarray, style: ArrayOrList, options: Optional[StyleOptions] = None, *,
               masks: Optional[Sequence[np.ndarray]] = None, progress: Optional[ProgressCallback] = None,
               cancel: Optional[CancelToken] = None, guides=None) -> StyleResult:
    """Neural style transfer with a full report.

    content: float32 H×W×3 or H×W×4 (or H×W×1), 0..1, display-referred sRGB.
    style: one such array or a sequence of them. Without masks several styles are blended.
    masks: optional sequence of H×W soft masks (0..1), one per style, at the content's size: each
        style is matched only by the statistics of its region.
    progress: called after every step with Progress(step, total, losses, stage, preview); preview is a
        small H×W×3 image, sent every `options.preview_every` steps and at the end of each scale.
    cancel: CancelToken, checked before every step; raises core.errors.Cancelled within one step.
    guides: optional core.animation.terms.FrameGuides (render-pass guidance at the content's size):
        a start image, a temporal term and a per-pixel content weight.

    Returns StyleResult(image at the content's size, alpha passed through unchanged, final losses,
    device and backbone actually used, steps, seconds, notes)."""
    t_start = time.perf_counter()
    opts = (options or StyleOptions()).validate()
    content = _check_image(content, "content")
    styles = [_check_image(s, f"style[{i}]" if not isinstance(style, np.ndarray) else "style")
              for i, s in enumerate(_as_list(style))]
    H, W = content.shape[:2]
    mask_arr = None
    if masks is not None:
        masks = list(masks)
        if len(masks) != len(styles):
            raise UserError(f"masks: got {len(masks)} masks for {len(styles)} styles; give one mask per style")
        checked = []
        for i, m in enumerate(masks):
            m = np.asarray(m, dtype=np.float32)
            if m.ndim == 3 and m.shape[2] == 1:
                m = m[..., 0]
            if m.shape != (H, W):
                raise UserError(f"masks[{i}]: shape {m.shape} does not match the content's {H}×{W}")
            if not np.isfinite(m).all():
                raise UserError(f"masks[{i}]: contains NaN or infinite values")
            checked.append(np.clip(m, 0.0, 1.0))
        mask_arr = np.stack(checked)
        if (mask_arr.reshape(len(checked), -1).sum(1) <= 0).any():
            raise UserError("masks: every mask needs some non-zero area")

    notes: list[str] = []
    device = pick_device(opts.device)
    seed_everything(opts.seed)
    rng = np.random.default_rng(opts.seed)
    net, backbone_name = _build_backbone(opts, device, notes)
    strides = _layer_strides(net, device)
    use_half = device.type == "cuda" and (opts.half is None or opts.half)

    def autocast():
        if use_half:
            return torch.autocast("cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    alpha = content[..., 3:4] if content.shape[2] == 4 else None
    content_rgb = _rgb(content)
    styles_rgb = [_rgb(s) for s in styles]

    # Colour handling happens on the images the network sees.
    if opts.preserve_color == "luminance":
        cy = color.luminance(content_rgb)
        work_content = np.repeat(cy[..., None], 3, axis=2)
        styles_rgb = [np.repeat(np.clip(color.match_luminance(color.luminance(s), cy), 0, 1)[..., None], 3, axis=2)
                      for s in styles_rgb]
    elif opts.preserve_color == "histogram":
        work_content = content_rgb
        styles_rgb = [color.match_color_histogram(s, content_rgb) for s in styles_rgb]
    else:
        work_content = content_rgb

    # Working size.
    align = net.align if opts.tileable else 1
    long_edge = opts.size or max(H, W)
    if opts.tileable or opts.size:
        wh, ww = fit_long_edge(H, W, long_edge, align)
    else:
        wh, ww = H, W
    if opts.tileable and (wh, ww) != (H, W):
        notes.append(f"tileable: worked at {ww}×{wh} (multiples of {align})")

    method = opts.method
    scales = _scales(wh, ww, method, align)
    total_steps = int(opts.resolved("steps"))
    if total_steps < len(scales):
        scales = scales[-total_steps:]
    per_scale = _steps_per_scale(total_steps, len(scales))
    optimizer_name = opts.resolved("optimizer") or "adam"
    lr = opts.resolved("lr") or 0.02

    budget = _memory_budget(opts, device)
    bpp = _bytes_per_pixel(net, device)

    content_t_full = _to_tensor(work_content, device)
    style_t_full = [_to_tensor(s, device) for s in styles_rgb]
    mask_t_full = None if mask_arr is None else torch.from_numpy(mask_arr)[:, None].float().to(device)

    x: Optional[torch.Tensor] = None
    step = 0
    parts: dict[str, float] = {}
    last_total = float("nan")
    tiled_note = False
    for si, ((sh, sw), n_steps) in enumerate(zip(scales, per_scale)):
        if cancel is not None:
            cancel.check()
        stage = f"scale {si + 1}/{len(scales)} {sw}×{sh}"
        content_t = resize(content_t_full, (sh, sw), opts.tileable)
        # Tiles when the whole image would not fit the budget (image-sized buffers: x, grad, Adam/L-BFGS state).
        # ~14 for Adam: x, grad, 2 moments, content (full and scaled), targets, masks, numpy in/out copies.
        # (With 8, an offline 4096² run peaked 1.2 GB over a 3 GB budget.)
        fixed = sh * sw * 3 * 4 * (14 if optimizer_name == "adam" else 54)
        tile = opts.tile_size
        if tile is None and sh * sw * bpp + fixed > budget:
            avail = max(budget - fixed, budget * 0.25)
            tile = int(math.sqrt(avail / bpp)) - 2 * net.halo
            tile = max(net.align * 4, tile // net.align * net.align)
        if tile is not None:
            tile = max(net.align, tile // net.align * net.align)
            if tile >= max(sh, sw):
                tile = None
        if tile is not None and not tiled_note:
            notes.append(f"tiled optimisation from {sw}×{sh}: {tile}px tiles, {net.halo}px halo, global style statistics")
            tiled_note = True
        # Style targets at this scale.
        grams = []
        style_long = max(2 * net.align, int(round(opts.style_scale * max(sh, sw))))
        for st in style_t_full:
            s_hw = fit_long_edge(st.shape[-2], st.shape[-1], style_long, 1)
            s_img = resize(st, s_hw, False)
            s_tile = tile if (tile is not None or s_hw[0] * s_hw[1] * bpp / 3 > budget / 2) else None
            if s_tile is None and s_hw[0] * s_hw[1] * bpp / 3 > budget / 2:
                s_tile = 512
            grams.append(_style_grams(net, strides, s_img, s_tile, autocast))
        if mask_t_full is None:
            if len(grams) > 1:  # blend several styles without masks
                grams = [{k: sum(g[k] for g in grams) / len(grams) for k in grams[0]}]
            masks_t = None
        else:
            masks_t = resize(mask_t_full, (sh, sw), opts.tileable).clamp(0, 1)
        scaled = guides.at((sh, sw), device, opts.tileable) if guides is not None else None
        objective = _Objective(net, strides, content_t, grams, masks_t, opts, tile, rng, autocast, cancel, scaled)

        if x is None:
            if scaled is not None and scaled.init is not None:
                x = scaled.init.clamp(0, 1)
            elif opts.init == "noise":
                g = torch.Generator().manual_seed(opts.seed)
                x = torch.rand(content_t.shape, generator=g).to(device)
            else:
                x = content_t.clone()
        else:
            x = resize(x, (sh, sw), opts.tileable).clamp(0, 1)
        x = x.contiguous()
        if optimizer_name == "adam":
            param = x.requires_grad_(True)
            opt: torch.optim.Optimizer = torch.optim.Adam([param], lr=lr)
        else:
            param = x.requires_grad_(True)
            opt = torch.optim.LBFGS([param], lr=1.0, max_iter=1, history_size=20,
                                    tolerance_grad=0.0, tolerance_change=0.0)
        state: dict = {"best": float("inf"), "best_x": None}

        def closure() -> torch.Tensor:
            if cancel is not None:
                cancel.check()
            total, p, grad = objective(param.detach())
            state["total"], state["parts"] = total, p
            # Keep the best iterate of the scale: L-BFGS without line search can overshoot late on.
            if total < state["best"]:
                state["best"], state["best_parts"] = total, p
                state["best_x"] = param.detach().clone()
            param.grad = grad
            return torch.tensor(total)

        for k in range(n_steps):
            if cancel is not None:
                cancel.check()
            opt.zero_grad(set_to_none=True)
            if optimizer_name == "adam":
                closure()
                opt.step()
            else:
                opt.step(closure)
            with torch.no_grad():
                param.clamp_(0, 1)
            step += 1
            last_total, parts = state["total"], state["parts"]
            if progress is not None:
                preview = None
                end_of_scale = k == n_steps - 1
                if opts.preview_every and (step % opts.preview_every == 0 or end_of_scale):
                    preview = _preview(param.detach(), content_rgb if opts.preserve_color == "luminance" else None)
                progress(Progress(step=step, total=total_steps, losses={"total": last_total, **parts},
                                  stage=stage, preview=preview))
        x = param.detach()
        if optimizer_name == "lbfgs" and state["best_x"] is not None and state["best"] < last_total:
            x, last_total, parts = state["best_x"], state["best"], state["best_parts"]

    assert x is not None
    result = _to_numpy(resize(x, (H, W), opts.tileable) if tuple(x.shape[-2:]) != (H, W) else x)
    if opts.preserve_color == "luminance":
        result = color.recombine_luminance(color.luminance(result), content_rgb)
    if alpha is not None:
        result = np.concatenate([result, alpha.astype(np.float32)], axis=2)
    return StyleResult(image=result.astype(np.float32), losses={"total": last_total, **parts},
                       device=str(device), backbone=backbone_name, steps=step,
                       seconds=time.perf_counter() - t_start, notes=notes)


def _preview(x: torch.Tensor, content_rgb: Optional[np.ndarray]) -> np.ndarray:
    h, w = x.shape[-2:]
    if max(h, w) > PREVIEW_EDGE:
        x = resize(x, fit_long_edge(h, w, PREVIEW_EDGE), False)
    img = _to_numpy(x)
    if content_rgb is not None:  # luminance mode: show it with the content's colours
        c = _to_numpy(resize(_to_tensor(content_rgb, torch.device("cpu")), img.shape[:2], False))
        img = color.recombine_luminance(color.luminance(img), c)
    return img


def stylize(content: np.ndarray, style: ArrayOrList, options: Optional[StyleOptions] = None, *,
            masks: Optional[Sequence[np.ndarray]] = None, progress: Optional[ProgressCallback] = None,
            cancel: Optional[CancelToken] = None) -> np.ndarray:
    """Neural style transfer; returns the stylised float32 image at the content's size (alpha
    unchanged). Same arguments as `stylize_ex`, which also reports losses, device and notes."""
    return stylize_ex(content, style, options, masks=masks, progress=progress, cancel=cancel).image
