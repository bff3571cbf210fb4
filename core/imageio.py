"""The one place where image files are read and written.

Arrays are float32 H×W×C in 0..1, C in {1, 3, 4}, RGB(A) order, rows top-down.
OpenCV does the codec work because Pillow cannot read or write 16-bit RGB PNG/TIFF.
"""
from __future__ import annotations

import logging
import os
import struct
import warnings
from pathlib import Path

import cv2
import numpy as np

from .atomic import write_atomically, write_set
from .errors import UserError

READ_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
WRITE_EXTENSIONS = READ_EXTENSIONS
MAX_MEGAPIXELS = 67.2  # 8192×8192; larger inputs are refused before decoding (an option raises it)

log = logging.getLogger("core.imageio")


def read_image(path: str | os.PathLike, what: str = "image", max_megapixels: float | None = None) -> np.ndarray:
    """Read PNG/JPEG/TIFF (8 or 16 bit) as float32 0..1. `what` names the file in errors.
    The header is read first: an image above `max_megapixels` (default MAX_MEGAPIXELS) is refused
    before it is decoded, so a tiny file claiming a huge size cannot exhaust memory."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{what} '{p}': file not found")
    if p.suffix.lower() not in READ_EXTENSIONS:
        raise UserError(f"{what} '{p}': unsupported format '{p.suffix}'; use PNG, JPEG or TIFF")
    limit = MAX_MEGAPIXELS if max_megapixels is None else max_megapixels
    size = header_size(p)
    if size is not None and size[0] * size[1] > limit * 1e6:
        raise UserError(f"{what} '{p}': {size[0]}×{size[1]} is {size[0] * size[1] / 1e6:.0f} megapixels, above the "
                        f"limit of {limit:g}; scale it down, or raise the limit with --max-megapixels")
    data = np.fromfile(str(p), dtype=np.uint8)  # fromfile+imdecode copes with non-ASCII paths
    try:
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    except cv2.error:  # OpenCV's own size limit, or a header it refuses
        img = None
    if img is None:
        raise UserError(f"{what} '{p}': not a readable {p.suffix.lstrip('.').upper()} image (corrupt, truncated "
                        "or too large?)")
    return _to_float(img, f"{what} '{p}'")


def header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file's header without decoding pixels; None if it cannot be read."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(24)
        if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
            return struct.unpack(">II", head[16:24])
        from PIL import Image

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                return im.size
    except Exception as exc:  # noqa: BLE001 - Pillow's bomb check or an unreadable header
        if type(exc).__name__ == "DecompressionBombError":  # above Pillow's own 179-megapixel limit
            return (1 << 16, 1 << 16)
        return None  # OpenCV decides (and reports an unreadable file)


def finite_pixels(arr: np.ndarray, label: str) -> np.ndarray:
    """`arr` with NaN/Inf replaced by 0 (and a warning saying how many); UserError if none is finite."""
    finite = np.isfinite(arr)
    if finite.all():
        return arr
    if not finite.any():
        raise UserError(f"{label}: has no finite pixels (all NaN or infinite); re-export the image")
    bad = int((~finite).reshape(arr.shape[0], arr.shape[1], -1).any(axis=2).sum())
    log.warning("%s: %d of %d pixels were not finite (NaN or infinite) and were replaced by 0",
                label, bad, arr.shape[0] * arr.shape[1])
    return np.where(finite, arr, 0.0).astype(arr.dtype, copy=False)


def _to_float(img: np.ndarray, label: str) -> np.ndarray:
    if img.dtype == np.uint8:
        out = img.astype(np.float32) / 255.0
    elif img.dtype == np.uint16:
        out = img.astype(np.float32) / 65535.0
    elif img.dtype in (np.float32, np.float64):
        out = np.clip(finite_pixels(img.astype(np.float32), label), 0.0, 1.0)
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
    data = encode_image(path, image, bits)
    return write_atomically(Path(path), lambda fh: fh.write(data))


def write_images(items: list[tuple[str | os.PathLike, np.ndarray]], bits: int | None = None) -> list[Path]:
    """Write a set of images as one: all of them appear, or (on any failure) none."""
    encoded = [(Path(p), encode_image(p, im, bits)) for p, im in items]
    return write_set([(p, lambda fh, data=data: fh.write(data)) for p, data in encoded])


def encode_image(path: str | os.PathLike, image: np.ndarray, bits: int | None = None) -> bytes:
    """The file bytes of `image` in the format of `path`'s extension."""
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
    return buf.tobytes()


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Colour part of an image as H×W×3 (grey is repeated, alpha dropped)."""
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    return image[..., :3]
