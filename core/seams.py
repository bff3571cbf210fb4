"""Seam ratio: how visible the wrap-around edges of a texture are compared with its interior."""
from __future__ import annotations

import numpy as np


def seam_ratio(image: np.ndarray) -> float:
    """Mean |difference| across the wrap edges (last→first column and row) divided by the
    mean |difference| between interior neighbouring columns and rows. ~1.0 means tileable."""
    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 2:
        img = img[..., None]
    img = img[..., :3]
    wrap = np.concatenate([
        np.abs(img[:, -1] - img[:, 0]).ravel(),
        np.abs(img[-1, :] - img[0, :]).ravel(),
    ]).mean()
    interior = np.concatenate([
        np.abs(np.diff(img, axis=1)).ravel(),
        np.abs(np.diff(img, axis=0)).ravel(),
    ]).mean()
    return float(wrap / max(interior, 1e-12))
