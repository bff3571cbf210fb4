"""Panels in the 'Atelier' sidebar tab (Image Editor, Shader Editor) and in Properties › Render."""
from __future__ import annotations

import bpy


def _draw_progress(layout, context) -> bool:
    wm = context.window_manager
    if not wm.atelier_running:
        return False
    col = layout.column(align=True)
    if hasattr(col, "progress"):
        col.progress(factor=wm.atelier_progress, type="BAR", text=wm.atelier_status or "Working…")
    else:
        col.label(text=f"{wm.atelier_progress * 100:.0f}% {wm.atelier_status}")
    col.operator("atelier.cancel", icon="CANCEL")
    return True


def _draw_style(layout, s) -> None:
    col = layout.column(align=True)
    col.row(align=True).prop(s, "style_source", expand=True)
    col.prop(s, "style_image" if s.style_source == "IMAGE" else "style_file", text="")


def _draw_options(layout, s, render: bool = False) -> None:
    col = layout.column(align=True)
    col.prop(s, "strength")
    col.prop(s, "style_scale")
    col.prop(s, "size")
    col.prop(s, "steps")
    layout.prop(s, "preserve_color")
    row = layout.row(align=True)
    row.prop(s, "method", text="")
    row.prop(s, "backbone", text="")
    row = layout.row(align=True)
    if not render:
        row.prop(s, "tileable")
    row.prop(s, "result_float")
    layout.prop(s, "store")


def _draw_texture(layout, s, from_node: bool) -> None:
    box = layout.box()
    box.label(text="Texture synthesis", icon="TEXTURE")
    box.prop(s, "texture_model")
    box.prop(s, "train_steps")
    row = box.row(align=True)
    row.prop(s, "texture_width")
    row.prop(s, "texture_height")
    box.prop(s, "texture_seed")
    op = box.operator("atelier.train_texture", icon="MOD_NOISE")
    op.from_node = from_node
    box.prop(s, "checkpoint")
    op = box.operator("atelier.generate_texture", icon="IMAGE_DATA")
    op.to_node = from_node


class ATELIER_PT_image_editor(bpy.types.Panel):
    bl_idname = "ATELIER_PT_image_editor"
    bl_label = "Neural Atelier"
    bl_space_type = "IMAGE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Atelier"

    def draw(self, context):
        layout = self.layout
        s = context.scene.atelier
        image = context.space_data.image
        layout.label(text=image.name if image else "Show an image to stylize", icon="IMAGE_DATA")
        busy = _draw_progress(layout, context)
        _draw_style(layout, s)
        _draw_options(layout, s)
        row = layout.row()
        row.enabled = image is not None and not busy
        row.scale_y = 1.4
        row.operator("atelier.stylize_image", icon="BRUSH_DATA")
        col = layout.column()
        col.enabled = image is not None and not busy
        _draw_texture(col, s, from_node=False)


class ATELIER_PT_shader_editor(bpy.types.Panel):
    bl_idname = "ATELIER_PT_shader_editor"
    bl_label = "Neural Atelier"
    bl_space_type = "NODE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Atelier"

    @classmethod
    def poll(cls, context):
        return getattr(context.space_data, "tree_type", "") == "ShaderNodeTree"

    def draw(self, context):
        layout = self.layout
        s = context.scene.atelier
        node = context.active_node
        ok = node is not None and node.bl_idname == "ShaderNodeTexImage" and node.image is not None
        layout.label(text=f"{node.name}: {node.image.name}" if ok else "Select an Image Texture node",
                     icon="NODE_TEXTURE")
        busy = _draw_progress(layout, context)
        _draw_style(layout, s)
        _draw_options(layout, s)
        row = layout.row()
        row.enabled = ok and not busy
        row.scale_y = 1.4
        row.operator("atelier.stylize_node", icon="BRUSH_DATA")
        layout.label(text="The node gets the new image; the old one is kept (fake user).", icon="INFO")
        col = layout.column()
        col.enabled = ok and not busy
        _draw_texture(col, s, from_node=True)


class ATELIER_PT_render(bpy.types.Panel):
    bl_idname = "ATELIER_PT_render"
    bl_label = "Neural Atelier"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "render"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        s = context.scene.atelier
        busy = _draw_progress(layout, context)
        _draw_style(layout, s)
        box = layout.box()
        box.prop(s, "styles_by_object_index")
        if s.styles_by_object_index:
            for i, item in enumerate(s.extra_styles):
                row = box.row(align=True)
                row.label(text=f"Pass Index {i + 1}")
                row.prop(item, "image", text="")
                row.operator("atelier.style_remove", text="", icon="X").index = i
            box.operator("atelier.style_add", icon="ADD")
        _draw_options(layout, s, render=True)
        layout.prop(s, "use_last_render")
        layout.prop(s, "animation")
        if s.animation:
            layout.prop(s, "output_dir")
            for name in ("temporal_weight", "edge_guide", "edge_strength", "depth_stroke_scale",
                         "styles_by_material_index", "world_style"):
                layout.prop(s, name)
        row = layout.row()
        row.enabled = not busy
        row.scale_y = 1.4
        row.operator("atelier.stylize_render", icon="RENDER_STILL")


classes = (ATELIER_PT_image_editor, ATELIER_PT_shader_editor, ATELIER_PT_render)
