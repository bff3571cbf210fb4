"""install.py's messages when something is wrong: why .venv needs repair, a missing system library, a full disk,
a read-only project folder, Blenders it skips, and the GUI check's error scan. One line each, no
traceback."""
from __future__ import annotations

import argparse
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import install  # noqa: E402


def _install_error(monkeypatch) -> str:
    """ensure_env's one-line InstallError, with pip forbidden: the check must stop it before pip starts."""
    monkeypatch.setattr(install, "pip", lambda *_a: (_ for _ in ()).throw(AssertionError("must not start pip")))
    try:
        install.ensure_env(argparse.Namespace(torch_index=None, cpu=True, recreate=False), strict_index=False)
    except install.InstallError as exc:
        assert "\n" not in str(exc)
        return str(exc)
    raise AssertionError("the install must stop")


def test_missing_system_library_is_named_and_not_reinstalled(monkeypatch, capsys):
    error = "ImportError: libGL.so.1: cannot open shared object file: No such file or directory"
    assert install.missing_system_library(error) == "libGL.so.1"
    assert install.missing_system_library("ModuleNotFoundError: No module named 'cv2'") is None
    monkeypatch.setattr(install, "env_problem", lambda *_a, **_k: "it does not import: " + error)
    assert "libGL.so.1" in _install_error(monkeypatch)


def test_env_problem_says_why(monkeypatch, tmp_path):
    monkeypatch.setattr(install, "venv_python", lambda *_a: tmp_path / ".venv" / "bin" / "python")
    assert "does not exist" in install.env_problem(None, check_index=False)


def test_read_only_folder_is_one_line(monkeypatch, capsys):
    def refuse(*_a, **_k):
        raise PermissionError(13, "Permission denied", str(ROOT / "dist"))
    monkeypatch.setattr(install, "build_extension_zip", refuse)
    assert install.main(["package"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert "cannot write" in err and "dist" in err and "Permission denied" in err


def test_skipped_blenders_are_listed(monkeypatch, tmp_path, capsys):
    old = tmp_path / "blender-3.4"
    old.write_text("#!/bin/sh\necho 'Blender 3.4.1'\n")
    old.chmod(old.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(install, "build_extension_zip", lambda *_a: tmp_path / "x.zip")
    install.install_into_blenders(argparse.Namespace(blender=[str(old)]), Path(sys.executable))
    out = capsys.readouterr().out
    assert f"skipping {old}: it is Blender 3.4; the add-on needs Blender 4.2 or newer" in out
    assert "skipped 1 too old or unreadable" in out


def test_gui_errors_catch_draw_tracebacks():
    log = "GUI-CHECK step x\nTraceback (most recent call last):\n  File ui.py\nAttributeError: boom\nInfo: fine\n"
    assert install.gui_errors(log) == ["Traceback (most recent call last):"]
    assert install.gui_errors("Info: Atelier: created 'a'\n") == []


def test_full_disk_stops_before_pip_in_one_line(monkeypatch, tmp_path):
    venv = tmp_path / "not-yet" / ".venv"
    assert install.disk_space_problem(venv, 1) == ""
    problem = install.disk_space_problem(venv, 2**60)
    assert str(venv) in problem and "GB are free" in problem and "\n" not in problem
    monkeypatch.setattr(install, "VENV", venv)
    monkeypatch.setattr(install, "STAMP", venv / "stamp.json")
    monkeypatch.setattr(install, "ENV_BYTES", 2**60)
    monkeypatch.setattr(install, "venv_python", lambda *_a: Path(sys.executable))  # a working 3.11
    monkeypatch.setattr(install, "env_problem", lambda *_a, **_k: "it does not exist")
    assert "not enough disk space" in _install_error(monkeypatch)


def _wheel(folder: Path, size: int) -> Path:
    """A minimal valid wheel holding `size` bytes of data."""
    path = folder / "bulky-1.0-py3-none-any.whl"
    files = {"bulky/__init__.py": b"", "bulky/data.bin": os.urandom(size),
             "bulky-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: bulky\nVersion: 1.0\n",
             "bulky-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                          b"Tag: py3-none-any\n"}
    record = "".join(f"{name},,\n" for name in files) + "bulky-1.0.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
        z.writestr("bulky-1.0.dist-info/RECORD", record)
    return path


def test_pip_on_a_full_disk_says_so(monkeypatch, tmp_path):
    """A real pip install that runs out of space (a 64 kB tmpfs, where this process may mount): one line
    that says the disk is full, not the network."""
    full = tmp_path / "full"
    full.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(full)],
                      capture_output=True).returncode:
        pytest.skip("needs a tmpfs mount; not permitted here")
    try:
        monkeypatch.setattr(install, "venv_python", lambda *_a: Path(sys.executable))
        monkeypatch.setattr(install, "VENV", full)
        with pytest.raises(install.InstallError) as err:
            install.pip(["install", "--no-index", "--no-deps", "--target", str(full),
                         str(_wheel(tmp_path, 1 << 20))])
    finally:
        subprocess.run(["umount", str(full)], capture_output=True)
    message = str(err.value)
    assert "disk" in message and "is full" in message and "\n" not in message, message
