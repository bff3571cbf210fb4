"""Job logic: turn scene data into worker requests and worker results back into scene data.

Plain functions on plain data, so tests and the headless demo can drive exactly what the UI drives
(headless Blender has no timers or modal operators). The modal operator in operators.py only
calls ``submit``, feeds events from ``client.poll()`` to ``apply_event`` and shows progress.

Life of a job:  prepare_*()  ->  submit(client, job)  ->  events  ->  apply_result()  ->  discard()
A failed or cancelled job creates nothing: images are only created in ``apply_result``, which
undoes its own partial work if anything goes wrong.
"""
from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

import numpy as np

import bpy

from . import job_files, passes, pixels


class JobError(RuntimeError):
    """The job failed; the message is the worker's (or ours), ready for the report area."""


class JobCancelled(RuntimeError):
    pass


@dataclass
class ResultSettings:
    """Where and how results are stored."""
    float_buffer: bool = False      # colour results as linearised float instead of 8-bit sRGB
    store: str = "PACK"             # 'PACK' into the .blend, or 'SAVE' next to it
    save_dir: Optional[str] = None  # for 'SAVE'; default: '<blend folder>/atelier'


@dataclass
class Job:
    """One worker request plus what to do with its result. Scene objects are referenced by name
    so a job survives undo and file reloads while it runs."""
    kind: str                                   # 'stylize' | 'texture_train' | 'texture_generate' | 'check_setup'
    params: dict[str, Any]
    folder: str                                 # per-job temp folder, deleted by discard()
    source_name: str = ""
    style_name: str = ""
    node_ref: Optional[tuple[str, str, str]] = None   # ('MATERIAL'|'GROUP', owner name, node name)
    result: ResultSettings = field(default_factory=ResultSettings)
    # for training: where the checkpoint is kept, and the generate job to chain afterwards
    checkpoint_dest: Optional[str] = None
    then_generate: Optional[dict[str, Any]] = None
    frame_path: Optional[str] = None            # animation frame: write a PNG here instead of an image
    id: Optional[str] = None
    info: dict[str, Any] = field(default_factory=dict)   # result info of the finished job

    @property
    def label(self) -> str:
        what = {"stylize": "Stylize", "texture_train": "Train texture", "texture_generate": "Generate texture",
                "check_setup": "Check setup"}.get(self.kind, self.kind)
        return f"{what}: {self.source_name}" if self.source_name else what


# ---------------------------------------------------------------- worker

_client = None


def get_client(python: str, *, env: Optional[dict] = None, log_path: Optional[str] = None):
    """The shared worker client; a fresh worker is started when there is none or it has died."""
    global _client
    if not python:
        raise JobError("No worker Python is set: open Preferences › Add-ons › Neural Atelier and set "
                       "'Worker Python' (install.py fills it in), or run install.py again")
    if not os.path.isfile(python):
        raise JobError(f"Worker Python '{python}' does not exist: run install.py again or fix it in the "
                       "add-on preferences")
    from .worker_client import WorkerClient

    if _client is not None:
        alive = False
        try:
            alive = _client.alive() and getattr(_client, "python", python) == python
        except Exception:
            alive = False
        if not alive:
            shutdown_client()
    if _client is None:
        _client = WorkerClient(python=python, env=env, log_path=log_path)
    return _client


def shutdown_client() -> None:
    global _client
    if _client is not None:
        try:
            _client.shutdown()
        except Exception:
            pass
    _client = None


# ---------------------------------------------------------------- helpers

def new_job_folder() -> str:
    return job_files.new_job_dir()


def discard(job: Job) -> None:
    """Delete the job's temp folder (inputs, previews, outputs already copied into Blender)."""
    job_files.remove_job_dir(job.folder)


def _save_npy(folder: str, name: str, arr: np.ndarray) -> str:
    return job_files.write_npy(os.path.join(folder, name + ".npy"), arr)


