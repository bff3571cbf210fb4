"""Progress reporting: one event type for every engine, and a terminal bar for the CLI."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np


@dataclass
class Progress:
    step: int
    total: int
    losses: dict[str, float] = field(default_factory=dict)
    stage: str = ""
    # Optional H×W×C float32 0..1 preview (display-referred sRGB), produced only every few steps.
    preview: Optional[np.ndarray] = None


ProgressCallback = Callable[[Progress], None]


class TerminalBar:
    """A one-line progress bar on stderr; silent when stderr is not a terminal."""

    def __init__(self, label: str, stream=None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()
        self._last = 0.0

    def __call__(self, p: Progress) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last < 0.1 and p.step < p.total:
            return
        self._last = now
        width = 30
        frac = min(1.0, p.step / max(1, p.total))
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        loss = " ".join(f"{k}={v:.3g}" for k, v in list(p.losses.items())[:3])
        stage = f" {p.stage}" if p.stage else ""
        self.stream.write(f"\r{self.label}{stage} [{bar}] {p.step}/{p.total} {now - self.start:5.1f}s {loss}\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
