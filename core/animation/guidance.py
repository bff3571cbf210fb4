"""Structure from render passes: edge maps from Depth and Normal, the per-pixel content weight they
give, depth bands for stroke scale, and region masks from Object/Material Index and the world."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from .frames import NO_GEOMETRY_DEPTH, Frame

DEPTH_EDGE_RATIO = 0.05   # a relative depth step of 5% between neighbours counts as a full edge
NORMAL_EDGE_ANGLE = 0.5   # a normal change of |Δn| = 0.5 (~29°) between neighbours counts as a full edge


def _grad_magnitude(channels: np.ndarray) -> np.ndarray:
    """Largest central-difference magnitude over channels (H×W×C -> H×W)."""
    gy, gx = np.gradient(channels, axis=(0, 1))
    return np.sqrt((gx ** 2 + gy ** 2).sum(axis=2))


def depth_edges(depth: np.ndarray) -> np.ndarray:
    """H×W 0..1: silhouettes, where depth jumps relative to its own distance (world pixels count as far)."""
    z = np.asarray(depth, np.float32)[..., :1]
    finite = z[z < NO_GEOMETRY_DEPTH]
    far = float(finite.max()) * 4.0 if finite.size else 1.0
    z = np.where(z >= NO_GEOMETRY_DEPTH, far, np.maximum(z, 1e-6))
    return np.clip(_grad_magnitude(np.log(z)) / DEPTH_EDGE_RATIO, 0.0, 1.0).astype(np.float32)


def normal_edges(normal: np.ndarray) -> np.ndarray:
    """H×W 0..1: creases and folds, where the surface normal turns sharply."""
    return np.clip(_grad_magnitude(np.asarray(normal, np.float32)[..., :3]) / NORMAL_EDGE_ANGLE,
                   0.0, 1.0).astype(np.float32)


def structure_edges(frame: Frame, use_depth: bool = True, use_normal: bool = True,
                    blur_px: float = 1.0) -> Optional[np.ndarray]:
    """H×W 0..1 edge map from the passes the frame has (None when it has neither), slightly blurred so
    the weight covers the pixels on both sides of an outline."""
    maps = []
    if use_depth and frame.depth is not None:
        maps.append(depth_edges(frame.depth))
    if use_normal and frame.normal is not None:
        maps.append(normal_edges(frame.normal))
    if not maps:
        return None
    edges = np.maximum.reduce(maps)
    if blur_px > 0:
        edges = cv2.GaussianBlur(edges, (0, 0), blur_px)
        edges = np.clip(edges / max(float(edges.max()), 1e-6), 0.0, 1.0) if edges.max() > 0 else edges
    return edges.astype(np.float32)


def outline_weight_map(edges: np.ndarray, strength: float) -> np.ndarray:
    """H×W extra content weight on outlines and creases: `strength` × the edge map, 0 on flat areas.
    It is added to the unguided content weight (1 everywhere) and applied at finer layers too
    (core/animation/terms.py's OutlineContentLoss), so flat areas keep exactly the unguided objective."""
    return (float(strength) * np.asarray(edges, np.float32)).astype(np.float32)


@dataclass
class DepthBand:
    """A soft region of similar depth and how much larger its strokes are (1 = the style's own scale)."""

    mask: np.ndarray
    stroke_scale: float


def depth_bands(depth: np.ndarray, strength: float, bands: int = 2) -> list[DepthBand]:
    """Soft masks splitting the visible geometry into near..far bands (by depth quantiles); the nearest
    band gets strokes (1 + strength)× larger, the farthest the style's own scale. World pixels join
    the farthest band."""
    z = np.asarray(depth, np.float32)[..., 0]
    geo = z < NO_GEOMETRY_DEPTH
    if geo.sum() < 4 or bands < 2:
        return [DepthBand(np.ones_like(z), 1.0)]
    logz = np.log(np.maximum(np.where(geo, z, z[geo].max()), 1e-6))
    edges = np.quantile(logz[geo], np.linspace(0.0, 1.0, bands + 1))
    centres = 0.5 * (edges[:-1] + edges[1:])
    width = max(float(np.diff(centres).min()), 1e-6)
    # Hat functions over log depth: the bands sum to 1 everywhere and blend smoothly.
    t = np.clip((logz[..., None] - centres) / width, -1.0, 1.0)
    t = np.where(logz[..., None] < centres[0], np.where(np.arange(bands) == 0, 0.0, t), t)
    t = np.where(logz[..., None] > centres[-1], np.where(np.arange(bands) == bands - 1, 0.0, t), t)
    hats = 1.0 - np.abs(t)
    hats /= np.maximum(hats.sum(axis=2, keepdims=True), 1e-6)
    scales = [1.0 + strength * (1.0 - i / (bands - 1)) for i in range(bands)]
    return [DepthBand(hats[..., i].astype(np.float32), scales[i]) for i in range(bands)]


def style_at_stroke_scale(style: np.ndarray, stroke_scale: float) -> np.ndarray:
    """The style image whose strokes come out `stroke_scale`× larger: the engine fits every style to
    the same working size, so a central crop of 1/scale of it enlarges its features by `scale`."""
    if stroke_scale <= 1.0:
        return style
    h, w = style.shape[:2]
    ch, cw = max(8, int(round(h / stroke_scale))), max(8, int(round(w / stroke_scale)))
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return np.ascontiguousarray(style[y0:y0 + ch, x0:x0 + cw])


def index_masks(index: np.ndarray, max_masks: int = 16) -> dict[int, np.ndarray]:
    """{index value: H×W 0/1 mask} for the Object or Material Index pass, largest regions first."""
    idx = np.rint(np.asarray(index)[..., 0]).astype(np.int64)
    values, counts = np.unique(idx, return_counts=True)
    order = np.argsort(-counts)[:max_masks]
    return {int(values[i]): (idx == values[i]).astype(np.float32) for i in order}
