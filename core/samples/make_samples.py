"""Draw the bundled demo images procedurally (the project's own art, no third-party pixels).

    python -m core.samples.make_samples        # rewrites the PNGs next to this file

- content_house.png: a small house with a red roof, a tree, a sun and hills - a subject that is easy
  to recognise after stylisation.
- style_swirls.png: bold, thick brush strokes following a swirling flow field in deep blues, ochre
  and yellow - a strong, distinctive painterly style.
- style_mosaic.png: a stained-glass mosaic of warm cells with dark lead lines (a second style, for
  masks and blending).
Deterministic: fixed seeds, so re-running gives the same files.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent


def _save(name: str, rgb: np.ndarray) -> Path:
    path = HERE / name
    bgr = cv2.cvtColor(np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(path), bgr, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return path


def content_house(w: int = 384, h: int = 288) -> np.ndarray:
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    # Sky: vertical gradient.
    t = (yy / h)[..., None]
    img = (1 - t) * np.array([0.35, 0.6, 0.95]) + t * np.array([0.8, 0.9, 1.0])
    img = img.astype(np.float32)
    # Sun with a soft glow.
    d = np.sqrt((xx - 0.8 * w) ** 2 + (yy - 0.2 * h) ** 2)
    glow = np.exp(-(d / (0.18 * h)) ** 2)[..., None]
    img = img * (1 - 0.5 * glow) + 0.5 * glow * np.array([1.0, 0.9, 0.5], np.float32)
    img[d < 0.08 * h] = (1.0, 0.85, 0.25)
    # Two rolling hills.
    for base, amp, freq, col in ((0.62, 0.06, 1.3, (0.35, 0.6, 0.3)), (0.72, 0.05, 2.1, (0.22, 0.48, 0.2))):
        ridge = h * (base + amp * np.sin(freq * 2 * np.pi * xx / w + base * 9))
        shade = np.clip((yy - ridge) / (0.4 * h), 0, 1)[..., None]
        colour = np.array(col, np.float32) * (1 - 0.35 * shade)
        img = np.where((yy > ridge)[..., None], colour, img)
    img = np.ascontiguousarray(img)
    s = lambda v: int(round(v))  # noqa: E731
    # House: walls, roof, door, windows.
    x0, x1, y0, y1 = s(0.2 * w), s(0.5 * w), s(0.5 * h), s(0.82 * h)
    cv2.rectangle(img, (x0, y0), (x1, y1), (0.93, 0.86, 0.7), -1, cv2.LINE_AA)
    cv2.rectangle(img, (x0, y0), (x0 + s(0.04 * w), y1), (0.82, 0.74, 0.58), -1, cv2.LINE_AA)
    roof = np.array([[x0 - s(0.03 * w), y0], [x1 + s(0.03 * w), y0], [(x0 + x1) // 2, s(0.3 * h)]], np.int32)
    cv2.fillPoly(img, [roof], (0.75, 0.12, 0.1), cv2.LINE_AA)
    cv2.polylines(img, [roof], True, (0.35, 0.05, 0.05), 2, cv2.LINE_AA)
    cv2.rectangle(img, (s(0.33 * w), s(0.64 * h)), (s(0.38 * w), y1), (0.4, 0.22, 0.1), -1, cv2.LINE_AA)
    for wx in (0.24, 0.42):
        a, b = (s(wx * w), s(0.56 * h)), (s((wx + 0.05) * w), s(0.64 * h))
        cv2.rectangle(img, a, b, (0.95, 0.85, 0.4), -1, cv2.LINE_AA)
        cv2.rectangle(img, a, b, (0.3, 0.2, 0.15), 2, cv2.LINE_AA)
        cv2.line(img, ((a[0] + b[0]) // 2, a[1]), ((a[0] + b[0]) // 2, b[1]), (0.3, 0.2, 0.15), 1, cv2.LINE_AA)
    cv2.rectangle(img, (x0, y0), (x1, y1), (0.3, 0.2, 0.15), 2, cv2.LINE_AA)
    # Tree: trunk and a round crown made of blobs.
    cv2.rectangle(img, (s(0.7 * w), s(0.55 * h)), (s(0.74 * w), s(0.8 * h)), (0.38, 0.24, 0.12), -1, cv2.LINE_AA)
    for _ in range(14):
        cx = 0.72 * w + rng.normal(0, 0.045 * w)
        cy = 0.45 * h + rng.normal(0, 0.05 * h)
        r = rng.uniform(0.05, 0.08) * h
        g = rng.uniform(0.35, 0.55)
        cv2.circle(img, (s(cx), s(cy)), s(r), (0.12, g, 0.15), -1, cv2.LINE_AA)
    # Fine grain so the optimiser has texture to work with.
    img = img + rng.normal(0, 0.01, img.shape).astype(np.float32)
    return np.clip(img, 0, 1)


def style_swirls(size: int = 320) -> np.ndarray:
    rng = np.random.default_rng(2)
    palette = np.array([[0.05, 0.1, 0.35], [0.1, 0.25, 0.6], [0.2, 0.45, 0.8], [0.95, 0.8, 0.2],
                        [0.9, 0.55, 0.1], [0.98, 0.95, 0.7], [0.1, 0.35, 0.45]], np.float32)
    img = np.empty((size, size, 3), np.float32)
    img[:] = palette[0]
    centres = rng.uniform(0, size, (5, 2))
    spins = rng.choice([-1.0, 1.0], 5)

    def flow(p: np.ndarray) -> np.ndarray:
        v = np.array([1.0, 0.25])
        for c, sp in zip(centres, spins):
            d = p - c
            r2 = (d ** 2).sum() + 200.0
            v = v + sp * 900.0 * np.array([-d[1], d[0]]) / r2
        return v / (np.linalg.norm(v) + 1e-6)

    # Strokes from thick and dark to thin and bright, each following the swirl field.
    for layer, (count, thick, cols) in enumerate(((260, 14, [0, 1, 6]), (420, 9, [1, 2, 6]), (380, 6, [2, 3, 4, 5]))):
        for _ in range(count):
            p = rng.uniform(0, size, 2)
            pts = [p.copy()]
            length = rng.integers(6, 16)
            for _ in range(length):
                p = p + 4.5 * flow(p)
                pts.append(p.copy())
            col = palette[rng.choice(cols)] * rng.uniform(0.85, 1.1)
            pts_i = np.round(np.array(pts)).astype(np.int32)
            cv2.polylines(img, [pts_i], False, tuple(float(c) for c in np.clip(col, 0, 1)),
                          int(thick * rng.uniform(0.7, 1.3)), cv2.LINE_AA)
            # Darker edge on one side: gives the strokes body.
            edge = np.clip(col * 0.6, 0, 1)
            cv2.polylines(img, [pts_i + np.array([1, 2])], False, tuple(float(c) for c in edge), 1, cv2.LINE_AA)
    return np.clip(img + rng.normal(0, 0.015, img.shape).astype(np.float32), 0, 1)


def style_mosaic(size: int = 288) -> np.ndarray:
    rng = np.random.default_rng(3)
    pts = rng.uniform(0, size, (90, 2)).astype(np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    d = (yy[..., None] - pts[:, 1]) ** 2 + (xx[..., None] - pts[:, 0]) ** 2
    order = np.sort(d, axis=2)
    label = np.argmin(d, axis=2)
    palette = np.array([[0.85, 0.2, 0.1], [0.95, 0.6, 0.1], [0.6, 0.1, 0.3], [0.95, 0.85, 0.4],
                        [0.2, 0.5, 0.3], [0.75, 0.35, 0.15]], np.float32)
    cell_col = palette[rng.integers(0, len(palette), len(pts))] * rng.uniform(0.8, 1.1, (len(pts), 1))
    img = cell_col[label]
    # Lead lines where the two nearest seeds are about equally close; soft shading inside cells.
    gap = np.sqrt(order[..., 1]) - np.sqrt(order[..., 0])
    lead = np.clip(1.0 - gap / 3.0, 0, 1)[..., None]
    shade = np.clip(np.sqrt(order[..., 0]) / 25.0, 0, 1)[..., None]
    img = img * (1.0 - 0.3 * shade) * (1 - lead) + lead * np.array([0.08, 0.06, 0.05], np.float32)
    return np.clip(img + rng.normal(0, 0.02, img.shape).astype(np.float32), 0, 1)


def main() -> None:
    for name, img in (("content_house.png", content_house()), ("style_swirls.png", style_swirls()),
                      ("style_mosaic.png", style_mosaic())):
        path = _save(name, img)
        print(f"{path} {img.shape[1]}x{img.shape[0]} {path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
