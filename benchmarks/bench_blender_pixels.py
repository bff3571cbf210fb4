"""How fast pixels move between Blender and numpy, the add-on's way vs slice assignment.

    .venv/bin/python benchmarks/bench_blender_pixels.py [--size 4096] [--repeat 3]

Write-back: pixels.write_new_image (new 8-bit sRGB image, row flip, foreach_set on float32) vs a new
image filled with ``image.pixels[:] = array``; also both into an existing image.
Image read: foreach_get into a float32 array vs ``np.array(image.pixels[:])``.
Pass read-back: passes.dump_and_read (multilayer EXR via save_render + OpenImageIO, every pass) vs
the same render saved as a single-layer EXR, loaded as an image and read by slice.
Each figure is the best of --repeat runs; ratios are slice time / add-on time.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import bpy  # noqa: E402

from blender_addon import compat, passes, pixels  # noqa: E402
from blender_addon.headless_demo import new_cycles_scene  # noqa: E402


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--slice-repeat", type=int, default=1, help="slice assignment is slow; 1 run is enough")
    args = ap.parse_args()
    n = args.size
    bpy.ops.wm.read_homefile(use_empty=True)
    rng = np.random.default_rng(0)
    arr = rng.random((n, n, 4), dtype=np.float32)
    print(f"bpy {bpy.app.version_string}, {n}x{n} RGBA float32 ({arr.nbytes / 2**20:.0f} MiB)")

    # ---- write-back into a new image
    made = []

    def write_addon():
        made.append(pixels.write_new_image("bench", arr, kind="color", store="MEMORY"))

    def write_slice():
        im = bpy.data.images.new("bench-slice", n, n, alpha=True)
        im.pixels[:] = arr[::-1].ravel()
        made.append(im)

    t_write = best(write_addon, args.repeat)
    t_write_slice = best(write_slice, args.slice_repeat)
    print(f"write-back   foreach_set {t_write * 1e3:8.1f} ms   pixels[:]= {t_write_slice * 1e3:9.1f} ms   "
          f"ratio {t_write_slice / t_write:6.1f}x")
    image = made[0]
    flat = np.ascontiguousarray(arr[::-1]).ravel()
    t_set = best(lambda: image.pixels.foreach_set(flat), args.repeat)

    def set_slice():
        image.pixels[:] = flat

    t_set_slice = best(set_slice, args.slice_repeat)
    print(f"  (into an existing image: foreach_set {t_set * 1e3:.1f} ms, pixels[:]= {t_set_slice * 1e3:.1f} ms, "
          f"ratio {t_set_slice / t_set:.1f}x; the rows above include creating the image and the row flip)")
    for im in made[1:]:
        bpy.data.images.remove(im)

    # ---- reading an image
    t_read = best(lambda: pixels.image_array(image), args.repeat)
    t_read_slice = best(lambda: np.array(image.pixels[:], dtype=np.float32), args.slice_repeat)
    print(f"image read   foreach_get {t_read * 1e3:8.1f} ms   pixels[:]  {t_read_slice * 1e3:9.1f} ms   "
          f"ratio {t_read_slice / t_read:6.1f}x")
    bpy.data.images.remove(image)

    # ---- render passes
    scene = new_cycles_scene((n, n), samples=1)
    layer = scene.view_layers[0]
    layer.use_pass_z = layer.use_pass_normal = layer.use_pass_object_index = True
    bpy.ops.mesh.primitive_cube_add()
    cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    scene.collection.objects.link(cam)
    scene.camera = cam
    cam.location = (4, -4, 3)
    cam.rotation_euler = (1.1, 0, 0.785)
    t = time.perf_counter()
    bpy.ops.render.render()
    print(f"(render {n}x{n}, 1 sample: {time.perf_counter() - t:.1f} s, not part of the comparison)")

    got = {}
    t_pass = best(lambda: got.setdefault("rp", passes.dump_and_read(scene)), args.repeat)
    rp = got["rp"]
    folder = tempfile.mkdtemp(prefix="atelier-bench-")
    path = os.path.join(folder, "combined.exr")

    def slice_path():
        snap = compat.snapshot_output_settings(scene)
        s = scene.render.image_settings
        if compat.IS_5:
            s.media_type = "IMAGE"
        s.file_format = "OPEN_EXR"
        s.color_depth = "32"
        try:
            bpy.data.images["Render Result"].save_render(path, scene=scene)
        finally:
            compat.restore_output_settings(scene, snap)
        im = bpy.data.images.load(path, check_existing=False)
        data = np.array(im.pixels[:], dtype=np.float32)
        bpy.data.images.remove(im)
        return data

    t_pass_slice = best(slice_path, args.slice_repeat)
    os.remove(path)
    os.rmdir(folder)
    print(f"pass read    EXR+OIIO    {t_pass * 1e3:8.1f} ms   EXR+pixels[:] {t_pass_slice * 1e3:6.1f} ms   "
          f"ratio {t_pass_slice / t_pass:6.1f}x   (add-on reads {1 + len(rp.extra)} passes: combined, "
          f"{', '.join(sorted(rp.extra))}; the slice path only Combined)")
    t_disp = best(lambda: passes.display_transform(scene, rp.combined), args.repeat)
    print(f"view transform (OCIO, {scene.view_settings.view_transform}) on the Combined pass: {t_disp * 1e3:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
