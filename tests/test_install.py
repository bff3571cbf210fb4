"""install.py: the extension zip, installing it into a Blender with the worker path in its
preferences, and removing it again. 'Blender' here is PyPI's bpy running the same script that
install.py runs inside a real Blender executable, against a throwaway user-resources folder."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import install  # noqa: E402


def _ns(**kw) -> argparse.Namespace:
    base = dict(torch_index=None, cpu=False, blender=None)
    base.update(kw)
    return argparse.Namespace(**base)


def test_extension_zip_has_manifest_at_root_and_no_caches(tmp_path):
    (install.ADDON_DIR / "__pycache__").mkdir(exist_ok=True)
    out = install.build_extension_zip(tmp_path)
    names = zipfile.ZipFile(out).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert out.name == f"neural_atelier-{install._manifest_version()}.zip"
    assert not list(tmp_path.glob("*.part"))


def test_torch_index_choice():
    assert install.choose_torch_index(_ns(torch_index="https://example.invalid/whl"))[0] == \
        "https://example.invalid/whl"
    assert install.choose_torch_index(_ns(cpu=True))[0] == install.TORCH_INDEXES["cpu"]
    # This machine has no GPU: PyPI's default build, which is what the test environment uses.
    if install.detect_gpu() == "cpu":
        assert install.choose_torch_index(_ns())[0] is None


def test_missing_blender_path_is_a_clear_error(tmp_path):
    with pytest.raises(install.InstallError, match="--blender .*no such file"):
        install.chosen_blenders(_ns(blender=[str(tmp_path / "blender")]))


def test_cli_rejects_unknown_arguments():
    out = subprocess.run([sys.executable, str(ROOT / "install.py"), "package", "--frobnicate"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "--frobnicate" in out.stderr and "Traceback" not in out.stderr


def _run_in_bpy(script: str, resources: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(resources))
    # A real Blender reads the saved preferences at start; bpy as a module needs to be asked.
    return subprocess.run([sys.executable, "-c", "import bpy\nbpy.ops.wm.read_userpref()\n" + script], capture_output=True, text=True,
                          env=env, timeout=300)


def _fake_blender(tmp_path: Path) -> Path:
    """A 'blender' executable for install.py: answers --version and runs --python scripts in bpy."""
    exe = tmp_path / "blender"
    exe.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "--version" ]; then echo "Blender 5.0.1"; exit 0; fi\n'
        f'exec "{sys.executable}" -c "import bpy, runpy, sys; runpy.run_path(sys.argv[1])" "$3"\n')
    exe.chmod(0o755)
    return exe


@pytest.mark.blender
@pytest.mark.slow
@pytest.mark.skipif(os.name == "nt", reason="the fake Blender is a shell script")
def test_addon_installs_with_worker_path_in_preferences_and_uninstalls(tmp_path, monkeypatch, capsys):
    resources = tmp_path / "blender-user"
    monkeypatch.setenv("BLENDER_USER_RESOURCES", str(resources))
    blender = _fake_blender(tmp_path)
    assert install.blender_version(blender) == (5, 0)
    monkeypatch.setattr(install, "DIST", tmp_path / "dist")

    install.install_into_blenders(_ns(blender=[str(blender)]), Path("/opt/atelier/python"))
    assert "installed into Blender 5.0" in capsys.readouterr().out
    assert (resources / "extensions" / "user_default" / "neural_atelier" / "blender_manifest.toml").is_file()

    check = _run_in_bpy(
        "addon = bpy.context.preferences.addons.get('bl_ext.user_default.neural_atelier')\n"
        "print('PY=' + (addon.preferences.worker_python if addon else 'not-enabled'))\n", resources)
    assert "PY=/opt/atelier/python" in check.stdout, check.stderr[-3000:]

    # Other preferences the user saved survive an update of the add-on.
    keep = _run_in_bpy("bpy.context.preferences.view.ui_scale = 1.25\nbpy.ops.wm.save_userpref()\n", resources)
    assert keep.returncode == 0, keep.stderr[-3000:]
    install.install_into_blenders(_ns(blender=[str(blender)]), Path("/opt/atelier/python"))
    assert "installed into Blender 5.0" in capsys.readouterr().out
    scale = _run_in_bpy("print('SCALE=%.2f' % bpy.context.preferences.view.ui_scale)\n", resources)
    assert "SCALE=1.25" in scale.stdout

    monkeypatch.setattr(install, "VENV", tmp_path / "no-venv")
    install.uninstall(_ns(blender=[str(blender)]))
    assert "removed from" in capsys.readouterr().out
    assert not (resources / "extensions" / "user_default" / "neural_atelier").exists()
    check = _run_in_bpy(
        "print('ENABLED=' + str('bl_ext.user_default.neural_atelier' in bpy.context.preferences.addons))\n",
        resources)
    assert "ENABLED=False" in check.stdout
