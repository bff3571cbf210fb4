"""Shared helpers for the worker tests: load the add-on's pure-Python modules without bpy."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_addon_module(name: str):
    # By path: the add-on package's __init__ needs bpy; these modules must not.
    key = f"_atelier_{name}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, ROOT / "blender_addon" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    spec.loader.exec_module(module)
    return module
