"""Real key presses and clicks for the GUI check, through the X server's XTest extension (ctypes
on libXtst; the check installs Debian's libxtst6 into the chroot). Blender receives them exactly
as an artist's input, so Esc reaches the modal operator and a click presses a button."""
from __future__ import annotations

import ctypes
import ctypes.util
import time

KEYSYMS = {"ESC": 0xFF1B, "TAB": 0xFF09, "RETURN": 0xFF0D, "CTRL": 0xFFE3}


class X11:
    def __init__(self) -> None:
        x11 = ctypes.cdll.LoadLibrary(ctypes.util.find_library("X11") or "libX11.so.6")
        xtst = ctypes.cdll.LoadLibrary(ctypes.util.find_library("Xtst") or "libXtst.so.6")
        x11.XOpenDisplay.restype = ctypes.c_void_p
        x11.XKeysymToKeycode.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
        x11.XFlush.argtypes = [ctypes.c_void_p]
        xtst.XTestFakeKeyEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_ulong]
        xtst.XTestFakeButtonEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_ulong]
        xtst.XTestFakeMotionEvent.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                              ctypes.c_ulong]
        self.x11, self.xtst = x11, xtst
        self.display = x11.XOpenDisplay(None)
        if not self.display:
            raise RuntimeError("cannot open the X display")

    def _flush(self) -> None:
        self.x11.XFlush(self.display)

    def key(self, name: str) -> None:
        code = self.x11.XKeysymToKeycode(self.display, KEYSYMS[name])
        self.xtst.XTestFakeKeyEvent(self.display, code, 1, 0)
        self.xtst.XTestFakeKeyEvent(self.display, code, 0, 0)
        self._flush()

    def move(self, x: int, y: int) -> None:
        """Pointer to (x, y), screen pixels from the top left."""
        self.xtst.XTestFakeMotionEvent(self.display, -1, x, y, 0)
        self._flush()

    def click(self, x: int, y: int) -> None:
        self.move(x, y)
        time.sleep(0.05)
        self.xtst.XTestFakeButtonEvent(self.display, 1, 1, 0)
        self.xtst.XTestFakeButtonEvent(self.display, 1, 0, 0)
        self._flush()

    def scroll(self, x: int, y: int, down: bool = True, ctrl: bool = False) -> None:
        """One wheel notch at (x, y), optionally with Ctrl held (Ctrl+wheel over a sidebar cycles its tabs)."""
        self.move(x, y)
        ctrl_code = self.x11.XKeysymToKeycode(self.display, KEYSYMS["CTRL"])
        if ctrl:
            self.xtst.XTestFakeKeyEvent(self.display, ctrl_code, 1, 0)
        button = 5 if down else 4
        self.xtst.XTestFakeButtonEvent(self.display, button, 1, 0)
        self.xtst.XTestFakeButtonEvent(self.display, button, 0, 0)
        if ctrl:
            self.xtst.XTestFakeKeyEvent(self.display, ctrl_code, 0, 0)
        self._flush()
