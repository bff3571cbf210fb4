"""Add-on preferences: where the worker's Python lives (install.py writes it) and how it runs."""
from __future__ import annotations

import bpy
from bpy.props import EnumProperty, FloatProperty, StringProperty

ADDON_ID = __package__  # 'bl_ext.user_default.neural_atelier' as an extension, 'blender_addon' in the repo


class AtelierPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    worker_python: StringProperty(
        name="Worker Python", subtype="FILE_PATH",
        description="Python interpreter of the environment install.py created (.venv); "
                    "it runs 'python -m core worker'")
    device: EnumProperty(
        name="Device", default="auto",
        items=[("auto", "Auto", "CUDA, then Apple MPS, then CPU"), ("cpu", "CPU", ""),
               ("cuda", "CUDA", "NVIDIA (or ROCm) GPU"), ("mps", "Apple MPS", "Apple Silicon GPU")])
    weights_file: StringProperty(
        name="VGG19 weights", subtype="FILE_PATH",
        description="torchvision VGG19 weights file (vgg19-dcbb9e9d.pth). Empty: the torch hub cache")
    memory_budget_gb: FloatProperty(
        name="Memory budget (GB)", default=0.0, min=0.0, soft_max=64.0,
        description="Largest memory a job may use; bigger jobs run in tiles. 0: automatic")

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "worker_python")
        row = layout.row()
        row.prop(self, "device")
        row.prop(self, "memory_budget_gb")
        layout.prop(self, "weights_file")
        layout.operator("atelier.check_setup", icon="CHECKMARK")
        status = getattr(context.window_manager, "atelier_setup_report", "")
        for line in status.splitlines():
            layout.label(text=line)


def get(context=None) -> AtelierPreferences | None:
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon else None
