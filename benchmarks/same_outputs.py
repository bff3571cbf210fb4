"""Same-output check for refactors: run the add-on's three job kinds end to end from one source tree.

bpy + a real worker started in TREE, fixed seeds, offline backbone, 32 px: saves every result's pixels
and a digests.json into OUT. Run it on a tree before and after a change and diff the two digests.json:
    git archive main | tar -x -C /tmp/before
    .venv/bin/python benchmarks/same_outputs.py /tmp/before /tmp/out_before
    .venv/bin/python benchmarks/same_outputs.py "$PWD" /tmp/out_after
    diff /tmp/out_before/digests.json /tmp/out_after/digests.json
"""
import os, sys, json, hashlib
tree, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
sys.path.insert(0, tree)
import numpy as np
import bpy
import blender_addon as addon
from blender_addon import headless_demo, pixels
from blender_addon.worker_client import WorkerClient
try:
    from blender_addon import requests as build, runner as run
except ImportError:  # trees before the add-on's jobs.py was split by data direction
    from blender_addon import jobs as build
    run = build
client = WorkerClient(python=sys.executable, cwd=tree, log_path=os.path.join(out, "worker.log"))
roles = headless_demo.build_scene((40, 32), samples=2, texture_size=32)
y, x = np.mgrid[0:40, 0:40] / 40
style = pixels.write_new_image("Stripes", np.stack([0.5 + 0.5 * np.sin(25 * x), 0.5 + 0.5 * np.sin(19 * (x + y)), 0.2 + 0 * x], 2).astype(np.float32), kind="color")
opts = build.style_options(backbone="offline", size=32, steps=3, method="gatys", device="cpu", seed=0, preview_every=0)
digests = {}
def keep(tag, images, job):
    for i, im in enumerate(images):
        arr = pixels.image_array(im)
        np.save(os.path.join(out, f"{tag}_{i}.npy"), arr)
        digests[f"{tag}_{i}"] = [im.name, hashlib.sha1(np.ascontiguousarray(arr).tobytes()).hexdigest()]
    digests[tag + "_params"] = sorted(k for k in job.params)
job = build.prepare_stylize_image(roles["texture"], [style], opts, node=roles["node"])
keep("stylize_image", run.run_blocking(client, job, timeout=240), job)
job = build.prepare_stylize_render(roles["scene"], [style], opts)
keep("stylize_render", run.run_blocking(client, job, timeout=240), job)
train = {"model": "psgan", "steps": 3, "patch": 32, "batch": 2, "width": 16, "ema": 0.0, "preview_every": 0,
         "device": "cpu", "seed": 0}
job = build.prepare_texture_train(roles["texture"], train, os.path.join(out, "model.pt"),
                                  generate={"width": 48, "height": 40, "seed": 1, "tileable": True})
keep("texture", run.run_blocking(client, job, timeout=240), job)
client.shutdown()
json.dump(digests, open(os.path.join(out, "digests.json"), "w"), indent=1)
print(json.dumps(digests, indent=1))
