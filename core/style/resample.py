"""Resizing for the style engine: antialiased linear resampling that can wrap around.

F.interpolate cannot treat an image as periodic, so coarse-to-fine scaling of a tileable image would
break its wrap edges. This separable tent-filter resampler takes its taps modulo the size when
`wrap` is set (and clamps them otherwise), so resizing a tileable image keeps it tileable."""
from __future__ import annotations

import math

import torch


def _taps(n_in: int, n_out: int, wrap: bool, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    scale = n_in / n_out
    radius = max(1.0, scale)  # widen the tent when shrinking: antialiasing
    centre = (torch.arange(n_out, dtype=torch.float64) + 0.5) * scale - 0.5
    n_taps = int(math.ceil(2 * radius)) + 1
    first = torch.floor(centre - radius).long() + 1
    idx = first[:, None] + torch.arange(n_taps)[None, :]
    w = (1.0 - (idx.double() - centre[:, None]).abs() / radius).clamp_min(0.0)
    if wrap:
        idx = idx % n_in
    else:
        idx = idx.clamp(0, n_in - 1)
    w = w / w.sum(dim=1, keepdim=True)
    return idx.to(device), w.float().to(device)


def _resample_dim(x: torch.Tensor, n_out: int, dim: int, wrap: bool) -> torch.Tensor:
    n_in = x.shape[dim]
    if n_in == n_out:
        return x
    idx, w = _taps(n_in, n_out, wrap, x.device)
    out = None
    shape = [1] * x.dim()
    shape[dim] = n_out
    for t in range(idx.shape[1]):
        term = x.index_select(dim, idx[:, t]) * w[:, t].view(shape).to(x.dtype)
        out = term if out is None else out + term
    return out


def resize(x: torch.Tensor, size: tuple[int, int], wrap: bool = False) -> torch.Tensor:
    """Resize a B×C×H×W tensor to `size` (h, w); `wrap` treats it as periodic (tileable)."""
    h, w = int(size[0]), int(size[1])
    return _resample_dim(_resample_dim(x, h, 2, wrap), w, 3, wrap)


def fit_long_edge(h: int, w: int, long_edge: int, multiple: int = 1) -> tuple[int, int]:
    """(h, w) scaled so max(h, w) == long_edge, each rounded to a multiple of `multiple` (at least one)."""
    s = long_edge / max(h, w)
    def r(v: int) -> int:
        return max(multiple, int(round(v * s / multiple)) * multiple)
    return r(h), r(w)