def _rgb(arr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(arr[:, :, :3])


def node_ref(node: bpy.types.Node) -> tuple[str, str, str]:
    """A name-based reference to a node in a material or node group."""
    tree = node.id_data
    for mat in bpy.data.materials:
        if mat.node_tree is not None and mat.node_tree == tree:
            return ("MATERIAL", mat.name, node.name)
    if tree.name in bpy.data.node_groups:
        return ("GROUP", tree.name, node.name)
    raise JobError(f"node '{node.name}' is not in a material or node group")


def resolve_node(ref: tuple[str, str, str]) -> bpy.types.Node:
    kind, owner, name = ref
    tree = None
    if kind == "MATERIAL" and owner in bpy.data.materials:
        tree = bpy.data.materials[owner].node_tree
    elif kind == "GROUP" and owner in bpy.data.node_groups:
        tree = bpy.data.node_groups[owner]
    node = tree.nodes.get(name) if tree is not None else None
    if node is None:
        raise JobError(f"the node '{name}' in '{owner}' no longer exists")
    return node


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


# ---------------------------------------------------------------- preparing jobs

def prepare_stylize_image(image: bpy.types.Image, styles: Iterable[Any], options: dict[str, Any], *,
                          node: Optional[bpy.types.Node] = None,
                          result: Optional[ResultSettings] = None) -> Job:
    """Stylize an image datablock (Image Editor), or the image of an Image Texture node
    (Shader Editor: the result is linked into that node)."""
    folder = new_job_folder()
    try:
        content, _ = _source_array(image)
        named = style_arrays(styles)
        style_paths = [_save_npy(folder, f"style_{i}", _rgb(a)) for i, (_, a) in enumerate(named)]
        params = {
            "content": _save_npy(folder, "content", _rgb(content)),
            "style": style_paths if len(style_paths) > 1 else style_paths[0],
            "masks": None,
            "options": dict(options),
            "output": os.path.join(folder, "result.npy"),
            "job_dir": folder,
        }
        return Job("stylize", params, folder, source_name=image.name, style_name=named[0][0],
                   node_ref=node_ref(node) if node is not None else None, result=result or ResultSettings())
    except BaseException:
        job_files.remove_job_dir(folder)
        raise


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
    folder = new_job_folder()
    try:
        display = passes.display_transform(scene, rp.combined)
        named = style_arrays(styles)
        style_paths = [_save_npy(folder, f"style_{i}", _rgb(a)) for i, (_, a) in enumerate(named)]
        masks = None
        if len(style_paths) > 1:
            if styles_by_object_index and "object_index" in rp.extra:
                idx = np.rint(rp.extra["object_index"][:, :, 0]).astype(np.int64)
                idx = np.where((idx >= 0) & (idx < len(style_paths)), idx, 0)
                masks = [_save_npy(folder, f"mask_{k}", (idx == k).astype(np.float32))
                         for k in range(len(style_paths))]
            elif styles_by_object_index:
                raise JobError("per-object styles need the Object Index pass: enable it in View Layer › Passes")
        params = {
            "content": _save_npy(folder, "content", _rgb(display)),
            "style": style_paths if len(style_paths) > 1 else style_paths[0],
            "masks": masks,
            "options": dict(options),
            "output": os.path.join(folder, "result.npy"),
            "job_dir": folder,
        }
        job = Job("stylize", params, folder, source_name=f"{scene.name} render", style_name=named[0][0],
                  result=result or ResultSettings(), frame_path=frame_path)
        job.info["passes"] = sorted(["combined", *rp.extra])
        return job
    except BaseException:
        job_files.remove_job_dir(folder)
        raise


def prepare_texture_train(image: bpy.types.Image, options: dict[str, Any], checkpoint_dest: str, *,
                          generate: Optional[dict[str, Any]] = None,
                          node: Optional[bpy.types.Node] = None,
                          result: Optional[ResultSettings] = None) -> Job:
    """Train a texture model on one image. The checkpoint ends up at ``checkpoint_dest``;
    with ``generate`` ({'width', 'height', 'seed', 'tileable'}) a texture is generated right after
    (and linked into ``node`` when given)."""
    folder = new_job_folder()
    try:
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
    except BaseException:
        job_files.remove_job_dir(folder)
        raise


def prepare_texture_generate(checkpoint: str, width: int, height: int, *, seed: int = 0, tileable: bool = True,
                             source_name: str = "", node: Optional[bpy.types.Node] = None,
                             node_reference: Optional[tuple[str, str, str]] = None,
                             result: Optional[ResultSettings] = None) -> Job:
    checkpoint = bpy.path.abspath(checkpoint)
    if not os.path.isfile(checkpoint):
        raise JobError(f"texture model '{checkpoint}' does not exist: train one first")
    folder = new_job_folder()
    out_dir = os.path.join(folder, "maps")
    os.makedirs(out_dir)
    params = {"checkpoint": checkpoint, "width": int(width), "height": int(height), "seed": int(seed),
              "tileable": bool(tileable), "output_dir": out_dir, "job_dir": folder}
    name = source_name or os.path.splitext(os.path.basename(checkpoint))[0]
    return Job("texture_generate", params, folder, source_name=name, style_name=f"GAN {seed}",
               node_ref=node_reference or (node_ref(node) if node is not None else None),
               result=result or ResultSettings())


def prepare_check_setup(weights_file: str = "", device: str = "auto") -> Job:
    folder = new_job_folder()
    return Job("check_setup", {"weights": bpy.path.abspath(weights_file) if weights_file else None,
                               "device": device}, folder)


# ---------------------------------------------------------------- running

def submit(client, job: Job) -> str:
    job.id = client.submit(job.kind, job.params)
    return job.id


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


def _save_dir(settings: ResultSettings) -> Optional[str]:
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
    """Write one animation frame through a temporary 8-bit sRGB image (removed again)."""
    rgba = pixels.to_rgba(arr)
    h, w = rgba.shape[:2]
    tmp = bpy.data.images.new("atelier-frame-tmp", w, h, alpha=True)
    try:
        tmp.colorspace_settings.name = "sRGB"
        tmp.pixels.foreach_set(np.ascontiguousarray(rgba[::-1]).ravel())
        tmp.filepath_raw = path
        tmp.file_format = "PNG"
        tmp.save()
    finally:
        bpy.data.images.remove(tmp)


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
    if job.frame_path:
        out = next(o for o in outputs if str(o.get("path", "")).endswith(".npy"))
        os.makedirs(os.path.dirname(job.frame_path) or ".", exist_ok=True)
        write_frame_png(job.frame_path, _load_output(out["path"]))
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
            name = pixels.result_name(job.source_name, job.style_name)
            if job.kind == "texture_generate" and len(outputs) > 1:
                name = pixels.result_name(job.source_name, f"{job.style_name} {out.get('name', kind)}")
            image = pixels.write_new_image(name, _load_output(path), kind=kind,
                                           float_buffer=job.result.float_buffer and kind == "color",
                                           store=job.result.store, save_dir=_save_dir(job.result))
            # results have no users yet; without a fake user Blender drops them when the file is saved
            image.use_fake_user = True
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


def follow_up(job: Job) -> Optional[Job]:
    """The job to run after a finished one (generate after train), or None."""
    if job.kind == "texture_train" and job.then_generate:
        g = job.then_generate
        return prepare_texture_generate(job.info["checkpoint"], g.get("width", 256), g.get("height", 256),
                                        seed=g.get("seed", 0), tileable=g.get("tileable", True),
                                        source_name=job.source_name, node_reference=job.node_ref,
                                        result=job.result)
    return None


PREVIEW_NAME = "Atelier Preview"


class JobRunner:
    """Drives a sequence of jobs by polling, one ``tick()`` per timer event: exactly what the
    modal operator does, as plain code that headless tests can drive.

    State after each tick: 'running', 'finished', 'cancelled' or 'failed'. ``progress`` (0..1) and
    ``status`` describe the running job; step previews go into one 'Atelier Preview' image owned
    by the runner and removed by ``close()``. A cancelled or failed run removes every image it
    created (earlier steps of a chain included) and restores nodes, so the scene is as it was.
    """

    def __init__(self, client, job_iter: Iterable[Job], *, show_previews: bool = True) -> None:
        self.client = client
        self._jobs = iter(job_iter)
        self.job: Optional[Job] = None
        self.done: list[Job] = []
        self.created: list[bpy.types.Image] = []
        self.state = "running"
        self.progress = 0.0
        self.status = ""
        self.message = ""
        self.preview: Optional[bpy.types.Image] = None
        self.previews_shown = 0
        self.show_previews = show_previews
        self._cancel_sent = False
        self._undo: list[tuple[bpy.types.Node, Optional[bpy.types.Image], Optional[bool]]] = []

    def start(self) -> None:
        """Prepare and submit the first job (JobError when there is nothing to do)."""
        if not self._next():
            raise JobError("nothing to do")

    def _next(self) -> bool:
        self.job = next(self._jobs, None)
        if self.job is None:
            return False
        self._cancel_sent = False
        self.progress, self.status = 0.0, f"{self.job.label}: waiting for the worker"
        submit(self.client, self.job)
        return True

    def cancel(self) -> None:
        """Ask the worker to stop; the run ends as 'cancelled' on a later tick."""
        if self.job is not None and self.job.id and not self._cancel_sent:
            self.client.cancel(self.job.id)
            self._cancel_sent = True
            self.status = "Cancelling…"

    def tick(self) -> str:
        if self.state != "running":
            return self.state
        try:
            for ev in self.client.poll():
                if self.job is None or ev.get("id") != self.job.id:
                    continue
                kind = ev.get("event")
                if kind == "progress":
                    self._on_progress(ev)
                elif kind in ("result", "error", "cancelled"):
                    self._on_final(ev)
                    if self.state != "running":
                        break
        except JobCancelled:
            self._stop("cancelled", "Cancelled; nothing was changed")
        except (JobError, OSError) as exc:
            self._stop("failed", str(exc))
        return self.state

    def _on_progress(self, ev: dict) -> None:
        step, total = ev.get("step") or 0, ev.get("total") or 0
        self.progress = (step / total) if total else 0.0
        losses = ", ".join(f"{k} {v:.3g}" for k, v in (ev.get("losses") or {}).items() if isinstance(v, (int, float)))
        self.status = f"{self.job.label} · {ev.get('stage') or ''} {step}/{total} {losses}".strip()
        path = ev.get("preview")
        if self.show_previews and path and os.path.isfile(path):
            try:
                arr = np.load(path, allow_pickle=False)
            except (OSError, ValueError):
                return  # being replaced right now; the next one comes soon
            if self.preview is None:
                self.preview = bpy.data.images.new(unique_image_preview_name(), arr.shape[1], arr.shape[0], alpha=True)
            pixels.replace_pixels(self.preview, arr)
            self.previews_shown += 1

    def _on_final(self, ev: dict) -> None:
        job = self.job
        node = resolve_node(job.node_ref) if job.node_ref and job.kind != "texture_train" else None
        if node is not None:
            old = node.image
            self._undo.append((node, old, old.use_fake_user if old is not None else None))
        try:
            self.created += apply_result(job, ev)
            self.done.append(job)
            nxt = follow_up(job)
        finally:
            discard(job)
        if nxt is not None:
            self._jobs = itertools.chain([nxt], self._jobs)
        if not self._next():
            self.job = None
            self._stop("finished", "")

    def _stop(self, state: str, message: str) -> None:
        self.state, self.message = state, message
        if state != "finished":
            for node, image, fake in reversed(self._undo):
                node.image = image
                if image is not None and fake is not None:
                    image.use_fake_user = fake
            for im in self.created:
                if im.name in bpy.data.images:
                    bpy.data.images.remove(im)
            self.created = []
            if self.job is not None:
                if self.job.id:
                    self.client.cancel(self.job.id)
                discard(self.job)
        self.close()

    def close(self) -> None:
        """Remove the preview image and finish the job generator (restores e.g. the frame)."""
        if self.preview is not None:
            if self.preview.name in bpy.data.images:
                bpy.data.images.remove(self.preview)
            self.preview = None
        close = getattr(self._jobs, "close", None)
        if close:
            close()


def unique_image_preview_name() -> str:
    return pixels.unique_image_name(PREVIEW_NAME)


def run_blocking(client, job: Job, *, timeout: Optional[float] = None,
                 on_event: Optional[Callable[[dict], None]] = None,
                 cancel_after_progress: bool = False) -> list[bpy.types.Image]:
    """Submit, wait, apply, run follow-ups; always deletes job folders. For the headless demo,
    tests and scripts. ``cancel_after_progress`` cancels at the first progress event (tests)."""
    images: list[bpy.types.Image] = []
    current: Optional[Job] = job
    while current is not None:
        try:
            submit(client, current)
            state = {"cancelled": False}

            def _cb(ev: dict, _job=current) -> None:
                if on_event:
                    on_event(ev)
                if cancel_after_progress and ev.get("event") == "progress" and not state["cancelled"]:
                    state["cancelled"] = True
                    client.cancel(_job.id)

            try:
                final = client.wait(current.id, timeout=timeout, on_event=_cb)
            except (JobError, JobCancelled):
                raise
            except Exception as exc:  # worker died, pipe closed, timeout
                raise JobError(worker_failure_message(exc)) from None
            images += apply_result(current, final)
            nxt = follow_up(current)
            if current is not job:
                job.info.setdefault("chain", []).append(current.info)
        finally:
            discard(current)
        current = nxt
    return images


def worker_failure_message(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return f"The Atelier worker stopped unexpectedly ({text}). The next job starts a fresh worker."


def style_options(*, method: str = "multiscale", backbone: str = "auto", weights: str = "", size: int = 0,
                  steps: int = 0, strength: float = 10.0, content_weight: float = 1.0, tv_weight: float = -1.0,
                  style_scale: float = 1.0, preserve_color: str = "NONE", tileable: bool = False, seed: int = 0,
                  device: str = "auto", memory_gb: float = 0.0, preview_every: int = 5) -> dict[str, Any]:
    """StyleOptions as the worker wants them, from UI-style values (0 / 'NONE' / -1 mean default)."""
    opts: dict[str, Any] = {
        "method": method.lower(), "backbone": backbone.lower(), "content_weight": float(content_weight),
        "style_weight": float(strength), "style_scale": float(style_scale), "tileable": bool(tileable),
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
    return opts
