"""Operators: a thin layer over requests.py and runner.py.

Long jobs run modally (invoke): a timer polls the worker client, progress goes to the panel and
the status bar, step previews into an 'Atelier Preview' image, ESC or the Cancel button cancels.
The same operators run blocking when called with EXEC (scripts, background mode), which is how
headless Blender can drive them: it has no timers and no modal operators.
"""
from __future__ import annotations

import os
import time
import traceback
from typing import Iterator, Optional

import bpy
from bpy.props import IntProperty, StringProperty

from . import prefs
from .job import Job, JobCancelled, JobError, Preparing, ResultSettings
from .requests import (animate_steps, prepare_check_setup, prepare_stylize_image, prepare_stylize_render, prepare_texture_generate,
                       prepare_texture_train, style_options, texture_generation)
from .runner import PREVIEW_NAME, JobRunner, get_client, remove_frames, run_blocking


# ---------------------------------------------------------------- gathering inputs

def _settings(context) -> "bpy.types.PropertyGroup":
    return context.scene.atelier


def _client(context):
    p = prefs.get(context)
    python = p.worker_python if p else ""
    return get_client(bpy.path.abspath(python) if python else "")


def _style_options(context) -> dict:
    s = _settings(context)
    p = prefs.get(context)
    return style_options(
        method=s.method, backbone=s.backbone, weights=p.weights_file if p else "",
        size=s.fast_size if s.method == "fast" else s.size, steps=s.steps,
        strength=s.strength, style_scale=s.style_scale, preserve_color=s.preserve_color, tileable=s.tileable,
        seed=s.seed, device=p.device if p else "auto", memory_gb=p.memory_budget_gb if p else 0.0,
        fast_strength=s.fast_strength)


def _train_options(context) -> dict:
    s = _settings(context)
    p = prefs.get(context)
    return {"model": s.texture_model, "steps": s.train_steps, "seed": s.texture_seed,
            "device": p.device if p else "auto"}


def _styles(context) -> list:
    s = _settings(context)
    main = s.style_image if s.style_source == "IMAGE" else s.style_file
    if not main:
        raise JobError("choose a style image in the Atelier panel")
    return [main] + [item.image for item in s.extra_styles if item.image is not None]


def _result_settings(context) -> ResultSettings:
    s = _settings(context)
    return ResultSettings(float_buffer=s.result_float, store=s.store)


def _checkpoint_dir(context) -> str:
    """Where trained texture models are kept: the preferences' models folder."""
    return prefs.models_dir(prefs.get(context))


def _safe_file_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name).strip("_") or "texture"


def _editor_image(context, name: str) -> bpy.types.Image:
    if name:
        image = bpy.data.images.get(name)
    else:
        space = context.space_data
        image = getattr(space, "image", None) if space is not None and space.type == "IMAGE_EDITOR" else None
    if image is None:
        raise JobError("no image: show an image in the Image Editor")
    if image.name.startswith(PREVIEW_NAME):
        from . import live_preview

        source = live_preview.source_image() if image.name == live_preview.LIVE_PREVIEW_NAME else None
        if source is None:
            raise JobError("that is a preview; show the image you want to use")
        image = source  # the live preview stands for the image it previews
    return image


def _image_node(context, material: str, node: str) -> bpy.types.Node:
    if material:
        mat = bpy.data.materials.get(material)
        n = mat.node_tree.nodes.get(node) if mat and mat.node_tree else None
    else:
        n = getattr(context, "active_node", None)
    if n is None or n.bl_idname != "ShaderNodeTexImage":
        raise JobError("select an Image Texture node")
    if n.image is None:
        raise JobError(f"the node '{n.name}' has no image")
    return n


def _animation_steps(context, scene, styles, options, out_dir) -> Iterator[Preparing | Job]:
    """The whole frame range as one temporally coherent job, its frames rendered one per step (timer
    tick in the UI)."""
    s = _settings(context)
    animation = {"temporal_weight": s.temporal_weight, "edge_guide": s.edge_guide.lower(),
                 "edge_strength": s.edge_strength, "depth_stroke_scale": s.depth_stroke_scale}
    return animate_steps(scene, styles, options, out_dir, animation=animation,
                         background=s.world_style.lower().replace("_", "-"),
                         styles_by_material_index=s.styles_by_material_index,
                         styles_by_object_index=s.styles_by_object_index)


def error_line(exc: BaseException) -> str:
    """One readable line for the report area; an unexpected error's traceback goes to the console."""
    if not isinstance(exc, (JobError, OSError, ValueError)):
        traceback.print_exc()
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, (JobError, OSError, ValueError)) else f"{type(exc).__name__}: {text}"


