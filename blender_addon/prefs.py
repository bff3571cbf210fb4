"""Add-on preferences (where the worker's Python lives, device, folders) and their copy on disk.

Blender drops an add-on's preferences when it is disabled, so every change is also written to a
small JSON file in the add-on's user folder and read back when the add-on is enabled again.
"""
from __future__ import annotations

import json
import os

import bpy
from bpy.props import EnumProperty, FloatProperty, StringProperty

ADDON_ID = __package__  # 'bl_ext.user_default.neural_atelier' as an extension, 'blender_addon' in the repo
_REMEMBERED = ("worker_python", "device", "weights_file", "memory_budget_gb", "models_folder")
_SETTINGS_FILE = "preferences.json"


def user_folder(sub: str = "", create: bool = True) -> str:
    """The add-on's own writable folder (kept while the add-on is installed): the extension's
    user folder, or for a legacy add-on one inside Blender's config folder."""
    fn = getattr(bpy.utils, "extension_path_user", None)
    base = None
    if fn is not None and ADDON_ID.startswith("bl_ext."):
        try:
            base = fn(ADDON_ID, create=create)
        except (ValueError, TypeError):
            base = None
    if not base:
        base = bpy.utils.user_resource("CONFIG", path="neural_atelier", create=create)
    folder = os.path.join(base, sub) if sub else base
    if create:
        os.makedirs(folder, exist_ok=True)
    return folder


def _settings_path() -> str:
    return os.path.join(user_folder(), _SETTINGS_FILE)


def _remember(self, _context) -> None:
    """Update callback: write the remembered preferences to disk (atomically)."""
    values = {name: getattr(self, name) for name in _REMEMBERED}
    try:
        path = _settings_path()
        with open(path + ".part", "w", encoding="utf-8") as fh:
            json.dump(values, fh, indent=1)
        os.replace(path + ".part", path)
    except OSError as exc:  # a read-only profile: the preferences still work for this session
        print(f"Neural Atelier: could not remember the preferences ({exc})")


def restore(context=None) -> bool:
    """Fill fresh (empty) preferences from the copy on disk. True when something was restored."""
    p = _prefs(context)
    if p is None or p.worker_python:
        return False
    try:
        with open(_settings_path(), encoding="utf-8") as fh:
            saved = json.load(fh)
    except (OSError, ValueError):
        return False
    if not isinstance(saved, dict) or not saved.get("worker_python"):
        return False
    for name in _REMEMBERED:
        if name in saved:
            try:
                setattr(p, name, saved[name])
            except (TypeError, ValueError):
                pass  # a value from another version: keep the default
    return True


class AtelierPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    worker_python: StringProperty(
        name="Worker Python", subtype="FILE_PATH", update=_remember,
        description="Python interpreter of the environment install.py created (<project>/.venv/bin/python); "
                    "it runs 'python -m core worker'. install.py fills it in")
    device: EnumProperty(
        name="Device", default="auto", update=_remember, description="Where the networks run",
        items=[("auto", "Auto", "CUDA, then Apple MPS, then CPU"), ("cpu", "CPU", "The processor"),
               ("cuda", "CUDA", "NVIDIA (or ROCm) GPU"), ("mps", "Apple MPS", "Apple Silicon GPU")])
    weights_file: StringProperty(
        name="VGG19 weights", subtype="FILE_PATH", update=_remember,
        description="torchvision VGG19 weights file (vgg19-dcbb9e9d.pth). Empty: the torch hub cache")
    memory_budget_gb: FloatProperty(
        name="Memory (GB)", default=0.0, min=0.0, soft_max=64.0, update=_remember,
        description="Largest memory a job may use; bigger jobs run in tiles. 0: automatic")
    models_folder: StringProperty(
        name="Models folder", subtype="DIR_PATH", update=_remember,
        description="Where trained texture models (.pt) are saved. Empty: the add-on's user folder. "
                    "'//atelier_models/' keeps them next to the .blend file")

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "worker_python")
        row = layout.row()
        row.prop(self, "device")
        row.prop(self, "memory_budget_gb")
        layout.prop(self, "weights_file")
        layout.prop(self, "models_folder")
        if not self.models_folder:
            layout.label(text=f"Models go to {models_dir(self, create=False)}", icon="FILE_FOLDER")
        layout.operator("atelier.check_setup", icon="CHECKMARK")
        status = getattr(context.window_manager, "atelier_setup_report", "")
        for line in status.splitlines():
            layout.label(text=line)


def models_dir(p: "AtelierPreferences | None", create: bool = True) -> str:
    """The folder trained texture models go to, as the preferences say."""
    folder = p.models_folder if p is not None else ""
    if folder.startswith("//") and not bpy.data.filepath:
        folder = ""  # relative to an unsaved .blend: there is nothing to be relative to yet
    if folder:
        return os.path.normpath(bpy.path.abspath(folder))
    return user_folder("models", create=create)


def _prefs(context=None) -> "AtelierPreferences | None":
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon else None


def get(context=None) -> "AtelierPreferences | None":
    """The preferences, refilled from disk if Blender dropped them (disable / enable)."""
    p = _prefs(context)
    if p is not None and not p.worker_python:
        restore(context)
    return p
