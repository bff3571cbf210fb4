"""The bad-input matrix (issue 8): every row asserts the exit code (or the worker's error kind), that
no traceback was printed, that no partial or temp file is left, and that every pre-existing file is
byte-identical afterwards. The rows live in tests/bad_inputs.py; all CLI rows share one process and
all worker rows one worker. Signals, a killed worker and file modes are separate tests below; the
add-on rows run in one Blender (bpy) subprocess (tests/addon_bad_inputs.py).
"""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core.atomic import check_output, free_path, write_atomically, write_set
from core.errors import UserError

import bad_inputs as bi  # tests/ is on sys.path (no package)

ROOT = bi.ROOT


class _AnyPath(dict):
    def __missing__(self, key):
        return Path("/") / key


def _ids(make) -> list[str]:
    """Row ids at collection time (paths do not matter for the names)."""
    return [r.id for r in make(_AnyPath(), bi.Places(Path("/i"), Path("/s"), Path("/r"), Path("/f")))]


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    base = tmp_path_factory.mktemp("bad-inputs")
    places = bi.make_places(base)
    try:
        files = bi.make_fixtures(places.inputs)
        before = bi.digests(places.inputs)
        rows = bi.cli_rows(files, places)
        runnable = [r for r in rows if not r.needs or getattr(places, r.needs)]
        cli = dict(zip([r.id for r in runnable], bi.run_cli_rows(ROOT, runnable, base)))
        after_cli = bi.digests(places.inputs)
        wrows = [r for r in bi.worker_rows(files, places) if not r.needs or getattr(places, r.needs)]
        events, stderr = bi.run_worker_rows(ROOT, wrows, base)
        yield {"places": places, "files": files, "before": before, "after_cli": after_cli,
               "after_worker": bi.digests(places.inputs), "rows": {r.id: r for r in rows}, "cli": cli,
               "wrows": {r.id: r for r in wrows}, "events": dict(zip([r.id for r in wrows], events)),
               "alive": events[-1], "worker_stderr": stderr}
    finally:
        places.cleanup()


@pytest.mark.slow
@pytest.mark.parametrize("row_id", _ids(bi.cli_rows))
def test_cli_row(matrix, row_id):
    row = matrix["rows"][row_id]
    if row_id not in matrix["cli"]:
        pytest.skip(f"needs a {row.needs} folder (a tmpfs mount; not permitted here)")
    res = matrix["cli"][row_id]
    assert bi.check_cli_row(row, res) == [], res["stderr"][-600:]
    assert bi.changed_inputs(matrix["before"], res["inputs"]) == [], "a pre-existing file changed"


@pytest.mark.slow
@pytest.mark.parametrize("row_id", _ids(bi.worker_rows))
def test_worker_row(matrix, row_id):
    row = matrix["wrows"].get(row_id)
    if row is None:
        pytest.skip("needs a tmpfs mount; not permitted here")
    assert bi.check_worker_row(row, matrix["events"][row_id]) == []


@pytest.mark.slow
def test_matrix_loses_no_file_runs_no_code_and_leaves_no_temp_files(matrix):
    pl = matrix["places"]
    assert matrix["after_cli"] == matrix["before"], "a CLI row changed a pre-existing file"
    assert matrix["after_worker"] == matrix["before"], "a worker row changed a pre-existing file"
    assert not matrix["files"]["marker"].exists(), "a malicious pickle ran code"
    folders = [pl.inputs, pl.scratch] + [p for p in (pl.full, pl.read_only) if p]
    assert bi.temp_leftovers(*folders) == []
    if pl.full:  # nothing but the filler: no half set of maps
        assert sorted(os.listdir(pl.full)) == ["filler"]
    assert matrix["alive"].get("result", {}).get("pong") is True, "the worker died on a bad request"
    assert "Traceback" not in matrix["worker_stderr"], matrix["worker_stderr"][-2000:]


# --------------------------------------------------------------------------- signals and a dying worker

def _start_cli(tmp_path, out: Path) -> tuple[subprocess.Popen, int]:
    """A long stylize run whose stderr is a terminal (so its progress bar draws); returns the
    process and the terminal's reading end."""
    import cv2
    import pty

    rng = np.random.default_rng(1)
    for name in ("c.png", "s.png"):
        cv2.imwrite(str(tmp_path / name), (rng.random((64, 64, 3)) * 255).astype(np.uint8))
    reader, writer = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "core", "stylize", str(tmp_path / "c.png"), str(tmp_path / "s.png"),
                             "-o", str(out), "--backbone", "offline", "--steps", "100000", "--method", "gatys"],
                            cwd=str(tmp_path), env=bi.row_env(ROOT), stdout=subprocess.DEVNULL, stderr=writer)
    os.close(writer)
    return proc, reader


