"""Shared pieces of core: image files, the seam metric, device choice, the CLI's error path."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from core.atomic import write_atomically
from core.errors import CancelToken, Cancelled, UserError
from core.imageio import read_image, write_image
from core.seams import seam_ratio


@pytest.mark.parametrize("ext,bits,tol", [(".png", 8, 1 / 255), (".png", 16, 1 / 65535), (".tif", 8, 1 / 255),
                                          (".tif", 16, 1 / 65535), (".jpg", 8, 0.08)])
def test_image_round_trip_keeps_values_and_channel_order(tmp_path, ext, bits, tol):
    h, w = 12, 17
    img = np.zeros((h, w, 3), np.float32)
    img[..., 0] = np.linspace(0, 1, w)[None, :]  # red ramp left→right
    img[..., 2] = np.linspace(0, 1, h)[:, None]  # blue ramp top→bottom
    out = write_image(tmp_path / f"x{ext}", img, bits=bits)
    back = read_image(out)
    assert back.shape == (h, w, 3) and back.dtype == np.float32
    assert np.abs(back - img).max() <= tol + 1e-6
    if bits == 16:  # 16-bit keeps detail that 8-bit would lose
        assert np.abs(back - img).max() < 1 / 1000


def test_rgba_and_grey_round_trip(tmp_path):
    rgba = np.random.default_rng(1).random((9, 7, 4)).astype(np.float32)
    back = read_image(write_image(tmp_path / "a.png", rgba, bits=16))
    assert back.shape == (9, 7, 4) and np.abs(back - rgba).max() < 1e-4
    grey = np.random.default_rng(2).random((5, 6, 1)).astype(np.float32)
    back = read_image(write_image(tmp_path / "g.png", grey))
    assert back.shape == (5, 6, 1) and np.abs(back - grey).max() <= 1 / 255 + 1e-6


def test_bad_files_give_user_errors_naming_the_file(tmp_path):
    with pytest.raises(UserError, match="missing.png.*not found"):
        read_image(tmp_path / "missing.png", "content")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"this is not a png")
    with pytest.raises(UserError, match="junk.png"):
        read_image(junk)
    gif = tmp_path / "x.gif"
    gif.write_bytes(b"GIF89a")
    with pytest.raises(UserError, match="x.gif.*unsupported format"):
        read_image(gif)
    with pytest.raises(UserError, match="does not exist"):
        write_image(tmp_path / "nope" / "out.png", np.zeros((2, 2, 3), np.float32))


def test_failed_write_leaves_no_partial_file(tmp_path):
    with pytest.raises(ValueError):
        write_image(tmp_path / "bad.png", np.zeros((4, 4, 5), np.float32))
    assert os.listdir(tmp_path) == []


def test_atomic_write_that_fails_half_way_keeps_the_old_file(tmp_path):
    """The shared helper behind image and checkpoint writes: a writer that dies after writing some
    bytes leaves the existing file as it was and no temp file behind."""
    target = tmp_path / "model.pt"
    target.write_bytes(b"old")

    def dies_half_way(fh):
        fh.write(b"new but incomplete")
        raise OSError("disk full")

    with pytest.raises(UserError, match="model.pt.*disk full"):  # one line naming the file, not a traceback
        write_atomically(target, dies_half_way)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["model.pt"]
    assert write_atomically(target, lambda fh: fh.write(b"new")) == target and target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["model.pt"]


def test_seam_ratio_separates_tileable_from_non_tileable():
    y, x = np.mgrid[0:64, 0:64] / 64.0
    periodic = (0.5 + 0.25 * np.sin(2 * np.pi * 3 * x) * np.cos(2 * np.pi * 2 * y))[..., None].repeat(3, 2)
    assert seam_ratio(periodic) == pytest.approx(1.0, abs=0.05)
    ramp = np.repeat(x[..., None], 3, axis=2)  # jumps from 1 back to 0 at the wrap
    assert seam_ratio(ramp) > 20


def test_cancel_token():
    token = CancelToken()
    token.check()
    token.cancel()
    assert token.cancelled
    with pytest.raises(Cancelled):
        token.check()


def test_cli_user_mistake_is_one_line_exit_2():
    out = subprocess.run([sys.executable, "-m", "core", "no-such-command"], capture_output=True, text=True)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and out.stderr.startswith("error:")
    assert len(out.stderr.strip().splitlines()) == 1
