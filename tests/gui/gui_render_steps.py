"""GUI check steps for renders: where the Properties › Render panel lands (issue 14 item 8), a
render stylize from it, and 'Stylize render' from the Image Editor showing the Render Result."""
from __future__ import annotations

import os

import bpy

from gui_steps import (JOB_TIMEOUT, PANELS, _show_tab, area_of, fit, main_area, not_running, panel_rect, rect, run_button,
                       settings, state)


def _record_draw_order(order: list) -> None:
    """Wrap the draw() of every Properties › Render panel so one redraw lists them top to bottom."""
    for cls in bpy.types.Panel.__subclasses__():
        if (getattr(cls, "bl_space_type", "") == "PROPERTIES" and getattr(cls, "bl_context", "") == "render"
                and hasattr(cls, "draw") and (not getattr(cls, "bl_parent_id", "") or cls.__name__ in PANELS)):
            cls.draw = _ordered_draw(order, cls.__name__, cls.draw)


def _ordered_draw(order: list, name: str, original):
    def draw(self, context):
        order.append(name)
        original(self, context)
    return draw


def render_panel(check):
    s = settings()
    s.styles_by_object_index = True
    item = s.extra_styles.add()
    item.image = state["style2"]
    state["render_order"] = []
    _record_draw_order(state["render_order"])
    props = area_of(check, "PROPERTIES")
    props.spaces[0].context = "RENDER"
    return (lambda: check.drawn.get("ATELIER_PT_render", 0) > 0), "the Render properties panel", 10.0


def measure_render_panel(check):
    """Issue 14 item 8: where the panel lands, measured as the order the open panels draw in
    during the next redraw of Properties."""
    order = state["render_order"]
    order.clear()  # timers run between redraws: the next entries are one redraw, top to bottom
    area_of(check, "PROPERTIES").tag_redraw()
    return (lambda: "ATELIER_PT_render" in order), "a redraw of Render properties", 10.0


def shot_render_panel(check):
    order = state["render_order"]
    one_redraw = order[:order.index(order[0], 1)] if order.count(order[0]) > 1 else list(order)
    place = one_redraw.index("ATELIER_PT_render")
    check.notes.append(f"Properties › Render draws its open panels in this order: {', '.join(one_redraw)}")
    if one_redraw[:place] not in ([], ["RENDER_PT_context"]):  # only the engine selector may come first
        check.problems.append(f"the Atelier panel comes after {one_redraw[:place]} in Render properties")
    check.shot("10-render-panel", rect(area_of(check, "PROPERTIES")))


def stylize_render(check):
    """Per-object styles on: the sphere (Pass Index 1) gets the second style. Tiny multi-scale run."""
    s = settings()
    s.size, s.steps = 128, 16
    state["images_before"] = set(bpy.data.images.keys())
    run_button(check, area_of(check, "PROPERTIES"), "stylize_render", region_type="WINDOW")
    return not_running, "the render stylize", JOB_TIMEOUT


def check_render(check):
    new = [bpy.data.images[n] for n in set(bpy.data.images.keys()) - state["images_before"]]
    results = [im for im in new if im.get("atelier_style") is not None]
    if not results:
        raise RuntimeError(f"the render stylize created no image (new: {[im.name for im in new]})")
    area = main_area(check)
    area.type = "IMAGE_EDITOR"
    area.spaces[0].image = results[0]
    state["render_result"] = results[0]
    if check.args.docs:
        render = bpy.data.images.get("Render Result")
        before = os.path.join(check.args.out, "render-before.png")
        after = os.path.join(check.args.out, "render-after.png")
        render.save_render(before, scene=bpy.context.scene)
        results[0].save_render(after, scene=bpy.context.scene)
        state["pairs"] = [(before, after, "before-after-render")]


def shot_render_result(check):
    fit(check)
    check.shot("11-render-stylized", rect(main_area(check)))


def render_result_panel(check):
    """The F12 window: the Image Editor showing the Render Result offers 'Stylize render'."""
    area = main_area(check)
    area.spaces[0].image = bpy.data.images["Render Result"]
    state["drawn_before"] = check.drawn.get("ATELIER_PT_image_editor", 0.0)
    return _show_tab(check, area, "ATELIER_PT_image_editor")


def stylize_last_render(check):
    fit(check)
    check.shot("13-render-result-panel", panel_rect(check, main_area(check)))
    state["images_before"] = set(bpy.data.images.keys())
    s = settings()
    s.styles_by_object_index = False
    s.method, s.size = "fast", 180  # the same button and render path as the slow methods, in seconds
    run_button(check, main_area(check), "stylize_render", last_render=True)
    return not_running, "the stylize of the last render", JOB_TIMEOUT


def check_last_render(check):
    shown = main_area(check).spaces[0].image
    if shown is None or shown.name in state["images_before"] or shown.get("atelier_style") is None:
        raise RuntimeError(f"after 'Stylize render' in the Render Result editor it shows {shown and shown.name}")
    fit(check)
    check.shot("14-last-render-stylized", rect(main_area(check)))
    settings().method = "multiscale"


STEPS = [render_panel, measure_render_panel, shot_render_panel, stylize_render, check_render, shot_render_result,
         render_result_panel, stylize_last_render, check_last_render]
