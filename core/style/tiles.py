"""Tile geometry of the style engine: which pixels a tile reads, which features it owns, how big tiles are.

A tile is a core (the pixels whose features it contributes) plus a halo of context around it. With
wrap-around (tileable images) the halo takes pixels modulo the image size; otherwise it is clipped at
the border. `Window` hides the difference between a tile and the whole image from the loss terms.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Optional

import torch
import torch.nn as nn


@dataclass
class Tile:
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


def tiles(h: int, w: int, tile: int, halo: int, offset: tuple[int, int], wrap: bool, device) -> Iterator[Tile]:
    """The tiles covering an h×w image, their grid shifted by `offset` pixels."""
    for ys in _spans(h, tile, offset[0], wrap):
        rows, ly = _axis(h, ys, halo, wrap, device)
        for xs in _spans(w, tile, offset[1], wrap):
            cols, lx = _axis(w, xs, halo, wrap, device)
            yield Tile(rows, cols, ys, xs, ly, lx)


def crop(feat: torch.Tensor, t: Tile, stride: int, img_hw: tuple[int, int], wrap: bool) -> torch.Tensor:
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


def feature_index(span: tuple[int, int], stride: int, n_img: int, wrap: bool, device) -> torch.Tensor:
    """Indices into a whole-image feature map (of this stride) of a core span."""
    s, e = span
    n_feat = n_img // stride
    if not wrap and e == n_img:
        return torch.arange(s // stride, n_feat, device=device)
    idx = torch.arange(s // stride, s // stride + (e - s) // stride, device=device)
    return idx % n_feat if wrap else idx


@dataclass
class Window:
    """What one network evaluation sees: the whole image (tile None) or one tile's core.

    Loss terms read their inputs through it, so the same term code runs whole or tiled."""

    tile: Optional[Tile]
    hw: tuple[int, int]
    wrap: bool

    def features(self, feat: torch.Tensor, stride: int) -> torch.Tensor:
        """This window's part of a feature map computed on its region."""
        return feat if self.tile is None else crop(feat, self.tile, stride, self.hw, self.wrap)

    def of_whole(self, whole_map: torch.Tensor, stride: int) -> torch.Tensor:
        """This window's part of a whole-image map at a layer's resolution (targets, masks, weights)."""
        if self.tile is None:
            return whole_map
        ry = feature_index(self.tile.core_y, stride, self.hw[0], self.wrap, whole_map.device)
        rx = feature_index(self.tile.core_x, stride, self.hw[1], self.wrap, whole_map.device)
        return whole_map[:, :, ry[:, None], rx[None, :]]


# ----------------------------------------------------------------------------------------------
# network geometry and tile size

_STRIDES: dict[int, dict[str, int]] = {}
_BYTES_PER_PIXEL: dict[int, float] = {}


def layer_strides(net: nn.Module, device: torch.device) -> dict[str, int]:
    """Downsampling factor of each tapped layer, probed once per network."""
    key = id(net)
    if key not in _STRIDES:
        n = 4 * net.align
        with torch.no_grad():
            feats = net(torch.zeros(1, 3, n, n, device=device))
        _STRIDES[key] = {k: n // v.shape[-1] for k, v in feats.items()}
    return _STRIDES[key]


def bytes_per_pixel(net: nn.Module, device: torch.device) -> float:
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


def tile_size_for(h: int, w: int, net: nn.Module, bpp: float, budget: float, image_buffers: int,
                  forced: Optional[int]) -> Optional[int]:
    """Tile edge for an h×w optimisation (None: whole image fits the memory budget).

    image_buffers: image-sized float buffers the optimiser keeps besides the network's activations."""
    fixed = h * w * 3 * 4 * image_buffers
    tile = forced
    if tile is None and h * w * bpp + fixed > budget:
        avail = max(budget - fixed, budget * 0.25)
        tile = int(math.sqrt(avail / bpp)) - 2 * net.halo
        tile = max(net.align * 4, tile // net.align * net.align)
    if tile is not None:
        tile = max(net.align, tile // net.align * net.align)
        if tile >= max(h, w):
            tile = None
    return tile
