"""`python -m core texture train|generate` in real subprocesses: JSON summaries, files, exit-2 errors."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from core.imageio import read_image, write_image
from core.texture.samples import stones_pbr

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--model", "psgan", "--steps", "4", "--patch", "32", "--option", "batch=2", "--option", "width=8", "--option", "preview_every=0"]


def run(python: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([python, "-m", "core", "texture", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def pbr_files(tmp_path_factory) -> list[Path]:
    d = tmp_path_factory.mktemp("pbr")
    maps = stones_pbr(48)
    paths = []
    for name in ("albedo", "normal", "roughness"):
        p = d / f"stones_{name}.png"
        write_image(p, maps[name])
        paths.append(p)
    return paths


@pytest.fixture(scope="module")
def model(pbr_files, venv_python, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("model") / "stones.pt"
    r = run(venv_python, "train", *pbr_files, "-o", out, *TINY)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["steps"] == 4 and summary["model"] == "psgan" and summary["output"] == str(out)
    assert [(m["name"], m["kind"], m["channels"]) for m in summary["maps"]] == [
        ("albedo", "color", 3), ("normal", "normal", 3), ("roughness", "data", 1)]
    assert summary["it_per_s"] > 0 and len(summary["exemplar_sha256"]) == 64
    assert out.is_file()
    return out


def test_generate_writes_one_file_per_map(model, venv_python, tmp_path):
    # --raw: the network's own maps (a 7-channel patch refinement costs ~1 min here; test_texture_guided has it)
    r = run(venv_python, "generate", model, "-o", tmp_path / "out.png", "--size", "75x41", "--seed", "3",
            "--tileable", "--raw")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["refined"] is False
    assert summary["width"] == 75 and summary["height"] == 41 and summary["tileable"] is True
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["out_albedo.png", "out_normal.png", "out_roughness.png"]
    albedo = read_image(tmp_path / "out_albedo.png")
    assert albedo.shape == (41, 75, 3)
    assert read_image(tmp_path / "out_roughness.png").shape == (41, 75, 1)
    n = read_image(tmp_path / "out_normal.png") * 2 - 1
    assert np.abs(np.linalg.norm(n, axis=-1) - 1).max() < 0.02  # unit length up to 8-bit rounding
    assert [o["kind"] for o in summary["outputs"]] == ["color", "normal", "data"]
    assert all("seam_ratio" in o for o in summary["outputs"])


def test_resume_from_cli(model, pbr_files, venv_python, tmp_path):
    out = tmp_path / "more.pt"
    r = run(venv_python, "train", *pbr_files, "-o", out, "--resume", model, "--steps", "6")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["steps"] == 6


@pytest.mark.parametrize("args, needle", [
    (["generate", "{model}", "-o", "{tmp}/x.png", "--size", "12by5"], "--size"),
    (["generate", "{model}", "-o", "{tmp}/x.webp", "--size", "8x8"], "x.webp"),
    (["generate", "{tmp}/broken.pt", "-o", "{tmp}/x.png", "--size", "8x8"], "broken.pt"),
    (["train", "{tmp}/nope.png", "-o", "{tmp}/m.pt"], "nope.png"),
    (["train", "{albedo}", "-o", "{tmp}/m.pt", "--model", "psgan", "--patch", "256"], "patch"),
    (["train", "{albedo}", "-o", "{tmp}/no_dir/m.pt"], "no_dir"),
])
def test_errors_are_one_line_exit_2_no_files(args, needle, model, pbr_files, venv_python, tmp_path):
    (tmp_path / "broken.pt").write_bytes(model.read_bytes()[:2000])
    before = set(tmp_path.iterdir())
    filled = [a.format(model=model, tmp=tmp_path, albedo=pbr_files[0]) for a in args]
    r = run(venv_python, *filled)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert set(tmp_path.iterdir()) == before  # nothing written, not even a partial file


def test_single_map_tileable_png(venv_python, tmp_path):
    src = tmp_path / "bricks.png"
    write_image(src, stones_pbr(48)["albedo"])
    out = tmp_path / "m.pt"
    assert run(venv_python, "train", src, "-o", out, *TINY).returncode == 0
    r = run(venv_python, "generate", out, "-o", tmp_path / "tile.png", "--size", "160x96")
    assert r.returncode == 0, r.stderr
    img = read_image(tmp_path / "tile.png")
    assert img.shape == (96, 160, 3)
    assert isinstance(json.loads(r.stdout.strip().splitlines()[-1])["outputs"][0]["seam_ratio"], float)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
