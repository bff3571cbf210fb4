"""Colour statistics transfer: give a generated texture the exemplar's colour mean and covariance.

The GAN generators drift in hue on grey or nearly grey exemplars (a short training run does not pin the
three output channels together). Matching the mean and the full 3×3 covariance of each colour map to the
exemplar's maps the output's chroma onto the exemplar's: a grey exemplar (covariance along grey only)
gives a grey texture, and a coloured one keeps its palette."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .maps import MapInfo

EPS = 1e-5


def colour_stats(stack: np.ndarray, maps: Sequence[MapInfo]) -> dict[str, torch.Tensor]:
    """{'colour_mean': C, 'colour_cov': C×C} of the stacked exemplar (H×W×C), stored in the checkpoint."""
    x = torch.from_numpy(np.ascontiguousarray(stack.reshape(-1, stack.shape[-1]), dtype=np.float64))
    mean = x.mean(0)
    c = x - mean
    return {"colour_mean": mean.float(), "colour_cov": (c.T @ c / max(1, len(x) - 1)).float()}


def _sqrt_psd(m: torch.Tensor, inverse: bool) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(m)
    vals = vals.clamp_min(EPS)
    return vecs @ torch.diag(vals.rsqrt() if inverse else vals.sqrt()) @ vecs.T


def match_colour(stack: np.ndarray, maps: Sequence[MapInfo], stats: dict[str, torch.Tensor]) -> np.ndarray:
    """The generated stack (H×W×C 0..1) with each colour map's RGB moved to the exemplar's mean/covariance."""
    mean_t, cov_t = stats["colour_mean"].double(), stats["colour_cov"].double()
    out = stack.copy()
    c = 0
    for m in maps:
        if m.kind == "color" and m.channels >= 3:
            sl = slice(c, c + 3)
            x = torch.from_numpy(np.ascontiguousarray(stack[..., sl].reshape(-1, 3), dtype=np.float64))
            mu = x.mean(0)
            xc = x - mu
            cov = xc.T @ xc / max(1, len(x) - 1)
            a = _sqrt_psd(cov_t[sl, sl], False) @ _sqrt_psd(cov, True)
            y = xc @ a.T + mean_t[sl]
            out[..., sl] = y.clamp(0, 1).reshape(stack.shape[:-1] + (3,)).float().numpy()
        c += m.channels
    return out
