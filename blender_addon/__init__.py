"""Neural Atelier: stylize renders and image textures, and grow tileable textures, with neural
networks running in a separate worker process (``python -m core worker`` in the .venv that
install.py makes). This package never imports torch or core; it talks to the worker only through
worker_client.

Layout (bpy-facing code apart from the logic it drives):
  compat.py   Blender 4.2..5.0 differences (compositor, output formats)
  passes.py   reads render passes (multilayer EXR + OpenImageIO, OCIO view transform)
  pixels.py   moves pixels between images and arrays, creates result images
  job.py      what a job is (Job, ResultSettings, JobError/JobCancelled, name-based node references)
  requests.py scene -> worker: builds each job's request (plain functions the operators, tests, demo share)
  results.py  worker -> scene: final events become new images, linked nodes, checkpoints, frames
  runner.py   the worker client's lifetime, JobRunner (modal polling) and run_blocking
  job_files.py  job folders and .npy files shared with the worker
  operators.py, ui.py, prefs.py, props.py   the Blender UI layer
"""
from __future__ import annotations

bl_info = {
    "name": "Neural Atelier",
    "author": "Neural Atelier developers",
    "version": (0, 1, 0),
    "blender": (4, 2, 0),
    "location": "Image Editor / Shader Editor › Sidebar › Atelier; Properties › Render",
    "description": "Stylize renders and textures, grow tileable textures with a local GPU",
    "category": "Render",
}

import bpy  # noqa: E402

from . import operators, prefs, props, ui  # noqa: E402

_classes = (prefs.AtelierPreferences, props.AtelierStyleItem, props.AtelierSettings, *operators.classes,
            *ui.classes)


def register() -> None:
    for cls in _classes:
        bpy.utils.register_class(cls)
    bpy.types.Scene.atelier = bpy.props.PointerProperty(type=props.AtelierSettings)
    props.register_runtime_props()


def unregister() -> None:
    from . import runner

    runner.shutdown_client()
    props.unregister_runtime_props()
    if hasattr(bpy.types.Scene, "atelier"):
        del bpy.types.Scene.atelier
    for cls in reversed(_classes):
        bpy.utils.unregister_class(cls)
