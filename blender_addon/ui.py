"""Panels: the 'Atelier' sidebar tab (Image Editor, Shader Editor) and Properties › Render.

Every panel is built from the same small section functions (target, progress, style, engine
options, results, texture), so a new option goes into one section and shows up everywhere.
Labels stay short enough for the default sidebar width; long explanations live in tooltips
(the property descriptions and operator docstrings).
"""
from __future__ import annotations

import textwrap

import bpy

from .job import GAN_MODELS

RUN_SCALE = 1.4  # the main button of each panel is a little taller
SIDEBAR_CHARS = 24  # characters of a label that fit the default sidebar width next to an icon
TRAINED_MODELS = GAN_MODELS  # texture models with training steps and raw output (patches, optim: neither)


# ---------------------------------------------------------------- sections

def draw_progress(layout, context) -> bool:
    """Progress bar (step n/N and time left) and Cancel while a job runs. True when busy."""
    wm = context.window_manager
    if not wm.atelier_running:
        return False
    col = layout.column(align=True)
    text = wm.atelier_status or "Starting…"
    if hasattr(col, "progress"):  # Blender 4.0+
        col.progress(factor=wm.atelier_progress, type="BAR", text=text)
    else:
        col.label(text=f"{wm.atelier_progress * 100:.0f}% {text}")
    col.operator("atelier.cancel", icon="CANCEL")
    return True


def draw_style(layout, s) -> None:
    """'Style' with its source switch, then the image or file picker."""
    col = layout.column(align=True)
    row = col.row(align=True)
    row.label(text="Style", icon="BRUSH_DATA")
    row.prop(s, "style_source", expand=True)
    col.prop(s, "style_image" if s.style_source == "IMAGE" else "style_file", text="")


def draw_object_styles(layout, context, s) -> None:
    """Render only: one style per Pass Index, with a line saying how objects pick their style."""
    box = layout.box()
    box.prop(s, "styles_by_object_index")
    if not s.styles_by_object_index:
        return
    box.label(text="Pass Index picks the style", icon="INFO")
    view_layer = getattr(context, "view_layer", None)
    if view_layer is not None and not view_layer.use_pass_object_index:
        row = box.row()
        row.alert = True
        row.prop(view_layer, "use_pass_object_index", text="Object Index pass")
    col = box.column(align=True)
    col.label(text="Index 0: the style above")
    for i, item in enumerate(s.extra_styles):
        split = col.split(factor=0.3, align=True)  # a narrow label leaves the picker room for the name
        split.label(text=f"Index {i + 1}")
        row = split.row(align=True)
        row.prop(item, "image", text="")
        row.operator("atelier.style_remove", text="", icon="X").index = i
    box.operator("atelier.style_add", icon="ADD")


def _labelled(layout, data, prop: str, label: str) -> None:
    """A dropdown with a short label in a narrow column, so the sidebar shows what it chooses."""
    split = layout.split(factor=0.35, align=True)
    split.label(text=label)
    split.prop(data, prop, text="")


def draw_engine(layout, s, *, tileable: bool = True) -> None:
    """How the style is applied: strength, scale, working size, steps, colours, method, network."""
    col = layout.column(align=True)
    if s.method == "fast":  # the optimisation knobs do not apply to the pretrained network
        col.prop(s, "fast_strength")
        col.prop(s, "fast_size")
    else:
        col.prop(s, "strength")
        col.prop(s, "style_scale")
        col.prop(s, "size")
        col.prop(s, "steps")
    _labelled(layout, s, "preserve_color", "Colours")
    _labelled(layout, s, "method", "Method")
    if s.method != "fast":  # the pretrained network measures nothing: no VGG choice to make
        _labelled(layout, s, "backbone", "Network")
    if tileable:
        layout.prop(s, "tileable")


def draw_results(layout, s) -> None:
    """How result images are stored."""
    row = layout.row(align=True)
    row.prop(s, "store", text="")
    row.prop(s, "result_float", toggle=True)


def draw_run(layout, operator: str, *, enabled: bool, icon: str, text: str = "") -> None:
    row = layout.row()
    row.enabled = enabled
    row.scale_y = RUN_SCALE
    if text:
        row.operator(operator, icon=icon, text=text)
    else:
        row.operator(operator, icon=icon)


