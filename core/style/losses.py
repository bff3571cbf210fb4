"""Every loss of the style engine, in one place.

Grams are normalised by the (mask-weighted) pixel count and the channel count; the content and
style losses are normalised by the target's energy, so α and β mean the same for every backbone
and every layer (per-layer weights then only express preference, not scale compensation).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F


def gram_sums(feat: torch.Tensor, mask: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Un-normalised Gram pieces of a 1×C×H×W feature map: (Σ m·f fᵀ, Σ m).

    Sums over pixels add up across tiles, which is what keeps tiled statistics global."""
    f = feat.float().flatten(2)[0]  # C×N
    if mask is None:
        return f @ f.t(), torch.tensor(float(f.shape[1]), device=f.device)
    m = mask.float().flatten()
    return (f * m) @ f.t(), m.sum()


def gram_from_sums(s: torch.Tensor, mass: torch.Tensor) -> torch.Tensor:
    return s / (mass.clamp_min(1e-8) * s.shape[0])


def gram(feat: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Normalised Gram matrix (C×C) of a 1×C×H×W map, optionally weighted by a soft mask (H×W)."""
    return gram_from_sums(*gram_sums(feat, mask))


def style_loss(g: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared Gram difference relative to the target Gram's energy."""
    return ((g - target) ** 2).sum() / ((target ** 2).sum() + 1e-12)


def style_loss_grad_coeff(g: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """d style_loss / d g, for tiled optimisation where g is assembled from tile sums."""
    return 2.0 * (g - target) / ((target ** 2).sum() + 1e-12)


def content_loss(feat: torch.Tensor, target: torch.Tensor, energy: Optional[torch.Tensor] = None,
                 count: Optional[float] = None) -> torch.Tensor:
    """Mean squared feature difference relative to the target's mean energy.

    In tiles, pass the whole image's `energy` (mean target²) and pixel `count` so the tile losses sum
    to the whole-image loss."""
    diff = ((feat.float() - target.float()) ** 2).sum()
    if energy is None:
        energy = (target.float() ** 2).mean()
    if count is None:
        count = float(target.numel())
    return diff / (count * (energy + 1e-12))


def tv_loss(x: torch.Tensor, wrap: bool = False) -> torch.Tensor:
    """Total variation (mean squared neighbour difference); wrap-around for tileable images."""
    if wrap:
        dx = x - torch.roll(x, 1, dims=3)
        dy = x - torch.roll(x, 1, dims=2)
    else:
        dx = x[..., :, 1:] - x[..., :, :-1]
        dy = x[..., 1:, :] - x[..., :-1, :]
    return (dx ** 2).mean() + (dy ** 2).mean()


def resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A soft mask (1×1×H×W) at a feature map's size, by area averaging."""
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask
    return F.adaptive_avg_pool2d(mask, size)
