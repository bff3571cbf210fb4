"""Every panel's draw() in real bpy, with a recording stand-in layout: draw errors (a wrong
property name, an unknown operator or icon, a Python error) fail here without a window, and the
recorded layout shows what an artist would see (labels, which buttons are enabled).

The add-on is enabled from the repository folder (legacy add-on path) in a temporary user profile.
"""
from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from types import SimpleNamespace

import numpy as np
import pytest

if "bpy" not in sys.modules:  # nothing may be written into the real user profile
    os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="atelier-draw-test-")
    atexit.register(shutil.rmtree, os.environ["BLENDER_USER_RESOURCES"], True)

bpy = pytest.importorskip("bpy")

pytestmark = pytest.mark.blender

MODULE = "blender_addon"
SIDEBAR_TEXT_LIMIT = 24   # characters that fit a row of the default sidebar width
NUMBER_LABEL_LIMIT = 12   # a number field shows 'Label  value' in one box


# ---------------------------------------------------------------- the stand-in layout

_ICONS = set(bpy.types.UILayout.bl_rna.functions["label"].parameters["icon"].enum_items.keys())


class Recorded(SimpleNamespace):
    """One drawn item: kind ('label', 'prop', 'operator', 'progress'), text, enabled, ..."""


class RecordingLayout:
    """Accepts what draw() functions call on a UILayout, checks each call against the real RNA
    (properties, operators, icons) and records the items with their effective enabled state."""

    def __init__(self, items: list, parent: "RecordingLayout | None" = None) -> None:
        self.items, self.parent = items, parent
        self.enabled = self.active = True
        self.alert = self.use_property_split = self.use_property_decorate = False
        self.scale_x = self.scale_y = 1.0
        self.alignment = "EXPAND"

    def _enabled(self) -> bool:
        return self.enabled and (self.parent is None or self.parent._enabled())

    def _active(self) -> bool:  # greyed out but still usable when False
        return self.active and (self.parent is None or self.parent._active())

    def _child(self) -> "RecordingLayout":
        return RecordingLayout(self.items, self)

    def row(self, align: bool = False, heading: str = "", **_kw) -> "RecordingLayout":
        return self._child()

    column = box = split = grid_flow = column_flow = row

    def separator(self, **_kw) -> None:
        pass

    @staticmethod
    def _icon(icon: str) -> None:
        assert icon in _ICONS, f"unknown icon {icon!r}"

    def label(self, *, text: str = "", icon: str = "NONE", **_kw) -> None:
        self._icon(icon)
        self.items.append(Recorded(kind="label", text=text, enabled=self._enabled(), alert=self.alert))

    def prop(self, data, property: str, *, text: "str | None" = None, icon: str = "NONE", expand: bool = False,
             toggle: int = -1, **_kw) -> None:
        self._icon(icon)
        props = data.bl_rna.properties
        assert property in props, f"{type(data).__name__} has no property {property!r}"
        rna = props[property]
        label = rna.name if text is None else text
        self.items.append(Recorded(kind="prop", name=property, text=label, type=rna.type, enabled=self._enabled(),
                                   active=self._active()))

    def operator(self, operator: str, *, text: "str | None" = None, icon: str = "NONE", **_kw):
        self._icon(icon)
        module, name = operator.split(".")
        assert hasattr(getattr(bpy.ops, module), name), f"unknown operator {operator}"
        rna = getattr(getattr(bpy.ops, module), name).get_rna_type()
        item = Recorded(kind="operator", name=operator, text=rna.name if text is None else text,
                        enabled=self._enabled(), props={})
        self.items.append(item)
        return _OperatorProperties(rna, item.props)

    def progress(self, *, factor: float = 0.0, type: str = "BAR", text: str = "") -> None:
        assert 0.0 <= factor <= 1.0
        self.items.append(Recorded(kind="progress", text=text, enabled=self._enabled()))


class _OperatorProperties:
    def __init__(self, rna, values: dict) -> None:
        object.__setattr__(self, "_rna", rna)
        object.__setattr__(self, "_values", values)

    def __setattr__(self, name: str, value) -> None:
        assert name in self._rna.properties, f"operator {self._rna.identifier} has no property {name!r}"
        self._values[name] = value