def draw_live_preview(layout, context, *, has_source: bool) -> None:
    """Image Editor only: the Live preview toggle (it needs an image to preview; once on it can always
    be turned off) and, while on, its strength and what it is doing."""
    col = layout.column(align=True)
    row = col.row()
    row.enabled = has_source or context.window_manager.atelier_live_preview
    row.prop(context.window_manager, "atelier_live_preview", icon="HIDE_OFF")
    from . import live_preview

    live = live_preview.current()  # None while the toggle is off
    if live is None:
        return
    s = context.scene.atelier
    if s.method != "fast":  # the preview always runs the Fast method: its own strength, right here
        col.prop(s, "fast_strength", text="Preview strength")
    if live.message:  # e.g. "choose a style image in the Atelier panel": wrapped, not cut
        col = layout.column(align=True)
        for i, line in enumerate(textwrap.wrap(live.message, SIDEBAR_CHARS)):
            col.label(text=line, icon="INFO" if i == 0 else "BLANK1")


def draw_texture(layout, s, *, has_source: bool, busy: bool, into_node: bool) -> None:
    """Texture synthesis: train on the shown image/node (needs one), or generate from a model file
    (needs only the file)."""
    box = layout.box()
    box.label(text="Texture", icon="TEXTURE")
    col = box.column(align=True)
    col.prop(s, "texture_model", text="")
    row = col.row(align=True)
    row.active = s.texture_model in TRAINED_MODELS  # patch synthesis has no training steps
    row.prop(s, "train_steps")
    if s.texture_model in TRAINED_MODELS:  # only a GAN has network output to keep unrefined
        box.prop(s, "raw_gan_output")
    col = box.column(align=True)
    col.prop(s, "texture_width")
    col.prop(s, "texture_height")
    col.prop(s, "texture_seed")
    row = box.row()
    row.enabled = has_source and not busy
    op = row.operator("atelier.train_texture", icon="MOD_NOISE")
    op.from_node = into_node
    col = box.column(align=True)
    col.label(text="Model file")
    col.prop(s, "checkpoint", text="")
    row = box.row()
    row.enabled = bool(s.checkpoint) and not busy
    op = row.operator("atelier.generate_texture", icon="IMAGE_DATA")
    op.to_node = into_node and has_source


def draw_render_source(layout, s) -> None:
    """Render only: which render is stylized, and where animation frames go."""
    col = layout.column(align=True)
    col.prop(s, "use_last_render")
    col.prop(s, "animation")
    if s.animation:
        col.prop(s, "output_dir", text="")
        for name in ("temporal_weight", "edge_guide", "edge_strength", "depth_stroke_scale",
                     "styles_by_material_index", "world_style"):
            col.prop(s, name)


# ---------------------------------------------------------------- panels

class _AtelierSidebar:
    """The 'Atelier' tab of an editor's sidebar. Subclasses say what the target is."""
    bl_label = "Neural Atelier"
    bl_region_type = "UI"
    bl_category = "Atelier"
    stylize_operator = ""
    into_node = False

    @classmethod
    def target(cls, context) -> tuple[str, str, bool]:
        """(line naming what will be stylized, its icon, whether there is something to stylize)."""
        raise NotImplementedError

    def draw(self, context):
        layout = self.layout
        s = context.scene.atelier
        text, icon, has_source = self.target(context)
        layout.label(text=text, icon=icon)
        busy = draw_progress(layout, context)
        draw_style(layout, s)
        if self.shows_render(context):  # the render window after F12: stylize that render
            draw_object_styles(layout, context, s)
            draw_engine(layout, s, tileable=False)
            draw_results(layout, s)
            row = layout.row()
            row.enabled, row.scale_y = not busy, RUN_SCALE
            row.operator("atelier.stylize_render", icon="RENDER_STILL").last_render = True
            draw_texture(layout, s, has_source=False, busy=busy, into_node=False)
            return
        draw_engine(layout, s)
        draw_results(layout, s)
        draw_run(layout, self.stylize_operator, enabled=has_source and not busy, icon="BRUSH_DATA")
        if not self.into_node:
            draw_live_preview(layout, context, has_source=has_source)
        draw_texture(layout, s, has_source=has_source, busy=busy, into_node=self.into_node)

    @classmethod
    def shows_render(cls, context) -> bool:
        return False


