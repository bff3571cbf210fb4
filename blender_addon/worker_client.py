"""Client for the core worker (`python -m core worker`), usable from any Python: standard library
only, no bpy, no torch, no numpy. Blender's side of the process boundary.

    client = WorkerClient("/path/to/.venv/bin/python")
    job = client.submit("stylize", {"content": ..., "style": ..., "options": {...}, "output": ...})
    # in a Blender timer / modal operator:      for event in client.poll(): ...
    # headless (tests, demo, background mode):   final = client.wait(job, timeout=600, on_event=print)
    client.shutdown()

Events are the worker's JSON objects (see core/worker.py for the protocol): "accepted", "progress",
then exactly one final "result", "error" or "cancelled" per job. If the worker process dies, every
job it had gets a synthetic final event
    {"id": job, "event": "error", "kind": "internal", "exit_code": N,
     "message": "the worker process exited unexpectedly (code N): <last stderr lines>"}
and the next submit() starts a fresh worker. A reader thread moves the worker's stdout into a
queue; it never touches bpy. poll()/wait() are meant to be called from one thread (Blender's main).
"""
from __future__ import annotations

import collections
import itertools
import json
import os
import queue
import signal
import subprocess
import threading
import time
import uuid
from typing import Callable, Optional

FINAL_EVENTS = frozenset({"result", "error", "cancelled"})
JOB_KINDS = ("check_setup", "stylize", "texture_train", "texture_generate", "ping")
_STDERR_LINES = 400
_FINALS_KEPT = 512
_LOG_LIMIT = 5 * 2**20  # bytes; the log moves to <log>.1 when a worker starts past this


class WorkerError(Exception):
    """Base class for worker client failures."""


class WorkerDied(WorkerError):
    """The worker process could not be started (bad Python path, core not installed there...)."""