class _StandIn:
    """'self' for a draw(): the recording layout, everything else from the real class or object."""

    def __init__(self, layout: RecordingLayout, real) -> None:
        self.layout, self._real = layout, real

    def __getattr__(self, name: str):
        return getattr(self._real, name)


def draw(panel_cls, context, real=None) -> list:
    items: list = []
    panel_cls.draw(_StandIn(RecordingLayout(items), real if real is not None else panel_cls), context)
    return items


def find(items, kind: str, name: str = "", text: str = ""):
    return [i for i in items if i.kind == kind and (not name or getattr(i, "name", "") == name)
            and (not text or i.text == text)]


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def addon():
    import addon_utils

    mod = addon_utils.enable(MODULE, default_set=True)
    assert mod is not None, "the add-on did not enable from the repository folder"
    yield mod
    addon_utils.disable(MODULE, default_set=True)


@pytest.fixture()
def scene(addon):
    s = bpy.context.scene.atelier
    saved = {k: getattr(s, k) for k in ("styles_by_object_index", "animation", "checkpoint")}
    yield bpy.context.scene
    for k, v in saved.items():
        setattr(s, k, v)
    s.extra_styles.clear()
    bpy.context.window_manager.atelier_running = False


def _image(name: str = "content.png", size: int = 8):
    image = bpy.data.images.new(name, size, size)
    image.pixels.foreach_set(np.full(size * size * 4, 0.5, np.float32))
    return image


def _context(scene, **kw) -> SimpleNamespace:
    base = dict(scene=scene, window_manager=bpy.context.window_manager, view_layer=scene.view_layers[0],
                space_data=None, active_node=None, preferences=bpy.context.preferences)
    base.update(kw)
    return SimpleNamespace(**base)


def _texts(items) -> list[str]:
    return [i.text for i in items if i.kind in ("label", "prop", "operator", "progress") and i.text]


# ---------------------------------------------------------------- tests

def test_image_editor_panel_without_image(addon, scene):
    from blender_addon import ui

    scene.atelier.checkpoint = os.path.join(tempfile.gettempdir(), "model.pt")
    items = draw(ui.ATELIER_PT_image_editor, _context(scene, space_data=SimpleNamespace(image=None)))
    assert find(items, "label", text="Style"), "the style picker has no 'Style' label"
    train = find(items, "operator", "atelier.train_texture")[0]
    generate = find(items, "operator", "atelier.generate_texture")[0]
    stylize = find(items, "operator", "atelier.stylize_image")[0]
    assert not train.enabled and not stylize.enabled        # they need an image
    assert not find(items, "prop", "atelier_live_preview")[0].enabled  # nothing to preview
    assert generate.enabled and generate.props == {"to_node": False}  # a model file is all it needs


def test_image_editor_panel_with_image_and_short_labels(addon, scene):
    from blender_addon import ui

    image = _image()
    try:
        items = draw(ui.ATELIER_PT_image_editor, _context(scene, space_data=SimpleNamespace(image=image)))
    finally:
        bpy.data.images.remove(image)
    assert find(items, "operator", "atelier.stylize_image")[0].enabled
    assert find(items, "operator", "atelier.train_texture")[0].enabled
    assert not find(items, "operator", "atelier.generate_texture")[0].enabled or scene.atelier.checkpoint
    long = [t for t in _texts(items) if len(t) > SIDEBAR_TEXT_LIMIT and t != image.name]
    assert not long, f"texts too long for the sidebar: {long}"
    numbers = [i.text for i in items if i.kind == "prop" and i.type in ("INT", "FLOAT") and len(i.text) > NUMBER_LABEL_LIMIT]
    assert not numbers, f"number labels that get cut: {numbers}"


