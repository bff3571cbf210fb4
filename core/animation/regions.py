"""Which style goes where in one frame: per-material styles from the Material Index pass, the world
background (kept, own style, or with the rest) and depth bands for stroke scale, as (style, soft mask)
pairs for the engine's masked styles."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..errors import UserError
from .frames import Frame
from .guidance import depth_bands, style_at_stroke_scale

BACKGROUND_MODES = ("with-rest", "keep", "own")
MIN_REGION_PX = 16  # smaller regions are merged into the rest: a Gram of a few pixels is noise


@dataclass
class RegionSpec:
    """The styles of an animation and where they apply.

    styles: the main style(s), blended over everything not claimed below.
    material_styles: Material Index value -> its own style.
    object_styles: Object Index value -> its own style (after material styles, on what they left).
    background: 'with-rest' (the world is stylized like the rest), 'keep' (the world stays as
        rendered) or 'own' (the world gets `background_style`).
    depth_stroke_scale: 0 = off; s > 0 = strokes up to (1 + s)× larger near the camera."""

    styles: list[np.ndarray]
    material_styles: dict[int, np.ndarray] = field(default_factory=dict)
    object_styles: dict[int, np.ndarray] = field(default_factory=dict)
    background: str = "with-rest"
    background_style: Optional[np.ndarray] = None
    depth_stroke_scale: float = 0.0

    def validate(self) -> "RegionSpec":
        if not self.styles:
            raise UserError("--style: give at least one style image")
        if self.background not in BACKGROUND_MODES:
            raise UserError(f"--background: '{self.background}' is not one of {', '.join(BACKGROUND_MODES)}")
        if self.background == "own" and self.background_style is None:
            raise UserError("--background own needs --background-style IMAGE")
        if not 0.0 <= self.depth_stroke_scale <= 4.0:
            raise UserError(f"--depth-stroke-scale: must be between 0 and 4, got {self.depth_stroke_scale}")
        return self

    def needs(self) -> set[str]:
        """Passes each frame must have for this spec."""
        out = set()
        if self.material_styles:
            out.add("material_index")
        if self.object_styles:
            out.add("object_index")
        if self.depth_stroke_scale > 0:
            out.add("depth")
        return out

    def fingerprint(self) -> dict:
        """Plain data that identifies these styles and regions (image hashes, not paths)."""
        digest = lambda a: hashlib.sha1(np.ascontiguousarray(a, np.float32).tobytes()).hexdigest()[:16]  # noqa: E731
        return {"styles": [digest(s) for s in self.styles],
                "material_styles": {str(k): digest(v) for k, v in sorted(self.material_styles.items())},
                "object_styles": {str(k): digest(v) for k, v in sorted(self.object_styles.items())},
                "background": self.background,
                "background_style": digest(self.background_style) if self.background_style is not None else None,
                "depth_stroke_scale": self.depth_stroke_scale}

    @property
    def plain(self) -> bool:
        """No regions at all: the engine blends the main styles without masks."""
        return not self.material_styles and not self.object_styles and self.background == "with-rest" and self.depth_stroke_scale == 0


@dataclass
class FrameRegions:
    styles: list[np.ndarray]
    masks: Optional[list[np.ndarray]]   # None: unmasked blend of `styles`
    keep: Optional[np.ndarray]          # H×W, 1 where the rendered frame is kept as it is


def frame_regions(frame: Frame, spec: RegionSpec) -> FrameRegions:
    """The (style, mask) pairs for one frame."""
    if spec.plain:
        return FrameRegions(list(spec.styles), None, None)
    h, w = frame.size
    world = frame.background() if spec.background != "with-rest" else None
    if spec.background != "with-rest" and world is None:
        raise UserError(f"frame '{frame.path}': --background {spec.background} needs a Depth pass or "
                        "an alpha channel to find the world")
    world = np.zeros((h, w), np.float32) if world is None else world
    rest = 1.0 - world
    regions: list[tuple[np.ndarray, np.ndarray]] = []
    for what, index, styles in (("Material Index", frame.material_index, spec.material_styles),
                                 ("Object Index", frame.object_index, spec.object_styles)):
        if not styles:
            continue
        if index is None:
            raise UserError(f"frame '{frame.path}': per-{what.split()[0].lower()} styles need the {what} pass "
                            f"(View Layer > Passes > {what})")
        idx = np.rint(index[..., 0])
        for value, style in sorted(styles.items()):
            m = np.clip(rest, 0.0, 1.0) * (idx == value) * (1.0 - world)
            if m.sum() >= MIN_REGION_PX:
                regions.append((style, m.astype(np.float32)))
                rest = rest - m
    if spec.background == "own" and world.sum() >= MIN_REGION_PX:
        regions.append((spec.background_style, world))
    rest = np.clip(rest, 0.0, 1.0)
    if rest.sum() >= MIN_REGION_PX:
        regions += [(style, rest) for style in spec.styles]  # same region: the styles blend there
    if spec.depth_stroke_scale > 0:
        if frame.depth is None:
            raise UserError(f"frame '{frame.path}': --depth-stroke-scale needs the Depth pass")
        bands = depth_bands(frame.depth, spec.depth_stroke_scale)
        regions = [(style_at_stroke_scale(style, band.stroke_scale), m * band.mask)
                   for style, m in regions for band in bands if (m * band.mask).sum() >= MIN_REGION_PX]
    if not regions:
        raise UserError(f"frame '{frame.path}': nothing left to stylize (everything is kept background)")
    keep = world if spec.background == "keep" else None
    return FrameRegions([s for s, _ in regions], [m for _, m in regions], keep)
