"""Content/style pairs for style benchmarks, generated on the fly (no pair images live in git).

Styles (six, distinct large shapes): swirls and mosaic (core/samples), and four drawn here:
strokes (short oriented brush dabs), cells (membraned blobs), stripes (bold wavy bands), dots (a
halftone grid). Contents: a Cycles render of a cube and a sphere (rendered once through bpy in a
subprocess and cached in the temp dir), core/samples/content_house.png, and scikit-image's
astronaut photo. `style_pairs(size)` pairs style i with content i mod 3: six pairs, each content twice.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "core" / "samples"
STYLE_EDGE = 256  # styles are drawn at this size (their native resolution)


@dataclass
class StylePair:
    name: str
    content: np.ndarray  # H×W×3 float32 0..1, long edge = the requested size
    style: np.ndarray    # H×W×3 float32 0..1, native size


def _read_png(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"cannot read {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def fit_long_edge(img: np.ndarray, edge: int) -> np.ndarray:
    h, w = img.shape[:2]
    s = edge / max(h, w)
    size = (max(8, round(w * s)), max(8, round(h * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    return np.clip(cv2.resize(img, size, interpolation=interp), 0, 1).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# styles


def _palette(rng: np.random.Generator, colours: list[tuple[float, float, float]], n: int) -> np.ndarray:
    return np.array(colours, np.float32)[rng.integers(0, len(colours), n)]


def style_strokes(n: int = STYLE_EDGE) -> np.ndarray:
    """Short thick brush dabs along a smooth direction field, warm palette on a dark ground."""
    rng = np.random.default_rng(11)
    img = np.full((n, n, 3), (0.12, 0.1, 0.16), np.float32)
    cols = _palette(rng, [(0.93, 0.55, 0.15), (0.85, 0.2, 0.15), (0.98, 0.85, 0.4), (0.3, 0.45, 0.7),
                          (0.95, 0.95, 0.85)], 900)
    for i in range(900):
        x, y = rng.uniform(0, n, 2)
        angle = np.sin(x / n * 5.0) + np.cos(y / n * 4.0) + rng.normal(0, 0.15)
        length, width = rng.uniform(0.04, 0.09) * n, int(rng.integers(3, 7))
        dx, dy = np.cos(angle) * length / 2, np.sin(angle) * length / 2
        shade = cols[i] * rng.uniform(0.8, 1.1)
        cv2.line(img, (int(x - dx), int(y - dy)), (int(x + dx), int(y + dy)), tuple(float(c) for c in shade),
                 width, cv2.LINE_AA)
    return np.clip(img, 0, 1)


def style_cells(n: int = STYLE_EDGE) -> np.ndarray:
    """Organic cells: Voronoi regions with rounded dark membranes and a bright nucleus each."""
    rng = np.random.default_rng(12)
    pts = rng.uniform(0, n, (60, 2))
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    d = np.sqrt((xx[..., None] - pts[:, 0]) ** 2 + (yy[..., None] - pts[:, 1]) ** 2)
    order = np.sort(d, axis=-1)
    nearest = np.argmin(d, axis=-1)
    edge = np.clip((order[..., 1] - order[..., 0]) / 6.0, 0, 1)[..., None]
    cols = _palette(rng, [(0.55, 0.8, 0.45), (0.35, 0.7, 0.6), (0.7, 0.85, 0.4), (0.45, 0.65, 0.35)], 60)
    body = cols[nearest] * (1.0 - 0.35 * np.clip(order[..., :1] / (0.12 * n), 0, 1))
    nucleus = (order[..., :1] < 0.025 * n).astype(np.float32)
    img = body * edge + (1 - edge) * np.array((0.1, 0.2, 0.12), np.float32)
    img = img * (1 - nucleus) + nucleus * np.array((0.5, 0.2, 0.45), np.float32)
    return np.clip(img, 0, 1).astype(np.float32)


def style_stripes(n: int = STYLE_EDGE) -> np.ndarray:
    """Bold wavy diagonal bands in three flat colours."""
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) / n
    phase = (xx + yy) * 9.0 + 0.6 * np.sin(yy * 2 * np.pi * 2.0) + 0.4 * np.sin(xx * 2 * np.pi * 3.0)
    band = np.floor(phase).astype(int) % 3
    cols = np.array([(0.1, 0.15, 0.35), (0.95, 0.75, 0.2), (0.85, 0.3, 0.35)], np.float32)
    return cols[band]


def style_dots(n: int = STYLE_EDGE) -> np.ndarray:
    """Pop-art halftone: a rotated grid of magenta dots whose size follows a smooth field, on yellow."""
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    a = np.deg2rad(30)
    u, v = np.cos(a) * xx + np.sin(a) * yy, -np.sin(a) * xx + np.cos(a) * yy
    period = 14.0
    du, dv = (u % period) - period / 2, (v % period) - period / 2
    radius = period * (0.18 + 0.28 * (0.5 + 0.5 * np.sin(xx / n * 5.0) * np.cos(yy / n * 4.0)))
    dot = np.clip(radius - np.hypot(du, dv), 0, 1)[..., None]
    ground = np.array((0.98, 0.85, 0.15), np.float32)
    return (ground * (1 - dot) + dot * np.array((0.85, 0.1, 0.3), np.float32)).astype(np.float32)


def styles() -> dict[str, np.ndarray]:
    return {
        "swirls": fit_long_edge(_read_png(SAMPLES / "style_swirls.png"), STYLE_EDGE),
        "mosaic": fit_long_edge(_read_png(SAMPLES / "style_mosaic.png"), STYLE_EDGE),
        "strokes": style_strokes(),
        "cells": style_cells(),
        "stripes": style_stripes(),
        "dots": style_dots(),
    }


# ----------------------------------------------------------------------------------------------
# contents

_RENDER_SCRIPT = r"""
import bpy, math, sys
out, size = sys.argv[-2], int(sys.argv[-1])
bpy.ops.wm.read_homefile(use_empty=True)
scene = bpy.context.scene
scene.render.engine = "CYCLES"
scene.cycles.device = "CPU"
scene.cycles.samples = 32
scene.cycles.use_denoising = False
scene.render.resolution_x = scene.render.resolution_y = size
scene.render.image_settings.file_format = "PNG"
scene.view_settings.view_transform = "Standard"
def material(name, rgb):
    m = bpy.data.materials.new(name); m.use_nodes = True
    m.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = (*rgb, 1.0)
    return m
