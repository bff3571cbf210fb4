"""Scene → worker: build each Job's request (arrays written as .npy into its job folder, options).

Plain functions on plain data, so tests and the headless demo build exactly what the UI builds.
Every builder either returns a complete Job or removes the job folder it made.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Optional

import numpy as np

import bpy

from . import job_files, passes, pixels
from .job import GAN_MODELS, Job, JobError, Preparing, ResultSettings, node_ref, texture_label


def new_job_folder() -> str:
    return job_files.new_job_dir()


@contextmanager
def _job_folder() -> Iterator[str]:
    """A fresh job folder that is removed again when building the job fails."""
    folder = new_job_folder()
    try:
        yield folder
    except BaseException:
        job_files.remove_job_dir(folder)
        raise


def _save_npy(folder: str, name: str, arr: np.ndarray) -> str:
    return job_files.write_npy(os.path.join(folder, name + ".npy"), arr)


def _rgb(arr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(arr[:, :, :3])


def style_arrays(styles: Iterable[Any]) -> list[tuple[str, np.ndarray]]:
    """(name, display-sRGB HxWx4 array) for each style: an image datablock or a file path.
    Files are read through a temporary datablock that is removed again."""
    out = []
    for style in styles:
        if isinstance(style, bpy.types.Image):
            out.append((style.name, pixels.display_array(style)))
            continue
        path = bpy.path.abspath(str(style))
        if not os.path.isfile(path):
            raise JobError(f"style image '{path}' does not exist")
        try:
            tmp = bpy.data.images.load(path, check_existing=False)
        except RuntimeError as exc:
            raise JobError(f"style image '{path}' cannot be read: {exc}") from None
        try:
            out.append((os.path.splitext(os.path.basename(path))[0], pixels.display_array(tmp)))
        finally:
            bpy.data.images.remove(tmp)
    if not out:
        raise JobError("choose a style image (an image in this file, or a file)")
    return out


def _source_array(image: bpy.types.Image) -> tuple[np.ndarray, str]:
    """Pixels of an image as sent to the worker, and its map kind."""
    kind = "data" if pixels.is_data_image(image) else "color"
    return pixels.display_array(image), kind


def _save_styles(folder: str, named: list[tuple[str, np.ndarray]]) -> list[str]:
    return [_save_npy(folder, f"style_{i}", _rgb(a)) for i, (_, a) in enumerate(named)]


def _stylize_params(folder: str, content: np.ndarray, style_paths: list[str], masks: Optional[list[str]],
                    options: dict[str, Any]) -> dict[str, Any]:
    """The worker's stylize params; the content is written here, styles and masks already were."""
    return {
        "content": _save_npy(folder, "content", _rgb(content)),
        "style": style_paths if len(style_paths) > 1 else style_paths[0],
        "masks": masks,
        "options": dict(options),
        "output": os.path.join(folder, "result.npy"),
        "job_dir": folder,
    }


# ---------------------------------------------------------------- building jobs

def prepare_stylize_image(image: bpy.types.Image, styles: Iterable[Any], options: dict[str, Any], *,
                          node: Optional[bpy.types.Node] = None,
                          result: Optional[ResultSettings] = None, max_edge: int = 0) -> Job:
    """Stylize an image datablock (Image Editor), or the image of an Image Texture node
    (Shader Editor: the result is linked into that node). ``max_edge`` shrinks the content first
    (live preview), so the result has that smaller size."""
    with _job_folder() as folder:
        content, _ = _source_array(image)
        h, w = content.shape[:2]
        if max_edge and max(h, w) > max_edge:
            scale = max_edge / max(h, w)
            content = pixels.resize_rgba(content, max(1, round(w * scale)), max(1, round(h * scale)))
        named = style_arrays(styles)
        params = _stylize_params(folder, content, _save_styles(folder, named), None, options)
        return Job("stylize", params, folder, source_name=image.name, style_name=named[0][0],
                   node_ref=node_ref(node) if node is not None else None, result=result or ResultSettings())


