"""The worker's `animate` request: its params, validated, and the handler that stylizes rendered EXR frames
in order into the output folder (core/protocol.py and core/tasks.py route it here).

    animate  params {"frames": [exr...], "style": npy | [npy...], "material_styles"|"object_styles": {"INDEX": npy}?,
                     "background": "with-rest"|"keep"|"own"?, "background_style": npy?,
                     "options": {StyleOptions}, "animation": {"temporal_weight"?, "warp_init"?,
                     "edge_guide"?, "edge_strength"?, "depth_stroke_scale"?, "display"?, "view"?,
                     "look"?, "exposure"?}, "view_layer"?: name of the rendered view layer in the EXRs
                     (default: the layer with Combined and the most passes), "output_dir": folder,
                     "overwrite"?: false}
        -> {"outputs": [{"path" (output_dir/frame_NNNN.png), "name", "kind": "frame", "resumed"}],
            "info": {"seconds", "frames", "computed"}}
        Progress stages read "frame i/N ..."; a stopped job resumes after its last finished frame.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .. import protocol as h
from ..errors import UserError
from .display import DEFAULT_DISPLAY, DEFAULT_VIEW, DisplaySettings
from .regions import RegionSpec
from .sequence import DEFAULT_TEMPORAL_WEIGHT, AnimationOptions, FrameInput, stylize_frames

_ANIMATION_KEYS = {"temporal_weight", "warp_init", "edge_guide", "edge_strength", "depth_stroke_scale",
                   "display", "view", "look", "exposure"}


@dataclass
class AnimateRequest:
    """A validated `animate` request."""

    frames: list[Path]
    styles: list[Path]
    material_styles: dict[int, Path]
    object_styles: dict[int, Path]
    background: str
    background_style: Optional[Path]
    options: dict
    animation: dict
    output_dir: Path
    overwrite: bool
    view_layer: Optional[str] = None

    @classmethod
    def from_params(cls, params: dict) -> "AnimateRequest":
        frames = [h.input_file("frames", f, (".exr",)) for f in h._str_list(params, "frames", True)]
        styles = [h.input_file("style", s) for s in h._str_list(params, "style", True, allow_single=True)]
        materials, objects = _index_styles(params, "material_styles"), _index_styles(params, "object_styles")
        background_style = h._str(params, "background_style", required=False)
        animation = h._dict(params, "animation")
        unknown = set(animation) - _ANIMATION_KEYS
        if unknown:
            raise UserError(f"params.animation: unknown key(s) {', '.join(sorted(unknown))}")
        return cls(frames, styles, materials, objects, h._str(params, "background", required=False) or "with-rest",
                   h.input_file("background_style", background_style) if background_style else None,
                   h._dict(params, "options"), animation, h.output_folder("output_dir", h._str(params, "output_dir"), None),
                   h._bool(params, "overwrite", False), h._str(params, "view_layer", required=False) or None)


def _index_styles(params: dict, key: str) -> dict[int, Path]:
    raw = params.get(key) or {}
    if not isinstance(raw, dict):
        raise h.ProtocolError(f"params.{key}: expected an object {{\"INDEX\": npy path}}")
    out = {}
    for index, path in raw.items():
        if not str(index).isdigit() or not isinstance(path, str):
            raise h.ProtocolError(f"params.{key}: '{index}' must be an index with an .npy path")
        out[int(index)] = h.input_file(key, path)
    return out


def _animation_options(d: dict[str, Any], overwrite: bool) -> AnimationOptions:
    def number(key: str, default: float) -> float:
        v = d.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise UserError(f"params.animation.{key}: expected a number, got {v!r}")
        return float(v)

    display = DisplaySettings(display=str(d.get("display") or DEFAULT_DISPLAY), view=str(d.get("view") or DEFAULT_VIEW),
                              look=d.get("look") or None, exposure=number("exposure", 0.0))
    return AnimationOptions(temporal_weight=number("temporal_weight", DEFAULT_TEMPORAL_WEIGHT),
                            warp_init=bool(d.get("warp_init", True)), edge_guide=str(d.get("edge_guide", "off")),
                            edge_strength=number("edge_strength", 3.0), overwrite=overwrite,
                            display=display).validate()


def run_animate_task(worker, task) -> dict:
    """Worker handler: stylize the frames, report progress through the worker, list the written frames."""
    from ..style.options import StyleOptions

    spec: AnimateRequest = task.spec
    load = lambda p, what: np.asarray(h.load_array(p, what), np.float32)  # noqa: E731
    regions = RegionSpec(
        styles=[load(p, "style") for p in spec.styles],
        material_styles={i: load(p, "material style") for i, p in spec.material_styles.items()},
        object_styles={i: load(p, "object style") for i, p in spec.object_styles.items()},
        background=spec.background,
        background_style=load(spec.background_style, "background style") if spec.background_style else None,
        depth_stroke_scale=float(spec.animation.get("depth_stroke_scale", 0.0))).validate()
    options = _animation_options(spec.animation, spec.overwrite)
    style_options = StyleOptions.from_dict(spec.options)
    start = time.perf_counter()
    done: list = []
    outputs = stylize_frames([FrameInput(str(f), view_layer=spec.view_layer) for f in spec.frames], regions, spec.output_dir, style_options,
                             options, progress=worker.progress_callback(task, _preview_dir(spec)),
                             on_frame=done.append, cancel=task.token)
    return {"outputs": [{"path": str(p), "name": p.stem, "kind": "frame", "resumed": d.resumed}
                        for p, d in zip(outputs, done)],
            "info": {"seconds": round(time.perf_counter() - start, 3), "frames": len(outputs),
                     "computed": sum(not d.resumed for d in done)}}


def _preview_dir(spec: AnimateRequest) -> Path:
    """Previews go next to the first frame (the add-on's job folder), never into the user's output."""
    return spec.frames[0].parent
