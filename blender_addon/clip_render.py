"""Renders frames of the scene to Blender multilayer EXR files with the passes animation needs
(Combined, Vector, Depth, Normal, Object and Material Index), restoring the user's settings.

Headless Blender gives no Render Result pixels, so each frame is rendered and dumped with
``save_render`` (see passes.py). Motion blur is switched off while rendering: Cycles only writes the
Vector pass without it. Files are named frame_NNNN.exr in a folder the caller owns.
"""
from __future__ import annotations

import os
from typing import Callable, Iterable, Optional

import bpy

from . import compat

# View layer pass switches this module turns on (and restores afterwards).
PASS_SWITCHES = ("use_pass_vector", "use_pass_z", "use_pass_normal", "use_pass_object_index",
                 "use_pass_material_index")


def frame_file(folder: str, frame: int) -> str:
    return os.path.join(folder, f"frame_{frame:04d}.exr")


def rendered_layer(scene: bpy.types.Scene, view_layer: Optional[str] = None) -> bpy.types.ViewLayer:
    """The view layer `render_frames` renders: `view_layer` by name, else the context's when it belongs
    to this scene, else the scene's first."""
    current = getattr(bpy.context, "view_layer", None)  # may belong to another scene: match by name
    name = view_layer or (current.name if current is not None and current.name in scene.view_layers else None)
    return scene.view_layers[name] if name else scene.view_layers[0]


def render_frames(scene: bpy.types.Scene, frames: Iterable[int], folder: str, *,
                  view_layer: Optional[str] = None,
                  on_frame: Optional[Callable[[int, str], None]] = None,
                  should_stop: Optional[Callable[[], bool]] = None) -> list[str]:
    """Render each frame in order into `folder`; returns the EXR paths. The scene's current frame,
    output settings, motion blur and pass switches are restored whatever happens. `on_frame(frame,
    path)` is called after each file is written; `should_stop()` is checked before each render.
    Only `rendered_layer` is enabled, and the whole scene is rendered (not one layer re-rendered, which
    keeps other layers' earlier results in the Render Result): with another view layer in the result,
    Blender failed to save the second frame ("Each part should have a unique name"), and the files
    would hold several candidate layers."""
    layer = rendered_layer(scene, view_layer)
    saved_passes = {name: getattr(layer, name) for name in PASS_SWITCHES}
    saved_use = {other.name: other.use for other in scene.view_layers}
    saved_single = scene.render.use_single_layer  # "Render Single Layer" would render the context's layer
    saved_blur = scene.render.use_motion_blur
    saved_frame = scene.frame_current
    output = compat.snapshot_output_settings(scene)
    paths: list[str] = []
    try:
        for name in PASS_SWITCHES:
            setattr(layer, name, True)
        for other in scene.view_layers:
            other.use = other.name == layer.name
        scene.render.use_single_layer = False
        scene.render.use_motion_blur = False
        for frame in frames:
            if should_stop is not None and should_stop():
                break
            scene.frame_set(frame)
            bpy.ops.render.render(write_still=False, scene=scene.name)
            compat.set_multilayer_exr(scene, compressed=False)
            path = frame_file(folder, frame)
            bpy.data.images["Render Result"].save_render(filepath=path, scene=scene)
            compat.restore_output_settings(scene, output)
            paths.append(path)
            if on_frame is not None:
                on_frame(frame, path)
    finally:
        compat.restore_output_settings(scene, output)
        for name, value in saved_passes.items():
            setattr(layer, name, value)
        for name, use in saved_use.items():
            scene.view_layers[name].use = use
        scene.render.use_single_layer = saved_single
        scene.render.use_motion_blur = saved_blur
        scene.frame_set(saved_frame)
    return paths


def view_settings(scene: bpy.types.Scene) -> dict:
    """The scene's colour management as plain data for the worker's OCIO display conversion."""
    vs = scene.view_settings
    look = vs.look if vs.look and vs.look != "None" else None
    return {"display": scene.display_settings.display_device, "view": vs.view_transform, "look": look,
            "exposure": float(vs.exposure)}
