"""GUI smoke check inside a real Blender window (run by `python3 install.py gui-check` through
shared/tools/blender-gui): installs the packaged extension as a user would, opens every panel
(Image Editor, Shader Editor, Render properties, Preferences), runs a stylize, a texture train +
generate and a render stylize through the panels' operators, presses Cancel and Esc once, and saves
a screenshot of each step. Steps are sequenced with bpy.app.timers (the window keeps drawing in
between). Prints 'GUI-CHECK PASS' or 'GUI-CHECK FAIL <reason>'; install.py also fails on any
Python traceback in Blender's output, which is where draw() errors go.

    blender --python tests/gui/gui_check.py -- --zip ZIP --python WORKER_PY --out DIR [--docs DIR]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import traceback

import bpy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gui_live_steps  # noqa: E402
import gui_render_steps  # noqa: E402
import gui_steps  # noqa: E402
import x11_input  # noqa: E402

# the screenshots the README shows (the rest stay in --out only)
README_SHOTS = {"01-image-editor-no-image", "02-image-editor-panel", "03-stylize-running", "05-cancel-button",
                "09-shader-editor", "10-render-panel", "12-preferences", "13-render-result-panel"}
STEPS = (gui_steps.SETUP_STEPS + gui_live_steps.STEPS + gui_steps.IMAGE_STEPS + gui_render_steps.STEPS
         + gui_steps.END_STEPS)


def parse_args() -> argparse.Namespace:
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    p = argparse.ArgumentParser(prog="gui_check.py")
    p.add_argument("--zip", required=True, help="the built extension zip")
    p.add_argument("--python", required=True, help="the worker's Python (<project>/.venv/bin/python)")
    p.add_argument("--out", required=True, help="folder for the full screenshots")
    p.add_argument("--docs", help="also write cropped, small screenshots for the README here")
    p.add_argument("--backbone", default="auto", choices=("auto", "vgg19", "offline"))
    return p.parse_args(argv)


class Check:
    """Runs steps one per timer tick. A step may return (predicate, what, timeout_s): the next
    step waits until predicate() is true. Any exception ends the check as failed."""

    def __init__(self, args: argparse.Namespace, steps: list) -> None:
        self.args = args
        self.steps = list(steps)
        self.wait = None
        self.x = x11_input.X11()
        self.shots: list[str] = []
        self.docs: list[str] = []
        self.drawn: dict[str, float] = {}
        self.notes: list[str] = []
        self.problems: list[str] = []  # failures found on the way; the check goes on to see the rest
        os.makedirs(args.out, exist_ok=True)
        if args.docs:
            os.makedirs(args.docs, exist_ok=True)

    def tick(self):
        try:
            if self.wait is not None:
                predicate, what, deadline = self.wait
                if not predicate():
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"timed out waiting for {what}")
                    return 0.2
                self.wait = None
            if not self.steps:
                self.finish(not self.problems, "; ".join(self.problems))
                return None
            step = self.steps.pop(0)
            print(f"GUI-CHECK step {step.__name__}", flush=True)
            result = step(self)
            if result is not None:
                predicate, what, timeout = result
                self.wait = (predicate, what, time.monotonic() + timeout)
            return 0.4  # time for the window to redraw before the next step
        except Exception as exc:  # report every failure as one line, with the traceback above it
            traceback.print_exc()
            self.finish(False, f"{type(exc).__name__}: {exc}")
            return None

    # ---------------------------------------------------------------- helpers for steps

    def window(self):
        return bpy.context.window_manager.windows[0]

    def override(self, area=None, region_type: str = "WINDOW"):
        win = self.window()
        kw = {"window": win}
        if area is not None:
            kw["screen"] = win.screen
            kw["area"] = area
            kw["region"] = next(r for r in area.regions if r.type == region_type)
        return bpy.context.temp_override(**kw)

    def shot(self, name: str, crop=None) -> str:
        """Screenshot of the whole screen; with crop (x, y, w, h in Blender window coordinates,
        y from the bottom) also a cropped copy for the docs."""
        with self.override():
            bpy.ops.wm.redraw_timer(type="DRAW_WIN_SWAP", iterations=1)
        path = os.path.join(self.args.out, name + ".png")
        subprocess.run(["import", "-window", "root", path], check=True)
        self.shots.append(path)
        if self.args.docs and crop is not None and name in README_SHOTS:
            x, y, w, h = (int(v) for v in crop)
            top = self.window().height - (y + h)
            # narrow panels stay crisp PNGs; wide editor views become JPGs 900 px wide (README size)
            wide = w > 400
            doc = os.path.join(self.args.docs, name + (".jpg" if wide else ".png"))
            resize = ["-resize", "900x>", "-quality", "85"] if wide else []
            subprocess.run(["convert", path, "-crop", f"{w}x{h}+{x}+{top}", "+repage", *resize, "-strip", doc],
                           check=True)
            self.docs.append(doc)
        return path

    def finish(self, ok: bool, reason: str) -> None:
        if not ok:
            try:
                self.shot("failed")
            except Exception:
                pass
        for path in self.shots:
            print(f"GUI-CHECK screenshot {path}", flush=True)
        for path in self.docs:
            print(f"GUI-CHECK docs {path}", flush=True)
        for note in self.notes:
            print(f"GUI-CHECK note {note}", flush=True)
        print("GUI-CHECK PASS" if ok else f"GUI-CHECK FAIL {reason}", flush=True)
        gui_steps.shutdown_worker()
        bpy.app.timers.register(lambda: bpy.ops.wm.quit_blender() and None, first_interval=0.5)


def main() -> None:
    check = Check(parse_args(), STEPS)
    bpy.app.timers.register(check.tick, first_interval=1.0)


main()
