"""Reads one animation frame: a Blender multilayer EXR (with the OpenEXR package) or a PNG/TIFF image
plus its Vector pass from an .exr or .npy file. Arrays are float32, rows top-down, H×W×C."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import UserError
from ..imageio import READ_EXTENSIONS, read_image

# EXR pass name -> Frame field. Blender 4.x writes IndexOB/IndexMA, 5.0 'Object Index'/'Material Index'.
PASS_FIELDS = {
    "Combined": "combined", "Vector": "vector", "Depth": "depth", "Z": "depth", "Normal": "normal",
    "Object Index": "object_index", "IndexOB": "object_index",
    "Material Index": "material_index", "IndexMA": "material_index",
}
_CHANNEL_ORDER = "RGBAXYZW"
NO_GEOMETRY_DEPTH = 1e9  # Cycles writes ~1e10 where a ray hits nothing (the world)


@dataclass
class Frame:
    """One frame of an animation and the passes that came with it.

    image: H×W×3 or H×W×4. Scene-linear when `linear` (EXR Combined), else display-referred 0..1.
    vector: H×W×4 Vector pass exactly as Blender writes it (see core.animation.motion), or None.
    depth: H×W×1 camera distance; normal: H×W×3; object_index/material_index: H×W×1."""

    path: str
    image: np.ndarray
    linear: bool
    vector: Optional[np.ndarray] = None
    depth: Optional[np.ndarray] = None
    normal: Optional[np.ndarray] = None
    object_index: Optional[np.ndarray] = None
    material_index: Optional[np.ndarray] = None
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return int(self.image.shape[0]), int(self.image.shape[1])

    def background(self) -> Optional[np.ndarray]:
        """H×W 0/1 mask of pixels where no geometry was hit (the world), from Depth or else alpha."""
        if self.depth is not None:
            return (self.depth[..., 0] >= NO_GEOMETRY_DEPTH).astype(np.float32)
        if self.image.shape[2] == 4 and self.linear:
            return (self.image[..., 3] <= 0.0).astype(np.float32)
        return None


def _channel_key(name: str) -> tuple[str, str, str]:
    """'ViewLayer.Depth.Z' -> (layer, pass, channel); 'R' -> ('', 'Combined', 'R')."""
    parts = name.split(".")
    if len(parts) == 1:
        return "", "Combined", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return ".".join(parts[:-2]), parts[-2], parts[-1]


def read_exr_passes(path: str | os.PathLike) -> dict[str, dict[str, np.ndarray]]:
    """Every pass of every view layer of an EXR (single- or multi-part): {layer: {pass: H×W×C}}."""
    import OpenEXR

    p = Path(path)
    if not p.is_file():
        raise UserError(f"frame '{p}': file not found")
    try:
        exr = OpenEXR.File(str(p), separate_channels=True)
        parts = list(exr.parts)
    except Exception as exc:  # the library raises plain exceptions for bad files
        raise UserError(f"frame '{p}': not a readable OpenEXR file ({exc})") from None
    grouped: dict[str, dict[str, list[tuple[str, np.ndarray]]]] = {}
    for part in parts:
        for name, channel in part.channels.items():
            layer, pass_name, chan = _channel_key(name)
            grouped.setdefault(layer, {}).setdefault(pass_name, []).append((chan, channel.pixels))
    out: dict[str, dict[str, np.ndarray]] = {}
    for layer, passes in grouped.items():
        for pass_name, chans in passes.items():
            chans.sort(key=lambda c: _CHANNEL_ORDER.find(c[0]) % 100)  # unknown channel names last
            out.setdefault(layer, {})[pass_name] = np.stack([c[1].astype(np.float32) for c in chans], axis=2)
    return out


def read_exr_frame(path: str | os.PathLike, view_layer: Optional[str] = None) -> Frame:
    """A Blender multilayer EXR render: Combined (scene-linear) plus whichever of Vector, Depth, Normal,
    Object Index and Material Index it holds, from `view_layer`. The add-on names the layer it rendered;
    without a name (command line without --view-layer) the layer with Combined and the most passes is
    read, a guess that fails when another layer in the file has more passes."""
    layers = read_exr_passes(path)
    if view_layer is None:
        # With a compositor in the scene the file also holds its output as a layer of its own, with Combined
        # but none of the render passes: prefer a rendered view layer (one with passes beside Combined).
        with_combined = [name for name, passes in layers.items() if "Combined" in passes]
        view_layer = max(with_combined, key=lambda name: len(layers[name]), default=None)
        if view_layer is None:
            raise UserError(f"frame '{path}': no Combined pass; render with the Combined pass enabled")
    elif view_layer not in layers:
        raise UserError(f"frame '{path}': no view layer '{view_layer}'; it has {', '.join(sorted(layers))}")
    passes = layers[view_layer]
    if "Combined" not in passes:
        raise UserError(f"frame '{path}': view layer '{view_layer}' has no Combined pass")
    fields_: dict[str, np.ndarray] = {}
    for pass_name, arr in passes.items():
        key = PASS_FIELDS.get(pass_name)
        if key and key not in fields_:
            fields_[key] = arr
    image = fields_.pop("combined")
    if image.shape[2] not in (3, 4):
        raise UserError(f"frame '{path}': Combined pass has {image.shape[2]} channels, expected RGB or RGBA")
    vector = fields_.get("vector")
    if vector is not None and vector.shape[2] != 4:
        raise UserError(f"frame '{path}': Vector pass has {vector.shape[2]} channels, expected 4 "
                        "(turn off motion blur when rendering the Vector pass)")
    return Frame(path=str(path), image=np.nan_to_num(image), linear=True, **fields_)


def read_vectors(path: str | os.PathLike, size: tuple[int, int]) -> np.ndarray:
    """A Vector pass alone: .npy (H×W×4 float32) or .exr (its Vector pass, else its only 4-channel pass)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"--vectors '{p}': file not found")
    if p.suffix.lower() == ".npy":
        try:
            arr = np.load(str(p), allow_pickle=False)
        except ValueError as exc:
            raise UserError(f"--vectors '{p}': not a plain .npy array ({exc})") from None
    elif p.suffix.lower() == ".exr":
        candidates = [passes.get("Vector") for passes in read_exr_passes(p).values()]
        candidates = [c for c in candidates if c is not None]
        if not candidates:
            every = [a for passes in read_exr_passes(p).values() for a in passes.values() if a.shape[2] == 4]
            candidates = every[:1]
        if not candidates:
            raise UserError(f"--vectors '{p}': no Vector pass (4 channels) in the file")
        arr = candidates[0]
    else:
        raise UserError(f"--vectors '{p}': unsupported format '{p.suffix}'; use .npy or .exr")
    arr = np.asarray(arr, dtype=np.float32)
    if arr.shape != (size[0], size[1], 4):
        raise UserError(f"--vectors '{p}': shape {arr.shape}, expected {size[0]}×{size[1]}×4 like its frame")
    if not np.isfinite(arr).all():
        raise UserError(f"--vectors '{p}': contains NaN or infinite values")
    return arr


def read_frame(path: str | os.PathLike, vectors: Optional[str | os.PathLike] = None,
               view_layer: Optional[str] = None) -> Frame:
    """A frame from an EXR render, or from a PNG/TIFF/JPEG (display colour) plus an optional Vector file."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext == ".exr":
        frame = read_exr_frame(p, view_layer)
        if vectors is not None:
            frame.vector = read_vectors(vectors, frame.size)
        return frame
    if ext not in READ_EXTENSIONS:
        raise UserError(f"frame '{p}': unsupported format '{p.suffix}'; use .exr, .png, .tif or .jpg")
    image = read_image(p, "frame")
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    frame = Frame(path=str(p), image=image, linear=False)
    if vectors is not None:
        frame.vector = read_vectors(vectors, frame.size)
    return frame


def frame_number(path: str | os.PathLike, fallback: int) -> int:
    """The trailing number of a frame file's name ('shot_0012.exr' -> 12), else `fallback`."""
    stem = Path(path).stem
    digits = ""
    for ch in reversed(stem):
        if not ch.isdigit():
            break
        digits = ch + digits
    return int(digits) if digits else fallback
