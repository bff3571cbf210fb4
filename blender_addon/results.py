"""Worker → scene: turn a job's final event into new images, a linked node, a checkpoint or a frame.

All-or-nothing: ``apply_result`` undoes its own partial work if anything goes wrong, so a failed
or cancelled job leaves the scene as it was.
"""
from __future__ import annotations

import os
import shutil
from typing import Any, Optional

import numpy as np

import bpy

from . import job_files, pixels
from .job import Job, JobCancelled, JobError, ResultSettings, resolve_node, texture_label


def event_payload(event: dict[str, Any]) -> dict[str, Any]:
    """The result body of a final event (the worker nests it under 'result')."""
    body = event.get("result")
    return body if isinstance(body, dict) else event


def check_final(event: dict[str, Any]) -> dict[str, Any]:
    """Raise JobError/JobCancelled for a failed/cancelled final event; return the result body."""
    kind = event.get("event")
    if kind == "cancelled":
        raise JobCancelled("cancelled")
    if kind == "error":
        msg = str(event.get("message") or "the worker reported an error")
        if "exit_code" in event:  # the client's synthetic event for a dead worker process
            raise JobError(f"The Atelier worker stopped: {msg}. The next job starts a fresh worker.")
        raise JobError(msg)
    if kind != "result":
        raise JobError(f"unexpected worker event '{kind}'")
    return event_payload(event)


def save_folder(settings: ResultSettings) -> Optional[str]:
    """The folder 'SAVE' results are written to, or None to pack them into the .blend."""
    if settings.store != "SAVE":
        return None
    if settings.save_dir:
        return bpy.path.abspath(settings.save_dir)
    if not bpy.data.filepath:
        return None  # unsaved file: nothing to save next to, so pack
    return os.path.join(os.path.dirname(bpy.data.filepath), "atelier")


def _load_output(path: str) -> np.ndarray:
    return job_files.read_npy(path)


def write_frame_png(path: str, arr: np.ndarray) -> None:
    """Write one PNG through a temporary 8-bit sRGB image (removed again): into a temp file in the
    same folder first, renamed when complete, so a failure never leaves a partial file."""
    rgba = pixels.to_rgba(arr)
    h, w = rgba.shape[:2]
    tmp = bpy.data.images.new("atelier-frame-tmp", w, h, alpha=True)
    part = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.{os.getpid()}.part")
    try:
        tmp.colorspace_settings.name = "sRGB"
        tmp.pixels.foreach_set(np.ascontiguousarray(rgba[::-1]).ravel())
        tmp.filepath_raw = part
        tmp.file_format = "PNG"
        tmp.save()
        os.replace(part, path)
    finally:
        bpy.data.images.remove(tmp)
        if os.path.exists(part):
            os.unlink(part)


def existing_frames(paths: list[str]) -> list[str]:
    """The frame files among `paths` that already exist (an animation never replaces them)."""
    return [p for p in paths if os.path.lexists(p)]


def _note_renamed_file(job: Job, image: bpy.types.Image) -> None:
    """Tell the user when a saved result went to 'name_2.png' because 'name.png' existed."""
    taken = image.get("atelier_file_taken")
    if taken:
        job.info.setdefault("notes", []).append(f"'{taken}' already exists, so the result was saved as "
                                                f"'{os.path.basename(image.filepath_raw)}'")


def apply_result(job: Job, event: dict[str, Any]) -> list[bpy.types.Image]:
    """Apply a final event to the scene. Returns the new images (none for training and for
    animation frames). Raises JobError/JobCancelled for failed/cancelled jobs, having changed
    nothing. All-or-nothing: a failure half way removes what was created and restores the node."""
    body = check_final(event)
    job.info.update(body.get("info") or {})
    outputs = body.get("outputs") or []
    if job.kind == "check_setup":
        job.info.update(body)
        return []
    if job.kind == "texture_train":
        ckpt = next((o["path"] for o in outputs if o.get("kind") == "checkpoint"), job.params["checkpoint"])
        dest = job.checkpoint_dest or ckpt
        os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
        if os.path.abspath(ckpt) != os.path.abspath(dest):
            shutil.copyfile(ckpt, dest)
        job.info["checkpoint"] = dest
        return []
    if job.kind == "animate":  # the worker wrote the frames into the user's output folder
        job.info["frames_written"] = [o["path"] for o in outputs]
        return []
    if job.frame_path:
        out = next(o for o in outputs if str(o.get("path", "")).endswith(".npy"))
        os.makedirs(os.path.dirname(job.frame_path) or ".", exist_ok=True)
        if existing_frames([job.frame_path]):  # appeared while the job ran
            raise JobError(f"'{job.frame_path}' already exists; the animation will not replace it")
        write_frame_png(job.frame_path, _load_output(out["path"]))
        job.info["frame"] = job.frame_path
        return []

    created: list[bpy.types.Image] = []
    node = resolve_node(job.node_ref) if job.node_ref else None
    old_image = node.image if node is not None else None
    old_fake = old_image.use_fake_user if old_image is not None else None
    try:
        for out in outputs:
            path = out.get("path", "")
            if not path.endswith(".npy"):
                continue
            kind = out.get("kind", "color")
            if kind not in ("color", "normal", "data"):
                kind = "data"
            if job.kind == "texture_generate":  # the worker says which model made it, and if it refined it
                job.style_name = texture_label(str(job.info.get("model", "")), int(job.params.get("seed", 0)),
                                               raw=job.info.get("refined") is False)
            name = pixels.result_name(job.source_name, job.style_name)
            if job.kind == "texture_generate" and len(outputs) > 1:
                name = pixels.result_name(job.source_name, f"{job.style_name} {out.get('name', kind)}")
            image = pixels.write_new_image(name, _load_output(path), kind=kind,
                                           float_buffer=job.result.float_buffer and kind == "color",
                                           store=job.result.store, save_dir=save_folder(job.result))
            # results have no users yet; without a fake user Blender drops them when the file is saved
            image.use_fake_user = True
            _note_renamed_file(job, image)
            image["atelier_source"] = job.source_name
            if job.kind == "stylize":
                image["atelier_style"] = job.style_name
            if job.params.get("checkpoint") and job.kind == "texture_generate":
                image["atelier_checkpoint"] = job.params["checkpoint"]
            created.append(image)
        if not created:
            raise JobError("the worker returned no image")
        if node is not None:
            # colour map into the node; other maps of a multi-map model stay as images
            main = next((im for im in created if not pixels.is_data_image(im)), created[0])
            pixels.link_into_node(node, main)
    except BaseException:
        if node is not None:
            node.image = old_image
            if old_image is not None:
                old_image.use_fake_user = old_fake
        for im in created:
            bpy.data.images.remove(im)
        raise
    return created