def render_content(scene: bpy.types.Scene, use_last_render: bool = False) -> passes.RenderPasses:
    """Render (unless told to reuse the last render) and read the passes."""
    if not use_last_render or not passes.render_result_available():
        if use_last_render:
            raise JobError("there is no render to reuse yet: render once, or untick 'Use last render'")
        passes.render_scene(scene)
    return passes.dump_and_read(scene)


def prepare_stylize_render(scene: bpy.types.Scene, styles: Iterable[Any], options: dict[str, Any], *,
                           use_last_render: bool = False, styles_by_object_index: bool = False,
                           result: Optional[ResultSettings] = None, frame_path: Optional[str] = None,
                           render: Optional[passes.RenderPasses] = None) -> Job:
    """Stylize the scene's render. The Combined pass goes through the scene's view transform, so
    the network sees the displayed image. With several styles and ``styles_by_object_index``,
    style k is used where the Object Index pass is k (index 0 and indices without a style use
    the first style)."""
    try:
        rp = render or render_content(scene, use_last_render)
    except passes.PassError as exc:
        raise JobError(str(exc)) from None
    with _job_folder() as folder:
        display = passes.display_transform(scene, rp.combined)
        named = style_arrays(styles)
        style_paths = _save_styles(folder, named)
        masks = None
        if len(style_paths) > 1:
            if styles_by_object_index and "object_index" in rp.extra:
                idx = np.rint(rp.extra["object_index"][:, :, 0]).astype(np.int64)
                idx = np.where((idx >= 0) & (idx < len(style_paths)), idx, 0)
                masks = [_save_npy(folder, f"mask_{k}", (idx == k).astype(np.float32))
                         for k in range(len(style_paths))]
            elif styles_by_object_index:
                raise JobError("per-object styles need the Object Index pass: enable it in View Layer › Passes")
        params = _stylize_params(folder, display, style_paths, masks, options)
        job = Job("stylize", params, folder, source_name=f"{scene.name} render", style_name=named[0][0],
                  result=result or ResultSettings(), frame_path=frame_path)
        job.info["passes"] = sorted(["combined", *rp.extra])
        return job


def prepare_texture_train(image: bpy.types.Image, options: dict[str, Any], checkpoint_dest: str, *,
                          generate: Optional[dict[str, Any]] = None,
                          node: Optional[bpy.types.Node] = None,
                          result: Optional[ResultSettings] = None) -> Job:
    """Train a texture model on one image. The checkpoint ends up at ``checkpoint_dest``;
    with ``generate`` ({'width', 'height', 'seed', 'tileable'}) a texture is generated right after
    (and linked into ``node`` when given)."""
    with _job_folder() as folder:
        arr, kind = _source_array(image)
        exemplar = _save_npy(folder, "exemplar", _rgb(arr) if kind == "color" else arr[:, :, :3])
        params = {
            "exemplars": [exemplar],
            # the worker derives the map kind from its name: colour, normal or a Non-Color data map
            "map_names": ["color" if kind == "color" else ("normal" if "normal" in image.name.lower() else "roughness")],
            "options": dict(options),
            "checkpoint": os.path.join(folder, "model.pt"),
            "resume": None,
            "job_dir": folder,
        }
        return Job("texture_train", params, folder, source_name=image.name, checkpoint_dest=checkpoint_dest,
                   then_generate=generate, node_ref=node_ref(node) if node is not None else None,
                   result=result or ResultSettings())


