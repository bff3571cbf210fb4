"""Per-scene settings shown in the panels (scene.atelier) and the run state (window manager)."""
from __future__ import annotations

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty,
                       PointerProperty, StringProperty)


class AtelierStyleItem(bpy.types.PropertyGroup):
    image: PointerProperty(type=bpy.types.Image, name="Style")


class AtelierSettings(bpy.types.PropertyGroup):
    # style
    style_source: EnumProperty(name="Style from", items=[("IMAGE", "Image", "An image in this file"),
                                                         ("FILE", "File", "An image file on disk")])
    style_image: PointerProperty(type=bpy.types.Image, name="Style image")
    style_file: StringProperty(name="Style file", subtype="FILE_PATH")
    extra_styles: CollectionProperty(type=AtelierStyleItem)
    styles_by_object_index: BoolProperty(
        name="Per-object styles", default=False,
        description="Render: style k (1 = the main style) paints objects whose Pass Index is k-1; "
                    "needs the Object Index pass")
    # engine options
    method: EnumProperty(name="Method", items=[("multiscale", "Multi-scale", "Coarse-to-fine, L-BFGS (default)"),
                                               ("gatys", "Gatys baseline", "Single scale, Adam (the classic)")])
    backbone: EnumProperty(name="Backbone", items=[
        ("auto", "Auto", "VGG19 when its weights are on disk, else the offline network"),
        ("vgg19", "VGG19", "ImageNet VGG19 (needs the weights)"),
        ("offline", "Offline", "A network that needs no downloaded weights")])
    strength: FloatProperty(name="Strength", default=10.0, min=0.0, soft_max=100.0,
                            description="Style weight (β); higher = more style")
    style_scale: FloatProperty(name="Style scale", default=1.0, min=0.05, max=20.0,
                               description="Size of the style's strokes relative to the image")
    size: IntProperty(name="Size", default=512, min=0, soft_max=4096,
                      description="Long edge of the working resolution (0: the image's own size). "
                                  "The result always has the source's size")
    steps: IntProperty(name="Steps", default=0, min=0, soft_max=2000, description="0: the method's default")
    preserve_color: EnumProperty(name="Colour", items=[
        ("NONE", "Style colours", ""), ("LUMINANCE", "Keep colours (luminance)", ""),
        ("HISTOGRAM", "Keep colours (histogram)", "")])
    tileable: BoolProperty(name="Tileable", default=False, description="Wrap-around: a tileable input stays tileable")
    seed: IntProperty(name="Seed", default=0, min=0)
    # results
    result_float: BoolProperty(name="Float result", default=False,
                               description="Store colour results as linear float instead of 8-bit sRGB")
    store: EnumProperty(name="Store", items=[("PACK", "Pack into .blend", ""),
                                             ("SAVE", "Save next to .blend", "Into an 'atelier' folder")])
    # render
    use_last_render: BoolProperty(name="Use last render", default=False)
    animation: BoolProperty(name="Whole animation", default=False,
                            description="Render and stylize every frame into the output folder")
    output_dir: StringProperty(name="Output folder", subtype="DIR_PATH", default="//atelier_frames/")
    # animation guidance from render passes (core/animation)
    temporal_weight: FloatProperty(name="Temporal coherence", default=200.0, min=0.0, soft_max=2000.0,
                                   description="Hold each frame to the previous stylized frame moved by the "
                                               "Vector pass (0: every frame on its own)")
    edge_guide: EnumProperty(name="Keep outlines", items=[
        ("OFF", "Off", ""), ("DEPTH", "Silhouettes (Depth)", ""), ("NORMAL", "Creases (Normal)", ""),
        ("BOTH", "Both", "")], description="More content weight where depth or normals change sharply")
    edge_strength: FloatProperty(name="Outline strength", default=3.0, min=0.0, soft_max=10.0)
    depth_stroke_scale: FloatProperty(name="Larger strokes near", default=0.0, min=0.0, max=4.0,
                                      description="Strokes up to (1 + this)× larger near the camera (0: off)")
    styles_by_material_index: BoolProperty(name="Styles by Material Index", default=False,
                                           description="Style k where the Material Index pass is k")
    world_style: EnumProperty(name="World", items=[
        ("WITH_REST", "Stylize with the rest", ""), ("KEEP", "Keep as rendered", ""),
        ("OWN", "Own style (last style)", "")])
    # textures
    texture_model: EnumProperty(name="Model", items=[
        ("psgan", "PSGAN (tileable)", "Periodic spatial GAN"), ("dcgan", "DCGAN baseline", ""),
        ("optim", "No training", "Optimise pixels directly")])
    train_steps: IntProperty(name="Training steps", default=1500, min=1)
    texture_width: IntProperty(name="Width", default=512, min=8, max=16384)
    texture_height: IntProperty(name="Height", default=512, min=8, max=16384)
    texture_seed: IntProperty(name="Seed", default=0, min=0)
    checkpoint: StringProperty(name="Texture model", subtype="FILE_PATH",
                               description="Trained texture model (.pt) to generate from")


def register_runtime_props() -> None:
    wm = bpy.types.WindowManager
    wm.atelier_running = BoolProperty(default=False, options={"SKIP_SAVE"})
    wm.atelier_progress = FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR", options={"SKIP_SAVE"})
    wm.atelier_status = StringProperty(default="", options={"SKIP_SAVE"})
    wm.atelier_setup_report = StringProperty(default="", options={"SKIP_SAVE"})


def unregister_runtime_props() -> None:
    for name in ("atelier_running", "atelier_progress", "atelier_status", "atelier_setup_report"):
        if hasattr(bpy.types.WindowManager, name):
            delattr(bpy.types.WindowManager, name)
