"""What a batch prints: one JSON line per finished job and a JSON summary last (stdout, for scripts),
plus an overall progress bar with a line per job on a terminal (stderr)."""
from __future__ import annotations

import json
import sys
import threading
import time
from typing import Optional, TextIO

from .execute import STATUSES, JobResult

_MARK = {"succeeded": "ok  ", "failed": "FAIL", "skipped": "skip", "blocked": "----"}


class Reporter:
    def __init__(self, total: int, mode: str, out: Optional[TextIO] = None, err: Optional[TextIO] = None) -> None:
        self.total, self.mode = total, mode
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.tty = hasattr(self.err, "isatty") and self.err.isatty()
        self.results: list[JobResult] = []
        self.running: dict[str, float] = {}  # job id -> fraction done
        self.start = time.perf_counter()
        self._lock = threading.Lock()
        self._last_draw = 0.0

    def started(self, job_id: str) -> None:
        with self._lock:
            self.running[job_id] = 0.0
            self._draw(force=True)

    def progress(self, job_id: str, fraction: float) -> None:
        with self._lock:
            if job_id in self.running:
                self.running[job_id] = max(0.0, min(1.0, fraction))
                self._draw()

    def finished(self, result: JobResult) -> None:
        with self._lock:
            self.running.pop(result.id, None)
            self.results.append(result)
            self._clear()
            if self.tty:
                why = f"  {result.error}" if result.error else ""
                self.err.write(f"{_MARK[result.status]} {result.id} ({result.kind}) {result.seconds:.1f}s{why}\n")
                self.err.flush()
            self.out.write(json.dumps(result.to_json()) + "\n")
            self.out.flush()
            self._draw(force=True)

    def summary(self) -> dict:
        with self._lock:
            self._clear()
            counts = {s: sum(r.status == s for r in self.results) for s in STATUSES}
            line = {"summary": True, "mode": self.mode, "jobs": len(self.results), **counts,
                    "seconds": round(time.perf_counter() - self.start, 3),
                    "statuses": {r.id: r.status for r in self.results},
                    "errors": {r.id: r.error for r in self.results if r.error}}
            self.out.write(json.dumps(line) + "\n")
            self.out.flush()
            return line

    def _clear(self) -> None:
        if self.tty:
            self.err.write("\r\x1b[K")

    def _draw(self, force: bool = False) -> None:
        if not self.tty:
            return
        now = time.perf_counter()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        done = len(self.results) + sum(self.running.values())
        frac = done / max(1, self.total)
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        running = ", ".join(f"{k} {int(v * 100)}%" for k, v in list(self.running.items())[:4])
        self.err.write(f"\rbatch [{bar}] {len(self.results)}/{self.total} {now - self.start:5.1f}s  {running}\x1b[K")
        self.err.flush()