def progress_line(step: int, total: int, elapsed: float, first_step: int = 0) -> str:
    """The short line under the progress bar: 'Step 12/40 · ~0:35 left' (the details, job name and
    losses, go to the status bar). ``elapsed``: seconds since ``first_step`` was reported, so the
    start-up (worker, network loading) does not count as step time."""
    if total <= 0 or step <= 0:
        return "Starting…"
    line = f"Step {step}/{total}"
    done = step - first_step
    if step < total and done > 0 and elapsed > 1.0:
        left = int(round(elapsed * (total - step) / done))
        line += f" · ~{left // 60}:{left % 60:02d} left"
    return line


# ---------------------------------------------------------------- the modal base

class _JobOperator:
    """Base for long jobs. Subclasses implement make_jobs(context) -> iterator of Job.
    The modal path is a thin shell over runner.JobRunner (which the tests drive headless)."""
    bl_options = {"REGISTER"}

    _timer = None
    _runner: Optional[JobRunner] = None
    _space = None
    _final_size: Optional[tuple[int, int]] = None  # result size, so the live preview keeps one size
    _first_step: Optional[tuple[int, float]] = None  # (step, time) the running job first reported
    _job_seen = None

    def make_jobs(self, context) -> Iterator[Job]:
        raise NotImplementedError

    def finished(self, context, images: list) -> None:
        """Hook: show results (e.g. in the Image Editor)."""

    def restore_view(self, context) -> None:
        """Hook: after a cancelled/failed run, show what was shown before."""

    # blocking path (scripts, background mode, tests)
    def execute(self, context):
        done: list[Job] = []
        try:
            client = _client(context)
            images: list = []
            for job in self.make_jobs(context):
                if isinstance(job, Preparing):  # blocking: preparation steps simply run in turn
                    continue
                images += run_blocking(client, job)
                done.append(job)
                self._report_info(job)
        except JobCancelled:
            remove_frames(done)  # an animation appears whole or not at all
            self.report({"WARNING"}, "Cancelled; nothing was changed")
            return {"CANCELLED"}
        except Exception as exc:  # every failure is one readable line in the report area
            remove_frames(done)
            self.report({"ERROR"}, error_line(exc))
            return {"CANCELLED"}
        self.finished(context, images)
        self.report({"INFO"}, self._done_text(images))
        return {"FINISHED"}

    # modal path (the UI)
    def invoke(self, context, event):
        wm = context.window_manager
        if wm.atelier_running:
            self.report({"WARNING"}, "An Atelier job is already running")
            return {"CANCELLED"}
        space = context.space_data
        self._space = space if space is not None and space.type == "IMAGE_EDITOR" else None
        try:
            self._runner = JobRunner(_client(context), self.make_jobs(context))
            self._runner.start()  # runs make_jobs up to the first job, which sets _final_size
            self._runner.preview_size = self._final_size
        except Exception as exc:  # noqa: BLE001 - one readable line, never a traceback
            if self._runner is not None:
                self._runner.close()
            self.report({"ERROR"}, error_line(exc))
            return {"CANCELLED"}
        wm.atelier_running = True
        wm.atelier_progress = 0.0
        wm.atelier_status = progress_line(0, 0, 0.0)
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        wm = context.window_manager
        runner = self._runner
        if (event.type == "ESC" and event.value == "PRESS") or not wm.atelier_running:
            runner.cancel()  # the Cancel button drops wm.atelier_running; the worker confirms later
            wm.atelier_running = True
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        had_preview = runner.previews_shown
        state = runner.tick()
        wm.atelier_progress = runner.progress
        now = time.monotonic()
        if runner.job is not self._job_seen or self._first_step is None:
            # a new job of a chain: the time left is measured afresh from its first reported step
            self._job_seen = runner.job
            self._first_step = (runner.step, now) if runner.step > 0 else None
        first, since = self._first_step or (runner.step, now)
        wm.atelier_status = (runner.preparing.message if runner.preparing is not None else  # rendering frames
                             progress_line(runner.step, runner.total, now - since, first))
        if state == "running":
            context.workspace.status_text_set(f"Atelier: {runner.status}  (Esc cancels)")
            if runner.previews_shown != had_preview and runner.preview is not None:
                self._show_in_editor(context, runner.preview)
            for area in context.screen.areas if context.screen else []:
                if area.type in ("IMAGE_EDITOR", "PROPERTIES", "NODE_EDITOR"):
                    area.tag_redraw()
            return {"RUNNING_MODAL"}
        self._end(context)
        if state == "finished":
            for job in runner.done:
                self._report_info(job)
            self.finished(context, runner.created)
            self.report({"INFO"}, self._done_text(runner.created))
            return {"FINISHED"}
        self.restore_view(context)
        self.report({"WARNING"} if state == "cancelled" else {"ERROR"}, runner.message)
        return {"CANCELLED"}

    def _end(self, context) -> None:
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.atelier_running = False
        wm.atelier_progress = 0.0
        wm.atelier_status = ""
        context.workspace.status_text_set(None)

    def _show_in_editor(self, context, image) -> None:
        # the Image Editor the operator was started from (modal context has no reliable space_data)
        space = self._space if self._space is not None else context.space_data
        if space is not None and space.type == "IMAGE_EDITOR":
            space.image = image

    def _report_info(self, job: Job) -> None:
        backbone = job.info.get("backbone")
        notes = job.info.get("notes")
        if backbone:
            self.report({"INFO"}, f"Backbone: {backbone}" + (f" ({'; '.join(map(str, notes))})" if isinstance(notes, list) and notes else ""))
        elif isinstance(notes, list) and notes:
            self.report({"INFO"}, "; ".join(map(str, notes)))

    def _done_text(self, images) -> str:
        return "Atelier: created " + ", ".join(f"'{im.name}'" for im in images) if images else "Atelier: done"


