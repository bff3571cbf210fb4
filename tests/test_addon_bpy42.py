"""The add-on in Blender 4.2 LTS (the 4.x compositor and output-format API).

Runs only when ATELIER_BPY42_PYTHON names a Python 3.11 with ``bpy==4.2.*`` installed (kept out of
.venv, e.g. ``python3.11 -m venv /tmp/bpy42 && /tmp/bpy42/bin/pip install "bpy==4.2.*" "numpy<2"``).
The check runs in that interpreter; the worker runs in this one (.venv, with torch).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.blender, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
BPY42 = os.environ.get("ATELIER_BPY42_PYTHON", "")

SCRIPT = r'''
import os, sys, importlib, tempfile
import numpy as np
import bpy
assert bpy.app.version[:2] == (4, 2), bpy.app.version
zip_path, worker_python = sys.argv[1], sys.argv[2]
assert bpy.utils.user_resource("EXTENSIONS").startswith(os.environ["BLENDER_USER_RESOURCES"])
assert bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default",
                                                enable_on_install=True) == {"FINISHED"}
M = "bl_ext.user_default.neural_atelier"
addon = importlib.import_module(M)
compat, requests, runner, pixels = (importlib.import_module(f"{M}.{n}") for n in ("compat", "requests", "runner", "pixels"))
demo = importlib.import_module(f"{M}.headless_demo")
assert not compat.IS_5
roles = demo.build_scene((40, 32), samples=2, texture_size=32)
scene = roles["scene"]
scene.use_nodes = True                      # the 4.x compositor API
tree = scene.node_tree
blur = tree.nodes.new("CompositorNodeBlur")
comp = compat.compositor_output_nodes(tree)
assert comp and comp[0].bl_idname == "CompositorNodeComposite"
tree.links.new(tree.nodes["Render Layers"].outputs["Image"], blur.inputs[0])
tree.links.new(blur.outputs[0], comp[0].inputs[0])
scene.render.image_settings.file_format = "JPEG"
fp = compat.compositor_fingerprint(scene)
out = compat.snapshot_output_settings(scene)
rp = requests.render_content(scene)
assert rp.combined.shape == (32, 40, 4) and set(rp.extra) == {"depth", "normal", "object_index"}, rp.extra.keys()
assert compat.compositor_fingerprint(scene) == fp and compat.snapshot_output_settings(scene) == out
assert scene.render.image_settings.file_format == "JPEG"
style = pixels.write_new_image("Stripes", np.random.default_rng(0).random((32, 32, 3)).astype(np.float32))
client = runner.get_client(worker_python)
opts = requests.style_options(backbone="offline", size=32, steps=2, method="gatys", device="cpu")
job = requests.prepare_stylize_image(roles["texture"], [style], opts, node=roles["node"])
images = runner.run_blocking(client, job, timeout=240)
assert roles["node"].image == images[0] and images[0].colorspace_settings.name == "sRGB"
assert tuple(images[0].size) == tuple(roles["texture"].size) and roles["texture"].use_fake_user
job = requests.prepare_stylize_render(scene, [style], opts)
images = runner.run_blocking(client, job, timeout=240)
assert tuple(images[0].size) == (40, 32)
assert compat.compositor_fingerprint(scene) == fp
runner.shutdown_client()
print("BPY42-OK", bpy.app.version_string)
'''


@pytest.mark.skipif(not BPY42 or not os.path.isfile(BPY42), reason="set ATELIER_BPY42_PYTHON to a Python with bpy 4.2")
def test_addon_in_blender_42(tmp_path):
    sys.path.insert(0, str(ROOT))
    import install

    zip_path = install.build_extension_zip(tmp_path / "dist")
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "user"))
    env.pop("PYTHONPATH", None)
    out = subprocess.run([BPY42, "-c", SCRIPT, str(zip_path), sys.executable], env=env, capture_output=True,
                         text=True, timeout=600, cwd=str(tmp_path))
    assert "BPY42-OK" in out.stdout, out.stdout[-3000:] + out.stderr[-3000:]
