"""The per-pixel guides a frame brings to the style objective, and the loss terms they add to it
(core/style/terms.py's Term API): the temporal term of Ruder et al. 2016 and an extra content loss on
the outlines and creases of the depth/normal edge map."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..style.terms import ContentLoss, Term


@dataclass
class FrameGuides:
    """Per-pixel guides at the content's size (all optional).

    init: H×W×3 start image (the warped previous stylized frame).
    temporal_target: H×W×3 image the output should stay close to where `temporal_weight` > 0.
    temporal_weight: H×W, γ × reliability mask (0 at disocclusions and motion boundaries); the objective
        weighs the term by the style weight β, so γ is relative to it.
    outline_weight: H×W extra content weight on outlines (0 = unguided), see OutlineContentLoss."""

    init: Optional[np.ndarray] = None
    temporal_target: Optional[np.ndarray] = None
    temporal_weight: Optional[np.ndarray] = None
    outline_weight: Optional[np.ndarray] = None

    def at(self, size: tuple[int, int], device: torch.device, wrap: bool = False) -> "ScaledGuides":
        """The guides as 1×C×h×w tensors at one working scale."""
        from ..style.resample import resize

        def tensor(arr: Optional[np.ndarray]) -> Optional[torch.Tensor]:
            if arr is None:
                return None
            a = np.asarray(arr, np.float32)
            a = a[..., None] if a.ndim == 2 else a[..., :3]
            t = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].to(device)
            return t if tuple(t.shape[-2:]) == tuple(size) else resize(t, size, wrap)

        temporal = None
        if self.temporal_target is not None and self.temporal_weight is not None:
            temporal = TemporalLoss(tensor(self.temporal_target), tensor(self.temporal_weight).clamp_min(0))
        return ScaledGuides(init=tensor(self.init), temporal=temporal, outline_weight=tensor(self.outline_weight))


class TemporalLoss(Term):
    """Σ c·(x − ω)² / D over pixels and channels (Ruder et al. eq. 3): c = γ·reliability, ω = the
    warped previous output. Reads the image itself, so a tiled objective evaluates it whole. Under Adam
    the objective applies it as a proximal step (`prox`) instead of through the gradient."""

    reads_image = True

    def __init__(self, target: torch.Tensor, weight: torch.Tensor) -> None:
        self.target, self.weight = target, weight

    def stats(self, feats, window):
        x = feats["input"]
        return (self.weight * (x - self.target) ** 2).sum() / x.numel()

    def value(self, stats):
        return stats

    def prox(self, z: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        """argmin_x  Σ c·(x − ω)²/D + Σ (x − z)²/(2·step): the closed-form proximal step of this
        quadratic, per element; `step` (already times the term's weight) may vary per pixel."""
        a = 2.0 * step * self.weight / z.numel()
        return (z + a * self.target) / (1.0 + a)


class OutlineContentLoss(ContentLoss):
    """Σ w·(f − t)² over one layer, relative to the layer's whole content energy: an extra content pull
    where w > 0 (outlines), none elsewhere. The weight (1×1×H×W at the image's size) is max-pooled to
    the layer's grid, so a one-pixel outline keeps its full weight in every cell it touches (averaging
    diluted it to near-uniform at relu4_2's 1/8 grid and the guidance did nothing, issue 13)."""

    def __init__(self, target: torch.Tensor, weight: torch.Tensor) -> None:
        super().__init__(target)
        self.weight = F.adaptive_max_pool2d(weight, tuple(target.shape[-2:]))

    def stats(self, f, window, stride):
        diff = (f.float() - window.of_whole(self.target, stride).float()) ** 2
        return (diff * window.of_whole(self.weight, stride)).sum()


@dataclass
class ScaledGuides:
    """FrameGuides at one working scale, as the objective and the schedule use them."""

    init: Optional[torch.Tensor]
    temporal: Optional[TemporalLoss]
    outline_weight: Optional[torch.Tensor]

    def outline_loss(self, target: torch.Tensor) -> Optional[OutlineContentLoss]:
        """The outline term of one layer, or None when there is no outline weight."""
        return None if self.outline_weight is None else OutlineContentLoss(target, self.outline_weight)