# ---------------------------------------------------------------- operators

class ATELIER_OT_stylize_image(_JobOperator, bpy.types.Operator):
    """Stylize the image shown in the Image Editor into a new image"""
    bl_idname = "atelier.stylize_image"
    bl_label = "Stylize"
    image_name: StringProperty(name="Image", description="Image to stylize (default: the one shown)",
                               options={"SKIP_SAVE"})

    def make_jobs(self, context):
        self._source = _editor_image(context, self.image_name)
        self._final_size = tuple(self._source.size)
        yield prepare_stylize_image(self._source, _styles(context), _style_options(context),
                                         result=_result_settings(context))

    def finished(self, context, images):
        if images:
            self._show_in_editor(context, images[0])

    def restore_view(self, context):
        if getattr(self, "_source", None) is not None:
            self._show_in_editor(context, self._source)


class ATELIER_OT_stylize_node(_JobOperator, bpy.types.Operator):
    """Stylize the active Image Texture node's image. The node gets the new image; the old one is kept
    (with a fake user), so you can switch back"""
    bl_idname = "atelier.stylize_node"
    bl_label = "Stylize texture"
    material: StringProperty(options={"SKIP_SAVE"})
    node: StringProperty(options={"SKIP_SAVE"})

    def make_jobs(self, context):
        node = _image_node(context, self.material, self.node)
        self._final_size = tuple(node.image.size)
        yield prepare_stylize_image(node.image, _styles(context), _style_options(context), node=node,
                                         result=_result_settings(context))


class ATELIER_OT_stylize_render(_JobOperator, bpy.types.Operator):
    """Render the scene (or use the last render), read its passes, stylize it into a new image"""
    bl_idname = "atelier.stylize_render"
    bl_label = "Stylize render"
    last_render: bpy.props.BoolProperty(name="Last render", default=False, options={"SKIP_SAVE"},
                                        description="Stylize the Render Result as it is, without rendering again")

    def make_jobs(self, context):
        s = _settings(context)
        scene = context.scene
        styles, options = _styles(context), _style_options(context)
        pct = scene.render.resolution_percentage / 100
        self._final_size = (int(scene.render.resolution_x * pct), int(scene.render.resolution_y * pct))
        if s.animation:
            out_dir = bpy.path.abspath(s.output_dir)
            if not out_dir:
                raise JobError("set an output folder for the animation frames")
            os.makedirs(out_dir, exist_ok=True)
            yield from _animation_steps(context, scene, styles, options, out_dir)
        else:
            last = s.use_last_render or self.last_render
            yield prepare_stylize_render(scene, styles, options, use_last_render=last,
                                              styles_by_object_index=s.styles_by_object_index,
                                              result=_result_settings(context))

    def finished(self, context, images):
        if images:  # started from the Image Editor (the F12 window): show the stylized render there
            self._show_in_editor(context, images[0])


