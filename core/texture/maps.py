"""PBR map sets: names, kinds, stacking for training and unstacking (with normal repair) after generation."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import UserError

KINDS = ("color", "normal", "data")
_COLOR_WORDS = ("albedo", "basecolor", "base_color", "diffuse", "color", "colour", "emission", "emissive",
                "texture", "subsurface", "sheen")
_DATA_WORDS = ("roughness", "rough", "metallic", "metalness", "metal", "height", "displacement", "disp", "bump",
               "ao", "occlusion", "ambientocclusion", "opacity", "alpha", "mask", "specular", "gloss",
               "glossiness", "cavity", "transmission")


@dataclass(frozen=True)
class MapInfo:
    name: str
    kind: str  # 'color' (display sRGB) | 'normal' (tangent-space, 0..1 encoded) | 'data' (Non-Color)
    channels: int


def kind_for_name(name: str) -> str:
    low = name.lower().replace("-", "_").replace(" ", "_")
    if "normal" in low or low in ("nrm", "nor", "norm") or low.endswith(("_nrm", "_nor", "_n")):
        return "normal"
    if any(w == low or low.endswith("_" + w) or low.startswith(w + "_") for w in _DATA_WORDS):
        return "data"
    if any(w in low for w in ("rough", "metal", "height", "displace", "occlusion", "gloss", "opacity")):
        return "data"
    return "color"


def guess_map_name(stem: str, index: int) -> str:
    """A short map name from a file stem such as 'bricks_Roughness_2k' -> 'roughness'."""
    low = stem.lower().replace("-", "_").replace(" ", "_")
    if "normal" in low or low.endswith(("_nrm", "_nor")):
        return "normal"
    for w in _DATA_WORDS + _COLOR_WORDS:
        if w in low.split("_"):
            return {"rough": "roughness", "metal": "metallic", "metalness": "metallic", "disp": "displacement",
                    "basecolor": "albedo", "base_color": "albedo", "diffuse": "albedo", "colour": "color"}.get(w, w)
    return stem or f"map{index}"


def default_names(count: int) -> list[str]:
    return ["albedo"] if count == 1 else ["albedo"] + [f"map{i}" for i in range(1, count)]


def prepare_exemplars(exemplars, map_names: Sequence[str] | None) -> tuple[np.ndarray, list[MapInfo]]:
    """Validate one array or a same-size sequence and stack it into H×W×ΣC float32 0..1."""
    if isinstance(exemplars, np.ndarray):
        arrays = [exemplars]
    else:
        try:
            arrays = list(exemplars)
        except TypeError:
            raise UserError("exemplars: give one H×W×C float array or a list of them") from None
    if not arrays:
        raise UserError("exemplars: no exemplar image given")
    out: list[np.ndarray] = []
    for i, a in enumerate(arrays):
        a = np.asarray(a)
        if a.ndim == 2:
            a = a[..., None]
        if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
            raise UserError(f"exemplar {i}: expected an H×W×C array with 1-4 channels, got shape {a.shape}")
        if not np.issubdtype(a.dtype, np.floating):
            raise UserError(f"exemplar {i}: expected float values 0..1, got {a.dtype}")
        a = a.astype(np.float32)
        if not np.isfinite(a).all():
            raise UserError(f"exemplar {i}: contains NaN or infinite values")
        out.append(np.clip(a, 0.0, 1.0))
    h, w = out[0].shape[:2]
    for i, a in enumerate(out[1:], 1):
        if a.shape[:2] != (h, w):
            raise UserError(f"exemplar {i}: size {a.shape[1]}x{a.shape[0]} differs from map 0 ({w}x{h}); "
                            "every map of a set must have the same size")
    names = list(map_names) if map_names is not None else default_names(len(out))
    if len(names) != len(out):
        raise UserError(f"map_names: {len(names)} names for {len(out)} maps")
    if len(set(names)) != len(names):
        raise UserError(f"map_names: names must be unique, got {names}")
    infos = []
    for name, a in zip(names, out):
        if not isinstance(name, str) or not name.strip():
            raise UserError(f"map_names: bad name {name!r}")
        kind = kind_for_name(name)
        if kind == "normal" and a.shape[2] < 3:
            raise UserError(f"map '{name}': a normal map needs 3 channels, got {a.shape[2]}")
        infos.append(MapInfo(name=name, kind=kind, channels=int(a.shape[2])))
    return np.concatenate(out, axis=2), infos


def exemplar_sha256(stack: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(f"{stack.shape}".encode())
    h.update(np.ascontiguousarray(stack, dtype=np.float32).tobytes())
    return h.hexdigest()


def repair_normal(rgb: np.ndarray) -> np.ndarray:
    """Make a 0..1-encoded tangent-space normal map valid: z facing out, unit length, re-encoded."""
    n = rgb.astype(np.float32) * 2.0 - 1.0
    n[..., 2] = np.maximum(n[..., 2], 1e-3)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    return np.clip(n * 0.5 + 0.5, 0.0, 1.0).astype(np.float32)


def split_maps(stack: np.ndarray, infos: Sequence[MapInfo]) -> list[np.ndarray]:
    """H×W×ΣC -> one float32 0..1 array per map; normal maps repaired."""
    result, c = [], 0
    for info in infos:
        part = np.clip(stack[..., c:c + info.channels], 0.0, 1.0).astype(np.float32)
        c += info.channels
        if info.kind == "normal":
            part = np.concatenate([repair_normal(part[..., :3]), part[..., 3:]], axis=2)
        result.append(np.ascontiguousarray(part))
    return result


def preview_rgb(stack: np.ndarray, infos: Sequence[MapInfo]) -> np.ndarray:
    """The map an artist would want to see while training: the first colour map, else the first map."""
    maps = split_maps(stack, infos)
    pick = next((m for m, i in zip(maps, infos) if i.kind == "color"), maps[0])
    if pick.shape[2] == 1:
        return np.repeat(pick, 3, axis=2)
    return np.ascontiguousarray(pick[..., :3])