def test_progress_line_is_short_while_running(addon, scene):
    from blender_addon import operators, ui

    wm = bpy.context.window_manager
    wm.atelier_running, wm.atelier_progress = True, 0.4
    wm.atelier_status = operators.progress_line(120, 300, 42.0)
    items = draw(ui.ATELIER_PT_image_editor, _context(scene, space_data=SimpleNamespace(image=None)))
    bar = find(items, "progress")[0]
    assert bar.text == "Step 120/300 · ~1:03 left" and len(bar.text) <= SIDEBAR_TEXT_LIMIT + 2
    assert find(items, "operator", "atelier.cancel")[0].enabled
    assert not find(items, "operator", "atelier.generate_texture")[0].enabled
    assert operators.progress_line(0, 0, 0.0) == "Starting…"
    assert operators.progress_line(10, 10, 5.0) == "Step 10/10"
    # start-up time is no step time: 1 step reported after 60 s of loading gives no 51-minute estimate
    assert operators.progress_line(11, 400, 6.0, first_step=1) == "Step 11/400 · ~3:53 left"


def test_shader_editor_panel(addon, scene):
    from blender_addon import ui

    assert not ui.ATELIER_PT_shader_editor.poll(_context(scene, space_data=SimpleNamespace(tree_type="GeometryNodeTree")))
    material = bpy.data.materials.new("draw-test")
    if material.node_tree is None:  # always there in 5.0
        material.use_nodes = True
    node = material.node_tree.nodes.new("ShaderNodeTexImage")
    image = _image("bricks.png")
    try:
        space = SimpleNamespace(tree_type="ShaderNodeTree")
        empty = draw(ui.ATELIER_PT_shader_editor, _context(scene, space_data=space, active_node=node))
        assert not find(empty, "operator", "atelier.stylize_node")[0].enabled
        node.image = image
        items = draw(ui.ATELIER_PT_shader_editor, _context(scene, space_data=space, active_node=node))
        assert find(items, "operator", "atelier.stylize_node")[0].enabled
        assert find(items, "operator", "atelier.train_texture")[0].props == {"from_node": True}
        assert find(items, "label", text="bricks.png")
    finally:
        bpy.data.materials.remove(material)
        bpy.data.images.remove(image)


def test_render_panel_explains_per_object_styles(addon, scene):
    from blender_addon import ui

    s = scene.atelier
    plain = draw(ui.ATELIER_PT_render, _context(scene))
    assert find(plain, "operator", "atelier.stylize_render")[0].enabled
    assert "DEFAULT_CLOSED" not in getattr(ui.ATELIER_PT_render, "bl_options", set())
    # under the engine selector, not below all the engine's panels (issue 14 item 8)
    assert ui.ATELIER_PT_render.bl_parent_id == "RENDER_PT_context"
    assert hasattr(bpy.types, "RENDER_PT_context") and hasattr(bpy.types, "ATELIER_PT_render")
    s.styles_by_object_index, s.animation = True, True
    s.extra_styles.add()
    scene.view_layers[0].use_pass_object_index = False
    items = draw(ui.ATELIER_PT_render, _context(scene))
    assert find(items, "label", text="Pass Index picks the style")
    assert find(items, "prop", "use_pass_object_index"), "no way to turn on the Object Index pass"
    assert find(items, "label", text="Index 1"), "the extra style row is named by its Pass Index"
    assert find(items, "operator", "atelier.style_remove") and find(items, "prop", "output_dir")
    items_menu: list = []
    ui.draw_render_menu(_StandIn(RecordingLayout(items_menu), None), _context(scene))
    assert find(items_menu, "operator", "atelier.stylize_render")
    options = draw(ui.ATELIER_PT_render_options, _context(scene))
    assert find(options, "prop", "strength") and not find(options, "prop", "tileable")


def test_preferences_draw_and_missing_numpy_panel(addon, scene):
    from blender_addon import prefs, ui

    items = draw(prefs.AtelierPreferences, bpy.context, real=prefs.get())
    assert find(items, "operator", "atelier.check_setup") and find(items, "prop", "models_folder")
    missing = draw(ui.ATELIER_PT_missing, _context(scene))
    assert [i.text for i in missing] == list(ui.ATELIER_PT_missing.problem)


def test_worker_python_survives_disable_enable(addon, tmp_path):
    """Issue 8 item 13: Blender drops add-on preferences on disable; the add-on refills them."""
    import addon_utils
    from blender_addon import prefs

    python = str(tmp_path / "venv-python")
    prefs.get().worker_python = python
    prefs.get().models_folder = str(tmp_path / "models")
    addon_utils.disable(MODULE, default_set=True)
    addon_utils.enable(MODULE, default_set=True)
    p = prefs.get()
    assert p.worker_python == python and p.models_folder == str(tmp_path / "models")
    assert prefs.models_dir(p) == str(tmp_path / "models")


