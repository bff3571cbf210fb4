"""The fast method's public entry: feed-forward stylization with Magenta's arbitrary-style network.

Flow of `stylize_fast`: check inputs -> style vectors (blended, mixed with the content's own vector
by `strength`) -> content at the working size -> network, whole or in tiles sharing one set of
normalisation statistics (wrap-padded when tileable) -> per-style masks -> back to the output size
with the content's fine detail restored -> colour preservation -> alpha re-attached."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Sequence, Union

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..device import pick_device
from ..errors import CancelToken, UserError
from ..progress import Progress, ProgressCallback
from ..style import color, inputs
from ..style.engine import StyleResult
from ..style.resample import fit_long_edge
from ..style.resample import resize as wrap_aware_resize
from . import magenta
from .tiling import run_tiled, wrap_pad

if TYPE_CHECKING:
    from ..style.options import StyleOptions

ArrayOrList = Union[np.ndarray, Sequence[np.ndarray]]

# Long edge the network works at unless told otherwise: 384 px (the package's size) scored best on
# learned distance and edge correlation at 512 and 1024 px outputs (benchmarks/bench_fast.py); 256
# scored better still but looks blurred, 512+ gives smaller strokes that the learned distance ranks
# further from the style. Outputs above 4× that size work at a quarter of their size, so the upsampling
# that follows (with the content's fine detail restored) never blurs the strokes more than 4×.
DEFAULT_WORKING_EDGE = 384
MAX_UPSCALE = 4.0
# Peak bytes per working pixel of the transformer in float32: measured ~200 (RSS growth at 1024² and 1536²).
BYTES_PER_PIXEL = 240
BLEND = 32  # half-width of the cross-fade between tiles
LUMA = torch.tensor([0.299, 0.587, 0.114])  # Rec. 601 weights of the luminance that carries the detail
DETAIL_BAND = 64  # rows per step when the detail is added back (a few MB: stays in cache)


@dataclass
class FastOptions:
    """What the fast method needs besides the images.

    strength: 0..1, interpolates the style vector from the content's own (0) to the style's (1).
    size: long edge the network works at (None: `default_working_edge` of the content's long edge,
        or of `full_edge` when given).
    full_edge: the long edge of the full image when the content is a shrunk copy of it (live
        preview): the default working size is the full image's, so strokes keep their size relative
        to the image (the network may then work above the copy's size).
    style_blend: weights of several styles when no masks are given (None: equal).
    detail: 0..1, how much of the content's fine detail is restored when the working size is
        below the output size.
    tileable, preserve_color ('luminance' | 'histogram' | None), device, max_memory_gb, tile_size
    mean what they mean for the other methods."""

    strength: float = 1.0
    size: Optional[int] = None
    style_blend: Optional[Sequence[float]] = None
    detail: float = 1.0
    tileable: bool = False
    preserve_color: Optional[str] = None
    device: str = "auto"
    max_memory_gb: Optional[float] = None
    tile_size: Optional[int] = None
    full_edge: Optional[int] = None

    @classmethod
    def from_style_options(cls, opts: "StyleOptions") -> "FastOptions":
        """The fast method's share of a style job spec (the optimisation-only fields do not apply)."""
        return cls(strength=float(opts.resolved("strength")), size=opts.size, tileable=opts.tileable,
                   preserve_color=opts.preserve_color, device=opts.device, max_memory_gb=opts.max_memory_gb,
                   tile_size=opts.tile_size, full_edge=opts.full_edge).validate()

    def validate(self) -> "FastOptions":
        for name in ("strength", "detail"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
                raise UserError(f"{name}: must be a number from 0 to 1, got {v!r}")
        if self.size is not None and (isinstance(self.size, bool) or not isinstance(self.size, int)
                                      or not 32 <= self.size <= 32768):
            raise UserError(f"size: must be an integer from 32 to 32768, got {self.size!r}")
        if self.preserve_color not in (None, "luminance", "histogram"):
            raise UserError(f"preserve_color: '{self.preserve_color}' is not one of luminance, histogram")
        if self.full_edge is not None and (isinstance(self.full_edge, bool) or not isinstance(self.full_edge, int)
                                           or self.full_edge < 8):
            raise UserError(f"full_edge: must be an integer of at least 8, got {self.full_edge!r}")
        if self.tile_size is not None and (not isinstance(self.tile_size, int) or self.tile_size < 32):
            raise UserError(f"tile_size: must be an integer of at least 32, got {self.tile_size!r}")
        return self


def resize(x: torch.Tensor, size: tuple[int, int], wrap: bool) -> torch.Tensor:
    """Antialiased bilinear resize; the (slower) periodic resampler only for tileable images."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if wrap:
        return wrap_aware_resize(x, size, True)
    shrinking = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bilinear", antialias=shrinking, align_corners=False)


def _to_tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].float()


def _memory_budget(opts: FastOptions, device: torch.device) -> float:
    if opts.max_memory_gb:
        return opts.max_memory_gb * 1e9
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return 0.8 * free
    return 4e9


class _Runner:
    """Runs the transformer on a working-size image: whole, or tiled with shared statistics."""

    def __init__(self, nets: magenta.MagentaNetworks, opts: FastOptions, budget: float, tick) -> None:
        self.nets, self.opts, self.tick = nets, opts, tick
        self.max_pixels = max(256 * 256, int(budget / BYTES_PER_PIXEL))
        self.notes: list[str] = []

    def tile_edge(self, h: int, w: int) -> Optional[int]:
        if self.opts.tile_size is not None:
            return self.opts.tile_size if self.opts.tile_size < max(h, w) else None
        if h * w <= self.max_pixels:
            return None
        return int(math.sqrt(self.max_pixels)) - 2 * magenta.RECEPTIVE_RADIUS

    def __call__(self, x: torch.Tensor, vec: torch.Tensor) -> torch.Tensor:
        h0, w0 = x.shape[-2:]
        if self.opts.tileable:  # sizes are multiples of ALIGN here, so the stride grid repeats with the image
            pad = magenta.RECEPTIVE_RADIUS
            xp = wrap_pad(x, pad)
        else:  # reflect up to a multiple of the stride, as the network pads its own borders
            pad = 0
            xp = F.pad(x, (0, -w0 % magenta.ALIGN, 0, -h0 % magenta.ALIGN), mode="reflect")
        h, w = xp.shape[-2:]
        tile = self.tile_edge(h, w)
        dev = self.nets.device
        if tile is None:
            out = magenta.transform(self.nets, xp.to(dev), vec).cpu()
            self.tick()
        else:
            stats = self._statistics(xp, vec)
            out = run_tiled(lambda t: magenta.transform(self.nets, t.to(dev), vec, replay=stats).cpu(),
                            xp, tile, magenta.RECEPTIVE_RADIUS, BLEND, magenta.ALIGN,
                            on_tile=lambda done, total: self.tick(done / total))
            note = f"tiled: {tile}px tiles, {magenta.RECEPTIVE_RADIUS}px halo, {BLEND}px blend, shared statistics"
            if note not in self.notes:
                self.notes.append(note)
        return out[..., pad:pad + h0, pad:pad + w0]

    def _statistics(self, xp: torch.Tensor, vec: torch.Tensor) -> list[torch.Tensor]:
        """Instance-norm statistics of the whole image, from a copy small enough to run at once."""
        h, w = xp.shape[-2:]
        proxy = xp
        if h * w > self.max_pixels:
            s = math.sqrt(self.max_pixels / (h * w))
            proxy = resize(xp, (max(4, int(h * s) // 4 * 4), max(4, int(w * s) // 4 * 4)), self.opts.tileable)
        stats: list[torch.Tensor] = []
        magenta.transform(self.nets, proxy.to(self.nets.device), vec, record=stats)
        return stats


def stylize_fast(content: np.ndarray, style: ArrayOrList, options: Optional[FastOptions] = None, *,
                 masks: Optional[Sequence[np.ndarray]] = None, progress: Optional[ProgressCallback] = None,
                 cancel: Optional[CancelToken] = None) -> StyleResult:
    """Feed-forward style transfer; same arrays, masks, progress and cancel as core.style.stylize_ex.

    content: float32 H×W×{1,3,4} 0..1 display sRGB; style: one such array or several (blended by
    options.style_blend, or placed by `masks`: one H×W soft mask per style, uncovered areas keep the
    content). Returns StyleResult with the image at the content's exact size, alpha passed through."""
    t0 = time.perf_counter()
    opts = (options or FastOptions()).validate()
    content = inputs.check_image(content, "content")
    content_rgb = inputs.rgb(content)
    alpha = content[..., 3:4] if content.shape[2] == 4 else None
    styles = [inputs.rgb(s) for s in inputs.check_styles(style if isinstance(style, np.ndarray) else list(style))]
    H, W = content_rgb.shape[:2]
    mask_arr = inputs.check_masks(masks, len(styles), (H, W))
    blend = _blend_weights(opts.style_blend, len(styles))
    device = pick_device(opts.device)
    nets = magenta.load(device)

    n_runs = len(styles) if mask_arr is not None else 1
    total = len(styles) + 1 + n_runs
    state = {"step": 0}

    def tick(fraction: float = 1.0, stage: str = "stylize", preview: Optional[np.ndarray] = None) -> None:
        if cancel is not None:
            cancel.check()
        if fraction >= 1.0:
            state["step"] += 1
        if progress is not None:
            progress(Progress(step=min(state["step"], total), total=total, stage=stage, preview=preview))

    # Style vectors.
    if opts.preserve_color == "histogram":
        styles = [color.match_color_histogram(s, content_rgb) for s in styles]
    vecs = []
    for s in styles:
        vecs.append(magenta.style_vector(nets, s))
        tick(stage="style vectors")
    if mask_arr is None:
        vecs = [sum(b * v for b, v in zip(blend, vecs))]
    if opts.strength < 1.0:  # the paper's interpolation towards the content's own style vector
        own = magenta.style_vector(nets, content_rgb)
        vecs = [opts.strength * v + (1.0 - opts.strength) * own for v in vecs]
    tick(stage="style vectors")

    # Working size: never above the content's unless asked; tileable needs multiples of the stride.
    edge = opts.size or default_working_edge(opts.full_edge or max(H, W))
    wh, ww = (H, W) if edge == max(H, W) else fit_long_edge(H, W, edge)
    if opts.tileable:
        wh, ww = fit_long_edge(H, W, edge, magenta.ALIGN)
    work = _to_working_size(content_rgb, (wh, ww), opts.tileable)
    runner = _Runner(nets, opts, _memory_budget(opts, device), lambda f=1.0: tick(f, "stylize"))
    outs = [runner(work, v) for v in vecs]
    if mask_arr is None:
        result = outs[0]
    else:
        m = resize(torch.from_numpy(mask_arr)[:, None], (wh, ww), opts.tileable).clamp(0, 1)
        cover = m.sum(0, keepdim=True)
        m = m / cover.clamp_min(1.0)  # overlapping masks share; uncovered areas keep the content
        result = sum(m[k:k + 1] * outs[k] for k in range(len(outs))) + (1 - m.sum(0, keepdim=True)) * work
    image = _to_output_size(result.clamp(0, 1), content_rgb, work, opts)
    if opts.preserve_color == "luminance":
        image = color.recombine_luminance(color.luminance(image), content_rgb)
    if alpha is not None:
        image = np.concatenate([image, alpha], axis=2)
    notes = list(runner.notes)
    if (wh, ww) != (H, W):
        notes.append(f"network ran at {ww}×{wh}, output {W}×{H}")
    tick(0.0, "done", preview=image[..., :3])
    return StyleResult(image=image, losses={}, device=str(device), backbone="magenta", steps=state["step"],
                       seconds=time.perf_counter() - t0, notes=notes)


def default_working_edge(long_edge: int) -> int:
    """The network's working long edge for an image with this long edge when no size is given."""
    return min(max(DEFAULT_WORKING_EDGE, math.ceil(long_edge / MAX_UPSCALE)), long_edge)


def _blend_weights(weights: Optional[Sequence[float]], n: int) -> list[float]:
    if weights is None:
        return [1.0 / n] * n
    w = [float(v) for v in weights]
    if len(w) != n or any(not math.isfinite(v) or v < 0 for v in w) or sum(w) <= 0:
        raise UserError(f"style_blend: expected {n} non-negative weights, not all zero, got {list(weights)}")
    return [v / sum(w) for v in w]


def _to_working_size(content: np.ndarray, size: tuple[int, int], wrap: bool) -> torch.Tensor:
    """The H×W×3 content as a 1×3×h×w tensor at the working size. Plain images shrink with OpenCV's
    area averaging (8× faster than torch's antialiased bilinear at 4096², bench_fast.py); tileable
    ones with the periodic resampler."""
    if tuple(content.shape[:2]) == tuple(size):
        return _to_tensor(content)
    if wrap:
        return resize(_to_tensor(content), size, True)
    interpolation = cv2.INTER_AREA if size[0] <= content.shape[0] and size[1] <= content.shape[1] else cv2.INTER_LINEAR
    return _to_tensor(cv2.resize(np.ascontiguousarray(content), (size[1], size[0]), interpolation=interpolation))


def _to_output_size(result: torch.Tensor, content: np.ndarray, work: torch.Tensor, opts: FastOptions) -> np.ndarray:
    """The stylized working image (1×3×h×w) as an H×W×3 array at the content's size; when it was
    smaller, the content's own fine detail (what the downscale removed) is added back to the luminance.

    up(result) + d·(Y_full − up(Y_work)) is computed as up(result − d·Y_work) + d·Y_full (the
    upsampling is linear): one upsampling instead of two, OpenCV's bilinear for plain images (the same
    half-pixel grid as torch's, 10× faster at 4096²), into a buffer from torch's allocator (fresh NumPy
    and OpenCV buffers of this size sometimes stalled for seconds on first write on the loaded machine,
    torch's did not in the same test), then the detail added and clamped in bands of rows kept in cache."""
    H, W = content.shape[:2]
    if tuple(result.shape[-2:]) == (H, W):
        return result[0].permute(1, 2, 0).contiguous().numpy()
    detail = opts.detail if opts.detail > 0 and result.shape[-1] < W else 0.0
    if detail:
        result = result - detail * (work * LUMA.view(1, 3, 1, 1)).sum(1, keepdim=True)
    if opts.tileable:
        out = resize(result, (H, W), True)[0].permute(1, 2, 0).contiguous()
    else:
        small = np.ascontiguousarray(result[0].permute(1, 2, 0).numpy(), dtype=np.float32)
        shrinking = result.shape[-2] > H or result.shape[-1] > W  # a working size above the content's
        out = torch.empty((H, W, 3), dtype=torch.float32)
        cv2.resize(small, (W, H), dst=out.numpy(), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    weights = (detail * LUMA).numpy()
    for top in range(0, H, DETAIL_BAND):
        band = out[top:top + DETAIL_BAND]
        if detail:
            rows = np.ascontiguousarray(content[top:top + DETAIL_BAND])
            band.add_(torch.from_numpy(rows.reshape(-1, 3) @ weights).view(band.shape[0], W, 1))
        band.clamp_(0, 1)
    return out.numpy()
