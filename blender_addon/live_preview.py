"""Live preview: while the user changes style, strength or method, a debounced 'fast' stylize of a small
copy of the image goes into one reused preview image (never the user's).

``LivePreview`` holds all the logic as plain code that headless tests drive through ``tick()``; the
``bpy.app.timers`` function below only calls ``tick()`` (timers never fire in background mode).
"""
from __future__ import annotations

import time
from typing import Callable, Optional

import bpy

from . import pixels, prefs
from .job import Job, JobCancelled, JobError
from .results import check_final
from .runner import PREVIEW_NAME, discard, submit

# starts with PREVIEW_NAME, so the panels and operators never take it for a user's image
LIVE_PREVIEW_NAME = f"{PREVIEW_NAME} (live)"
# Long edge of the preview's working copy, in pixels: core's default working size for the fast
# method (core/fast/stylize.py DEFAULT_WORKING_EDGE), so for images up to 4× that the network sees
# the same pixels in the preview as in the final job; larger images tell core their full size.
LIVE_PREVIEW_EDGE = 384
DEBOUNCE_S = 0.5             # settings unchanged this long before a preview job is sent
TICK_S = 0.3                 # timer interval
_POLL_WAIT_S = 0.002         # how long one tick may wait for the worker (keeps the UI responsive)


