"""The one place where image files are read and written.

Arrays are float32 H×W×C in 0..1, C in {1, 3, 4}, RGB(A) order, rows top-down.
OpenCV does the codec work because Pillow cannot read or write 16-bit RGB PNG/TIFF.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from .atomic import write_atomically
from .errors import UserError

READ_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
WRITE_EXTENSIONS = READ_EXTENSIONS


def read_image(path: str | os.PathLike, what: str = "image") -> np.ndarray:
    """Read PNG/JPEG/TIFF (8 or 16 bit) as float32 0..1. `what` names the file in errors."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{what} '{p}': file not found")
    if p.suffix.lower() not in READ_EXTENSIONS:
        raise UserError(f"{what} '{p}': unsupported format '{p.suffix}'; use PNG, JPEG or TIFF")
    data = np.fromfile(str(p), dtype=np.uint8)  # fromfile+imdecode copes with non-ASCII paths
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise UserError(f"{what} '{p}': not a readable {p.suffix.lstrip('.').upper()} image (corrupt or truncated?)")
    return _to_float(img, f"{what} '{p}'")


def _to_float(img: np.ndarray, label: str) -> np.ndarray:
    if img.dtype == np.uint8:
        out = img.astype(np.float32) / 255.0
    elif img.dtype == np.uint16:
        out = img.astype(np.float32) / 65535.0
    elif img.dtype in (np.float32, np.float64):
        out = np.clip(img.astype(np.float32), 0.0, 1.0)
    else:
        raise UserError(f"{label}: unsupported sample type {img.dtype}; save it as 8- or 16-bit")
    if out.ndim == 2:
        return out[..., None]
    c = out.shape[2]
    if c == 3:
        return np.ascontiguousarray(out[..., ::-1])
    if c == 4:
        return np.ascontiguousarray(out[..., [2, 1, 0, 3]])
    if c == 2:  # grey + alpha
        return np.ascontiguousarray(np.concatenate([out[..., :1]] * 3 + [out[..., 1:2]], axis=2))
    raise UserError(f"{label}: {c} channels are not supported; use grey, RGB or RGBA")


def write_image(path: str | os.PathLike, image: np.ndarray, bits: int | None = None) -> Path:
    """Write atomically (temp file then rename), so a failure never leaves a partial file.
    `bits` defaults to 8, except 16 for PNG/TIFF when the extension is .tif/.tiff."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in WRITE_EXTENSIONS:
        raise UserError(f"output '{p}': unsupported format '{p.suffix}'; use .png, .jpg or .tif")
    if not p.parent.exists():
        raise UserError(f"output '{p}': folder '{p.parent}' does not exist")
    if bits is None:
        bits = 16 if ext in (".tif", ".tiff") else 8
    if bits not in (8, 16) or (bits == 16 and ext in (".jpg", ".jpeg")):
        raise UserError(f"output '{p}': {bits}-bit is not possible for {ext}")
    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[..., None]
    arr = np.clip(np.nan_to_num(arr, nan=0.0), 0.0, 1.0)
    scale, dtype = (255.0, np.uint8) if bits == 8 else (65535.0, np.uint16)
    q = np.round(arr * scale).astype(dtype)
    c = q.shape[2]
    if c == 3:
        q = q[..., ::-1]
    elif c == 4:
        if ext in (".jpg", ".jpeg"):
            q = q[..., [2, 1, 0]]
        else:
            q = q[..., [2, 1, 0, 3]]
    elif c == 1:
        q = q[..., 0]
    else:
        raise ValueError(f"cannot write an image with {c} channels")
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(q), params)
    if not ok:
        raise UserError(f"output '{p}': encoding as {ext} failed")
    return write_atomically(p, lambda fh: fh.write(buf.tobytes()))


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Colour part of an image as H×W×3 (grey is repeated, alpha dropped)."""
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    return image[..., :3]
