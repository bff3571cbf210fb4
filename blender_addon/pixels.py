"""The one place pixels move between Blender images and numpy arrays.

Blender stores image rows bottom-up; the worker and every file use top-down rows. The flip
happens here and nowhere else. Pixels are moved with ``foreach_get``/``foreach_set`` on float32
arrays (slice assignment is ~150x slower).

Result images are always NEW datablocks: originals are never written to.
"""
from __future__ import annotations

import os

import numpy as np

import bpy

# ID names are limited to 63 bytes in Blender 4.x (longer in 5.0); keep room for a ".001" suffix.
_MAX_NAME_BYTES = 58
NAME_SEPARATOR = " · "


# ---------------------------------------------------------------- colour maths (no bpy)

def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, None)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055).clip(0, 1).astype(np.float32)


def to_rgba(arr: np.ndarray) -> np.ndarray:
    """HxW, HxWx1, HxWx3 or HxWx4 -> HxWx4 float32 (grey replicated, opaque alpha added)."""
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    h, w, c = arr.shape
    if c == 4:
        return arr
    if c == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif c == 2:
        arr = np.concatenate([arr, np.zeros((h, w, 1), np.float32)], axis=2)
    elif c != 3:
        raise ValueError(f"cannot turn an image with {c} channels into RGBA")
    return np.concatenate([arr, np.ones((h, w, 1), np.float32)], axis=2)


# ---------------------------------------------------------------- names

def _trim(text: str, max_bytes: int) -> str:
    raw = text.encode("utf-8")[:max_bytes]
    return raw.decode("utf-8", errors="ignore").rstrip()


