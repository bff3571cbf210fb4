"""Texture statistics without downloaded weights.

- `feature_swd`: sliced Wasserstein distance between the features of a fixed-seed random multi-scale CNN
  (core.backbones.offline.OfflineBackbone, seed 0) of two images: do they have the same local statistics
  at 1, 1/2, 1/4 and 1/8 scale? 0 = identical distributions.
- `color_w1`: per-channel 1-D Wasserstein-1 distance of pixel values (the palette), mean over channels.
- `nearest_patch_distance`: mean RMS distance from patches of a generated image to their nearest exemplar
  patch; near 0 means the output is a copy of the exemplar.
- `self_patch_distance`: the same for the exemplar against itself, excluding overlapping neighbours: how
  far a *different* part of the same material is. It sets the "not a copy" threshold.
All inputs are H×W×3 float32 0..1; sizes may differ."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..backbones.offline import load_offline

SWD_LAYERS = ("e0", "s0", "e1", "s1", "e2", "s2", "e3", "s3")
COPY_FRACTION = 0.5  # "not a copy": nearest-patch distance must exceed this × the exemplar's self distance


def _features(img: np.ndarray) -> dict[str, torch.Tensor]:
    net = load_offline(0, "cpu")
    x = torch.from_numpy(np.ascontiguousarray(img[..., :3].transpose(2, 0, 1)))[None].float()
    with torch.no_grad():
        feats = net(x)
    out = {}
    for name in SWD_LAYERS:
        f = feats[name][0]
        m = 4  # drop the zero-padded border of each map
        if f.shape[1] > 2 * m + 4 and f.shape[2] > 2 * m + 4:
            f = f[:, m:-m, m:-m]
        out[name] = f.flatten(1).T  # N×C samples
    return out


def _quantiles(v: torch.Tensor, n: int) -> torch.Tensor:
    """n evenly spaced quantiles of each column of v (N×P), so different sample counts compare."""
    s, _ = torch.sort(v, 0)
    pos = torch.linspace(0, s.shape[0] - 1, n)
    lo = pos.floor().long()
    hi = pos.ceil().long()
    w = (pos - lo)[:, None]
    return s[lo] * (1 - w) + s[hi] * w


def feature_swd(a: np.ndarray, b: np.ndarray, projections: int = 128, seed: int = 0) -> float:
    """Mean over layers of the sliced W1 distance, each layer normalised by the spread of `b`'s projections
    (b is the reference, e.g. the exemplar), so all scales weigh the same."""
    fa, fb = _features(a), _features(b)
    g = torch.Generator().manual_seed(seed)
    total = []
    for name in SWD_LAYERS:
        xa, xb = fa[name], fb[name]
        d = torch.randn(xa.shape[1], projections, generator=g)
        d /= d.norm(dim=0, keepdim=True)
        pa, pb = xa @ d, xb @ d
        n = 512
        qa, qb = _quantiles(pa, n), _quantiles(pb, n)
        scale = pb.std(0).clamp_min(1e-6)
        total.append(float(((qa - qb).abs().mean(0) / scale).mean()))
    return float(np.mean(total))


def color_w1(a: np.ndarray, b: np.ndarray) -> float:
    n = 1024
    qs = np.linspace(0, 1, n)
    return float(np.mean([np.abs(np.quantile(a[..., c], qs) - np.quantile(b[..., c], qs)).mean()
                          for c in range(min(a.shape[2], b.shape[2], 3))]))


def _patches(img: np.ndarray, size: int, stride: int) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(img[..., :3].transpose(2, 0, 1)))[None].float()
    return F.unfold(x, size, stride=stride)[0].T  # N×(3·size²)


def _nearest(q: torch.Tensor, ref: torch.Tensor, exclude: torch.Tensor | None = None) -> torch.Tensor:
    """RMS-per-value distance of each row of q to its nearest row of ref."""
    d2 = (q * q).sum(1, keepdim=True) - 2 * q @ ref.T + (ref * ref).sum(1)[None]
    if exclude is not None:
        d2 = d2.masked_fill(exclude, float("inf"))
    return (d2.clamp_min(0).min(1).values / q.shape[1]).sqrt()


def nearest_patch_distance(generated: np.ndarray, exemplar: np.ndarray, size: int = 16, samples: int = 256,
                           seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    ref = _patches(exemplar, size, 1)
    h, w = generated.shape[:2]
    ys = rng.integers(0, h - size + 1, samples)
    xs = rng.integers(0, w - size + 1, samples)
    q = torch.stack([torch.from_numpy(np.ascontiguousarray(generated[y:y + size, x:x + size, :3].transpose(2, 0, 1)))
                     .flatten().float() for y, x in zip(ys, xs)])
    return float(_nearest(q, ref).mean())


def self_patch_distance(exemplar: np.ndarray, size: int = 16, stride: int = 6) -> float:
    """Mean distance from each exemplar patch to its nearest exemplar patch at least `size` px away."""
    h, w = exemplar.shape[:2]
    ref = _patches(exemplar, size, 1)
    ny, nx = h - size + 1, w - size + 1
    ry, rx = torch.meshgrid(torch.arange(ny), torch.arange(nx), indexing="ij")
    ry, rx = ry.flatten(), rx.flatten()
    qy, qx = torch.meshgrid(torch.arange(0, ny, stride), torch.arange(0, nx, stride), indexing="ij")
    qy, qx = qy.flatten(), qx.flatten()
    q = ref[qy * nx + qx]
    near = ((qy[:, None] - ry[None]).abs() < size) & ((qx[:, None] - rx[None]).abs() < size)
    return float(_nearest(q, ref, near).mean())


def copy_threshold(exemplar: np.ndarray, size: int = 16) -> float:
    return COPY_FRACTION * self_patch_distance(exemplar, size)
