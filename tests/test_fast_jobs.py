"""The fast method end to end at tiny sizes: the CLI (16-bit files, alpha, one-line errors) and a
real worker subprocess (progress, preview, result)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from _worker_helpers import ROOT, load_addon_module
from core.imageio import write_image
from core.samples.make_samples import content_house, style_swirls

wc = load_addon_module("worker_client")
jf = load_addon_module("job_files")


def _content_rgba() -> np.ndarray:
    rgb = content_house(48, 40).astype(np.float32)
    alpha = np.ones((40, 48, 1), np.float32)
    alpha[:10, :10] = 0.25
    return np.concatenate([rgb, alpha], axis=2)


def test_cli_fast_writes_16bit_with_alpha_and_json(tmp_path):
    c, s, out = tmp_path / "content.png", tmp_path / "style.jpg", tmp_path / "out.tif"
    content = _content_rgba()
    write_image(c, content, bits=16)
    write_image(s, style_swirls(64).astype(np.float32))
    r = subprocess.run([sys.executable, "-m", "core", "stylize", str(c), str(s), "-o", str(out), "--method", "fast",
                        "--strength", "0.7", "--device", "cpu"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["size"] == [48, 40] and summary["backbone"] == "magenta" and summary["device"] == "cpu"
    img = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert img.dtype == np.uint16 and img.shape == (40, 48, 4)
    assert np.abs(img[..., 3] / 65535.0 - content[..., 3]).max() < 1e-4  # alpha passed through
    rgb = img[..., [2, 1, 0]] / 65535.0
    assert np.abs(rgb - content[..., :3]).mean() > 0.03  # stylized, not copied


def test_cli_fast_missing_model_is_one_line(tmp_path):
    c, s = tmp_path / "c.png", tmp_path / "s.png"
    write_image(c, content_house(48, 40).astype(np.float32))
    write_image(s, style_swirls(32).astype(np.float32))
    env = {**os.environ, "ATELIER_FAST_MODELS": str(tmp_path / "no_models_here")}
    r = subprocess.run([sys.executable, "-m", "core", "stylize", str(c), str(s), "-o", str(tmp_path / "o.png"),
                        "--method", "fast"], capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "arbitrary_predict.onnx" in lines[0] and "missing" in lines[0], r.stderr
    assert not (tmp_path / "o.png").exists()


@pytest.mark.slow
def test_worker_runs_fast_job(tmp_path):
    log = tmp_path / "worker.log"
    client = wc.WorkerClient(sys.executable, cwd=str(ROOT), log_path=str(log))
    try:
        job_dir = jf.new_job_dir(tmp_path)
        content = _content_rgba()
        params = {"content": jf.write_npy(os.path.join(job_dir, "content.npy"), content),
                  "style": [jf.write_npy(os.path.join(job_dir, "style.npy"), style_swirls(64).astype(np.float32))],
                  "options": {"method": "fast", "strength": 0.8, "device": "cpu"},
                  "output": os.path.join(job_dir, "out.npy"), "job_dir": job_dir}
        seen: list[dict] = []
        final = client.request("stylize", params, timeout=240, on_event=seen.append)
        assert final["event"] == "result", final
        progress = [e for e in seen if e["event"] == "progress"]
        assert progress and progress[-1]["step"] == progress[-1]["total"]
        assert any("preview" in e for e in progress)
        out = final["result"]["outputs"][0]
        image = jf.read_npy(out["path"])
        assert (out["width"], out["height"]) == (48, 40) and image.shape == content.shape
        assert np.array_equal(image[..., 3], content[..., 3])
        assert final["result"]["info"]["backbone"] == "magenta"
        bad = client.request("stylize", {**params, "output": os.path.join(job_dir, "b.npy"),
                                         "options": {"method": "fast", "strength": 2}}, timeout=60)
        assert bad["event"] == "error" and bad["kind"] == "user" and "strength" in bad["message"]
    finally:
        client.shutdown(timeout=15)
