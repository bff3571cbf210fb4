"""Resizing for the style engine: antialiased linear or cubic resampling that can wrap around.

F.interpolate cannot treat an image as periodic, so coarse-to-fine scaling of a tileable image would
break its wrap edges. This separable resampler takes its taps modulo the size when `wrap` is set (and
clamps them otherwise), so resizing a tileable image keeps it tileable. Kernels: 'linear' (a tent,
smooth, never overshoots: masks, Adam moments) and 'cubic' (Keys, a = -0.5, as PIL's and torch's
antialiased bicubic: sharper, for images whose fine texture matters, e.g. the style image)."""
from __future__ import annotations

import math

import torch

KERNELS = ("linear", "cubic")


def _tent(t: torch.Tensor) -> torch.Tensor:
    return (1.0 - t.abs()).clamp_min(0.0)


def _keys_cubic(t: torch.Tensor, a: float = -0.5) -> torch.Tensor:
    t = t.abs()
    near = ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0
    far = ((a * t - 5.0 * a) * t + 8.0 * a) * t - 4.0 * a
    return torch.where(t <= 1.0, near, torch.where(t < 2.0, far, torch.zeros_like(t)))


def _taps(n_in: int, n_out: int, wrap: bool, device: torch.device,
          kernel: str = "linear") -> tuple[torch.Tensor, torch.Tensor]:
    scale = n_in / n_out
    stretch = max(1.0, scale)  # widen the kernel when shrinking: antialiasing
    support = (1.0 if kernel == "linear" else 2.0) * stretch
    centre = (torch.arange(n_out, dtype=torch.float64) + 0.5) * scale - 0.5
    n_taps = int(math.ceil(2 * support)) + 1
    first = torch.floor(centre - support).long() + 1
    idx = first[:, None] + torch.arange(n_taps)[None, :]
    dist = (idx.double() - centre[:, None]) / stretch
    w = _tent(dist) if kernel == "linear" else _keys_cubic(dist)
    if wrap:
        idx = idx % n_in
    else:
        idx = idx.clamp(0, n_in - 1)
    w = w / w.sum(dim=1, keepdim=True)
    return idx.to(device), w.float().to(device)


def _resample_dim(x: torch.Tensor, n_out: int, dim: int, wrap: bool, kernel: str) -> torch.Tensor:
    n_in = x.shape[dim]
    if n_in == n_out:
        return x
    idx, w = _taps(n_in, n_out, wrap, x.device, kernel)
    out = None
    shape = [1] * x.dim()
    shape[dim] = n_out
    for t in range(idx.shape[1]):
        term = x.index_select(dim, idx[:, t]) * w[:, t].view(shape).to(x.dtype)
        out = term if out is None else out + term
    return out


def resize(x: torch.Tensor, size: tuple[int, int], wrap: bool = False, kernel: str = "linear") -> torch.Tensor:
    """Resize a B×C×H×W tensor to `size` (h, w); `wrap` treats it as periodic (tileable).
    kernel 'cubic' can overshoot: clamp images to 0..1 afterwards."""
    if kernel not in KERNELS:
        raise ValueError(f"kernel '{kernel}' is not one of {KERNELS}")
    h, w = int(size[0]), int(size[1])
    return _resample_dim(_resample_dim(x, h, 2, wrap, kernel), w, 3, wrap, kernel)


def fit_long_edge(h: int, w: int, long_edge: int, multiple: int = 1) -> tuple[int, int]:
    """(h, w) scaled so max(h, w) == long_edge, each rounded to a multiple of `multiple` (at least one)."""
    s = long_edge / max(h, w)
    def r(v: int) -> int:
        return max(multiple, int(round(v * s / multiple)) * multiple)
    return r(h), r(w)
