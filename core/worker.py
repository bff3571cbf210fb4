"""`python -m core worker`: the long-lived job server that Blender drives. The only place where
Blender's world (no torch) and core's world (torch) meet.

Protocol (version 1): JSON lines, UTF-8. One request per line on stdin; events come back one per
line on stdout. stdout carries nothing else (the worker points fd 1 at stderr and keeps a private
copy for the protocol, so a library that prints cannot corrupt it); stderr carries logs only.
Blank lines are ignored. Lines longer than 1 MiB are rejected. JSON is strict: NaN, Infinity and
integers of more than 19 digits are rejected (the error carries the request's id when it can).

Request:  {"id": "<client id>", "type": "<type>", "params": {...}}
    id: non-empty string (≤ 200 chars), unique among the worker's queued and running jobs.
    params may be omitted for ping/shutdown.

Event:    {"id": "<request id>" | null, "event": "<kind>", ...}
    accepted   {"position": n}                 job queued (0 = runs next / now); params validated
    progress   {"step", "total", "stage", "losses": {name: float}, "preview": path?}
               at most ~10 per second; "preview" (only when the engine offers one, at most ~2 per
               second) is a ≤256-px float32 H×W×C .npy in the job folder, overwritten atomically.
    result     {"result": {...}}                 final
    error      {"kind": "user"|"internal"|"protocol", "message": "<one line>"}   final
    cancelled  {}                                final
    ready      {"protocol": 1, "pid": n}        sent once at start-up, id null
Every request gets exactly one final event (result, error or cancelled). A line that cannot be
tied to a request (not JSON, no id) gets an error event with id null.
kind: "user" = the user can fix it (bad file, bad option, out of memory: the UserError text);
"protocol" = the client sent something malformed; "internal" = a bug or engine failure (the
traceback goes to stderr). After any error the worker keeps serving.

Control requests are answered at once by the stdin reader, even while a job runs:
    ping       -> result {"pong": true, "protocol": 1, "pid", "running": id|null, "queued": [ids]}
    cancel     params {"job": "<id>"} -> result {"job", "state": "queued"|"running"|"unknown"};
               a queued job gets its "cancelled" event at once, a running one when its engine
               reaches the next step (it gets a CancelToken), or at the latest just before it writes
               its outputs. Only a cancel that arrives after the outputs are written is too late:
               that job reports its result.
    shutdown   cancels queued and running jobs (each gets "cancelled"), then result
               {"shutdown": true} and exit code 0. End of stdin does the same without the reply.

Jobs run one at a time, in order, on the main thread; models stay cached in the process between
jobs. check_setup is the exception: quick and read-only, it runs at once on its own thread (so
"Check setup" answers even while a long job runs) and cannot be cancelled.
    check_setup       params {"weights": path|null, "device": "auto"|...}
        -> {"python", "python_version", "core_version", "torch", "torchvision", "device" (what
            the preference resolves to; "auto" picks CUDA, then MPS, then CPU), "device_error"
            (null, or why the preferred device is unavailable), "cuda_available", "cuda_device",
            "mps_available", "weights_found", "weights_path", "weights_message", "platform", "pid"}
        Never downloads anything.
    stylize           params {"content": npy, "style": npy | [npy...], "masks": [npy...] | null,
                              "options": {StyleOptions}, "output": npy, "job_dir"?, "overwrite"?}
        -> {"outputs": [{"path", "name": "stylized", "kind": "color", "width", "height", "channels"}],
            "info": {"losses", "device", "backbone", "steps", "seconds", "notes"}}
    texture_train     params {"exemplars": [npy...], "map_names": [str...] | null,
                              "options": {TrainOptions}, "checkpoint": ".pt path", "resume": ".pt" | null,
                              "job_dir"?, "overwrite"?}
        -> {"outputs": [{"path": checkpoint, "name": "checkpoint", "kind": "checkpoint"}],
            "info": {"seconds", "model", "steps", "train_seconds", "losses", "maps": [{name, kind,
                     channels}], "exemplar_size": [w, h]}}
    texture_generate  params {"checkpoint": ".pt", "width", "height", "seed"?: 0, "tileable"?: true,
                              "device"?: "auto"|..., "output_dir": folder, "job_dir"?, "overwrite"?}
        -> {"outputs": [{"path" (output_dir/<name>.npy), "name", "kind": "color"|"normal"|"data",
                         "channels", "width", "height"}], "info": {"seconds", "seed", "tileable", "model", "steps"}}
        (generation itself cannot be interrupted; a cancel takes effect before outputs are written)
    animate           rendered EXR frames -> temporally coherent PNG frames; see core/animation/job.py
        Loaded checkpoints (and their generators) stay cached, keyed by path, mtime and size.

Images cross as .npy files: float32 H×W×C, rows top-down, values 0..1 (display-referred sRGB for
colour). Paths must be absolute. The worker reads only the files it is given (never with pickle)
and writes only: the named output files (".npy"/".pt", in an existing folder, inside "job_dir"
when given, never over an existing file unless "overwrite": true), one .npy per map in
"output_dir", and preview files in the job folder ("job_dir", else the output's folder).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import signal
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from . import __version__
from .errors import Cancelled, CancelToken, UserError
from .jobs import GenerateJob, ProtocolError, StylizeJob, TrainJob, load_array, safe_name, save_array

PROTOCOL_VERSION = 1
MAX_LINE = 1 << 20
MAX_QUEUE = 32
MAX_ID = 200
PROGRESS_INTERVAL = 0.1  # seconds between progress events
PREVIEW_INTERVAL = 0.5  # seconds between preview files
PREVIEW_SIDE = 256
CHECKPOINTS_KEPT = 4  # texture models kept in memory between jobs

JOB_TYPES = ("check_setup", "stylize", "texture_train", "texture_generate", "animate")
CONTROL_TYPES = ("ping", "cancel", "shutdown")

log = logging.getLogger("core.worker")


# --- output ----------------------------------------------------------------------------------

def _jsonable(obj: Any) -> Any:
    """Make engine values (numpy scalars, tensors' floats, paths, devices, NaN) plain JSON."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (bool, str, type(None))):
        return obj
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else str(value)
    if hasattr(obj, "item") and callable(obj.item):  # 0-d tensors / arrays
        try:
            return _jsonable(obj.item())
        except Exception:
            pass
    return str(obj)


def _one_line(text: str, limit: int = 600) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Emitter:
    """Writes protocol events to the private stdout copy; thread-safe; one flush per event."""

    def __init__(self, stream, on_broken: Optional[Callable[[], None]] = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self.broken = False
        self.on_broken = on_broken

    def send(self, rid: Optional[str], event: str, **fields: Any) -> None:
        msg = {"id": rid, "event": event, **fields}
        try:
            line = json.dumps(_jsonable(msg), allow_nan=False, ensure_ascii=True)
        except (TypeError, ValueError, RecursionError) as exc:
            line = json.dumps({"id": rid if isinstance(rid, str) else None, "event": "error", "kind": "internal",
                               "message": f"could not encode a {event} event: {exc}"})
        with self._lock:
            if self.broken:
                return
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
                return
            except (OSError, ValueError):
                self.broken = True
        log.warning("stdout is gone (client exited?); stopping")
        if self.on_broken:
            self.on_broken()


# --- the server ------------------------------------------------------------------------------

@dataclass
class _Job:
    id: str
    type: str
    spec: Any
    token: CancelToken


def _preview(arr: np.ndarray) -> np.ndarray:
    """Box-downscale to at most PREVIEW_SIDE on the long side (cheap, numpy only)."""
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    h, w = arr.shape[:2]
    f = max(1, math.ceil(max(h, w) / PREVIEW_SIDE))
    if f > 1:
        h2, w2 = h // f, w // f
        arr = arr[: h2 * f, : w2 * f].reshape(h2, f, w2, f, arr.shape[2]).mean(axis=(1, 3))
    return np.clip(arr, 0.0, 1.0)


def _os_message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        name = f" '{_one_line(str(exc.filename), 160)}'" if exc.filename else ""
        return _one_line(f"{exc.strerror}{name}")
    return _one_line(f"{type(exc).__name__}: {exc}", 300)


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    name = type(exc).__name__
    return name == "OutOfMemoryError" or (isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 19:  # beyond 64 bits: nothing in the protocol needs that
        raise ValueError(f"integer {text[:24]}… is too large")
    return int(text)


def _salvage_id(text: str) -> Optional[str]:
    """The id of a request rejected only for NaN/huge numbers, so its sender still gets an answer."""
    try:
        msg = json.loads(text)
    except (ValueError, RecursionError):
        return None
    rid = msg.get("id") if isinstance(msg, dict) else None
    return rid if isinstance(rid, str) and 0 < len(rid) <= MAX_ID else None


class Worker:
    def __init__(self, emitter: Emitter, stdin_fd: int = 0) -> None:
        self.emit = emitter.send
        emitter.on_broken = lambda: self.stop(None)
        self._fd = stdin_fd
        self._cond = threading.Condition()
        self._queue: deque[_Job] = deque()
        self._current: Optional[_Job] = None
        self._stopping = False
        self._shutdown_id: Optional[str] = None
        self._checkpoints: dict[tuple, Any] = {}  # (path, mtime, size) -> texture Checkpoint, LRU order

    # -- main thread: run jobs in order
    def serve(self) -> int:
        self.emit(None, "ready", protocol=PROTOCOL_VERSION, pid=os.getpid())
        threading.Thread(target=self._read_loop, name="worker-stdin", daemon=True).start()
        log.info("worker ready (pid %d, python %s)", os.getpid(), sys.executable)
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue:  # stopping, nothing left
                    break
                job = self._queue.popleft()
                self._current = job
            try:
                event, fields = self._run(job)
            finally:
                with self._cond:
                    self._current = None
            self.emit(job.id, event, **fields)
        if self._shutdown_id is not None:
            self.emit(self._shutdown_id, "result", result={"shutdown": True})
        log.info("worker stopped")
        return 0

    def stop(self, shutdown_id: Optional[str]) -> None:
        with self._cond:
            if shutdown_id is not None and self._shutdown_id is None:
                self._shutdown_id = shutdown_id
            self._stopping = True
            dropped = list(self._queue)
            self._queue.clear()
            if self._current is not None:
                self._current.token.cancel()
            self._cond.notify_all()
        for job in dropped:
            self.emit(job.id, "cancelled")

    def _run_and_report(self, job: _Job) -> None:
        event, fields = self._run(job)
        self.emit(job.id, event, **fields)

    def _run(self, job: _Job) -> tuple[str, dict]:
        """Run one job; returns its final event (sent once the job is no longer 'running')."""
        start = time.perf_counter()
        log.info("job %s (%s) started", job.id, job.type)
        try:
            if job.token.cancelled:
                raise Cancelled()
            result = _HANDLERS[job.type](self, job)  # each checks the token before writing outputs
        except Cancelled:
            log.info("job %s cancelled after %.2fs", job.id, time.perf_counter() - start)
            return "cancelled", {}
        except ProtocolError as exc:
            return "error", {"kind": "protocol", "message": _one_line(str(exc))}
        except UserError as exc:
            log.info("job %s: %s", job.id, exc)
            return "error", {"kind": "user", "message": _one_line(str(exc))}
        except OSError as exc:  # disk full, permissions, a file vanished: the user can act on it
            log.warning("job %s: %s", job.id, exc)
            return "error", {"kind": "user", "message": _os_message(exc)}
        except Exception as exc:  # engine failure or OOM: report, stay alive
            if _is_oom(exc):
                log.error("job %s ran out of memory: %s", job.id, exc)
                msg = ("out of memory: try a smaller size, fewer steps, a lower memory budget or "
                       f"the CPU device ({_one_line(str(exc), 200)})")
                final = "error", {"kind": "user", "message": msg}
            else:
                log.error("job %s failed:\n%s", job.id, traceback.format_exc())
                final = "error", {"kind": "internal", "message": _one_line(f"{type(exc).__name__}: {exc}")}
            _free_memory()
            return final
        else:
            log.info("job %s finished in %.2fs", job.id, time.perf_counter() - start)
            return "result", {"result": result}

    # -- reader thread: parse lines, answer control requests, queue jobs
    def _read_loop(self) -> None:
        buf = bytearray()
        discarding = False
        while True:
            try:
                chunk = os.read(self._fd, 1 << 16)
            except InterruptedError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                if buf and not discarding:
                    self._safe_handle(bytes(buf))
                break
            buf += chunk
            while True:
                nl = buf.find(b"\n")
                if nl < 0:
                    if len(buf) > MAX_LINE:
                        if not discarding:
                            self.emit(None, "error", kind="protocol", message=f"request line longer than {MAX_LINE} bytes")
                        discarding = True
                        buf.clear()
                    break
                line = bytes(buf[:nl])
                del buf[: nl + 1]
                if discarding:
                    discarding = False
                    continue
                if len(line) > MAX_LINE:
                    self.emit(None, "error", kind="protocol", message=f"request line longer than {MAX_LINE} bytes")
                    continue
                self._safe_handle(line)
        log.info("stdin closed")
        self.stop(None)

    def _safe_handle(self, line: bytes) -> None:
        try:
            self._handle(line)
        except Exception as exc:  # a bug in request handling must not kill the reader
            log.error("request handling failed:\n%s", traceback.format_exc())
            self.emit(None, "error", kind="internal", message=_one_line(f"{type(exc).__name__}: {exc}"))

    def _handle(self, line: bytes) -> None:
        if not line.strip():
            return
        def bad(message: str, rid: Optional[str] = None) -> None:
            self.emit(rid, "error", kind="protocol", message=message)

        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            return bad("request is not UTF-8 text")
        try:
            msg = json.loads(text, parse_constant=_reject_constant, parse_int=_bounded_int)
        except (ValueError, RecursionError) as exc:
            return bad(_one_line(f"request is not valid JSON: {exc}", 200), _salvage_id(text))
        if not isinstance(msg, dict):
            return bad("a request must be a JSON object with id, type and params")
        rid = msg.get("id")
        if not isinstance(rid, str) or not rid or len(rid) > MAX_ID:
            return bad(f"request id must be a non-empty string of at most {MAX_ID} characters")
        kind = msg.get("type")
        if not isinstance(kind, str):
            return bad("request type must be a string", rid)
        params = msg.get("params")
        if params is None:
            params = {}
        if not isinstance(params, dict):
            return bad("request params must be a JSON object", rid)

        if kind == "ping":
            with self._cond:
                running = self._current.id if self._current else None
                queued = [j.id for j in self._queue]
            self.emit(rid, "result", result={"pong": True, "protocol": PROTOCOL_VERSION, "pid": os.getpid(),
                                             "running": running, "queued": queued})
        elif kind == "cancel":
            self._cancel(rid, params)
        elif kind == "shutdown":
            log.info("shutdown requested")
            self.stop(rid)
        elif kind in JOB_TYPES:
            self._submit(rid, kind, params)
        else:
            bad(f"unknown request type {_one_line(repr(kind), 80)}; expected one of "
                f"{', '.join(CONTROL_TYPES + JOB_TYPES)}", rid)

    def _cancel(self, rid: str, params: dict) -> None:
        target = params.get("job")
        if not isinstance(target, str) or not target:
            return self.emit(rid, "error", kind="protocol", message="cancel needs params.job: the id of the job to cancel")
        state = "unknown"
        with self._cond:
            for job in self._queue:
                if job.id == target:
                    self._queue.remove(job)
                    state = "queued"
                    break
            else:
                if self._current is not None and self._current.id == target:
                    self._current.token.cancel()
                    state = "running"
        if state == "queued":
            self.emit(target, "cancelled")
        self.emit(rid, "result", result={"job": target, "state": state})

    def _submit(self, rid: str, kind: str, params: dict) -> None:
        if kind == "check_setup":
            # Quick and read-only: answered on its own thread at once, never queued behind a long job.
            job = _Job(rid, kind, params, CancelToken())
            self.emit(rid, "accepted", position=0)
            threading.Thread(target=lambda: self._run_and_report(job), name="worker-check-setup",
                             daemon=True).start()
            return
        try:
            spec = _SPECS[kind](params) if kind in _SPECS else params
        except ProtocolError as exc:
            return self.emit(rid, "error", kind="protocol", message=_one_line(str(exc)))
        except UserError as exc:
            return self.emit(rid, "error", kind="user", message=_one_line(str(exc)))
        except (OSError, ValueError) as exc:  # a path the OS refuses (too long, bad characters...)
            return self.emit(rid, "error", kind="user", message=_os_message(exc))
        with self._cond:
            problem = None
            if self._stopping:
                problem = "the worker is shutting down"
            elif (self._current and self._current.id == rid) or any(j.id == rid for j in self._queue):
                problem = f"a job with id '{rid}' is already queued or running"
            elif len(self._queue) >= MAX_QUEUE:
                problem = f"the queue is full ({MAX_QUEUE} jobs); wait or cancel some"
            if problem is None:
                self._queue.append(_Job(rid, kind, spec, CancelToken()))
                position = len(self._queue) - (0 if self._current else 1)
                self._cond.notify_all()
        if problem:
            return self.emit(rid, "error", kind="protocol", message=problem)
        self.emit(rid, "accepted", position=position)

    # -- helpers for handlers
    def checkpoint(self, path: Path):
        """Load a texture checkpoint once and keep it (and the generator it caches) across jobs;
        a file changed on disk is loaded again."""
        from .texture import load_checkpoint

        st = path.stat()
        key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
        ckpt = self._checkpoints.pop(key, None)
        if ckpt is None:
            ckpt = load_checkpoint(path)
        self._checkpoints[key] = ckpt  # most recent last
        while len(self._checkpoints) > CHECKPOINTS_KEPT:
            self._checkpoints.pop(next(iter(self._checkpoints)))
        return ckpt

    def remember_checkpoint(self, path: Path, ckpt) -> None:
        st = path.stat()
        self._checkpoints[(str(path.resolve()), st.st_mtime_ns, st.st_size)] = ckpt
        while len(self._checkpoints) > CHECKPOINTS_KEPT:
            self._checkpoints.pop(next(iter(self._checkpoints)))

    def progress_callback(self, job: _Job, preview_dir: Path) -> Callable:
        last = {"event": 0.0, "preview": 0.0}
        preview_path = preview_dir / f"preview-{safe_name(job.id)}.npy"

        def report(p) -> None:
            job.token.check()
            now = time.monotonic()
            final = p.step >= p.total
            preview = getattr(p, "preview", None)
            want_preview = preview is not None and (final or now - last["preview"] >= PREVIEW_INTERVAL)
            if not (final or want_preview or now - last["event"] >= PROGRESS_INTERVAL):
                return
            last["event"] = now
            fields: dict[str, Any] = {"step": int(p.step), "total": int(p.total), "stage": p.stage or "",
                                      "losses": dict(p.losses or {})}
            if want_preview:
                try:
                    save_array(preview_path, _preview(preview))
                    fields["preview"] = str(preview_path)
                    last["preview"] = now
                except Exception as exc:  # a preview is never worth failing the job for
                    log.warning("could not write preview: %s", exc)
            self.emit(job.id, "progress", **fields)

        return report


def _free_memory() -> None:
    import gc

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


# --- job handlers ----------------------------------------------------------------------------

def _check_setup(worker: Worker, job: _Job) -> dict:
    params = job.spec
    weights = params.get("weights")
    device_pref = params.get("device") or "auto"
    if weights is not None and not isinstance(weights, str):
        raise ProtocolError("params.weights must be a path string or null")
    if not isinstance(device_pref, str):
        raise UserError("params.device must be a string")
    import torch
    import torchvision

    from .device import pick_device

    info: dict[str, Any] = {
        "python": sys.executable,
        "python_version": platform.python_version(),
        "core_version": __version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cuda_available": torch.cuda.is_available(),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "mps_available": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()),
        "platform": platform.platform(),
        "pid": os.getpid(),
    }
    try:
        info["device"] = str(pick_device(device_pref))
        info["device_error"] = None
    except UserError as exc:
        info["device"] = str(pick_device("auto"))
        info["device_error"] = str(exc)
    info.update(_find_weights(weights))
    return info


def _find_weights(weights: Optional[str]) -> dict:
    """Ask the VGG19 module where the weights are; never download here (check_setup must be quick)."""
    try:
        from .backbones import vgg19
    except ImportError as exc:
        return {"weights_found": False, "weights_path": None, "weights_message": f"VGG19 backbone not available: {exc}"}
    try:
        found = vgg19.find_weights(weights)
    except UserError as exc:
        return {"weights_found": False, "weights_path": None, "weights_message": str(exc)}
    if found is None:
        if weights:
            message = f"weights file '{weights}' does not exist"
        else:
            message = getattr(vgg19, "missing_weights_message", lambda: "VGG19 ImageNet weights not found")()
        return {"weights_found": False, "weights_path": None, "weights_message": message}
    return {"weights_found": True, "weights_path": str(found), "weights_message": f"VGG19 weights found at {found}"}


def _stylize(worker: Worker, job: _Job) -> dict:
    spec: StylizeJob = job.spec
    from . import style

    options = style.StyleOptions.from_dict(spec.options)
    content = load_array(spec.content, "content")
    styles = [load_array(p, "style") for p in spec.styles]
    masks = [load_array(p, "mask", mask=True) for p in spec.masks] if spec.masks else None
    res = style.stylize_ex(content, styles[0] if len(styles) == 1 else styles, options, masks=masks,
                           progress=worker.progress_callback(job, spec.job_dir), cancel=job.token)
    job.token.check()
    image = np.asarray(res.image, dtype=np.float32)
    save_array(spec.output, image)
    h, w = image.shape[:2]
    return {
        "outputs": [{"path": str(spec.output), "name": "stylized", "kind": "color", "width": w, "height": h,
                     "channels": image.shape[2] if image.ndim == 3 else 1}],
        "info": {"losses": dict(res.losses or {}), "device": str(res.device), "backbone": res.backbone,
                 "steps": res.steps, "seconds": res.seconds, "notes": list(res.notes or [])},
    }


def _texture_train(worker: Worker, job: _Job) -> dict:
    spec: TrainJob = job.spec
    from . import texture

    options = texture.TrainOptions.from_dict(spec.options)
    exemplars = [load_array(p, "exemplar") for p in spec.exemplars]
    resume = worker.checkpoint(spec.resume) if spec.resume else None
    start = time.perf_counter()
    ckpt = texture.train(exemplars if len(exemplars) > 1 else exemplars[0], options,
                         progress=worker.progress_callback(job, spec.job_dir), cancel=job.token,
                         resume=resume, map_names=spec.map_names)
    job.token.check()
    ckpt.save(spec.checkpoint)  # atomic (temp file + rename) in the checkpoint's folder
    worker.remember_checkpoint(spec.checkpoint, ckpt)
    return {
        "outputs": [{"path": str(spec.checkpoint), "name": "checkpoint", "kind": "checkpoint"}],
        "info": {"seconds": round(time.perf_counter() - start, 3), "model": ckpt.options.model,
                 "steps": ckpt.step, "train_seconds": ckpt.train_seconds, "losses": dict(ckpt.losses),
                 "maps": [{"name": m.name, "kind": m.kind, "channels": m.channels} for m in ckpt.maps],
                 "exemplar_size": list(ckpt.exemplar_size)},
    }


def _texture_generate(worker: Worker, job: _Job) -> dict:
    spec: GenerateJob = job.spec
    from . import texture

    start = time.perf_counter()
    ckpt = worker.checkpoint(spec.checkpoint)
    job.token.check()
    maps = texture.generate_maps(ckpt, spec.width, spec.height, seed=spec.seed, tileable=spec.tileable,
                                 device=spec.device)
    job.token.check()
    targets = []
    seen: set[str] = set()
    for info, arr in maps:
        base = safe_name(info.name)
        name, n = base, 2
        while name in seen:
            name, n = f"{base}_{n}", n + 1
        seen.add(name)
        path = spec.output_dir / f"{name}.npy"
        if (path.exists() or path.is_symlink()) and not spec.overwrite:
            raise UserError(f"params.output_dir: '{path}' already exists (send \"overwrite\": true to replace it)")
        targets.append((info, path, np.asarray(arr, dtype=np.float32)))
    outputs = []
    for info, path, arr in targets:
        save_array(path, arr)
        outputs.append({"path": str(path), "name": info.name, "kind": info.kind,
                        "channels": int(arr.shape[2]) if arr.ndim == 3 else 1,
                        "width": int(arr.shape[1]), "height": int(arr.shape[0])})
    return {"outputs": outputs,
            "info": {"seconds": round(time.perf_counter() - start, 3), "seed": spec.seed, "tileable": spec.tileable,
                     "model": ckpt.options.model, "steps": ckpt.step}}


_HANDLERS: dict[str, Callable[[Worker, _Job], dict]] = {
    "check_setup": _check_setup,
    "stylize": _stylize,
    "texture_train": _texture_train,
    "texture_generate": _texture_generate,
    "animate": lambda worker, job: _animate_job().run_animate_job(worker, job),
}
_SPECS: dict[str, Callable[[dict], Any]] = {
    "stylize": StylizeJob.from_params,
    "texture_train": TrainJob.from_params,
    "texture_generate": GenerateJob.from_params,
    "animate": lambda params: _animate_job().AnimateJob.from_params(params),
}


def _animate_job():
    from .animation import job  # rendered-animation job: spec, handler and protocol notes live there
    return job


# --- entry point -----------------------------------------------------------------------------

def register(subparsers) -> None:
    p = subparsers.add_parser("worker", help="long-lived JSON-lines job server driven by the Blender add-on",
                              description="Reads JSON requests on stdin, writes JSON events on stdout, logs on stderr. "
                                          "See core/worker.py for the protocol.")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    # Keep a private copy of stdout for the protocol; everything else that writes to fd 1
    # (print, C libraries) lands on stderr instead.
    sys.stdout.flush()
    proto = os.fdopen(os.dup(1), "w", encoding="utf-8", newline="\n")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, args.log_level),
                        format="%(asctime)s worker[%(process)d] %(levelname)s %(message)s")
    if threading.current_thread() is threading.main_thread():
        # Ctrl+C in Blender's terminal must not kill jobs; the client stops us by request or EOF.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return Worker(Emitter(proto)).serve()
    finally:
        try:
            proto.close()
        except OSError:
            pass
