"""The add-on rows of the bad-input matrix, run in one Blender (bpy) process of their own:
python tests/addon_bad_inputs.py RESULT.json. The add-on is installed from its extension zip into a
temporary user profile (never the real one). Each row records its problems (none = passed); every
operator error must be one readable line in the report, never a traceback, and no user file changes.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROFILE = tempfile.mkdtemp(prefix="atelier-bad-inputs-user-")
os.environ["BLENDER_USER_RESOURCES"] = PROFILE  # before bpy is imported

import bpy  # noqa: E402
import numpy as np  # noqa: E402

MODULE = "bl_ext.user_default.neural_atelier"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _operator_error(call) -> tuple[str, str]:
    """(result, report text): bpy raises RuntimeError carrying an operator's ERROR report."""
    try:
        return str(call()), ""
    except RuntimeError as exc:
        return "ERROR", str(exc)


def _one_line_problems(report: str, says: str) -> list[str]:
    problems = []
    if "Traceback" in report:
        problems.append("a traceback in the report")
    if len([ln for ln in report.strip().splitlines() if ln.strip()]) != 1:
        problems.append(f"not one line: {report[:300]!r}")
    if says.lower() not in report.lower():
        problems.append(f"does not say '{says}': {report[:300]!r}")
    return problems


def main(out_path: str) -> None:
    sys.path.insert(0, str(ROOT))
    import importlib

    import install

    work = Path(tempfile.mkdtemp(prefix="atelier-bad-inputs-"))
    zip_path = install.build_extension_zip(work / "dist")
    assert bpy.ops.extensions.package_install_files(filepath=str(zip_path), repo="user_default",
                                                    enable_on_install=True) == {"FINISHED"}
    for sub in ("pixels", "results", "job"):
        importlib.import_module(f"{MODULE}.{sub}")
    addon = sys.modules[MODULE]
    prefs = bpy.context.preferences.addons[MODULE].preferences
    prefs.worker_python, prefs.device = sys.executable, "cpu"
    rows: dict[str, list[str]] = {}
    rng = np.random.default_rng(0)

    def row(name):
        def wrap(fn):
            try:
                rows[name] = fn()
            except Exception:  # noqa: BLE001 - a crashing row is a failed row
                rows[name] = [f"row crashed: {traceback.format_exc()[-800:]}"]
            return fn
        return wrap

    scene = bpy.context.scene
    s = scene.atelier
    style = addon.pixels.write_new_image("Stripes", rng.random((16, 16, 3)).astype(np.float32))
    photo = addon.pixels.write_new_image("Photo", rng.random((16, 16, 3)).astype(np.float32))
    s.style_source, s.style_image, s.backbone, s.steps, s.size = "IMAGE", style, "offline", 1, 16

    @row("addon: Save next to .blend keeps an existing file")
    def _():
        bpy.ops.wm.save_as_mainfile(filepath=str(work / "shot.blend"))
        folder = work / "atelier"
        folder.mkdir()
        existing = folder / "Photo _ Stripes.png"  # the file name a 'Photo · Stripes' result gets
        existing.write_bytes(b"the user's own file")
        digest = _digest(existing)
        settings = addon.job.ResultSettings(store="SAVE")
        im = addon.pixels.write_new_image("Photo · Stripes", rng.random((8, 8, 3)).astype(np.float32), store="SAVE",
                                          save_dir=addon.results.save_folder(settings))
        problems = []
        if _digest(existing) != digest:
            problems.append("the existing file was replaced")
        saved = Path(bpy.path.abspath(im.filepath))
        if saved.name != "Photo _ Stripes_2.png" or not saved.is_file():
            problems.append(f"result saved as {saved}, expected a free name 'Photo _ Stripes_2.png'")
        if im.get("atelier_file_taken") != existing.name:
            problems.append("the renaming is not recorded for the report")
        return problems

    @row("addon: animation into a folder that holds frames")
    def _():
        frames = work / "frames"
        frames.mkdir()
        (frames / "frame_0001.png").write_bytes(b"an earlier render")
        digest = _digest(frames / "frame_0001.png")
        s.animation, s.output_dir = True, str(frames)
        scene.frame_start, scene.frame_end = 1, 2
        try:
            result, report = _operator_error(lambda: bpy.ops.atelier.stylize_render())
        finally:
            s.animation = False
        problems = _one_line_problems(report, "frame_0001.png")
        if _digest(frames / "frame_0001.png") != digest:
            problems.append("frame_0001.png was replaced")
        if sorted(os.listdir(frames)) != ["frame_0001.png"]:
            problems.append(f"frames written: {sorted(os.listdir(frames))}")
        return problems

    @row("addon: image whose file was deleted")
    def _():
        path = work / "gone.png"
        tmp = addon.pixels.write_new_image("gone-src", rng.random((8, 8, 3)).astype(np.float32), store="MEMORY")
        tmp.filepath_raw, tmp.file_format = str(path), "PNG"
        tmp.save()
        bpy.data.images.remove(tmp)
        gone = bpy.data.images.load(str(path))
        path.unlink()
        result, report = _operator_error(lambda: bpy.ops.atelier.stylize_image(image_name=gone.name))
        return _one_line_problems(report, "missing")

    def stylize_with_worker_python(python: Path, says: str) -> list[str]:
        addon.runner.shutdown_client()
        prefs.worker_python = str(python)
        try:
            result, report = _operator_error(lambda: bpy.ops.atelier.stylize_image(image_name=photo.name))
        finally:
            prefs.worker_python = sys.executable
        return _one_line_problems(report, says)

    @row("addon: worker Python not executable")
    def _():
        fake = work / "python-not-executable"
        fake.write_text("not a program\n")
        fake.chmod(0o644)
        return stylize_with_worker_python(fake, "not executable")

    @row("addon: worker Python missing")
    def _():
        return stylize_with_worker_python(work / "no-such-python", "does not exist")

    @row("addon: style file missing")
    def _():
        s.style_source, s.style_file = "FILE", str(work / "no-style.png")
        try:
            result, report = _operator_error(lambda: bpy.ops.atelier.stylize_image(image_name=photo.name))
        finally:
            s.style_source = "IMAGE"
        return _one_line_problems(report, "does not exist")

    @row("addon: a frame never replaces an existing file")
    def _():
        target = work / "frame_0007.png"
        target.write_bytes(b"keep me")
        npy = work / "result.npy"
        np.save(npy, rng.random((8, 8, 3)).astype(np.float32))
        job = addon.job.Job("stylize", {}, str(work / "nojobdir"), frame_path=str(target))
        try:
            addon.results.apply_result(job, {"event": "result", "result": {"outputs": [{"path": str(npy)}]}})
            problems = ["no error"]
        except addon.job.JobError as exc:
            problems = _one_line_problems(str(exc), "already exists")
        if target.read_bytes() != b"keep me":
            problems.append("replaced")
        return problems

    addon.runner.shutdown_client()
    Path(out_path).write_text(json.dumps(rows))
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(PROFILE, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1])
