"""Procedural exemplars (our own, no third-party art) for benchmarks, tests and the demo.

`stones(size)`: a periodic cobblestone texture (Voronoi cells on a torus) with per-stone colour,
dark mortar, shading towards the edges and fine grain; `stones_pbr(size)` adds the matching
normal and roughness maps, so a PBR set can be trained."""
from __future__ import annotations

import numpy as np


def _torus_voronoi(size: int, cells: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(nearest distance, second-nearest distance, cell id) on a size×size torus, in pixels."""
    pts = rng.random((cells, 2)) * size
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    d = np.empty((cells, size, size), dtype=np.float32)
    for i, (py, px) in enumerate(pts):
        dy = np.abs(yy - py)
        dx = np.abs(xx - px)
        dy = np.minimum(dy, size - dy)
        dx = np.minimum(dx, size - dx)
        d[i] = np.sqrt(dy * dy + dx * dx)
    order = np.argsort(d, axis=0)
    d1 = np.take_along_axis(d, order[:1], 0)[0]
    d2 = np.take_along_axis(d, order[1:2], 0)[0]
    return d1, d2, order[0]


def _periodic_noise(size: int, rng: np.random.Generator, octaves: int = 4) -> np.ndarray:
    """Fractal value noise that tiles (Fourier-filtered white noise), roughly zero mean, unit std."""
    white = rng.standard_normal((size, size))
    f = np.fft.fftfreq(size)
    r = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    spectrum = np.fft.fft2(white) / np.maximum(r, 1.0 / size) ** 1.2
    spectrum[r > 0.25] *= 0.3
    n = np.real(np.fft.ifft2(spectrum))
    return ((n - n.mean()) / (n.std() + 1e-8)).astype(np.float32)


def stones_pbr(size: int = 128, seed: int = 0, cells: int | None = None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    cells = cells or max(4, size * size // 700)
    d1, d2, cid = _torus_voronoi(size, cells, rng)
    edge = d2 - d1  # 0 on the boundary between two stones
    mortar = np.clip(1.0 - edge / 2.5, 0, 1)  # ~2-3 px joints
    bulge = np.clip(edge / 6.0, 0, 1) ** 0.5  # stones are domed
    bright = rng.uniform(0.45, 0.8, cells)
    warm = rng.uniform(0.0, 1.0, cells)  # grey to sandy brown
    base = bright[:, None] * np.stack([np.ones(cells), 0.95 - 0.1 * warm, 0.9 - 0.25 * warm], 1)
    tint = base[cid]  # per-stone colour
    grain = _periodic_noise(size, rng)
    fine = rng.standard_normal((size, size)).astype(np.float32)
    shade = 0.65 + 0.35 * bulge + 0.06 * grain + 0.03 * fine
    albedo = tint * shade[..., None]
    mortar_col = np.array([0.22, 0.2, 0.18], dtype=np.float32)
    albedo = albedo * (1 - mortar[..., None]) + mortar_col * mortar[..., None]
    height = 0.8 * bulge * (1 - mortar) + 0.05 * grain
    h6 = height * 6.0  # central differences with wrap-around, so the normal map tiles too
    gx = (np.roll(h6, -1, 1) - np.roll(h6, 1, 1)) * 0.5
    gy = (np.roll(h6, -1, 0) - np.roll(h6, 1, 0)) * 0.5
    n = np.stack([-gx, -gy, np.ones_like(height)], -1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    rough = np.clip(0.55 + 0.35 * mortar - 0.2 * bulge + 0.05 * grain, 0, 1)
    return {
        "albedo": np.clip(albedo, 0, 1).astype(np.float32),
        "normal": (n * 0.5 + 0.5).astype(np.float32),
        "roughness": rough[..., None].astype(np.float32),
    }


def stones(size: int = 128, seed: int = 0) -> np.ndarray:
    return stones_pbr(size, seed)["albedo"]
