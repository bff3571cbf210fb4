"""`python -m core stylize`: real files, real subprocess, clean one-line errors, no partial outputs."""
from __future__ import annotations

import json
import subprocess

import cv2
import numpy as np
import pytest

from core.__main__ import main
from core.imageio import write_image


@pytest.fixture()
def images(tmp_path):
    rng = np.random.default_rng(0)
    content = np.clip(rng.random((40, 48, 4)) * 0.3 + 0.4, 0, 1).astype(np.float32)
    content[..., 3] = 1.0
    content[:8, :8, 3] = 0.25
    style = np.clip(rng.random((32, 32, 3)), 0, 1).astype(np.float32)
    c, s = tmp_path / "content.png", tmp_path / "style.jpg"
    write_image(c, content, bits=16)
    write_image(s, style)
    return c, s


def test_stylize_end_to_end_writes_16bit_tiff_and_json(images, tmp_path, venv_python):
    c, s = images
    out = tmp_path / "out.tif"
    r = subprocess.run([venv_python, "-m", "core", "stylize", str(c), str(s), "-o", str(out), "--steps", "4",
                        "--backbone", "offline", "--size", "32", "--seed", "1"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["output"] == str(out) and summary["size"] == [32, 27] and summary["steps"] == 4
    assert summary["device"] == "cpu" and summary["backbone"] == "offline"
    assert set(summary["losses"]) >= {"total", "content", "style"} and summary["seconds"] > 0
    img = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert img.dtype == np.uint16 and img.shape == (27, 32, 4)
    assert "Traceback" not in r.stderr


def test_gatys_method_with_weights_file(images, tmp_path, random_vgg19_weights, capsys):
    c, s = images
    out = tmp_path / "g.png"
    rc = main(["stylize", str(c), str(s), "-o", str(out), "--method", "gatys", "--steps", "2",
               "--weights", str(random_vgg19_weights), "--backbone", "vgg19"])
    assert rc == 0 and out.is_file()
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["backbone"] == "vgg19" and summary["steps"] == 2


@pytest.mark.parametrize("args, needle", [
    (["{missing}", "{s}"], "missing.png"),
    (["{c}", "{corrupt}"], "corrupt.png"),
    (["{c}", "{s}", "--steps", "0"], "--steps"),
    (["{c}", "{s}", "--style-weight", "-3"], "--style-weight"),
    (["{c}", "{s}", "--method", "magic"], "--method"),
    (["{c}", "{s}", "--weights", "{missing}", "--backbone", "vgg19"], "missing.png"),
    (["{c}", "{s}", "--size", "4"], "--size"),
])
def test_bad_input_exits_2_with_one_line_and_no_output(images, tmp_path, capsys, args, needle):
    c, s = images
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    out = tmp_path / "never.png"
    argv = ["stylize"] + [a.format(c=c, s=s, missing=tmp_path / "missing.png", corrupt=corrupt) for a in args]
    rc = main(argv + ["-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and needle in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob("*.part"))


def test_output_folder_must_exist(images, tmp_path, capsys):
    c, s = images
    rc = main(["stylize", str(c), str(s), "-o", str(tmp_path / "nope" / "o.png")])
    assert rc == 2 and "does not exist" in capsys.readouterr().err