class WorkerClient:
    def __init__(self, python: str, *, env: dict | None = None, cwd: str | None = None,
                 log_path: str | None = None) -> None:
        self.python = python
        self.env = dict(env) if env else None
        self.cwd = cwd
        self.log_path = log_path
        self.protocol: Optional[int] = None  # from the worker's "ready" line
        self._lock = threading.RLock()
        self._stdin_lock = threading.Lock()
        self._proc: Optional[subprocess.Popen] = None
        self._threads: list[threading.Thread] = []
        self._generation = 0
        self._exited: set[int] = set()  # generations whose process has gone
        self._stopping: set[int] = set()  # generations we asked to stop
        self._inbox: "queue.Queue[dict]" = queue.Queue()
        self._backlog: collections.deque[dict] = collections.deque()
        self._pending: dict[str, int] = {}  # job id -> generation, until its final event arrives
        self._known: set[str] = set()
        self._finals: "collections.OrderedDict[str, dict]" = collections.OrderedDict()
        self._control: set[str] = set()  # our own cancel/shutdown requests; their replies are dropped
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
        self._ids = itertools.count(1)
        self._session = uuid.uuid4().hex[:6]

    # --- process lifetime --------------------------------------------------------------------

    def start(self) -> None:
        """Spawn `python -m core worker` unless one is already running."""
        with self._lock:
            if not self._usable():
                self._spawn()

    def alive(self) -> bool:
        with self._lock:
            return self._usable()

    def _usable(self) -> bool:
        return (self._proc is not None and self._proc.poll() is None
                and self._generation not in self._exited and self._generation not in self._stopping)

    def _spawn(self) -> None:
        env = dict(os.environ)
        # Blender's own interpreter settings must not leak into the worker's venv.
        for key in ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONEXECUTABLE"):
            env.pop(key, None)
        env.update({"PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8", "PYTHONNOUSERSITE": "1"})
        if self.env:
            env.update({str(k): str(v) for k, v in self.env.items()})
        kwargs: dict = {}
        if os.name == "nt":
            kwargs["creationflags"] = getattr(subprocess, "CREATE_NO_WINDOW", 0) | subprocess.CREATE_NEW_PROCESS_GROUP
        else:
            kwargs["start_new_session"] = True  # Ctrl+C in Blender's terminal stays Blender's
        cmd = [self.python, "-u", "-m", "core", "worker"]
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    cwd=self.cwd, env=env, **kwargs)
        except (OSError, ValueError) as exc:
            raise WorkerDied(f"could not start the worker with '{self.python}': {exc}. "
                             "Check the worker Python path in the add-on preferences (install.py sets it).") from exc
        self._generation += 1
        gen = self._generation
        self._proc = proc
        self._rotate_log()
        self._log(f"--- worker started: pid {proc.pid}, {' '.join(cmd)}\n")
        err = threading.Thread(target=self._read_stderr, args=(proc,), name=f"atelier-worker-err-{gen}", daemon=True)
        out = threading.Thread(target=self._read_stdout, args=(proc, gen, err), name=f"atelier-worker-out-{gen}",
                               daemon=True)
        self._threads = [err, out]
        err.start()
        out.start()

    def shutdown(self, timeout: float = 5.0) -> None:
        """Ask the worker to stop (its jobs end as 'cancelled'), then terminate/kill it if it
        has not exited within `timeout` seconds. Safe to call repeatedly."""
        with self._lock:
            proc, gen, threads = self._proc, self._generation, list(self._threads)
            if proc is None:
                return
            self._stopping.add(gen)
        if proc.poll() is None:
            self._send({"id": self._control_id("shutdown"), "type": "shutdown", "params": {}}, proc)
            try:
                proc.stdin.close()
            except OSError:
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=2.0)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for t in threads:
            t.join(timeout=5.0)
        with self._lock:
            if self._proc is proc:
                self._proc = None

    def __enter__(self) -> "WorkerClient":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    @property
    def pid(self) -> Optional[int]:
        with self._lock:
            return self._proc.pid if self._proc is not None else None

    @property
    def last_stderr(self) -> str:
        """The tail of the worker's log (stderr), newest last."""
        return "".join(self._stderr)

    # --- jobs --------------------------------------------------------------------------------

    def submit(self, kind: str, params: dict) -> str:
        """Send a request; returns its id. Starts a (fresh) worker if none is alive.
        Raises WorkerDied when no worker can be started at all, and ValueError/TypeError when
        params hold something strict JSON cannot carry (NaN, infinity, objects)."""
        with self._lock:
            rid = f"{kind}-{self._session}-{next(self._ids)}"
            # Encode first: NaN, infinities or objects JSON cannot carry are the caller's bug, raised here.
            line = _encode({"id": rid, "type": kind, "params": params})
            if not self._usable():
                self._spawn()
            self._pending[rid] = self._generation
            self._known.add(rid)
            proc = self._proc
        # If the write fails the process is dying; its exit handler fails this job.
        self._write(line, proc)
        return rid

    def cancel(self, job_id: str) -> None:
        """Ask the worker to cancel a queued or running job; its 'cancelled' event follows
        (or its result, if it had already finished)."""
        with self._lock:
            gen = self._pending.get(job_id)
            if gen is None or gen != self._generation or not self._usable():
                return  # finished, unknown, or its worker is gone (which fails it anyway)
            proc = self._proc
        self._send({"id": self._control_id("cancel"), "type": "cancel", "params": {"job": job_id}}, proc)

    def poll(self) -> list[dict]:
        """Every event received since the last poll, oldest first. Never blocks."""
        events = list(self._backlog)
        self._backlog.clear()
        while True:
            try:
                events.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        for ev in events:
            self._remember(ev)
        return events

    def wait(self, job_id: str, timeout: float | None = None, on_event: Callable[[dict], None] | None = None) -> dict:
        """Block until the job's final event (result/error/cancelled) and return it; on_event sees
        its other events (accepted, progress). Events of other jobs stay queued for poll().
        Raises TimeoutError when `timeout` seconds pass first (the job keeps running)."""
        with self._lock:
            if job_id in self._finals:
                return self._finals[job_id]
            if job_id not in self._known:
                raise KeyError(f"unknown job id {job_id!r}")
        deadline = None if timeout is None else time.monotonic() + timeout
        kept = collections.deque()
        while self._backlog:
            ev = self._backlog.popleft()
            if ev.get("id") != job_id:
                kept.append(ev)
            elif self._deliver(ev, on_event):
                self._backlog.extendleft(reversed(kept))
                return ev
        self._backlog.extend(kept)
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"job {job_id} did not finish within {timeout} s")
            try:
                ev = self._inbox.get(timeout=remaining)
            except queue.Empty:
                continue
            if ev.get("id") != job_id:
                self._backlog.append(ev)
            elif self._deliver(ev, on_event):
                return ev

    def request(self, kind: str, params: dict | None = None, timeout: float | None = None,
                on_event: Callable[[dict], None] | None = None) -> dict:
        """submit() + wait(): the final event."""
        return self.wait(self.submit(kind, params or {}), timeout=timeout, on_event=on_event)

    # --- internals ---------------------------------------------------------------------------

    def _deliver(self, ev: dict, on_event) -> bool:
        if ev.get("event") in FINAL_EVENTS:
            self._remember(ev)
            return True
        if on_event is not None:
            on_event(ev)
        return False

    def _remember(self, ev: dict) -> None:
        rid = ev.get("id")
        if isinstance(rid, str) and ev.get("event") in FINAL_EVENTS:
            with self._lock:
                self._finals[rid] = ev
                while len(self._finals) > _FINALS_KEPT:
                    self._finals.popitem(last=False)

    def _control_id(self, what: str) -> str:
        cid = f"_{what}-{self._session}-{next(self._ids)}"
        with self._lock:
            self._control.add(cid)
        return cid

    def _send(self, message: dict, proc: Optional[subprocess.Popen]) -> None:
        self._write(_encode(message), proc)

    def _write(self, line: bytes, proc: Optional[subprocess.Popen]) -> None:
        if proc is None:
            return
        with self._stdin_lock:
            try:
                proc.stdin.write(line)
                proc.stdin.flush()
            except (OSError, ValueError):  # broken pipe / closed: the stdout reader reports the exit
                pass

    def _read_stdout(self, proc: subprocess.Popen, gen: int, err_thread: threading.Thread) -> None:
        for raw in proc.stdout:
            try:
                ev = json.loads(raw.decode("utf-8", "replace"))
            except ValueError:
                ev = None
            if not isinstance(ev, dict) or not isinstance(ev.get("event"), str):
                self._stderr.append(f"[unexpected worker stdout] {raw[:300]!r}\n")
                continue
            rid = ev.get("id")
            if ev["event"] == "ready" and rid is None:
                self.protocol = ev.get("protocol")
                continue
            with self._lock:
                if rid in self._control:
                    if ev["event"] in FINAL_EVENTS:
                        self._control.discard(rid)
                    continue
                if ev["event"] in FINAL_EVENTS:
                    self._pending.pop(rid, None)
            self._inbox.put(ev)
        code = proc.wait()
        err_thread.join(timeout=2.0)  # let the last stderr lines arrive for the message
        self._on_exit(gen, code)

    def _on_exit(self, gen: int, code: int) -> None:
        with self._lock:
            self._exited.add(gen)
            expected = gen in self._stopping
            orphans = [rid for rid, g in self._pending.items() if g == gen]
            for rid in orphans:
                del self._pending[rid]
        if expected:
            message = "the worker was shut down before the job finished"
        else:
            tail = [ln.strip() for ln in list(self._stderr)[-6:] if ln.strip()]
            how = f"code {code}"
            if code < 0:
                try:
                    how += f", {signal.Signals(-code).name}"
                except ValueError:
                    pass
            message = f"the worker process exited unexpectedly ({how})"
            if tail:
                message += ": " + " | ".join(tail)[-800:]
        for rid in orphans:
            self._inbox.put({"id": rid, "event": "error", "kind": "internal", "message": message,
                             "exit_code": code})
        self._log(f"--- worker exited with code {code}{' (requested)' if expected else ''}\n")

    def _read_stderr(self, proc: subprocess.Popen) -> None:
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace")
            self._stderr.append(line)
            self._log(line)

    def _rotate_log(self) -> None:
        try:
            if self.log_path and os.path.getsize(self.log_path) > _LOG_LIMIT:
                os.replace(self.log_path, self.log_path + ".1")
        except OSError:
            pass

    def _log(self, text: str) -> None:
        if not self.log_path:
            return
        try:
            with open(self.log_path, "a", encoding="utf-8") as fh:
                fh.write(text)
        except OSError:
            pass


def _encode(message: dict) -> bytes:
    """One protocol line. Raises ValueError/TypeError for what strict JSON cannot carry."""
    return (json.dumps(message, ensure_ascii=True, allow_nan=False) + "\n").encode("utf-8")
