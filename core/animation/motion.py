"""Motion from Blender's Vector pass: its convention, backward warping, and the forward/backward
consistency mask that marks where a warped previous frame can be trusted.

Vector pass convention, measured on a Cycles render of an object moved by known pixel amounts
(tests/test_animation_passes.py): in pixels, with y pointing UP (Blender's image space),
    X, Y = position in the previous frame − position in this frame
    Z, W = position in this frame − position in the next frame
so the motion towards the next frame is (−Z, −W). Arrays here are rows top-down, so a flow is
stored as H×W×2 (dx to the right, dy downwards) and y components change sign.
"""
from __future__ import annotations

import cv2
import numpy as np

# Ruder et al. 2016, eqs. (1)-(2): thresholds for disocclusion and motion boundaries (pixel units).
DISOCCLUSION_REL, DISOCCLUSION_ABS = 0.01, 0.5
BOUNDARY_REL, BOUNDARY_ABS = 0.01, 0.002
# Our addition: where the warp magnifies or squeezes the previous frame by more than this (local area
# ratio, e.g. a face turning towards the camera), warped strokes would smear; let them be repainted.
STRETCH_LIMIT = 0.25


def flow_to_previous(vector: np.ndarray) -> np.ndarray:
    """H×W×2 (dx right, dy down): where each pixel of this frame was in the previous frame, relative."""
    return np.stack([vector[..., 0], -vector[..., 1]], axis=2).astype(np.float32)


def flow_to_next(vector: np.ndarray) -> np.ndarray:
    """H×W×2 (dx right, dy down): where each pixel of this frame will be in the next frame, relative."""
    return np.stack([-vector[..., 2], vector[..., 3]], axis=2).astype(np.float32)


def _sample_grid(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs + flow[..., 0], ys + flow[..., 1]


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Backward warp: out(p) = image(p + flow(p)), bilinear; samples outside the frame repeat the
    border (such pixels are unreliable anyway, see `inside`). image is H×W or H×W×C float32."""
    map_x, map_y = _sample_grid(flow)
    src = np.ascontiguousarray(image, dtype=np.float32)
    out = cv2.remap(src, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if image.ndim == 3 and out.ndim == 2:
        out = out[..., None]
    return out


def warp_previous(previous: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """The previous frame's image brought to this frame, using this frame's Vector pass."""
    return warp(previous, flow_to_previous(vector))


def inside(flow: np.ndarray) -> np.ndarray:
    """H×W bool: p + flow(p) lies inside the frame (with half a pixel of margin)."""
    h, w = flow.shape[:2]
    map_x, map_y = _sample_grid(flow)
    return (map_x >= -0.5) & (map_x <= w - 0.5) & (map_y >= -0.5) & (map_y <= h - 0.5)


def reliability(vector: np.ndarray, previous_vector: np.ndarray) -> np.ndarray:
    """H×W float32 mask, 1 where the previous frame warped to this one is trustworthy, 0 at
    disocclusions (backward motion and the previous frame's forward motion disagree), at motion
    boundaries (the motion changes sharply), where the warp stretches the previous frame by more than
    STRETCH_LIMIT, and where the motion leaves the frame.

    vector: this frame's Vector pass; previous_vector: the previous frame's."""
    backward = flow_to_previous(vector)
    forward_prev = flow_to_next(previous_vector)
    forward_here = warp(forward_prev, backward)  # forward motion of the point p came from
    total = forward_here + backward
    sq = lambda a: (a ** 2).sum(axis=2)  # noqa: E731
    disoccluded = sq(total) > DISOCCLUSION_REL * (sq(forward_here) + sq(backward)) + DISOCCLUSION_ABS
    gy_x, gx_x = np.gradient(backward[..., 0])
    gy_y, gx_y = np.gradient(backward[..., 1])
    grad_sq = gx_x ** 2 + gy_x ** 2 + gx_y ** 2 + gy_y ** 2
    boundary = grad_sq > BOUNDARY_REL * sq(backward) + BOUNDARY_ABS
    area_ratio = (1.0 + gx_x) * (1.0 + gy_y) - gy_x * gx_y  # Jacobian of p -> p + backward(p)
    stretched = np.abs(area_ratio - 1.0) > STRETCH_LIMIT
    ok = ~disoccluded & ~boundary & ~stretched & inside(backward)
    return ok.astype(np.float32)


def flicker(current: np.ndarray, previous: np.ndarray, vector: np.ndarray,
            mask: np.ndarray) -> float:
    """Mean |current − warp(previous)| over reliable pixels and channels (0 when none are reliable)."""
    diff = np.abs(current[..., :3] - warp_previous(previous[..., :3], vector))
    weight = mask[..., None] * np.ones((1, 1, diff.shape[2]), np.float32)
    return float((diff * weight).sum() / max(weight.sum(), 1.0))
