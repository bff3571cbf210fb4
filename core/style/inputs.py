"""Checking and converting what callers hand the style engine: image arrays, style lists, masks."""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
import torch

from ..errors import UserError

ArrayOrList = Union[np.ndarray, Sequence[np.ndarray]]


def check_image(arr: object, what: str) -> np.ndarray:
    """A float32 H×W×C (C in 1, 3, 4) array of finite values, or a one-line UserError naming `what`."""
    if not isinstance(arr, np.ndarray):
        raise UserError(f"{what}: expected a numpy array, got {type(arr).__name__}")
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise UserError(f"{what}: expected H×W×3 or H×W×4, got shape {arr.shape}")
    if arr.shape[0] < 8 or arr.shape[1] < 8:
        raise UserError(f"{what}: {arr.shape[1]}×{arr.shape[0]} is too small (at least 8×8 px)")
    if not np.issubdtype(arr.dtype, np.floating):
        raise UserError(f"{what}: expected float values 0..1, got dtype {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)
    # min and max carry any NaN or infinity, without a full-size boolean array (4096² images).
    if not (np.isfinite(arr.min()) and np.isfinite(arr.max())):
        raise UserError(f"{what}: contains NaN or infinite values")
    return arr


def check_styles(style: ArrayOrList) -> list[np.ndarray]:
    if isinstance(style, np.ndarray):
        return [check_image(style, "style")]
    if isinstance(style, (list, tuple)) and style:
        return [check_image(s, f"style[{i}]") for i, s in enumerate(style)]
    raise UserError("style: expected an image array or a non-empty list of them")


def check_masks(masks: Optional[Sequence[np.ndarray]], n_styles: int, hw: tuple[int, int]) -> Optional[np.ndarray]:
    """S×H×W soft masks in 0..1, one per style at the content's size, each with some area (or None)."""
    if masks is None:
        return None
    masks = list(masks)
    if len(masks) != n_styles:
        raise UserError(f"masks: got {len(masks)} masks for {n_styles} styles; give one mask per style")
    checked = []
    for i, m in enumerate(masks):
        m = np.asarray(m, dtype=np.float32)
        if m.ndim == 3 and m.shape[2] == 1:
            m = m[..., 0]
        if m.shape != hw:
            raise UserError(f"masks[{i}]: shape {m.shape} does not match the content's {hw[0]}×{hw[1]}")
        if not np.isfinite(m).all():
            raise UserError(f"masks[{i}]: contains NaN or infinite values")
        checked.append(np.clip(m, 0.0, 1.0))
    stacked = np.stack(checked)
    if (stacked.reshape(len(checked), -1).sum(1) <= 0).any():
        raise UserError("masks: every mask needs some non-zero area")
    return stacked


def rgb(arr: np.ndarray) -> np.ndarray:
    """The colour channels, clipped to 0..1 (grey repeated, alpha dropped). A 3-channel array already
    in range comes back as it is (no copy): callers never write into the result."""
    if arr.shape[2] == 3 and arr.flags.c_contiguous and arr.min() >= 0.0 and arr.max() <= 1.0:
        return arr
    out = np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr[..., :3]
    return np.clip(out, 0.0, 1.0)


def to_tensor(arr: np.ndarray, device: torch.device) -> torch.Tensor:
    """H×W×C numpy -> 1×C×H×W float32 tensor on `device`."""
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))[None].float().to(device)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """1×C×H×W tensor -> H×W×C float32 numpy, clipped to 0..1."""
    return t[0].detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy().astype(np.float32)
