"""Running jobs: the shared worker client's lifetime, submitting, and driving jobs to their end.

``JobRunner`` is what the modal operator does, one ``tick()`` per timer event, as plain code that
headless tests can drive; ``run_blocking`` waits instead (headless demo, EXEC operators, tests).
Both run follow-up jobs (generate after train) and always delete job folders.
"""
from __future__ import annotations

import itertools
import os
from typing import Callable, Iterable, Optional

import numpy as np

import bpy

from . import job_files, pixels
from .job import Job, JobCancelled, JobError, Preparing, resolve_node
from .requests import follow_up
from .results import apply_result

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
    if not os.access(python, os.X_OK):
        raise JobError(f"Worker Python '{python}' is not executable: point 'Worker Python' in the add-on "
                       "preferences at a Python program (install.py sets it)")
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


def submit(client, job: Job) -> str:
    job.id = client.submit(job.kind, job.params)
    return job.id


def discard(job: Job) -> None:
    """Delete the job's temp folder (inputs, previews, outputs already copied into Blender)."""
    job_files.remove_job_dir(job.folder)


PREVIEW_NAME = "Atelier Preview"


class JobRunner:
    """Drives a sequence of jobs by polling, one ``tick()`` per timer event: exactly what the
    modal operator does, as plain code that headless tests can drive.

    State after each tick: 'running', 'finished', 'cancelled' or 'failed'. ``progress`` (0..1) and
    ``status`` describe the running job; step previews go into one 'Atelier Preview' image owned
    by the runner and removed by ``close()``. A cancelled or failed run removes every image it
    created (earlier steps of a chain included) and restores nodes, so the scene is as it was.
    """

    def __init__(self, client, job_iter: Iterable[Job | Preparing], *, show_previews: bool = True,
                 preview_size: Optional[tuple[int, int]] = None) -> None:
        self.client = client
        self._jobs = iter(job_iter)
        self.job: Optional[Job] = None
        self.preparing: Optional[Preparing] = None  # the job iterator is still preparing (one item per tick)
        self.done: list[Job] = []
        self.created: list[bpy.types.Image] = []
        self.state = "running"
        self.progress = 0.0
        self.step = self.total = 0   # of the running job, for a short progress line
        self.status = ""
        self.message = ""
        self.preview: Optional[bpy.types.Image] = None
        self.previews_shown = 0
        self.show_previews = show_previews
        # (width, height) of the result: previews of coarse scales are shown at this size, so the
        # live preview does not jump in size while a multi-scale run works up to it
        self.preview_size = preview_size
        self._cancel_sent = False
        self._undo: list[tuple[bpy.types.Node, Optional[bpy.types.Image], Optional[bool]]] = []

    def start(self) -> None:
        """Prepare and submit the first job (JobError when there is nothing to do)."""
        if not self._next():
            raise JobError("nothing to do")

    def _next(self) -> bool:
        item = next(self._jobs, None)
        self.preparing = item if isinstance(item, Preparing) else None
        if self.preparing is not None:  # continued on the next tick, so the UI stays live meanwhile
            self.job = None
            self.progress, self.step, self.total = self.preparing.fraction, 0, 0
            self.status = self.preparing.message
            return True
        self.job = item
        if self.job is None:
            return False
        self._cancel_sent = False
        self.progress, self.step, self.total = 0.0, 0, 0
        self.status = f"{self.job.label}: waiting for the worker"
        submit(self.client, self.job)
        return True

    def cancel(self) -> None:
        """Ask the worker to stop; the run ends as 'cancelled' on a later tick (at once while preparing)."""
        if self.preparing is not None and self.state == "running":
            self._stop("cancelled", "Cancelled; nothing was changed")
            return
        if self.job is not None and self.job.id and not self._cancel_sent:
            self.client.cancel(self.job.id)
            self._cancel_sent = True
            self.status = "Cancelling…"

    def tick(self) -> str:
        if self.state != "running":
            return self.state
        try:
            if self.preparing is not None:
                if not self._next():
                    self._stop("finished", "")
                return self.state
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
        except Exception as exc:  # noqa: BLE001 - the run fails with one readable line
            self._stop("failed", " ".join(str(exc).split()) or type(exc).__name__)
        return self.state

    def _on_progress(self, ev: dict) -> None:
        step, total = ev.get("step") or 0, ev.get("total") or 0
        self.progress = (step / total) if total else 0.0
        self.step, self.total = int(step), int(total)
        losses = ", ".join(f"{k} {v:.3g}" for k, v in (ev.get("losses") or {}).items() if isinstance(v, (int, float)))
        self.status = f"{self.job.label} · {ev.get('stage') or ''} {step}/{total} {losses}".strip()
        path = ev.get("preview")
        if self.show_previews and path and os.path.isfile(path):
            try:
                arr = np.load(path, allow_pickle=False)
            except (OSError, ValueError):
                return  # being replaced right now; the next one comes soon
            if self.preview is None:
                w, h = self.preview_size or (arr.shape[1], arr.shape[0])
                self.preview = bpy.data.images.new(unique_image_preview_name(), w, h, alpha=True)
            pixels.replace_pixels(self.preview, arr, keep_size=self.preview_size is not None)
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
            remove_frames(self.done)  # an animation appears whole or not at all
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


def remove_frames(jobs: Iterable[Job]) -> None:
    """Delete the animation frames these (finished) jobs wrote, when their run fails or is cancelled."""
    for job in jobs:
        frame = job.info.get("frame")
        if frame and os.path.isfile(frame):
            os.unlink(frame)


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

