"""Running a fully convolutional network over a large image in tiles, and wrap-around padding.

Each tile is run with `halo` pixels of real context on every side (at least the network's
receptive-field radius, so the halo hides the tile's own border), and neighbouring tiles overlap
by `blend` pixels with linear weights that sum to one, so no seam can form even where two tiles'
results differ slightly. Tile origins are multiples of `align` (the network's total stride)."""
from __future__ import annotations

from typing import Callable, Optional

import torch

TileFn = Callable[[torch.Tensor], torch.Tensor]


def wrap_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Pad B×C×H×W periodically by `pad` on every side (works for pad larger than the image)."""
    h, w = x.shape[-2:]
    rows = torch.arange(-pad, h + pad, device=x.device) % h
    cols = torch.arange(-pad, w + pad, device=x.device) % w
    return x.index_select(-2, rows).index_select(-1, cols)


def _cores(n: int, tile: int) -> list[tuple[int, int]]:
    """Non-overlapping core spans covering 0..n, each `tile` long except the last."""
    return [(a, min(a + tile, n)) for a in range(0, n, tile)]


def _ramp(n: int, start: int, stop: int, lo_blend: int, hi_blend: int, device) -> torch.Tensor:
    """Weights over [start, stop) of a span: rising over the first 2·lo_blend, falling over the last 2·hi_blend."""
    pos = torch.arange(start, stop, device=device, dtype=torch.float32) + 0.5
    w = torch.ones_like(pos)
    if lo_blend:
        w = torch.minimum(w, (pos - start) / (2 * lo_blend))
    if hi_blend:
        w = torch.minimum(w, (stop - pos) / (2 * hi_blend))
    return w.clamp(0, 1)


def run_tiled(fn: TileFn, x: torch.Tensor, tile: int, halo: int, blend: int, align: int,
              on_tile: Optional[Callable[[int, int], None]] = None) -> torch.Tensor:
    """fn applied to x (1×C×H×W) tile by tile; returns what fn(x) would give, assembled on x's device.

    tile: core edge (rounded down to `align`); halo: context on each side (rounded up to `align`);
    blend: half-width of the overlap band where neighbouring tiles are cross-faded.
    on_tile(done, total) is called after each tile (progress, cancellation)."""
    tile = max(align, tile // align * align)
    halo = -(-halo // align) * align
    blend = min(-(-blend // align) * align, halo, tile // 2)
    h, w = x.shape[-2:]
    ys, xs = _cores(h, tile), _cores(w, tile)
    out: Optional[torch.Tensor] = None
    weight = torch.zeros(1, 1, h, w, device=x.device)
    total, done = len(ys) * len(xs), 0
    for y0, y1 in ys:
        for x0, x1 in xs:
            # Output region: the core widened by `blend` into the neighbours (not past the image).
            oy0, oy1 = max(0, y0 - (blend if y0 > 0 else 0)), min(h, y1 + (blend if y1 < h else 0))
            ox0, ox1 = max(0, x0 - (blend if x0 > 0 else 0)), min(w, x1 + (blend if x1 < w else 0))
            iy0, iy1 = max(0, oy0 - halo), min(h, oy1 + halo)
            ix0, ix1 = max(0, ox0 - halo), min(w, ox1 + halo)
            res = fn(x[..., iy0:iy1, ix0:ix1])
            res = res[..., oy0 - iy0:oy1 - iy0, ox0 - ix0:ox1 - ix0].to(x.device)
            wy = _ramp(h, oy0, oy1, blend if y0 > 0 else 0, blend if y1 < h else 0, x.device)
            wx = _ramp(w, ox0, ox1, blend if x0 > 0 else 0, blend if x1 < w else 0, x.device)
            wt = wy[:, None] * wx[None, :]
            if out is None:
                out = torch.zeros(1, res.shape[1], h, w, device=x.device, dtype=res.dtype)
            out[..., oy0:oy1, ox0:ox1] += res * wt
            weight[..., oy0:oy1, ox0:ox1] += wt
            done += 1
            if on_tile is not None:
                on_tile(done, total)
    assert out is not None
    return out / weight.clamp_min(1e-8)