class ATELIER_PT_image_editor(_AtelierSidebar, bpy.types.Panel):
    bl_idname = "ATELIER_PT_image_editor"
    bl_space_type = "IMAGE_EDITOR"
    stylize_operator = "atelier.stylize_image"

    @classmethod
    def target(cls, context):
        from . import live_preview

        image = getattr(context.space_data, "image", None)
        if image is None:
            return "Show an image", "IMAGE_DATA", False
        if cls.shows_render(context):
            return "Render Result", "RENDER_RESULT", True
        if image.name == live_preview.LIVE_PREVIEW_NAME:
            source = live_preview.source_image()  # Stylize works on the previewed image
            if source is not None:
                return f"Live: {source.name}", "HIDE_OFF", True
            return "Live preview (off)", "HIDE_OFF", False
        if image.name.startswith(live_preview.PREVIEW_NAME):
            return "Preview of the job", "TIME", False
        return image.name, "IMAGE_DATA", True

    @classmethod
    def shows_render(cls, context) -> bool:
        image = getattr(context.space_data, "image", None)
        return image is not None and image.type == "RENDER_RESULT"


class ATELIER_PT_shader_editor(_AtelierSidebar, bpy.types.Panel):
    bl_idname = "ATELIER_PT_shader_editor"
    bl_space_type = "NODE_EDITOR"
    stylize_operator = "atelier.stylize_node"
    into_node = True

    @classmethod
    def poll(cls, context):
        return getattr(context.space_data, "tree_type", "") == "ShaderNodeTree"

    @classmethod
    def target(cls, context):
        node = getattr(context, "active_node", None)
        if node is None or node.bl_idname != "ShaderNodeTexImage" or node.image is None:
            return "Select an Image Texture", "NODE_TEXTURE", False
        return node.image.name, "NODE_TEXTURE", True


class ATELIER_PT_render(bpy.types.Panel):
    """Render properties: open, with only what a render stylize needs; the engine options sit in a
    closed sub-panel. As a top-level panel it landed after all the engine's panels (below Bake in
    Cycles, found only by scrolling; bl_order cannot go below the engines' 0). As a sub-panel of
    the header-less engine selector (RENDER_PT_context, there for every engine) it sits right under
    Render Engine, above Sampling. The top bar's Render menu and the Image Editor showing the Render
    Result (the F12 window) also have 'Stylize render'."""
    bl_idname = "ATELIER_PT_render"
    bl_label = "Neural Atelier"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "render"
    bl_parent_id = "RENDER_PT_context"

    def draw_header(self, context):
        self.layout.label(icon="BRUSH_DATA")

    def draw(self, context):
        layout = self.layout
        s = context.scene.atelier
        busy = draw_progress(layout, context)
        draw_style(layout, s)
        draw_object_styles(layout, context, s)
        draw_render_source(layout, s)
        draw_run(layout, "atelier.stylize_render", enabled=not busy, icon="RENDER_STILL")


class ATELIER_PT_render_options(bpy.types.Panel):
    bl_idname = "ATELIER_PT_render_options"
    bl_label = "Options"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "render"
    bl_parent_id = "ATELIER_PT_render"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        s = context.scene.atelier
        draw_engine(self.layout, s, tileable=False)
        draw_results(self.layout, s)


def draw_render_menu(self, context) -> None:
    """Appended to the top bar's Render menu, next to Render Image and Render Animation."""
    self.layout.separator()
    self.layout.operator("atelier.stylize_render", text="Stylize Render (Atelier)", icon="BRUSH_DATA")


class ATELIER_PT_missing(_AtelierSidebar, bpy.types.Panel):
    """Shown instead of the real panels when Blender lacks something the add-on needs."""
    bl_idname = "ATELIER_PT_missing"
    bl_space_type = "IMAGE_EDITOR"
    problem: tuple[str, ...] = ("Setup problem",)  # short lines, set by register()

    def draw(self, context):
        col = self.layout.column()
        col.alert = True
        for i, line in enumerate(self.problem):
            col.label(text=line, icon="ERROR" if i == 0 else "BLANK1")


classes = (ATELIER_PT_image_editor, ATELIER_PT_shader_editor, ATELIER_PT_render, ATELIER_PT_render_options)
