"""Per-scene settings shown in the panels (scene.atelier) and the run state (window manager).

Names are the labels an artist reads in a narrow sidebar, so they stay short (at most ~12
characters); everything longer belongs in the description, which Blender shows as a tooltip.
"""
from __future__ import annotations

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty,
                       PointerProperty, StringProperty)


def _changed(self, context) -> None:
    """Update callback of the settings the live preview shows."""
    from . import live_preview

    live_preview.settings_changed()


def _live_toggled(self, context) -> None:
    from . import live_preview

    live_preview.toggled(self, context)


class AtelierStyleItem(bpy.types.PropertyGroup):
    image: PointerProperty(type=bpy.types.Image, name="Style", update=_changed,
                           description="Style for the objects whose Pass Index matches this row")


class AtelierSettings(bpy.types.PropertyGroup):
    # style
    style_source: EnumProperty(name="Style from", update=_changed, description="Where the style image comes from",
                               items=[("IMAGE", "Image", "An image already in this .blend file"),
                                      ("FILE", "File", "An image file on disk")])
    style_image: PointerProperty(type=bpy.types.Image, name="Style", update=_changed,
                                 description="The style image: its colours and strokes are painted onto the content")
    style_file: StringProperty(name="Style", subtype="FILE_PATH", update=_changed,
                               description="The style image file: its colours and strokes are painted onto the content")
    extra_styles: CollectionProperty(type=AtelierStyleItem)
    styles_by_object_index: BoolProperty(
        name="Per-object styles", default=False,
        description="Give objects their own style: the main style paints Pass Index 0, the next rows "
                    "Pass Index 1, 2, ... (Object Properties › Relations). Needs the Object Index pass")
    # engine options
    method: EnumProperty(name="Method", update=_changed, description="How the image is optimised",
                         items=[("multiscale", "Multi-scale", "Coarse-to-fine with Adam, tuned on VGG-19 (default)"),
                                ("gatys", "Gatys", "The classic baseline: single scale, Adam"),
                                ("fast", "Fast", "A pretrained network: about a second, for trying styles "
                                                 "before a slow final run")])
    fast_strength: FloatProperty(name="Strength", default=1.0, min=0.0, max=1.0, subtype="FACTOR", update=_changed,
                                 description="Fast method: 0 keeps the image's own style, 1 takes the style's")
    backbone: EnumProperty(name="Network", description="The network that measures style and content", items=[
        ("auto", "Auto", "VGG19 when its weights are on disk, else the offline network"),
        ("vgg19", "VGG19", "ImageNet VGG19 (needs the weights)"),
        ("offline", "Offline network", "A network that needs no downloaded weights")])
    strength: FloatProperty(name="Strength", default=1.0, min=0.0, soft_max=10.0,
                            description="Style over content: 1 is the method's tuned balance, 2 twice as much "
                                        "style, 0.5 half, 0 none")
    style_scale: FloatProperty(name="Scale", default=1.0, min=0.05, max=20.0,
                               description="Size of the style's strokes relative to the image")
    size: IntProperty(name="Size", default=512, min=0, soft_max=4096, subtype="PIXEL",
                      description="Long edge of the working resolution (0: the image's own size). "
                                  "The result always has the source's size")
    fast_size: IntProperty(name="Working size", default=0, min=0, soft_max=4096, subtype="PIXEL", update=_changed,
                           description="Fast method: long edge the network works at (0: the method's own "
                                       "measured default, 384 px or a quarter of larger images). Its strokes "
                                       "have a fixed size in these pixels: larger = finer strokes. The "
                                       "result always has the source's size")
    steps: IntProperty(name="Steps", default=0, min=0, soft_max=2000,
                       description="Optimisation steps (0: the method's default)")
    preserve_color: EnumProperty(name="Colour", update=_changed, description="Whose colours the result keeps", items=[
        ("NONE", "Style colours", "The result takes the style's colours"),
        ("LUMINANCE", "Keep colours", "Keep the content's colours; transfer brightness only (luminance)"),
        ("HISTOGRAM", "Match colours", "Recolour the style to the content's colour histogram first")])
    tileable: BoolProperty(name="Tileable", default=False, update=_changed,
                           description="Wrap around the edges: a tileable texture stays tileable")
    seed: IntProperty(name="Seed", default=0, min=0, description="Random seed; another seed, another result")
    # results
    result_float: BoolProperty(name="Float", default=False,
                               description="Store colour results as linear float images instead of 8-bit sRGB")
    store: EnumProperty(name="Store", description="Where result images are kept", items=[
        ("PACK", "Pack in .blend", "Pack the pixels into the .blend file"),
        ("SAVE", "Save to disk", "Save into an 'atelier' folder next to the .blend file (a new file, never "
                                 "an existing one)")])
    # render
    use_last_render: BoolProperty(name="Last render", default=False,
                                  description="Stylize the last render instead of rendering again")
    animation: BoolProperty(name="Whole animation", default=False,
                            description="Render and stylize every frame into the output folder")
    output_dir: StringProperty(name="Frames", subtype="DIR_PATH", default="//atelier_frames/",
                               description="Folder for the stylized animation frames")
    # animation guidance from render passes (core/animation)
    temporal_weight: FloatProperty(name="Temporal coherence", default=200.0, min=0.0, soft_max=2000.0,
                                   description="Hold each frame to the previous stylized frame moved by the "
                                               "Vector pass, relative to the style strength (0: every frame on its own)")
    edge_guide: EnumProperty(name="Keep outlines", items=[
        ("OFF", "Off", ""), ("DEPTH", "Silhouettes (Depth)", ""), ("NORMAL", "Creases (Normal)", ""),
        ("BOTH", "Both", "")], description="Extra content weight where depth or normals change sharply")
    edge_strength: FloatProperty(name="Outline strength", default=3.0, min=0.0, max=100.0, soft_max=30.0,
                                 description="Extra content weight on outlines; flat areas keep theirs "
                                             "(3: subtle; 20: visibly sharper outlines, a little less style)")
    depth_stroke_scale: FloatProperty(name="Larger strokes near", default=0.0, min=0.0, max=4.0,
                                      description="Strokes up to (1 + this)× larger near the camera (0: off)")
    styles_by_material_index: BoolProperty(name="Styles by Material Index", default=False,
                                           description="Style k where the Material Index pass is k")
    world_style: EnumProperty(name="World", items=[
        ("WITH_REST", "Stylize with the rest", ""), ("KEEP", "Keep as rendered", ""),
        ("OWN", "Own style (last style)", "")])
    # textures
    texture_model: EnumProperty(name="Model", description="The texture synthesis method", items=[
        ("patches", "Patches", "Patch synthesis: crisp and tileable, no training (default)"),
        ("psgan", "PSGAN",
         "Periodic spatial GAN: a learned, tileable generator of any size, refined with the exemplar's patches"),
        ("dcgan", "DCGAN", "The DCGAN baseline, refined with the exemplar's patches"),
        ("optim", "No training", "Optimise the pixels directly (no reusable model)")])
    train_steps: IntProperty(name="Steps", default=1500, min=1, description="Training steps (GAN models)")
    raw_gan_output: BoolProperty(
        name="Raw GAN output", default=False,
        description="GAN models: keep the network's own pixels, without the refinement that rebuilds its "
                    "layout from the exemplar's patches. Softer, and not made of exemplar pixels: it shows what "
                    "the network itself learned. The result's name ends in 'raw'. DCGAN's raw output does not tile")
    texture_width: IntProperty(name="Width", default=512, min=8, max=16384, subtype="PIXEL",
                               description="Width of the generated texture")
    texture_height: IntProperty(name="Height", default=512, min=8, max=16384, subtype="PIXEL",
                                description="Height of the generated texture")
    texture_seed: IntProperty(name="Seed", default=0, min=0,
                              description="Random seed of the generated texture; another seed, another texture")
    checkpoint: StringProperty(name="Model file", subtype="FILE_PATH",
                               description="Trained texture model (.pt) to generate from; Train fills it in")


def register_runtime_props() -> None:
    wm = bpy.types.WindowManager
    wm.atelier_running = BoolProperty(default=False, options={"SKIP_SAVE"})
    wm.atelier_progress = FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR", options={"SKIP_SAVE"})
    wm.atelier_status = StringProperty(default="", options={"SKIP_SAVE"})
    wm.atelier_setup_report = StringProperty(default="", options={"SKIP_SAVE"})
    wm.atelier_live_preview = BoolProperty(
        name="Live preview", default=False, options={"SKIP_SAVE"}, update=_live_toggled,
        description="While you change style or strength, stylize a small copy of the shown image with the "
                    "Fast method into the 'Atelier Preview (live)' image, shown in this editor while on")


def unregister_runtime_props() -> None:
    for name in ("atelier_running", "atelier_progress", "atelier_status", "atelier_setup_report",
                 "atelier_live_preview"):
        if hasattr(bpy.types.WindowManager, name):
            delattr(bpy.types.WindowManager, name)
