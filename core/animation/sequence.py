"""Stylizes the frames of an animation in order with temporal coherence (Ruder, Dosovitskiy and Brox,
"Artistic style transfer for videos", 2016): each frame starts from the previous stylized frame warped
by Blender's Vector pass and is held to it by a temporal term on reliable pixels. Writes numbered
PNGs, never replaces files it did not write, and resumes after the last finished frame."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from ..errors import CancelToken, UserError
from ..imageio import read_image, write_image
from ..progress import Progress, ProgressCallback
from ..style.options import StyleOptions
from . import motion
from .display import DisplaySettings, to_display
from .frames import Frame, frame_number, read_frame
from .guidance import outline_weight_map, structure_edges
from .regions import RegionSpec, frame_regions
from .terms import FrameGuides

# γ of the temporal term, relative to the style weight β (the objective weighs the term by β: it resists
# the style's pull, so the γ/β balance, not γ alone, sets the flicker; core/style/objective.py). 200 is
# Ruder et al.'s γ; on the 3-frame test clip (48 px, 12 steps, β 300) it gave 0.10× the per-frame
# flicker and 50 gave 0.36×; benchmarks/bench_flicker.py measures it at 96 px.
DEFAULT_TEMPORAL_WEIGHT = 200.0
EDGE_GUIDES = ("off", "depth", "normal", "both")
MANIFEST = ".atelier-animate.json"


@dataclass
class AnimationOptions:
    """How passes guide an animation (styles and regions are in RegionSpec).

    temporal_weight: γ of the temporal term, relative to the style weight; 0 stylizes every frame on its own.
    warp_init: start each frame from the warped previous stylized frame (content on unreliable pixels).
    refine_only: later frames optimise at the finest scale only: their start image already has the
        coarse structure, and a coarse pass would blur it away.
    refine_steps: steps of those later frames (None: the style options' per-scale `steps`).
    edge_guide: extra content weight at silhouettes ('depth'), creases ('normal') or both.
    edge_strength: the extra weight on outlines (× the edge map), added to the usual content weight at
        the content layer and applied at finer layers too (terms.OutlineContentLoss); flat areas keep
        the unguided objective.
    overwrite: replace existing frames in the output folder (default: resume or refuse)."""

    temporal_weight: float = DEFAULT_TEMPORAL_WEIGHT
    warp_init: bool = True
    refine_only: bool = True
    refine_steps: Optional[int] = None
    edge_guide: str = "off"
    edge_strength: float = 3.0
    overwrite: bool = False
    display: DisplaySettings = field(default_factory=DisplaySettings)

    def validate(self) -> "AnimationOptions":
        if not (0.0 <= self.temporal_weight <= 1e6):
            raise UserError(f"--temporal-weight: must be between 0 and 1e6, got {self.temporal_weight}")
        if self.edge_guide not in EDGE_GUIDES:
            raise UserError(f"--edge-guide: '{self.edge_guide}' is not one of {', '.join(EDGE_GUIDES)}")
        if not (0.0 <= self.edge_strength <= 100.0):
            raise UserError(f"--edge-strength: must be between 0 and 100, got {self.edge_strength}")
        return self


@dataclass
class FrameInput:
    """A frame file and, for PNG/TIFF frames, its Vector file; for EXR frames, the view layer to read
    (None: core.animation.frames guesses the rendered one)."""

    path: str
    vectors: Optional[str] = None
    view_layer: Optional[str] = None


@dataclass
class FrameDone:
    """Reported after each frame: its output, and whether it was computed or found finished."""

    index: int
    total: int
    output: str
    resumed: bool
    losses: dict[str, float] = field(default_factory=dict)
    image: Optional[np.ndarray] = None
    steps: int = 0


def output_paths(inputs: Sequence[FrameInput], out_dir: str | os.PathLike) -> list[Path]:
    """frame_NNNN.png named after each input's frame number (its position when it has none)."""
    names = [Path(out_dir) / f"frame_{frame_number(f.path, i + 1):04d}.png" for i, f in enumerate(inputs)]
    if len(set(names)) != len(names):
        raise UserError("FRAMES: two frames have the same frame number; name them _0001, _0002, ...")
    return names


def _display_image(frame: Frame, settings: DisplaySettings) -> np.ndarray:
    rgb = to_display(frame.image, settings) if frame.linear else frame.image
    return np.ascontiguousarray(rgb[..., :3], dtype=np.float32)


def _check_manifest(out_dir: Path, outputs: list[Path], settings: dict, overwrite: bool) -> int:
    """How many leading frames are already finished (0 with overwrite). Refuses to touch frames another
    run (or the user) left there with other settings."""
    existing = [p for p in outputs if p.exists()]
    manifest = out_dir / MANIFEST
    if overwrite or not existing:
        return 0
    try:
        previous = json.loads(manifest.read_text())
    except (OSError, ValueError):
        previous = None
    if previous != settings:
        raise UserError(f"-o '{out_dir}': it already holds {existing[0].name} from another run or other "
                        "settings; choose another folder or pass --overwrite")
    done = 0
    while done < len(outputs) and outputs[done].exists():
        done += 1
    return done


def stylize_frames(inputs: Sequence[FrameInput], regions: RegionSpec, out_dir: str | os.PathLike,
                   style_options: Optional[StyleOptions] = None, options: Optional[AnimationOptions] = None, *,
                   progress: Optional[ProgressCallback] = None, on_frame: Optional[Callable[[FrameDone], None]] = None,
                   cancel: Optional[CancelToken] = None, run_settings: Optional[dict] = None) -> list[Path]:
    """Stylize `inputs` in order into `out_dir` (which must exist); returns the output paths.

    A folder holding frames of a run with other settings (frame names, styles, options; the
    manifest OUTDIR/.atelier-animate.json) is refused unless `options.overwrite`; with the same
    settings the run resumes after the last finished frame. run_settings: extra plain data to match."""
    from ..style.engine import stylize

    opts = (options or AnimationOptions()).validate()
    style_opts = (style_options or StyleOptions()).validate()
    regions.validate()
    out = Path(out_dir)
    if not out.is_dir():
        raise UserError(f"-o '{out}': folder does not exist")
    if not inputs:
        raise UserError("FRAMES: give at least one frame")
    for item in inputs:  # fail before any compute
        for what, path in (("frame", item.path), ("--vectors", item.vectors)):
            if path is not None and not Path(path).is_file():
                raise UserError(f"{what} '{path}': file not found")
    outputs = output_paths(inputs, out)
    layers = sorted({f.view_layer for f in inputs if f.view_layer is not None})
    settings = {"frames": [Path(f.path).name for f in inputs], **({"view_layers": layers} if layers else {}),
                "regions": regions.fingerprint(),
                "style": style_opts.to_dict(), "animation": {**asdict(opts), "overwrite": None}, **(run_settings or {})}
    settings = json.loads(json.dumps(settings, default=str))
    first_todo = _check_manifest(out, outputs, settings, opts.overwrite)
    _write_manifest(out, settings)

    temporal = opts.temporal_weight > 0 or opts.warp_init
    previous: Optional[Frame] = None
    previous_out: Optional[np.ndarray] = None
    total = len(inputs)
    for i, item in enumerate(inputs):
        if cancel is not None:
            cancel.check()
        frame = read_frame(item.path, item.vectors, item.view_layer)
        _check_frame(frame, i, regions, opts, temporal, previous)
        if i < first_todo:  # finished by an earlier run: only its pixels are needed, for the next frame
            previous, previous_out = frame, read_image(outputs[i], "finished frame")[..., :3]
            if on_frame is not None:
                on_frame(FrameDone(i, total, str(outputs[i]), resumed=True))
            continue
        content = _display_image(frame, opts.display)
        guides = FrameGuides()
        if opts.edge_guide != "off":
            edges = structure_edges(frame, use_depth=opts.edge_guide in ("depth", "both"),
                                    use_normal=opts.edge_guide in ("normal", "both"))
            if edges is not None:
                guides.outline_weight = outline_weight_map(edges, opts.edge_strength)
        frame_opts = style_opts
        if previous is not None and temporal:
            mask = motion.reliability(frame.vector, previous.vector)
            warped = motion.warp_previous(previous_out, frame.vector)
            if style_opts.preserve_color == "luminance":  # the network sees luminance in this mode
                from ..style.color import luminance
                warped = np.repeat(luminance(warped)[..., None], 3, axis=2)
                content_seen = np.repeat(luminance(content)[..., None], 3, axis=2)
            else:
                content_seen = content
            if opts.warp_init:
                guides.init = mask[..., None] * warped + (1.0 - mask[..., None]) * content_seen
            if opts.temporal_weight > 0:
                guides.temporal_target, guides.temporal_weight = warped, opts.temporal_weight * mask
            if opts.refine_only and style_opts.method == "multiscale":
                frame_opts = _finest_scale_only(style_opts, opts.refine_steps)
        parts = frame_regions(frame, regions)
        label = f"frame {i + 1}/{total}"

        def relay(p: Progress, _label=label) -> None:
            if progress is not None:
                progress(Progress(step=p.step, total=p.total, losses=p.losses,
                                  stage=f"{_label} {p.stage}".strip(), preview=p.preview))

        result = stylize(content, parts.styles, frame_opts, masks=parts.masks, progress=relay,
                            cancel=cancel, guides=guides)
        image = result.image[..., :3]
        if parts.keep is not None:
            image = parts.keep[..., None] * content + (1.0 - parts.keep[..., None]) * image
        write_image(outputs[i], image)
        previous, previous_out = frame, image
        if on_frame is not None:
            on_frame(FrameDone(i, total, str(outputs[i]), resumed=False, losses=result.losses, image=image,
                               steps=result.steps))
    return outputs


def _finest_scale_only(opts: StyleOptions, steps: Optional[int]) -> StyleOptions:
    """Same options, one scale: 'gatys' is the single-scale schedule; its own defaults are replaced by
    the multiscale ones so only the schedule changes (the finest scale's `steps`, without the coarse
    scales' share)."""
    from ..style.options import METHOD_DEFAULTS

    d = opts.to_dict()
    for name in METHOD_DEFAULTS[opts.method]:
        d[name] = opts.resolved(name)
    d["method"] = "gatys"
    if steps is not None:
        d["steps"] = int(steps)
    return StyleOptions.from_dict(d)


def _check_frame(frame: Frame, i: int, regions: RegionSpec, opts: AnimationOptions, temporal: bool,
                 previous: Optional[Frame]) -> None:
    if previous is not None and frame.size != previous.size:
        raise UserError(f"frame '{frame.path}': {frame.size[1]}×{frame.size[0]} differs from the previous "
                        f"frame's {previous.size[1]}×{previous.size[0]}")
    if temporal and frame.vector is None:
        raise UserError(f"frame '{frame.path}': no Vector pass; enable View Layer > Passes > Vector (motion "
                        "blur off), give --vectors, or pass --temporal-weight 0 --no-warp-init")
    for name in regions.needs():
        if getattr(frame, name) is None:
            raise UserError(f"frame '{frame.path}': the {name.replace('_', ' ')} pass is missing")


def _write_manifest(out: Path, settings: dict) -> None:
    tmp = out / (MANIFEST + ".part")
    tmp.write_text(json.dumps(settings, indent=1))
    os.replace(tmp, out / MANIFEST)
