"""The objective of one scale — α·content + β·style + λ·TV — built from loss terms, evaluated whole or tiled.

Tiled evaluation keeps style statistics global: a first pass (no grad) sums every term's pieces
(Σ m·f fᵀ, Σ m, squared content differences) over all tiles; a second pass backpropagates each tile's
surrogate against the whole image's statistics. Tiles carry a halo of context, their grid shifts every
evaluation, and tileable images wrap around, so no tile seams form.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import CancelToken
from ..wrap import circular_padding
from . import losses
from .options import StyleOptions
from .precision import Autocast
from .terms import ContentLoss, LayerApply, Scale, StyleLoss, Sum, Term, TVLoss, add_stats
from .tiles import Window, crop, feature_index, layer_strides, tiles

Grams = dict[str, torch.Tensor]


def smallest_edge(h: int, w: int, tile: Optional[int]) -> int:
    """The smallest edge of the images the network sees for an h×w image (its tiles when tiled)."""
    return min(h, w) if tile is None else min(h, w, tile)


@contextlib.contextmanager
def padding_for(net: nn.Module, wrap: bool, edge: str = "zeros", min_edge: Optional[int] = None) -> Iterator[None]:
    """Wrap-around padding everywhere for tileable jobs; otherwise the backbone's `border_convs()` (VGG:
    every convolution; else its first padded one) pad with `edge` (zeros/replicate/reflect).

    min_edge: the smallest edge of the images fed meanwhile. Reflection needs two pixels at the deepest
    convolution (1/align of the image); below that, replicate stands in."""
    if wrap:
        with circular_padding(net, True):
            yield
        return
    align = int(getattr(net, "align", 1))
    if edge == "reflect" and min_edge is not None and min_edge < 2 * align:
        edge = "replicate"
    convs = net.border_convs() if hasattr(net, "border_convs") else [
        next(m for m in net.modules() if isinstance(m, nn.Conv2d) and any(p > 0 for p in m.padding))]
    old = [c.padding_mode for c in convs]
    for c in convs:
        c.padding_mode = edge
    try:
        yield
    finally:
        for c, mode in zip(convs, old):
            c.padding_mode = mode


def style_targets(net: nn.Module, strides: dict[str, int], img: torch.Tensor, tile: Optional[int] = None,
                  autocast: Autocast = contextlib.nullcontext, edge: str = "zeros") -> Grams:
    """Global Gram targets {layer: C×C} of one style image (tiled when it is large)."""
    h, w = img.shape[-2:]
    acc: dict[str, tuple] = {}
    with torch.no_grad(), padding_for(net, False, edge, smallest_edge(h, w, tile)):
        regions = [None] if tile is None else list(tiles(h, w, tile, net.halo, (0, 0), False, img.device))
        for t in regions:
            with autocast():
                feats = net(img if t is None else img[:, :, t.rows][:, :, :, t.cols])
            for k in net.style_layers:
                f = feats[k] if t is None else crop(feats[k], t, strides[k], (h, w), False)
                s, m = losses.gram_sums(f)
                acc[k] = (s, m) if k not in acc else (acc[k][0] + s, acc[k][1] + m)
    return {k: losses.gram_from_sums(*v) for k, v in acc.items()}


class Objective:
    """Σ weight · part over named parts ({"content": (α, term), "style": (β, term), ...}).

    __call__(x) -> (total, {part: unweighted value}, d total / d x).
    loss_scale: backpropagate loss_scale·total and divide the gradient by it (float16 autocast keeps
    small gradients from flushing to zero); halved and recomputed whenever the gradient overflows.
    proximal: parts the optimiser applies itself after each step (`prox`), with a closed-form proximal
    step, instead of through the gradient: their values are reported, their gradient is left out."""

    def __init__(self, net: nn.Module, parts: dict[str, tuple[float, Term]], hw: tuple[int, int], wrap: bool,
                 tile: Optional[int], rng: np.random.Generator, autocast: Autocast = contextlib.nullcontext,
                 cancel: Optional[CancelToken] = None, edge: str = "zeros", loss_scale: float = 1.0,
                 proximal: Optional[dict[str, tuple[float, Term]]] = None) -> None:
        self.net, self.parts, self.hw, self.wrap = net, parts, tuple(hw), wrap
        self.tile, self.rng, self.autocast = tile, rng, autocast
        self.cancel = cancel  # checked per tile too: a big tiled step can take minutes
        self.edge, self.loss_scale = edge, float(loss_scale)
        self.proximal = dict(proximal or {})

    def _net(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        with self.autocast():
            return self.net(x)

    def __call__(self, x: torch.Tensor) -> tuple[float, dict[str, float], torch.Tensor]:
        with padding_for(self.net, self.wrap, self.edge, smallest_edge(*self.hw, self.tile)):
            while True:
                total, parts, grad = self._whole(x) if self.tile is None else self._tiled(x)
                if self.loss_scale <= 1.0 or bool(torch.isfinite(grad).all()):
                    break
                self.loss_scale = max(1.0, self.loss_scale / 2)  # overflow: back off and recompute
        if self.proximal:
            with torch.no_grad():
                window = Window(None, self.hw, self.wrap)
                for name, (w, term) in self.proximal.items():
                    parts[name] = float(term.value(term.stats({"input": x}, window)))
                    total += w * parts[name]
        return total, parts, grad

    def prox(self, x: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        """x after the proximal step of every proximal part, `step` the optimiser's per-element step size
        (Adam: lr / (√v̂ + ε)); x itself when there are none."""
        for w, term in self.proximal.values():
            x = term.prox(x, w * step)
        return x

    def _whole(self, x: torch.Tensor):
        xv = x.detach().requires_grad_(True)
        feats = {**self._net(xv), "input": xv}
        window = Window(None, self.hw, self.wrap)
        values = {name: term.value(term.stats(feats, window)) for name, (_w, term) in self.parts.items()}
        total = sum(w * values[name] for name, (w, _t) in self.parts.items())
        (grad,) = torch.autograd.grad(total * self.loss_scale if self.loss_scale != 1.0 else total, xv)
        if self.loss_scale != 1.0:
            grad = grad / self.loss_scale
        return float(total.detach()), {k: float(v.detach()) for k, v in values.items()}, grad

    def _tiled(self, x: torch.Tensor):
        h, w = self.hw
        align, halo = self.net.align, self.net.halo
        span = max(1, self.tile // align)
        offset = (int(self.rng.integers(span)) * align, int(self.rng.integers(span)) * align)
        regions = list(tiles(h, w, self.tile, halo, offset, self.wrap, x.device))
        on_features = {n: p for n, p in self.parts.items() if not p[1].reads_image}
        on_image = {n: p for n, p in self.parts.items() if p[1].reads_image}
        # Pass 1: global statistics (no grad).
        totals: dict = {}
        with torch.no_grad():
            for t in regions:
                if self.cancel is not None:
                    self.cancel.check()
                feats = self._net(x[:, :, t.rows][:, :, :, t.cols])
                window = Window(t, self.hw, self.wrap)
                for name, (_w, term) in on_features.items():
                    s = term.stats(feats, window)
                    totals[name] = s if name not in totals else add_stats(totals[name], s)
            values = {name: float(term.value(totals[name])) for name, (_w, term) in on_features.items()}
        # Pass 2: per-tile gradients against the global statistics.
        grad = torch.zeros_like(x)
        for t in regions:
            if self.cancel is not None:
                self.cancel.check()
            xt = x[:, :, t.rows][:, :, :, t.cols].detach().requires_grad_(True)
            feats = self._net(xt)
            window = Window(t, self.hw, self.wrap)
            surrogate = sum(wt * term.surrogate(feats, window, totals[name])
                            for name, (wt, term) in on_features.items())
            (gt,) = torch.autograd.grad(surrogate * self.loss_scale if self.loss_scale != 1.0 else surrogate, xt)
            if self.loss_scale != 1.0:
                gt = gt / self.loss_scale
            grad.index_add_(2, t.rows, torch.zeros(1, 3, len(t.rows), w, device=x.device).index_add_(3, t.cols, gt))
        # Terms on the image itself: cheap, so whole.
        if on_image:
            xv = x.detach().requires_grad_(True)
            window = Window(None, self.hw, self.wrap)
            image_values = {name: term.value(term.stats({"input": xv}, window)) for name, (_w, term) in on_image.items()}
            (g_img,) = torch.autograd.grad(sum(on_image[n][0] * v for n, v in image_values.items()), xv)
            grad += g_img
            values.update({n: float(v.detach()) for n, v in image_values.items()})
        values = {name: values[name] for name in self.parts}
        total = sum(w * values[name] for name, (w, _t) in self.parts.items())
        return float(total), values, grad


def _content_targets(net: nn.Module, strides: dict[str, int], img: torch.Tensor, tile: Optional[int],
                     wrap: bool, autocast: Autocast, edge: str, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """Whole-image content feature maps of `layers` (assembled from tiles when tiled)."""
    h, w = img.shape[-2:]
    with torch.no_grad(), padding_for(net, wrap, edge, smallest_edge(h, w, tile)):
        if tile is None:
            with autocast():
                f = net(img)
            return {k: f[k].float() for k in layers}
        out: dict[str, torch.Tensor] = {}
        for t in tiles(h, w, tile, net.halo, (0, 0), wrap, img.device):
            with autocast():
                f = net(img[:, :, t.rows][:, :, :, t.cols])
            window = Window(t, (h, w), wrap)
            for k in layers:
                s = strides[k]
                part = window.features(f[k], s).float()
                if k not in out:
                    out[k] = torch.zeros(1, part.shape[1], h // s, w // s, device=img.device)
                ry = feature_index(t.core_y, s, h, wrap, img.device)
                rx = feature_index(t.core_x, s, w, wrap, img.device)
                out[k][:, :, ry[:, None], rx[None, :]] = part
        return out


def build_objective(net: nn.Module, content: torch.Tensor, style_grams: Sequence[Grams],
                    masks: Optional[torch.Tensor], opts: StyleOptions, tile: Optional[int] = None,
                    rng: Optional[np.random.Generator] = None, autocast: Autocast = contextlib.nullcontext,
                    cancel: Optional[CancelToken] = None, loss_scale: float = 1.0, guides=None) -> Objective:
    """The objective of one scale: α·Σ content + β·Σ style + λ·TV, as `opts` asks.

    content: 1×3×H×W; style_grams: one {layer: Gram} per style; masks: S×1×H×W soft masks (one per
    style) or None (several styles are then blended into one target). guides: render-pass guidance at
    this scale (core.animation.terms.ScaledGuides): an outline content term and a temporal term."""
    strides = layer_strides(net, content.device)
    wrap = opts.tileable
    hw = tuple(content.shape[-2:])
    grams = list(style_grams)
    if masks is None and len(grams) > 1:  # blend several styles without masks
        grams = [{k: sum(g[k] for g in grams) / len(grams) for k in grams[0]}]
    edge = opts.resolved("padding") or "zeros"
    content_layers = tuple(net.content_layers)
    outline = guides is not None and guides.outline_weight is not None
    # Outlines are resolved at finer layers than the content layer (relu4_2 sees 8×8 px cells), so the
    # outline term also reads the backbone's `outline_layers` (VGG: relu2_1, relu3_1).
    outline_layers = tuple(dict.fromkeys([k for k in getattr(net, "outline_layers", ()) if k in strides]
                                         + list(content_layers))) if outline else ()
    targets = _content_targets(net, strides, content, tile, wrap, autocast, edge,
                               tuple(dict.fromkeys(content_layers + outline_layers)))
    content_term = Sum([Scale(LayerApply(ContentLoss(targets[k]), k, strides[k]), 1.0 / max(1, len(content_layers)))
                        for k in content_layers])

    decay = opts.resolved("style_layer_weights") == "decay" and hasattr(net, "style_layers_decay")
    style_layers = dict(net.style_layers_decay if decay else net.style_layers)
    wsum = sum(style_layers.values())
    masks_at = {}
    if masks is not None:
        for s in set(strides[k] for k in style_layers):
            masks_at[s] = masks if s == 1 else F.avg_pool2d(masks, s)
    style_term = Sum([Scale(LayerApply(StyleLoss(g[k], None if masks is None else masks_at[strides[k]][i:i + 1]),
                                       k, strides[k]),
                            style_layers[k] / wsum / len(grams))
                      for k in style_layers for i, g in enumerate(grams)])

    # This is the formula; new parts (e.g. a temporal term) are added here with their weight.
    parts: dict[str, tuple[float, Term]] = {
        "content": (float(opts.content_weight), content_term),
        "style": (float(opts.resolved("style_weight")), style_term),
        "tv": (float(opts.resolved("tv_weight")), TVLoss(wrap)),
    }
    if outline:
        # Added to the unguided content term, weighted by α like it: flat areas keep their pull, and
        # outlines get (1 + strength)× the content pull at the content layer and `strength`× at finer ones.
        parts["outline"] = (float(opts.content_weight),
                            Sum([LayerApply(guides.outline_loss(targets[k]), k, strides[k])
                                 for k in outline_layers]))
    proximal: dict[str, tuple[float, Term]] = {}
    if guides is not None and guides.temporal is not None:
        # γ (inside the per-pixel weight) is relative to β: the temporal term resists the style term's
        # pull away from the warped previous frame, so their balance, not γ alone, sets the flicker. An
        # absolute γ lost 30× of its hold when the default β went from 10 to 300 (issue 13).
        temporal = (float(opts.resolved("style_weight")), guides.temporal)
        # Under Adam it is a proximal step: Adam's first step moves every pixel by a full lr whatever
        # the weights (m̂/√v̂ = ±1), so a pixel starting on its warped target was knocked off by lr and
        # rang back for tens of steps; the closed-form step holds it at the balance from the start.
        if (opts.resolved("optimizer") or "adam") == "adam":
            proximal["temporal"] = temporal
        else:
            parts["temporal"] = temporal
    return Objective(net, parts, hw, wrap, tile, rng or np.random.default_rng(opts.seed), autocast, cancel,
                     edge, loss_scale, proximal)


def make_objective(net: nn.Module, content: torch.Tensor, styles: Sequence[torch.Tensor], opts: StyleOptions, *,
                   masks: Optional[torch.Tensor] = None, tile: Optional[int] = None,
                   rng: Optional[np.random.Generator] = None) -> Objective:
    """Style targets and objective in one call, float32 (for tests, benchmarks and tools)."""
    strides = layer_strides(net, content.device)
    edge = opts.resolved("padding") or "zeros"
    return build_objective(net, content, [style_targets(net, strides, s, edge=edge) for s in styles], masks, opts,
                           tile, rng)
