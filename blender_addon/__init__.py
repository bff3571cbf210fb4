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

import importlib.util  # noqa: E402

import bpy  # noqa: E402

from . import prefs, props, ui  # noqa: E402

MIN_BLENDER = (4, 2, 0)  # bl_info is not there when Blender loads this as an extension
# Debian's and some other distribution Blenders come without numpy; the job code needs it.
MISSING_NUMPY = ("numpy is missing", "Use a blender.org build", "(it bundles numpy)")
_registered: list = []


def missing_requirement() -> tuple[str, ...]:
    """Short lines saying what this Blender lacks, or () when nothing is missing."""
    if bpy.app.version < MIN_BLENDER:
        return ("Needs Blender 4.2 or newer", f"This is Blender {bpy.app.version_string.split()[0]}")
    if importlib.util.find_spec("numpy") is None:
        return MISSING_NUMPY
    return ()


def register() -> None:
    problem = missing_requirement()
    if problem:
        # one line in the console, one panel in the Image Editor; nothing that would need numpy
        print(f"Neural Atelier: {problem[0]}: {' '.join(problem[1:])}")
        ui.ATELIER_PT_missing.problem = problem
        classes = (prefs.AtelierPreferences, ui.ATELIER_PT_missing)
    else:
        from . import operators

        classes = (prefs.AtelierPreferences, props.AtelierStyleItem, props.AtelierSettings, *operators.classes,
                   *ui.classes)
    for cls in classes:
        bpy.utils.register_class(cls)
    _registered[:] = classes
    props.register_runtime_props()
    if not problem:
        bpy.types.Scene.atelier = bpy.props.PointerProperty(type=props.AtelierSettings)
        bpy.types.TOPBAR_MT_render.append(ui.draw_render_menu)
    # Blender drops add-on preferences on disable: refill them now, or once the UI runs
    if not prefs.restore():
        bpy.app.timers.register(_restore_later, first_interval=0.0)


def _restore_later() -> None:
    prefs.restore()
    return None  # a timer that returns None runs once


def unregister() -> None:
    if not missing_requirement():
        from . import live_preview, runner

        live_preview.stop()
        runner.shutdown_client()
    bpy.types.TOPBAR_MT_render.remove(ui.draw_render_menu)
    props.unregister_runtime_props()
    if hasattr(bpy.types.Scene, "atelier"):
        del bpy.types.Scene.atelier
    for cls in reversed(_registered):
        bpy.utils.unregister_class(cls)
    _registered.clear()