class LivePreview:
    """One preview job at a time, sent once the settings have been still for ``debounce`` seconds.

    ``build_job()`` returns the fast stylize Job of the current settings (JobError: nothing to show,
    said in ``message``). A change while a job runs cancels it; its result is dropped. States from
    ``tick()``: 'idle' (up to date), 'waiting' (debouncing) or 'running'.
    """

    def __init__(self, client_factory: Callable[[], object], build_job: Callable[[], Job], *,
                 debounce: float = DEBOUNCE_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.client_factory, self.build_job = client_factory, build_job
        self.debounce, self.clock = debounce, clock
        self.client = None
        self.job: Optional[Job] = None
        self.stale = False            # the running job belongs to settings that changed since
        self.dirty = True             # the first tick after the debounce shows a preview
        self.changed_at = clock()
        self.jobs_sent = 0
        self.previews_shown = 0
        self.message = ""
        self.source_name = ""         # the user's image being previewed (set by start())

    @property
    def image(self) -> Optional[bpy.types.Image]:
        return bpy.data.images.get(LIVE_PREVIEW_NAME)

    def mark_changed(self) -> None:
        """A setting changed: restart the debounce and cancel the preview being computed."""
        self.dirty, self.changed_at = True, self.clock()
        if self.job is not None and not self.stale:
            self.stale = True
            try:
                self.client.cancel(self.job.id)
            except Exception:  # noqa: BLE001 - a dead worker fails the job anyway
                pass

    def tick(self, busy: bool = False) -> str:
        """Collect a finished preview, then send a new one when due. ``busy``: a final job runs now,
        so no preview is sent (the worker would queue it behind that job)."""
        if self.job is not None:
            self._collect()
        if self.job is not None:
            return "running"
        if not self.dirty:
            return "idle"
        if busy or self.clock() - self.changed_at < self.debounce:
            return "waiting"
        self.dirty = False
        try:
            job = self.build_job()
            self.client = self.client_factory()
            submit(self.client, job)
        except Exception as exc:  # noqa: BLE001 - shown as one line under the toggle
            self.message = " ".join(str(exc).split()) or type(exc).__name__
            return "idle"
        self.job, self.stale = job, False
        self.jobs_sent += 1
        self.message = "Updating…"
        return "running"

    def _collect(self) -> None:
        job = self.job
        try:
            final = self.client.wait(job.id, timeout=_POLL_WAIT_S)
        except TimeoutError:
            return
        except Exception as exc:  # noqa: BLE001 - worker died or the job is unknown
            final = {"event": "error", "message": str(exc)}
        self.job = None
        try:
            if not self.stale:
                self._show(final)
        finally:
            discard(job)

    def _show(self, final: dict) -> None:
        try:
            body = check_final(final)
            out = next(o["path"] for o in body.get("outputs") or [] if str(o.get("path", "")).endswith(".npy"))
            from .job_files import read_npy

            arr = read_npy(out)
        except JobCancelled:
            self.message = ""
            return
        except (JobError, StopIteration, OSError, ValueError) as exc:
            self.message = " ".join(str(exc).split()) or "the worker returned no image"
            return
        image = self.image
        if image is None:
            image = bpy.data.images.new(LIVE_PREVIEW_NAME, arr.shape[1], arr.shape[0], alpha=True)
        pixels.replace_pixels(image, arr)
        self.previews_shown += 1
        self.message = ""

    def close(self) -> None:
        """Cancel a running preview and delete its folder. The preview image stays for a last look."""
        if self.job is not None:
            try:
                self.client.cancel(self.job.id)
            except Exception:  # noqa: BLE001
                pass
            discard(self.job)
            self.job = None


# ---------------------------------------------------------------- the thin bpy layer

_live: Optional[LivePreview] = None


def current() -> Optional[LivePreview]:
    return _live


def source_image() -> Optional[bpy.types.Image]:
    """The user's image being previewed (None while the toggle is off)."""
    return bpy.data.images.get(_live.source_name) if _live is not None else None


def settings_changed(_self=None, _context=None) -> None:
    """Update callback of every setting the preview depends on."""
    if _live is not None:
        _live.mark_changed()


def _scene_job(source_name: str) -> Job:
    """The fast stylize job of the scene's current settings on a copy of at most LIVE_PREVIEW_EDGE px.
    The working size is the final job's: the user's Working size, else core's default for the full
    image (sent as full_edge), so the preview shows the strokes the final result will have."""
    from . import operators
    from .requests import prepare_stylize_image, style_options

    image = bpy.data.images.get(source_name)
    if image is None:
        raise JobError(f"image '{source_name}' is gone: show an image and turn Live preview on again")
    context = bpy.context
    s, p = context.scene.atelier, prefs.get(context)
    options = style_options(method="fast", fast_strength=s.fast_strength, preserve_color=s.preserve_color,
                            tileable=s.tileable, device=p.device if p else "auto", preview_every=0,
                            size=s.fast_size, full_edge=max(image.size))
    return prepare_stylize_image(image, operators._styles(context), options, max_edge=LIVE_PREVIEW_EDGE)


def start(source_name: str) -> LivePreview:
    """Start previewing ``source_name`` (tests call this and drive ``tick()``; the UI also gets a timer)."""
    global _live
    stop()
    from . import operators

    _live = LivePreview(lambda: operators._client(bpy.context), lambda: _scene_job(source_name))
    _live.source_name = source_name
    bpy.app.timers.register(_timer, first_interval=TICK_S)  # never fires in background mode
    return _live


def stop() -> None:
    global _live
    if bpy.app.timers.is_registered(_timer):
        bpy.app.timers.unregister(_timer)
    if _live is not None:
        _live.close()
        _swap_shown(_live.image, bpy.data.images.get(_live.source_name))  # back to the user's image
    _live = None


def _swap_shown(shown: Optional[bpy.types.Image], instead: Optional[bpy.types.Image]) -> None:
    """Image Editors showing ``shown`` show ``instead`` (only what is displayed changes)."""
    wm = getattr(bpy.context, "window_manager", None)
    if shown is None or instead is None or wm is None:
        return
    for window in wm.windows:
        for area in window.screen.areas:
            if area.type == "IMAGE_EDITOR" and area.spaces.active.image == shown:
                area.spaces.active.image = instead


def _timer() -> Optional[float]:
    if _live is None:
        return None
    wm = bpy.context.window_manager
    shown = _live.previews_shown
    _live.tick(busy=bool(wm.atelier_running))
    if _live.previews_shown != shown:
        if shown == 0:  # the first preview replaces the source in the editors that show it
            _swap_shown(bpy.data.images.get(_live.source_name), _live.image)
        for window in wm.windows:
            for area in window.screen.areas:
                if area.type == "IMAGE_EDITOR":
                    area.tag_redraw()
    return TICK_S


def toggled(wm, context) -> None:
    """Update callback of the 'Live preview' toggle: the source is the image shown in the Image Editor."""
    if not wm.atelier_live_preview:
        stop()
        return
    image = getattr(getattr(context, "space_data", None), "image", None)
    if image is None or image.name.startswith(PREVIEW_NAME):
        image = _live_source_fallback()
    if image is None:
        wm.atelier_live_preview = False  # re-enters with False: stops
        return
    start(image.name)


def _live_source_fallback() -> Optional[bpy.types.Image]:
    """Toggled from somewhere without an image: the first Image Editor showing a user's image."""
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            image = getattr(area.spaces.active, "image", None) if area.type == "IMAGE_EDITOR" else None
            if image is not None and not image.name.startswith(PREVIEW_NAME):
                return image
    return None
