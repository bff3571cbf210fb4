"""GUI check steps for the Image Editor's Live preview toggle: on, a style and strength change
updates the 'Atelier Preview (live)' image shown in the editor, off brings the user's image back,
whose pixels never change."""
from __future__ import annotations

import hashlib
import os

import bpy
import numpy as np

from gui_steps import JOB_TIMEOUT, addon, fit, main_area, rect, settings, state, wm


def _digest(image) -> str:
    buf = np.empty(len(image.pixels), np.float32)
    image.pixels.foreach_get(buf)
    return hashlib.sha1(buf.tobytes()).hexdigest()


def live_preview_on(check):
    """Issue 14: toggle Live preview on in the Image Editor showing the content image."""
    area = main_area(check)
    area.spaces[0].image = state["content"]
    state["content_digest"] = _digest(state["content"])
    settings().fast_strength = 1.0
    with check.override(area, "UI"):  # what a click on the toggle does: set it in the panel's context
        wm().atelier_live_preview = True
    live = addon("live_preview").current()
    if live is None:
        raise RuntimeError("Live preview did not start")
    state["live"] = live
    return (lambda: live.previews_shown >= 1), "the first live preview", JOB_TIMEOUT


def shot_live_first(check):
    live, area = state["live"], main_area(check)
    shown = area.spaces[0].image
    if shown is None or shown != live.image:
        raise RuntimeError(f"the editor shows {shown and shown.name}, not the live preview")
    state["live_digests"] = [_digest(live.image)]
    fit(check)
    check.shot("06-live-preview", rect(main_area(check)))
    if check.args.docs:
        first = os.path.join(check.args.out, "live-1.png")
        live.image.save_render(first, scene=bpy.context.scene)
        state["live_files"] = [first]
    # the artist picks another style and lowers the strength; the preview follows
    s = settings()
    s.style_image = state["style2"]
    s.fast_strength = 0.7
    return (lambda: live.previews_shown >= 2 and not live.dirty and live.job is None), "the updated live preview", \
        JOB_TIMEOUT


def shot_live_updated(check):
    live = state["live"]
    digest = _digest(live.image)
    if digest in state["live_digests"]:
        raise RuntimeError("the live preview did not change after the style and strength changed")
    fit(check)
    check.shot("06b-live-preview-updated", rect(main_area(check)))
    if check.args.docs:
        second = os.path.join(check.args.out, "live-2.png")
        live.image.save_render(second, scene=bpy.context.scene)
        state["live_files"].append(second)
    with check.override(main_area(check), "UI"):
        wm().atelier_live_preview = False


def live_preview_off(check):
    content = state["content"]
    shown = main_area(check).spaces[0].image
    if shown != content:
        raise RuntimeError(f"after Live preview off the editor shows {shown and shown.name}, not {content.name}")
    if _digest(content) != state["content_digest"] or content.is_dirty:
        raise RuntimeError("the live preview changed the user's image")
    s = settings()
    s.style_image, s.fast_strength = state["style"], 1.0


STEPS = [live_preview_on, shot_live_first, shot_live_updated, live_preview_off]
