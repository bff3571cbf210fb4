"""The per-pixel guides a frame brings to the style objective, and the two loss terms they feed:
the temporal term (Ruder et al. 2016) and the per-pixel content weight. Torch only, no engine state."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class FrameGuides:
    """Per-pixel guides at the content's size (all optional).

    init: H×W×3 start image (the warped previous stylized frame).
    temporal_target: H×W×3 image the output should stay close to where `temporal_weight` > 0.
    temporal_weight: H×W, γ × reliability mask (0 at disocclusions and motion boundaries).
    content_weight: H×W per-pixel weight of the content loss (1 = unguided)."""

    init: Optional[np.ndarray] = None
    temporal_target: Optional[np.ndarray] = None
    temporal_weight: Optional[np.ndarray] = None
    content_weight: Optional[np.ndarray] = None

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
            temporal = TemporalTerm(tensor(self.temporal_target), tensor(self.temporal_weight).clamp_min(0))
        return ScaledGuides(init=tensor(self.init), temporal=temporal, content_weight=tensor(self.content_weight))


class TemporalTerm:
    """Σ c·(x − ω)² / D over pixels and channels (Ruder et al. eq. 3): c = γ·reliability, ω = the
    warped previous output. Pixel-wise, so a tiled objective evaluates it on the whole image."""

    name = "temporal"

    def __init__(self, target: torch.Tensor, weight: torch.Tensor) -> None:
        self.target, self.weight = target, weight

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (self.weight * (x - self.target) ** 2).sum() / x.numel()


@dataclass
class ScaledGuides:
    init: Optional[torch.Tensor]
    temporal: Optional[TemporalTerm]
    content_weight: Optional[torch.Tensor]

    def content_weight_at(self, feature_hw: tuple[int, int]) -> Optional[torch.Tensor]:
        """The content weight averaged down to a feature map's size (1×1×h×w)."""
        if self.content_weight is None:
            return None
        return F.adaptive_avg_pool2d(self.content_weight, feature_hw)
