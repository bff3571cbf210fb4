"""Errors and cancellation shared by every engine in `core`."""
from __future__ import annotations

import threading


class UserError(Exception):
    """A mistake the user can fix (bad file, bad option). Shown as one line, never a traceback."""


class Cancelled(Exception):
    """Raised inside an engine when its CancelToken is set; the job ends cleanly."""


class CancelToken:
    """Cooperative cancellation: engines call `check()` once per step."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled()
