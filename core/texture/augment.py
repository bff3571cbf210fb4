"""Differentiable augmentation (Zhao et al. 2020, "DiffAugment") for a one-image training set.

The same random transform family is applied to real and generated batches before the discriminator, and
it is differentiable, so the generator still gets gradients; the discriminator cannot simply memorise the
few thousand overlapping crops of one exemplar. Randomness comes from torch's global generator, which
`train` seeds."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def diff_augment(x: torch.Tensor, ops: list[str]) -> torch.Tensor:
    for op in ops:
        x = _OPS[op](x)
    return x


def _color(x: torch.Tensor) -> torch.Tensor:
    b = x.shape[0]
    x = x + (torch.rand(b, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5) * 0.5  # brightness
    if x.shape[1] >= 3:
        mean = x.mean(1, keepdim=True)
        x = (x - mean) * (torch.rand(b, 1, 1, 1, device=x.device, dtype=x.dtype) * 1.0 + 0.5) + mean  # saturation
    mean = x.mean((1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(b, 1, 1, 1, device=x.device, dtype=x.dtype) * 0.5 + 0.75) + mean  # contrast


def _translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    b, _, h, w = x.shape
    sy, sx = max(1, int(h * ratio + 0.5)), max(1, int(w * ratio + 0.5))
    ty = torch.randint(-sy, sy + 1, (b, 1, 1), device=x.device)
    tx = torch.randint(-sx, sx + 1, (b, 1, 1), device=x.device)
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    gy = torch.clamp(gy[None] + ty + 1, 0, h + 1)
    gx = torch.clamp(gx[None] + tx + 1, 0, w + 1)
    pad = F.pad(x, (1, 1, 1, 1))  # out-of-range samples read the zero border
    bi = torch.arange(b, device=x.device).view(b, 1, 1)
    return pad.permute(0, 2, 3, 1)[bi, gy, gx].permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device)
    ox = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device)
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    dy = gy[None] - (oy - ch // 2)
    dx = gx[None] - (ox - cw // 2)
    inside = (dy >= 0) & (dy < ch) & (dx >= 0) & (dx < cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_OPS = {"color": _color, "translation": _translation, "cutout": _cutout}