def result_name(source: str, style: str | None) -> str:
    """'<source> · <style>' trimmed to fit Blender's name limit, without a file extension."""
    source = os.path.splitext(source)[0] if source.lower().endswith((".png", ".jpg", ".jpeg", ".exr", ".tif", ".tiff")) else source
    if not style:
        return _trim(source, _MAX_NAME_BYTES)
    style = os.path.splitext(style)[0]
    sep = NAME_SEPARATOR.encode("utf-8")
    budget = _MAX_NAME_BYTES - len(sep)
    style = _trim(style, max(12, budget // 2))
    source = _trim(source, budget - len(style.encode("utf-8")))
    return f"{source}{NAME_SEPARATOR}{style}"


def free_file_path(path: str) -> str:
    """path if no file is there, else the first free 'stem_2.ext', 'stem_3.ext', ..."""
    stem, ext = os.path.splitext(path)
    candidate, n = path, 2
    while os.path.lexists(candidate):
        candidate, n = f"{stem}_{n}{ext}", n + 1
    return candidate


def unique_image_name(base: str) -> str:
    """base, or base.001, base.002 ... whichever is free in bpy.data.images."""
    if base not in bpy.data.images:
        return base
    n = 1
    while f"{base}.{n:03d}" in bpy.data.images:
        n += 1
    return f"{base}.{n:03d}"


# ---------------------------------------------------------------- reading images

def image_array(image: bpy.types.Image) -> np.ndarray:
    """An image's pixels as HxWx4 float32, rows top-down, values as Blender stores them
    (sRGB-encoded for 8-bit colour images, linear for float ones)."""
    w, h = image.size
    if w == 0 or h == 0:
        if image.source == "FILE" and image.filepath:
            image.reload()
            w, h = image.size
        if w == 0 or h == 0:
            path = bpy.path.abspath(image.filepath) if image.filepath else ""
            missing = f"its file '{path}' is missing" if path and not os.path.isfile(path) else "it has no pixels"
            raise ValueError(f"image '{image.name}': {missing}; reload or replace the image")
    flat = np.empty(w * h * image.channels, dtype=np.float32)
    image.pixels.foreach_get(flat)
    arr = flat.reshape(h, w, image.channels)[::-1]
    return to_rgba(np.ascontiguousarray(arr))


def is_data_image(image: bpy.types.Image) -> bool:
    return image.colorspace_settings.name in ("Non-Color", "Raw", "Linear", "Generic Data") or \
        getattr(image.colorspace_settings, "is_data", False)


def display_array(image: bpy.types.Image) -> np.ndarray:
    """Pixels as the style network wants them: display-referred sRGB 0..1, HxWx4 top-down.
    8-bit sRGB images already hold encoded values; float colour images are linear and get
    encoded; data maps (Non-Color) are passed through unchanged."""
    arr = image_array(image)
    if image.is_float and not is_data_image(image):
        arr[:, :, :3] = linear_to_srgb(arr[:, :, :3])
    return np.clip(arr, 0.0, 1.0)


# ---------------------------------------------------------------- writing images

def write_new_image(name: str, arr: np.ndarray, *, kind: str = "color", float_buffer: bool = False,
                    store: str = "PACK", save_dir: str | None = None) -> bpy.types.Image:
    """Create a new image datablock from a top-down array and return it.

    kind 'color': arr is display-referred sRGB. Stored as an 8-bit sRGB image, or (float_buffer)
    linearised into a float image tagged linear, so it renders the same either way.
    kind 'normal' / 'data': stored unchanged, tagged Non-Color.
    store 'PACK' packs the pixels into the .blend; 'SAVE' writes PNG/EXR into save_dir and links it
    (without a save_dir it packs); 'MEMORY' leaves them unsaved.
    """
    rgba = to_rgba(arr)
    h, w = rgba.shape[:2]
    is_data = kind != "color"
    if kind == "color" and float_buffer:
        rgba = rgba.copy()
        rgba[:, :, :3] = srgb_to_linear(rgba[:, :, :3])
    image = bpy.data.images.new(unique_image_name(name), width=w, height=h, alpha=True,
                                float_buffer=float_buffer, is_data=is_data)
    try:
        if is_data:
            image.colorspace_settings.name = "Non-Color"
        elif not float_buffer:
            image.colorspace_settings.name = "sRGB"
        image.pixels.foreach_set(np.ascontiguousarray(rgba[::-1], dtype=np.float32).ravel())
        image.update()
        if store == "SAVE" and save_dir:
            os.makedirs(save_dir, exist_ok=True)
            ext = ".exr" if float_buffer else ".png"
            safe = "".join(ch if ch.isalnum() or ch in "-_. " else "_" for ch in image.name).strip()
            wanted = os.path.join(save_dir, safe + ext)
            path = free_file_path(wanted)  # never over an existing file
            if path != wanted:
                image["atelier_file_taken"] = os.path.basename(wanted)
            image.filepath_raw = path
            image.file_format = "OPEN_EXR" if float_buffer else "PNG"
            image.save()
            image.source = "FILE"
            try:
                image.filepath = bpy.path.relpath(path) if bpy.data.filepath else path
            except ValueError:  # different drive on Windows
                image.filepath = path
        elif store in ("PACK", "SAVE"):  # SAVE without a folder (unsaved .blend): pack
            image.pack()
        # any other value: leave the pixels in memory only (benchmarks, previews)
    except Exception:
        bpy.data.images.remove(image)
        raise
    return image


def resize_rgba(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resize of an HxWx4 float32 array (pixel centres aligned); for previews only."""
    h, w = arr.shape[:2]
    if (w, h) == (width, height):
        return arr

    def axis(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = np.clip((np.arange(n_out, dtype=np.float32) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        lo = np.floor(pos).astype(np.int64)
        return lo, np.minimum(lo + 1, n_in - 1), (pos - lo).astype(np.float32)

    y0, y1, fy = axis(height, h)
    x0, x1, fx = axis(width, w)
    rows = arr[y0] * (1 - fy)[:, None, None] + arr[y1] * fy[:, None, None]
    return rows[:, x0] * (1 - fx)[None, :, None] + rows[:, x1] * fx[None, :, None]


def replace_pixels(image: bpy.types.Image, arr: np.ndarray, keep_size: bool = False) -> None:
    """Overwrite an image the ADD-ON owns (the live preview). The image is resized to the array,
    or with keep_size the array is resampled to the image."""
    rgba = to_rgba(arr)
    h, w = rgba.shape[:2]
    if tuple(image.size) != (w, h):
        if keep_size:
            rgba = resize_rgba(rgba, *image.size)
        else:
            image.scale(w, h)
    image.pixels.foreach_set(np.ascontiguousarray(rgba[::-1], dtype=np.float32).ravel())
    image.update()


def link_into_node(node: bpy.types.Node, new_image: bpy.types.Image) -> bpy.types.Image | None:
    """Point an Image Texture node at new_image. The previous image is kept: it gets a fake user
    so it is not purged when it loses its last real user (the user can still switch back).
    Returns the previous image."""
    old = node.image
    if old is not None and not old.use_fake_user:
        old.use_fake_user = True
    node.image = new_image
    new_image.update()
    return old
