"""Real jobs through a real worker subprocess: stylize (random-weight VGG19), texture train and
generate, cancellation, and clean user errors. One worker serves the whole module (models stay loaded)."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from _worker_helpers import ROOT, load_addon_module

wc = load_addon_module("worker_client")
jf = load_addon_module("job_files")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    import sys

    log = tmp_path_factory.mktemp("log") / "worker.log"
    c = wc.WorkerClient(sys.executable, cwd=str(ROOT), log_path=str(log))
    yield c
    c.shutdown(timeout=15)


@pytest.fixture()
def job_dir(tmp_path):
    d = jf.new_job_dir(tmp_path)
    yield Path(d)
    jf.remove_job_dir(d)


def _images(job_dir: Path) -> tuple[str, str, np.ndarray]:
    yy, xx = np.mgrid[0:40, 0:48].astype(np.float32)
    content = np.stack([xx / 48, yy / 40, 0.5 + 0.4 * np.sin(xx / 3)], -1).astype(np.float32)
    style = np.zeros((32, 32, 3), np.float32)
    style[::4] = (1.0, 0.2, 0.1)  # red stripes on black: a style far from the content
    style[:, ::6] = (0.1, 0.3, 1.0)
    return (jf.write_npy(job_dir / "content.npy", content), jf.write_npy(job_dir / "style.npy", style), content)


def _stylize_params(job_dir: Path, weights: Path, **options) -> dict:
    content, style, _ = _images(job_dir)
    opts = {"weights": str(weights), "backbone": "vgg19", "size": 32, "steps": 3, "preview_every": 1}
    opts.update(options)
    return {"content": content, "style": style, "options": opts, "output": str(job_dir / "out.npy"),
            "job_dir": str(job_dir)}


def test_stylize_end_to_end(client, job_dir, random_vgg19_weights):
    params = _stylize_params(job_dir, random_vgg19_weights)
    before = set(os.listdir(job_dir))
    seen = []
    final = client.request("stylize", params, timeout=180, on_event=seen.append)
    assert final["event"] == "result", final
    assert seen[0]["event"] == "accepted"
    progress = [e for e in seen if e["event"] == "progress"]
    assert progress and progress[-1]["step"] == progress[-1]["total"] == 3
    assert all(isinstance(v, float) for v in progress[-1]["losses"].values())
    previews = [e["preview"] for e in progress if "preview" in e]
    assert previews, "the engine sends previews every step; at least one must reach the client"
    preview = jf.read_npy(previews[-1])
    assert preview.ndim == 3 and max(preview.shape[:2]) <= 256 and preview.dtype == np.float32

    out = final["result"]["outputs"]
    assert [(o["name"], o["kind"], o["width"], o["height"]) for o in out] == [("stylized", "color", 48, 40)]
    image = jf.read_npy(out[0]["path"])
    content = jf.read_npy(params["content"])
    assert image.shape == content.shape and np.isfinite(image).all()
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert np.abs(image - content).mean() > 1e-3  # something was actually done
    info = final["result"]["info"]
    assert info["backbone"] == "vgg19" and info["device"] == "cpu" and info["steps"] == 3
    assert info["weights_read"] is True
    # The worker wrote only the output and its preview, inside the job folder.
    new = set(os.listdir(job_dir)) - before
    assert new == {"out.npy", Path(previews[-1]).name}

    # Same output again: refused (nothing is overwritten) unless asked.
    again = client.request("stylize", params, timeout=60)
    assert again["event"] == "error" and again["kind"] == "user" and "already exists" in again["message"]
    params["overwrite"] = True
    rerun = client.request("stylize", params, timeout=120)
    assert rerun["event"] == "result"
    # The worker keeps VGG19 loaded: the same job again skips reading the 548 MB weights file.
    assert rerun["result"]["info"]["weights_read"] is False, rerun["result"]["info"]


TINY_GAN = {"model": "psgan", "patch": 32, "batch": 1, "width": 8, "local_dim": 2, "global_dim": 2, "periodic_dim": 2}


def test_texture_train_then_generate(client, job_dir):
    rng = np.random.default_rng(1)
    tile = rng.random((8, 8, 3)).astype(np.float32)
    exemplar = jf.write_npy(job_dir / "bricks.npy", np.tile(tile, (6, 6, 1)))
    rough = jf.write_npy(job_dir / "rough.npy", np.tile(tile[:, :, :1], (6, 6, 1)))
    ckpt = job_dir / "tex.pt"
    seen = []
    final = client.request("texture_train", {
        "exemplars": [exemplar, rough], "map_names": ["albedo", "roughness"], "checkpoint": str(ckpt),
        "options": {"steps": 2, **TINY_GAN}, "job_dir": str(job_dir)},
        timeout=180, on_event=seen.append)
    assert final["event"] == "result", final
    assert ckpt.is_file() and final["result"]["outputs"][0]["path"] == str(ckpt)
    info = final["result"]["info"]
    assert info["steps"] == 2
    assert [(m["name"], m["kind"]) for m in info["maps"]] == [("albedo", "color"), ("roughness", "data")]
    assert [e["step"] for e in seen if e["event"] == "progress"][-1] == 2

    out_dir = job_dir / "maps"
    out_dir.mkdir()
    gen = client.request("texture_generate", {"checkpoint": str(ckpt), "width": 40, "height": 24, "seed": 5,
                                              "tileable": True, "output_dir": str(out_dir)}, timeout=120)
    assert gen["event"] == "result", gen
    outs = {o["name"]: o for o in gen["result"]["outputs"]}
    assert set(outs) == {"albedo", "roughness"}
    assert outs["roughness"]["kind"] == "data" and outs["albedo"]["kind"] == "color"
    albedo = jf.read_npy(outs["albedo"]["path"])
    assert albedo.shape == (24, 40, 3) and jf.read_npy(outs["roughness"]["path"]).shape == (24, 40, 1)
    assert sorted(os.listdir(out_dir)) == ["albedo.npy", "roughness.npy"]

    # Same seed, other folder: identical pixels (the worker's cached model is deterministic).
    other = job_dir / "maps2"
    other.mkdir()
    gen2 = client.request("texture_generate", {"checkpoint": str(ckpt), "width": 40, "height": 24, "seed": 5,
                                               "tileable": True, "output_dir": str(other)}, timeout=60)
    assert gen2["event"] == "result", gen2
    assert np.array_equal(jf.read_npy(other / "albedo.npy"), albedo)
    assert gen["result"]["info"]["refined"] is True  # a GAN's output, refined with the exemplar's patches

    # "raw": the network's own output, without patch refinement.
    raw_dir = job_dir / "maps_raw"
    raw_dir.mkdir()
    gen3 = client.request("texture_generate", {"checkpoint": str(ckpt), "width": 40, "height": 24, "seed": 5,
                                               "raw": True, "output_dir": str(raw_dir)}, timeout=60)
    assert gen3["event"] == "result" and gen3["result"]["info"]["refined"] is False, gen3
    assert not np.array_equal(jf.read_npy(raw_dir / "albedo.npy"), albedo)

    # Resume from the checkpoint for one more step into a new file.
    more = client.request("texture_train", {
        "exemplars": [exemplar, rough], "map_names": ["albedo", "roughness"], "checkpoint": str(job_dir / "tex2.pt"),
        "resume": str(ckpt), "options": {"steps": 3, **TINY_GAN}}, timeout=120)
    assert more["event"] == "result", more
    assert more["result"]["info"]["steps"] == 3


def _first_progress(client, job: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ev in client.poll():
            assert ev.get("id") != job or ev["event"] in ("accepted", "progress"), ev
            if ev.get("id") == job and ev["event"] == "progress":
                return ev
        time.sleep(0.02)
    raise AssertionError("no progress event")


def test_cancel_running_and_queued_then_next_job_works(client, job_dir, random_vgg19_weights):
    params = _stylize_params(job_dir, random_vgg19_weights, steps=100000, preview_every=0)
    running = client.submit("stylize", params)
    queued = client.submit("texture_train", {"exemplars": [params["style"]], "checkpoint": str(job_dir / "q.pt"),
                                             "options": {"steps": 100000, "patch": 16, "batch": 1, "width": 8}})
    _first_progress(client, running)
    # check_setup is answered while the long job runs (it is not queued behind it).
    setup = client.request("check_setup", {}, timeout=30)
    assert setup["event"] == "result" and setup["result"]["device"] == "cpu"
    client.cancel(queued)
    assert client.wait(queued, timeout=10)["event"] == "cancelled"
    t0 = time.monotonic()
    client.cancel(running)
    assert client.wait(running, timeout=30)["event"] == "cancelled"
    latency = time.monotonic() - t0
    assert latency < 10, latency
    assert not (job_dir / "out.npy").exists() and not (job_dir / "q.pt").exists()
    # Cancelling a finished or unknown job is harmless.
    client.cancel(running)
    pong = client.request("ping", timeout=10)
    assert pong["result"]["running"] is None and pong["result"]["queued"] == []
    params["options"]["steps"] = 1
    assert client.request("stylize", params, timeout=120)["event"] == "result"


def test_user_mistakes_get_one_line_errors(client, job_dir, tmp_path, random_vgg19_weights):
    params = _stylize_params(job_dir, random_vgg19_weights)
    outside = tmp_path / "outside"
    outside.mkdir()
    cases = [
        ({**params, "content": str(job_dir / "missing.npy")}, "does not exist"),
        ({**params, "output": str(outside / "x.npy")}, "outside the job folder"),
        ({**params, "output": "relative.npy"}, "absolute path"),
        ({**params, "output": str(job_dir / "x.png")}, "must end in .npy"),
        ({**params, "options": {**params["options"], "steps": -1}}, "steps"),
        ({**params, "options": {"no_such_option": 1}}, "no_such_option"),
        ({**params, "masks": [params["content"], params["content"]]}, "one mask per style"),
    ]
    (job_dir / "bad.npy").write_bytes(b"definitely not numpy")
    cases.append(({**params, "style": str(job_dir / "bad.npy")}, "not a readable .npy"))
    for p, expect in cases:
        ev = client.request("stylize", p, timeout=60)
        assert ev["event"] == "error" and ev["kind"] == "user", (expect, ev)
        assert expect in ev["message"] and "\n" not in ev["message"] and "Traceback" not in ev["message"]
    assert os.listdir(outside) == []
    assert not (job_dir / "out.npy").exists() and not (job_dir / "x.npy").exists()
    with pytest.raises(ValueError):
        client.submit("stylize", {**params, "options": {"style_weight": float("nan")}})