bpy.ops.mesh.primitive_plane_add(size=20, location=(0, 0, 0))
bpy.context.object.data.materials.append(material("floor", (0.55, 0.55, 0.5)))
bpy.ops.mesh.primitive_cube_add(size=1.6, location=(-1.0, 0.3, 0.8), rotation=(0, 0, math.radians(30)))
bpy.context.object.data.materials.append(material("cube", (0.7, 0.12, 0.08)))
bpy.ops.mesh.primitive_uv_sphere_add(radius=0.8, location=(1.1, -0.4, 0.8), segments=48, ring_count=24)
bpy.ops.object.shade_smooth()
bpy.context.object.data.materials.append(material("sphere", (0.1, 0.3, 0.75)))
bpy.ops.object.light_add(type="SUN", rotation=(math.radians(50), 0, math.radians(40)))
bpy.context.object.data.energy = 4.0
world = bpy.data.worlds.new("sky"); scene.world = world; world.use_nodes = True
world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.45, 0.55, 0.7, 1.0)
bpy.ops.object.camera_add(location=(0, -6.5, 3.6), rotation=(math.radians(64), 0, 0))
scene.camera = bpy.context.object
scene.render.filepath = out
bpy.ops.render.render(write_still=True)
"""


def render_scene(size: int, cache_dir: Path | None = None) -> np.ndarray:
    """A cube and a sphere on a floor, rendered with Cycles (CPU) at size×size, cached per size."""
    cache = Path(cache_dir or Path(tempfile.gettempdir()) / "neural_atelier_bench")
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"render_cube_sphere_{size}.png"
    if not path.exists():
        tmp = path.with_suffix(".tmp.png")
        proc = subprocess.run([sys.executable, "-c", _RENDER_SCRIPT, str(tmp), str(size)],
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0 or not tmp.exists():
            raise RuntimeError(f"Cycles render failed: {proc.stderr.strip()[-400:]}")
        tmp.replace(path)
    return _read_png(path)


def contents(size: int) -> dict[str, np.ndarray]:
    from skimage import data

    return {
        "render": fit_long_edge(render_scene(max(size, 128)), size),
        "house": fit_long_edge(_read_png(SAMPLES / "content_house.png"), size),
        "astronaut": fit_long_edge(data.astronaut().astype(np.float32) / 255.0, size),
    }


def style_pairs(size: int = 128) -> list[StylePair]:
    """Six pairs: style i with content i mod 3 (each content twice, every style once)."""
    cs, ss = contents(size), styles()
    cnames = list(cs)
    return [StylePair(f"{cnames[i % len(cnames)]}×{s}", cs[cnames[i % len(cnames)]], img)
            for i, (s, img) in enumerate(ss.items())]