class ATELIER_OT_train_texture(_JobOperator, bpy.types.Operator):
    """Train a texture model on an image, then generate a new texture from it"""
    bl_idname = "atelier.train_texture"
    bl_label = "Train texture"
    image_name: StringProperty(options={"SKIP_SAVE"})
    material: StringProperty(options={"SKIP_SAVE"})
    node: StringProperty(options={"SKIP_SAVE"})
    from_node: bpy.props.BoolProperty(default=False, options={"SKIP_SAVE"},
                                      description="Use the active Image Texture node and link the result into it")

    def make_jobs(self, context):
        s = _settings(context)
        node = _image_node(context, self.material, self.node) if (self.from_node or self.material) else None
        image = node.image if node is not None else _editor_image(context, self.image_name)
        dest = os.path.join(_checkpoint_dir(context), _safe_file_name(image.name) + ".pt")
        self._final_size = (s.texture_width, s.texture_height)
        base, n = dest[:-3], 1
        while os.path.exists(dest):
            dest, n = f"{base}_{n}.pt", n + 1
        yield prepare_texture_train(image, _train_options(context), dest, node=node,
                                    generate=texture_generation(s), result=_result_settings(context))

    def finished(self, context, images):
        # the generated texture (colour map first), in the Image Editor the run started from
        shown = [im for im in images if im.colorspace_settings.name != "Non-Color"] or images
        if shown:
            self._show_in_editor(context, shown[0])

    def _report_info(self, job):
        if job.kind == "texture_train" and job.info.get("checkpoint"):
            bpy.context.scene.atelier.checkpoint = job.info["checkpoint"]
            self.report({"INFO"}, f"Texture model saved: {job.info['checkpoint']}")


class ATELIER_OT_generate_texture(_JobOperator, bpy.types.Operator):
    """Generate a new tileable texture from the trained texture model"""
    bl_idname = "atelier.generate_texture"
    bl_label = "Generate texture"
    material: StringProperty(options={"SKIP_SAVE"})
    node: StringProperty(options={"SKIP_SAVE"})
    to_node: bpy.props.BoolProperty(default=False, options={"SKIP_SAVE"})

    def make_jobs(self, context):
        s = _settings(context)
        node = _image_node(context, self.material, self.node) if (self.to_node or self.material) else None
        if not s.checkpoint:
            raise JobError("no texture model yet: train one first (or choose a .pt file)")
        self._final_size = (s.texture_width, s.texture_height)
        yield prepare_texture_generate(s.checkpoint, **texture_generation(s), node=node,
                                       result=_result_settings(context))

    def finished(self, context, images):
        if images:
            self._show_in_editor(context, images[0])


class ATELIER_OT_cancel(bpy.types.Operator):
    """Cancel the running Atelier job (same as Esc)"""
    bl_idname = "atelier.cancel"
    bl_label = "Cancel"

    def execute(self, context):
        # the modal operator sees the flag drop and sends the cancel request to the worker
        context.window_manager.atelier_running = False
        return {"FINISHED"}


class ATELIER_OT_check_setup(bpy.types.Operator):
    """Start the worker and report its torch version, device and whether VGG19 weights were found"""
    bl_idname = "atelier.check_setup"
    bl_label = "Check setup"

    def execute(self, context):
        p = prefs.get(context)
        job = prepare_check_setup(p.weights_file if p else "", p.device if p else "auto")
        try:
            run_blocking(_client(context), job, timeout=180)
        except Exception as exc:  # noqa: BLE001 - one readable line, never a traceback
            context.window_manager.atelier_setup_report = f"Setup problem: {error_line(exc)}"
            self.report({"ERROR"}, f"Atelier setup: {error_line(exc)}")
            return {"CANCELLED"}
        info = job.info
        lines = [f"torch {info.get('torch')} on {info.get('device')}"
                 + (f" ({info['cuda_device']})" if info.get("cuda_device") else ""),
                 "VGG19 weights: " + ("found " + str(info.get("weights_path")) if info.get("weights_found")
                                      else "not found; the offline backbone will be used")]
        if info.get("device_error"):
            lines.append(f"Device: {info['device_error']}")
        context.window_manager.atelier_setup_report = "\n".join(lines)
        self.report({"INFO"}, "Atelier: " + "; ".join(lines))
        return {"FINISHED"}


class ATELIER_OT_style_add(bpy.types.Operator):
    """Add another style (for per-object styles)"""
    bl_idname = "atelier.style_add"
    bl_label = "Add style"

    def execute(self, context):
        context.scene.atelier.extra_styles.add()
        return {"FINISHED"}


class ATELIER_OT_style_remove(bpy.types.Operator):
    """Remove an extra style"""
    bl_idname = "atelier.style_remove"
    bl_label = "Remove style"
    index: IntProperty()

    def execute(self, context):
        context.scene.atelier.extra_styles.remove(self.index)
        return {"FINISHED"}


classes = (ATELIER_OT_stylize_image, ATELIER_OT_stylize_node, ATELIER_OT_stylize_render, ATELIER_OT_train_texture,
           ATELIER_OT_generate_texture, ATELIER_OT_cancel, ATELIER_OT_check_setup, ATELIER_OT_style_add,
           ATELIER_OT_style_remove)