def test_missing_numpy_is_one_clear_line(addon, monkeypatch):
    import importlib.util

    import blender_addon

    assert blender_addon.missing_requirement() == ()
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "numpy" else real(name, *a))
    assert blender_addon.missing_requirement()[0] == "numpy is missing"


def test_preview_resize_keeps_corners_and_size(addon):
    from blender_addon import pixels

    small = np.zeros((3, 4, 4), np.float32)
    small[0, 0] = 1.0
    big = pixels.resize_rgba(small, 8, 6)
    assert big.shape == (6, 8, 4) and big[0, 0, 0] == 1.0 and big[-1, -1, 0] == 0.0
    image = bpy.data.images.new("preview-test", 8, 6, alpha=True)
    try:
        pixels.replace_pixels(image, small, keep_size=True)
        assert tuple(image.size) == (8, 6)
        pixels.replace_pixels(image, small)
        assert tuple(image.size) == (4, 3)
    finally:
        bpy.data.images.remove(image)


def test_every_method_draws_with_short_labels(addon, scene):
    from blender_addon import ui

    s = scene.atelier
    saved = s.method
    try:
        for method in [item.identifier for item in s.bl_rna.properties["method"].enum_items]:
            s.method = method
            items = draw(ui.ATELIER_PT_image_editor, _context(scene, space_data=SimpleNamespace(image=None)))
            long = [t for t in _texts(items) if len(t) > SIDEBAR_TEXT_LIMIT]
            assert not long, f"{method}: texts too long for the sidebar: {long}"
    finally:
        s.method = saved


def test_live_preview_toggle_only_in_the_image_editor(addon, scene):
    """The Image Editor panel has the Live preview toggle (a window-manager setting) and, while the
    preview runs, its one-line status; the Shader Editor panel has no toggle."""
    from blender_addon import live_preview, ui

    wm = bpy.context.window_manager
    image = _image()
    try:
        items = draw(ui.ATELIER_PT_image_editor, _context(scene, space_data=SimpleNamespace(image=image)))
        toggle = find(items, "prop", "atelier_live_preview")
        assert toggle and toggle[0].text == "Live preview" and toggle[0].type == "BOOLEAN"
        assert not find(items, "prop", "fast_strength")  # multi-scale settings, preview off
        live = live_preview.start(image.name)
        # (started directly: the toggle's callback looks for an Image Editor, and there is none here)
        live.message = "choose a style image in the Atelier panel"
        items = draw(ui.ATELIER_PT_image_editor, _context(scene, space_data=SimpleNamespace(image=image)))
        lines = [i.text for i in items if i.kind == "label" and i.text and i.text in live.message]
        assert " ".join(lines) == live.message and all(len(t) <= SIDEBAR_TEXT_LIMIT for t in lines)
        # the preview runs the Fast method: its strength shows under the toggle, not only with Method: Fast
        assert find(items, "prop", "fast_strength", text="Preview strength")
        node_items = draw(ui.ATELIER_PT_shader_editor, _context(scene, space_data=SimpleNamespace(
            tree_type="ShaderNodeTree")))
        assert not find(node_items, "prop", "atelier_live_preview")
    finally:
        wm.atelier_live_preview = False
        assert live_preview.current() is None and not bpy.app.timers.is_registered(live_preview._timer)
        bpy.data.images.remove(image)


def test_render_result_in_image_editor_offers_stylize_render(addon, scene):
    """The F12 window shows the Render Result, whose pixels Python cannot read: the panel offers
    'Stylize render' of the last render there instead of an image Stylize that would fail."""
    from blender_addon import ui

    render = SimpleNamespace(name="Render Result", type="RENDER_RESULT")  # only a render makes the real one
    scene.atelier.styles_by_object_index = True
    items = draw(ui.ATELIER_PT_image_editor, _context(scene, space_data=SimpleNamespace(image=render)))
    run = find(items, "operator", "atelier.stylize_render")
    assert run and run[0].enabled and run[0].props == {"last_render": True}
    assert not find(items, "operator", "atelier.stylize_image") and not find(items, "prop", "atelier_live_preview")
    assert find(items, "label", text="Render Result") and find(items, "label", text="Pass Index picks the style")
    assert not find(items, "operator", "atelier.train_texture")[0].enabled


