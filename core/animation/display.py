"""Scene-linear render colour -> display colour, with OpenColorIO and the same config and view
transform Blender uses (its own config.ocio, found without importing bpy, or one given with --ocio)."""
from __future__ import annotations

import glob
import importlib.util
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import numpy as np

from ..errors import UserError

SCENE_LINEAR = "Linear Rec.709"  # Blender's scene-linear space (and the role 'scene_linear')
DEFAULT_VIEW = "AgX"             # Blender's default view transform for new scenes since 4.0
DEFAULT_DISPLAY = "sRGB"


@dataclass
class DisplaySettings:
    """Which OCIO config, display, view and look turn a render into what the artist sees.

    exposure is in stops (Blender's Film > Exposure); look is a look name or None."""

    config: Optional[str] = None
    display: str = DEFAULT_DISPLAY
    view: str = DEFAULT_VIEW
    look: Optional[str] = None
    exposure: float = 0.0


def find_blender_config() -> Optional[str]:
    """Blender's config.ocio: $OCIO if set, else the one inside the installed `bpy` package."""
    env = os.environ.get("OCIO")
    if env and os.path.isfile(env):
        return env
    spec = importlib.util.find_spec("bpy")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        found = sorted(glob.glob(os.path.join(root, "*", "datafiles", "colormanagement", "config.ocio")))
        if found:
            return found[-1]
    return None


@lru_cache(maxsize=8)
def _processor(config_path: str, display: str, view: str, look: Optional[str]):
    import PyOpenColorIO as ocio

    try:
        config = ocio.Config.CreateFromFile(config_path)
    except Exception as exc:  # OCIO raises its own exception type for broken configs
        raise UserError(f"--ocio '{config_path}': not a readable OCIO config ({exc})") from None
    displays = list(config.getDisplays())
    if display not in displays:
        raise UserError(f"display '{display}' is not in {config_path}; choose one of {', '.join(displays)}")
    views = list(config.getViews(display))
    if view not in views:
        raise UserError(f"--view '{view}' is not a view of display '{display}'; choose one of {', '.join(views)}")
    try:
        linear = config.getColorSpace("scene_linear").getName()
    except Exception:
        linear = SCENE_LINEAR
    transform = ocio.DisplayViewTransform(src=linear, display=display, view=view)
    if not look:
        return config.getProcessor(transform).getDefaultCPUProcessor()
    looks = {lk.getName() for lk in config.getLooks()}
    name = look if look in looks else f"{view} - {look}"  # Blender lists AgX looks without the prefix
    if name not in looks:
        raise UserError(f"--look '{look}' is not in {config_path}")
    pipeline = ocio.LegacyViewingPipeline()
    pipeline.setDisplayViewTransform(transform)
    pipeline.setLooksOverrideEnabled(True)
    pipeline.setLooksOverride(name)
    return pipeline.getProcessor(config).getDefaultCPUProcessor()


def to_display(linear: np.ndarray, settings: Optional[DisplaySettings] = None) -> np.ndarray:
    """H×W×3/4 scene-linear -> display-referred RGB(A) 0..1 (alpha passed through)."""
    settings = settings or DisplaySettings()
    config = settings.config or find_blender_config()
    if config is None:
        raise UserError("no OpenColorIO config found for the EXR frames: install bpy, set $OCIO, "
                        "or pass --ocio CONFIG (Blender's datafiles/colormanagement/config.ocio)")
    if not os.path.isfile(config):
        raise UserError(f"--ocio '{config}': file not found")
    processor = _processor(os.path.abspath(config), settings.display, settings.view, settings.look)
    rgba = np.array(linear, dtype=np.float32, copy=True)
    alpha = rgba[..., 3:4].copy() if rgba.shape[2] == 4 else None
    rgb = np.ascontiguousarray(rgba[..., :3])
    if settings.exposure:
        rgb *= np.float32(2.0 ** settings.exposure)
    processor.applyRGB(rgb)
    rgb = np.clip(rgb, 0.0, 1.0)
    return np.concatenate([rgb, alpha], axis=2) if alpha is not None else rgb