def prepare_texture_generate(checkpoint: str, width: int, height: int, *, seed: int = 0, tileable: bool = True,
                             raw: bool = False, source_name: str = "", node: Optional[bpy.types.Node] = None,
                             node_reference: Optional[tuple[str, str, str]] = None,
                             result: Optional[ResultSettings] = None) -> Job:
    """Generate from a texture model file. ``raw``: a GAN's own output, without the worker's patch
    refinement (other models ignore it); the request carries it only when asked."""
    checkpoint = bpy.path.abspath(checkpoint)
    if not os.path.isfile(checkpoint):
        raise JobError(f"texture model '{checkpoint}' does not exist: train one first")
    folder = new_job_folder()
    out_dir = os.path.join(folder, "maps")
    os.makedirs(out_dir)
    params = {"checkpoint": checkpoint, "width": int(width), "height": int(height), "seed": int(seed),
              "tileable": bool(tileable), "output_dir": out_dir, "job_dir": folder}
    if raw:
        params["raw"] = True
    name = source_name or os.path.splitext(os.path.basename(checkpoint))[0]
    return Job("texture_generate", params, folder, source_name=name, style_name=texture_label("", seed),
               node_ref=node_reference or (node_ref(node) if node is not None else None),
               result=result or ResultSettings())


def texture_generation(settings: Any) -> dict[str, Any]:
    """What to generate, from the panel's texture settings (scene.atelier): size, seed, tileable, and raw
    GAN output only while a GAN model is chosen (the panel shows the toggle only then, so a hidden toggle
    left on changes nothing). The keywords of prepare_texture_generate, and train's ``generate``."""
    return {"width": settings.texture_width, "height": settings.texture_height, "seed": settings.texture_seed,
            "tileable": True, "raw": bool(settings.raw_gan_output) and settings.texture_model in GAN_MODELS}


def prepare_check_setup(weights_file: str = "", device: str = "auto") -> Job:
    folder = new_job_folder()
    return Job("check_setup", {"weights": bpy.path.abspath(weights_file) if weights_file else None,
                               "device": device}, folder)


def follow_up(job: Job) -> Optional[Job]:
    """The job to run after a finished one (generate after train), or None."""
    if job.kind == "texture_train" and job.then_generate:
        g = job.then_generate
        return prepare_texture_generate(job.info["checkpoint"], g.get("width", 256), g.get("height", 256),
                                        seed=g.get("seed", 0), tileable=g.get("tileable", True),
                                        raw=g.get("raw", False), source_name=job.source_name,
                                        node_reference=job.node_ref,
                                        result=job.result)
    return None


def style_options(*, method: str = "multiscale", backbone: str = "auto", weights: str = "", size: int = 0,
                  steps: int = 0, strength: float = 1.0, tv_weight: float = -1.0,
                  style_scale: float = 1.0, preserve_color: str = "NONE", tileable: bool = False, seed: int = 0,
                  device: str = "auto", memory_gb: float = 0.0, preview_every: int = 5,
                  fast_strength: float = 1.0, full_edge: int = 0) -> dict[str, Any]:
    """StyleOptions as the worker wants them, from UI-style values (0 / 'NONE' / -1 mean default).
    For 'fast', size 0 leaves the working size to core (the method's measured default), and
    `full_edge` (live preview) names the long edge of the image the content is a shrunk copy of.
    `strength` is the optimisation methods' style/content balance relative to the method's tuned default
    (core owns β per method, so the add-on scales the content weight instead: 2 = twice the style per unit
    of content, 0 = no style); the 'fast' method's 0..1 mix is `fast_strength`."""
    opts: dict[str, Any] = {
        "method": method.lower(), "backbone": backbone.lower(), "style_scale": float(style_scale),
        "tileable": bool(tileable),
        "seed": int(seed), "device": device.lower(), "preview_every": int(preview_every),
    }
    if weights:
        opts["weights"] = bpy.path.abspath(weights)
    if size:
        opts["size"] = int(size)
    if steps:
        opts["steps"] = int(steps)
    if tv_weight >= 0:
        opts["tv_weight"] = float(tv_weight)
    if preserve_color and preserve_color.upper() != "NONE":
        opts["preserve_color"] = preserve_color.lower()
    if memory_gb:
        opts["max_memory_gb"] = float(memory_gb)
    if opts["method"] == "fast":
        opts["strength"] = float(fast_strength)
        if full_edge:
            opts["full_edge"] = int(full_edge)
    elif strength <= 0:
        opts["style_weight"] = 0.0
    elif strength != 1.0:
        opts["content_weight"] = 1.0 / float(strength)
    return opts