def test_live_preview_shown_stands_for_its_source(addon, scene):
    """While Live preview is on, the editor shows 'Atelier Preview (live)'; the panel names the source
    and Stylize works on it. The first preview replaces the source in the editors, Off brings it back."""
    from blender_addon import live_preview, operators, ui

    image = _image()
    preview = bpy.data.images.new(live_preview.LIVE_PREVIEW_NAME, 4, 4)
    try:
        live_preview.start(image.name)
        items = draw(ui.ATELIER_PT_image_editor, _context(scene, space_data=SimpleNamespace(image=preview)))
        assert find(items, "label", text=f"Live: {image.name}")
        assert find(items, "operator", "atelier.stylize_image")[0].enabled
        context = SimpleNamespace(space_data=SimpleNamespace(type="IMAGE_EDITOR", image=preview))
        assert operators._editor_image(context, "") == image
        live_preview.stop()
        off = draw(ui.ATELIER_PT_image_editor, _context(scene, space_data=SimpleNamespace(image=preview)))
        assert not find(off, "operator", "atelier.stylize_image")[0].enabled
        with pytest.raises(operators.JobError):
            operators._editor_image(context, "")
    finally:
        live_preview.stop()
        bpy.data.images.remove(preview)
        bpy.data.images.remove(image)


def test_patch_texture_model_greys_out_training_steps(addon, scene):
    """Patch synthesis trains nothing: its Steps field is greyed out, the GAN models' is not."""
    from blender_addon import ui

    s = scene.atelier
    saved = s.texture_model
    try:
        shown = {}
        for model in ("patches", "psgan"):
            s.texture_model = model
            items = draw(ui.ATELIER_PT_image_editor, _context(scene, space_data=SimpleNamespace(image=None)))
            shown[model] = find(items, "prop", "train_steps")[0].active
        assert shown == {"patches": False, "psgan": True}
    finally:
        s.texture_model = saved


def test_raw_gan_output_toggle_only_for_gan_models(addon, scene):
    """Issue 12: 'Raw GAN output' sits under the GAN models' Steps, only where it applies, as a short
    checkbox whose tooltip says what it gives."""
    from blender_addon import ui

    s = scene.atelier
    saved = s.texture_model
    rna = s.bl_rna.properties["raw_gan_output"]
    assert rna.default is False and "network's own pixels" in rna.description and "exemplar" in rna.description
    try:
        for model in [item.identifier for item in s.bl_rna.properties["texture_model"].enum_items]:
            s.texture_model = model
            items = draw(ui.ATELIER_PT_image_editor, _context(scene, space_data=SimpleNamespace(image=None)))
            toggle = find(items, "prop", "raw_gan_output")
            assert bool(toggle) == (model in ui.TRAINED_MODELS), model
            if toggle:
                assert toggle[0].type == "BOOLEAN" and toggle[0].enabled and toggle[0].text == "Raw GAN output"
                assert len(toggle[0].text) <= SIDEBAR_TEXT_LIMIT
                order = [i.name for i in items if i.kind == "prop"]
                assert order.index("train_steps") < order.index("raw_gan_output") < order.index("texture_width")
    finally:
        s.texture_model = saved


def test_engine_dropdowns_are_labelled(addon, scene):
    """Colours, Method and Network dropdowns carry a label beside them; the fast method has no network."""
    from blender_addon import ui

    s = scene.atelier
    saved = s.method
    image = _image()
    try:
        for method in ("multiscale", "fast"):
            s.method = method
            items = draw(ui.ATELIER_PT_image_editor, _context(scene, space_data=SimpleNamespace(image=image)))
            texts = _texts(items)
            assert "Colours" in texts and "Method" in texts
            assert ("Network" in texts) == (method != "fast")
            assert bool(find(items, "prop", "backbone")) == (method != "fast")
    finally:
        s.method = saved
        bpy.data.images.remove(image)
