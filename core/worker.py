"""`python -m core worker`: the serve loop of the long-lived job server that Blender drives.

The only place where Blender's world (no torch) and core's world (torch) meet. A stdin reader
thread parses requests (core.protocol describes and validates them), answers control requests at
once and queues each job as a Task; the main thread runs tasks one at a time (core.tasks) and
sends their final events.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import signal
import sys
import threading
import time
import traceback
from collections import deque
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from .errors import Cancelled, CancelToken, UserError
from .protocol import (CONTROL_TYPES, JOB_TYPES, MAX_ID, MAX_LINE, PROTOCOL_VERSION, SPECS, ProtocolError,
                       safe_name, save_array)
from .tasks import HANDLERS, Task

MAX_QUEUE = 32
PROGRESS_INTERVAL = 0.1  # seconds between progress events
PREVIEW_INTERVAL = 0.5  # seconds between preview files
PREVIEW_SIDE = 256
CHECKPOINTS_KEPT = 4  # texture models kept in memory between jobs

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
        self._queue: deque[Task] = deque()
        self._current: Optional[Task] = None
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
                task = self._queue.popleft()
                self._current = task
            try:
                event, fields = self._run(task)
            finally:
                with self._cond:
                    self._current = None
            self.emit(task.id, event, **fields)
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
        for task in dropped:
            self.emit(task.id, "cancelled")

    def _run_and_report(self, task: Task) -> None:
        event, fields = self._run(task)
        self.emit(task.id, event, **fields)

    def _run(self, task: Task) -> tuple[str, dict]:
        """Run one job; returns its final event (sent once the job is no longer 'running')."""
        start = time.perf_counter()
        log.info("job %s (%s) started", task.id, task.type)
        try:
            if task.token.cancelled:
                raise Cancelled()
            result = HANDLERS[task.type](self, task)  # each checks the token before writing outputs
        except Cancelled:
            log.info("job %s cancelled after %.2fs", task.id, time.perf_counter() - start)
            return "cancelled", {}
        except ProtocolError as exc:
            return "error", {"kind": "protocol", "message": _one_line(str(exc))}
        except UserError as exc:
            log.info("job %s: %s", task.id, exc)
            return "error", {"kind": "user", "message": _one_line(str(exc))}
        except OSError as exc:  # disk full, permissions, a file vanished: the user can act on it
            log.warning("job %s: %s", task.id, exc)
            return "error", {"kind": "user", "message": _os_message(exc)}
        except Exception as exc:  # engine failure or OOM: report, stay alive
            if _is_oom(exc):
                log.error("job %s ran out of memory: %s", task.id, exc)
                msg = ("out of memory: try a smaller size, fewer steps, a lower memory budget or "
                       f"the CPU device ({_one_line(str(exc), 200)})")
                final = "error", {"kind": "user", "message": msg}
            else:
                log.error("job %s failed:\n%s", task.id, traceback.format_exc())
                final = "error", {"kind": "internal", "message": _one_line(f"{type(exc).__name__}: {exc}")}
            _free_memory()
            return final
        else:
            log.info("job %s finished in %.2fs", task.id, time.perf_counter() - start)
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
            for task in self._queue:
                if task.id == target:
                    self._queue.remove(task)
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
            # Quick and read-only: answered on its own thread at once, never queued behind a long task.
            task = Task(rid, kind, params, CancelToken())
            self.emit(rid, "accepted", position=0)
            threading.Thread(target=lambda: self._run_and_report(task), name="worker-check-setup",
                             daemon=True).start()
            return
        try:
            spec = SPECS[kind](params) if kind in SPECS else params
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
                self._queue.append(Task(rid, kind, spec, CancelToken()))
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

    def progress_callback(self, task: Task, preview_dir: Path) -> Callable:
        last = {"event": 0.0, "preview": 0.0}
        preview_path = preview_dir / f"preview-{safe_name(task.id)}.npy"

        def report(p) -> None:
            task.token.check()
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
            self.emit(task.id, "progress", **fields)

        return report


def _free_memory() -> None:
    import gc

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


# --- entry point -----------------------------------------------------------------------------

def register(subparsers) -> None:
    p = subparsers.add_parser("worker", help="long-lived JSON-lines job server driven by the Blender add-on",
                              description="Reads JSON requests on stdin, writes JSON events on stdout, logs on stderr. "
                                          "See core/protocol.py for the protocol.")
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