def _read_terminal(reader: int, until: bytes = b"", seconds: float = 300) -> bytes:
    """What the process wrote to its terminal: until `until` appears, or until it closes."""
    import select

    seen, deadline = b"", time.time() + seconds
    while time.time() < deadline:
        if until and until in seen:
            break
        ready, _, _ = select.select([reader], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(reader, 4096)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    return seen


@pytest.mark.slow
def test_cli_sigint_and_sigterm_mid_run_leave_no_file_and_no_traceback(tmp_path):
    """Two runs side by side (one start-up's wait): Ctrl+C exits 130, SIGTERM 143, and the user's
    older file at -o is untouched, with no temp file left."""
    runs = []
    try:
        for sig, rc in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
            folder = tmp_path / sig.name
            folder.mkdir()
            out = folder / "out.png"
            out.write_bytes(b"the user's older result")
            runs.append((sig, rc, folder, out, *_start_cli(folder, out)))
        for sig, rc, folder, out, proc, reader in runs:
            started = _read_terminal(reader, until=b"stylize")  # the bar has drawn: the run is in its steps
            assert b"stylize" in started, started[-500:]
            proc.send_signal(sig)
            rest = _read_terminal(reader)
            proc.wait(timeout=120)
            assert proc.returncode == rc, (sig, rest[-500:])
            assert b"Traceback" not in started + rest
            assert out.read_bytes() == b"the user's older result"
            assert bi.temp_leftovers(folder) == []
    finally:
        for *_, proc, reader in runs:
            if proc.poll() is None:
                proc.kill()
            os.close(reader)


@pytest.mark.slow
def test_worker_killed_mid_job_leaves_no_output(tmp_path):
    rng = np.random.default_rng(2)
    for name in ("c.npy", "s.npy"):
        np.save(tmp_path / name, rng.random((64, 64, 3)).astype(np.float32))
    out = tmp_path / "r.npy"
    proc = subprocess.Popen([sys.executable, "-m", "core", "worker"], cwd=str(tmp_path), env=bi.row_env(ROOT),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    req = {"id": "j", "type": "stylize", "params": {"content": str(tmp_path / "c.npy"), "style": str(tmp_path / "s.npy"),
                                                   "output": str(out), "options": {"backbone": "offline",
                                                                                   "steps": 100000, "device": "cpu"}}}
    proc.stdin.write((json.dumps(req) + "\n").encode())
    proc.stdin.flush()
    try:
        for line in proc.stdout:
            if json.loads(line).get("event") == "progress":
                break
        proc.kill()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not out.exists() and bi.temp_leftovers(tmp_path) == []
    assert sorted(os.listdir(tmp_path)) == ["c.npy", "s.npy"] or set(os.listdir(tmp_path)) <= {"c.npy", "s.npy",
                                                                                              "preview-j.npy"}


# --------------------------------------------------------------------------- the file helpers themselves

def test_new_files_get_umask_permissions_and_replaced_files_keep_their_mode(tmp_path):
    old = os.umask(0o022)
    try:
        new = write_atomically(tmp_path / "new.png", lambda fh: fh.write(b"x"))
        assert stat.S_IMODE(new.stat().st_mode) == 0o644
        kept = tmp_path / "kept.png"
        kept.write_bytes(b"old")
        kept.chmod(0o640)
        write_atomically(kept, lambda fh: fh.write(b"new"))
        assert stat.S_IMODE(kept.stat().st_mode) == 0o640 and kept.read_bytes() == b"new"
    finally:
        os.umask(old)


def test_a_set_appears_whole_or_not_at_all(tmp_path):
    existing = tmp_path / "a.png"
    existing.write_bytes(b"user's")

    def fails(fh):
        fh.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(UserError, match="b.png.*disk is full"):
        write_set([(existing, lambda fh: fh.write(b"new")), (tmp_path / "b.png", fails)])
    assert existing.read_bytes() == b"user's" and sorted(os.listdir(tmp_path)) == ["a.png"]


def test_outputs_are_checked_before_compute(tmp_path):
    src = tmp_path / "in.png"
    src.write_bytes(b"input")
    link = tmp_path / "link.png"
    link.symlink_to(src)
    with pytest.raises(UserError, match="is also an input"):
        check_output(link, inputs=[src])
    with pytest.raises(UserError, match="is a folder"):
        check_output(tmp_path)
    with pytest.raises(UserError, match="does not exist"):
        check_output(tmp_path / "no" / "x.png")
    with pytest.raises(UserError, match="disk is full"):
        check_output(tmp_path / "x.png", nbytes=1 << 60)
    assert free_path(src) == tmp_path / "in_2.png" and src.read_bytes() == b"input"


# --------------------------------------------------------------------------- the add-on, through bpy

ADDON_ROWS = ("addon: Save next to .blend keeps an existing file", "addon: animation into a folder that holds frames",
              "addon: image whose file was deleted", "addon: worker Python not executable",
              "addon: worker Python missing", "addon: style file missing",
              "addon: a frame never replaces an existing file")


@pytest.fixture(scope="module")
def addon_rows(tmp_path_factory):
    pytest.importorskip("bpy")
    out = tmp_path_factory.mktemp("addon-rows") / "rows.json"
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "addon_bad_inputs.py"), str(out)], cwd=str(ROOT),
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=900)
    assert out.is_file(), proc.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.slow
@pytest.mark.blender
@pytest.mark.parametrize("row_id", ADDON_ROWS)
def test_addon_row(addon_rows, row_id):
    assert addon_rows[row_id] == []


def test_torch_save_onto_a_full_disk_is_one_line_and_leaves_nothing(tmp_path):
    """torch reports ENOSPC as RuntimeError('unexpected pos ...'); the helper names the file instead."""
    import torch

    def torch_fails_like_a_full_disk(fh):
        fh.write(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    with pytest.raises(UserError, match="m.pt"):
        write_atomically(tmp_path / "m.pt", torch_fails_like_a_full_disk)
    assert os.listdir(tmp_path) == []
    write_atomically(tmp_path / "ok.pt", lambda fh: torch.save({"w": torch.zeros(2)}, fh))
    assert os.listdir(tmp_path) == ["ok.pt"]