def prepare_animate(scene: bpy.types.Scene, styles: Iterable[Any], options: dict[str, Any], out_dir: str, *,
                    animation: Optional[dict[str, Any]] = None, background: str = "with-rest",
                    styles_by_material_index: bool = False, styles_by_object_index: bool = False,
                    frames: Optional[Iterable[int]] = None) -> Job:
    """Whole animation with temporal coherence: render every frame (Vector, Depth, Normal and index
    passes on, motion blur off, the user's settings restored) into the job folder as EXR, then one
    `animate` request stylizes them in order into ``out_dir``/frame_NNNN.png (never over files of
    another run; a rerun continues after the last finished frame). Blocking; the UI uses
    `animate_steps`, which renders one frame per step.

    animation: {"temporal_weight", "edge_guide", "edge_strength", "depth_stroke_scale"} (core's
    defaults where missing). With several styles and ``styles_by_material_index`` (or
    ``styles_by_object_index``), style k is used where the Material (Object) Index pass is k (k >= 1),
    the first style elsewhere; with background 'own' the last style goes to the world."""
    for item in animate_steps(scene, styles, options, out_dir, animation=animation, background=background,
                              styles_by_material_index=styles_by_material_index,
                              styles_by_object_index=styles_by_object_index, frames=frames):
        if isinstance(item, Job):
            return item
    raise JobError("the animation job was not prepared")  # unreachable: the steps end with the job


def animate_steps(scene: bpy.types.Scene, styles: Iterable[Any], options: dict[str, Any], out_dir: str, *,
                  animation: Optional[dict[str, Any]] = None, background: str = "with-rest",
                  styles_by_material_index: bool = False, styles_by_object_index: bool = False,
                  frames: Optional[Iterable[int]] = None) -> Iterator[Preparing | Job]:
    """`prepare_animate` one frame at a time: yields Preparing before each frame (the next item renders
    it), then the Job. Each frame's render restores the user's settings, so nothing of theirs stays
    changed while the UI is live between frames; closing the generator early removes what it rendered."""
    from . import clip_render

    named = style_arrays(styles)
    frame_list = list(frames) if frames is not None else list(range(scene.frame_start, scene.frame_end + 1,
                                                                     scene.frame_step))
    if not frame_list:
        raise JobError("the scene's frame range is empty")
    if background == "own" and len(named) < 2:
        raise JobError("'World: own style' needs a second style (the last one is the world's)")
    layer = clip_render.rendered_layer(scene).name
    with _job_folder() as folder:
        exr: list[str] = []
        for i, frame in enumerate(frame_list):
            yield Preparing(f"Rendering frame {frame} ({i + 1}/{len(frame_list)})", i / len(frame_list))
            exr += clip_render.render_frames(scene, [frame], folder, view_layer=layer)
        paths = _save_styles(folder, named)
        background_style = paths.pop() if background == "own" else None
        by_index = {str(k): p for k, p in enumerate(paths) if k >= 1}
        material_styles = by_index if styles_by_material_index and by_index else {}
        object_styles = by_index if styles_by_object_index and not material_styles and by_index else {}
        if material_styles or object_styles:
            paths = paths[:1]
        params = {"frames": exr, "style": paths, "material_styles": material_styles, "object_styles": object_styles,
                  "background": background,
                  "background_style": background_style, "options": dict(options),
                  "animation": {**(animation or {}), **clip_render.view_settings(scene)},
                  "view_layer": layer,  # the worker reads this layer, not its guess at the rendered one
                  "output_dir": os.path.abspath(out_dir)}
        job = Job("animate", params, folder, source_name=f"{scene.name} animation", style_name=named[0][0])
        job.info["frames"] = len(exr)
    yield job  # outside the folder's guard: closing the generator after this must not delete it
