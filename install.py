#!/usr/bin/env python3
"""Neural Atelier installer. Standard library only.

  python3 install.py            set up the core environment (.venv) and install the add-on
  python3 install.py demo       set up if needed, then run the main job on the embedded default
  python3 install.py test       set up if needed, then run the whole test suite
  python3 install.py --help     everything else
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON_VERSION = (3, 11)  # PyPI bpy is built for 3.11 only
TORCH = ["torch==2.14.1", "torchvision==0.29.1"]
BASE = [
    "numpy>=1.24,<2",  # bpy 5.0 needs numpy<2
    "pillow>=10",
    "opencv-python-headless==4.11.0.86",  # 16-bit PNG/TIFF; last release that supports numpy<2
]
DEV = ["pytest>=8", "bpy==5.0.1"]  # real Blender as a module, for tests and the headless demo
STAMP = VENV / ".atelier-stamp.json"
PROBE = "import torch, torchvision, numpy, cv2, PIL, pytest; import bpy"


def say(msg: str) -> None:
    print(f"[atelier] {msg}", flush=True)


def die(msg: str, code: int = 1) -> "NoReturn":  # noqa: F821
    print(f"[atelier] error: {msg}", file=sys.stderr, flush=True)
    sys.exit(code)


def venv_python(venv: Path = VENV) -> Path:
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def find_python311() -> list[str]:
    """A command that runs CPython 3.11, which PyPI bpy requires."""
    if sys.version_info[:2] == PYTHON_VERSION:
        return [sys.executable]
    candidates: list[list[str]] = [["python3.11"]]
    if os.name == "nt":
        candidates.insert(0, ["py", "-3.11"])
    home = Path.home()
    for base in (home / ".pyenv" / "versions", Path("/root/.pyenv/versions")):
        if base.is_dir():
            candidates += [[str(p / "bin" / "python3.11")] for p in sorted(base.glob("3.11*"), reverse=True)]
    candidates += [["/opt/homebrew/bin/python3.11"], ["/usr/local/bin/python3.11"], ["/usr/bin/python3.11"]]
    for cmd in candidates:
        exe = shutil.which(cmd[0]) or (cmd[0] if Path(cmd[0]).is_file() else None)
        if not exe:
            continue
        try:
            out = subprocess.run([exe, *cmd[1:], "-c", "import sys; print(sys.version_info[:2] == (3, 11))"],
                                 capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.stdout.strip() == "True":
            return [exe, *cmd[1:]]
    die("Python 3.11 was not found. PyPI's bpy needs exactly 3.11: install it (python.org, pyenv, "
        "or your package manager) and run this script again, e.g. `python3.11 install.py`.")


def requirements(torch_index: str | None) -> dict:
    return {"torch": TORCH, "base": BASE, "dev": DEV, "torch_index": torch_index}


def env_is_healthy(want: dict) -> bool:
    py = venv_python()
    if not py.is_file() or not STAMP.is_file():
        return False
    try:
        if json.loads(STAMP.read_text()) != want:
            return False
    except (OSError, ValueError):
        return False
    probe = subprocess.run([str(py), "-c", PROBE], capture_output=True, text=True)
    return probe.returncode == 0


def pip(args: list[str]) -> None:
    cmd = [str(venv_python()), "-m", "pip", "--disable-pip-version-check", *args]
    if subprocess.run(cmd).returncode != 0:
        die(f"pip failed: {' '.join(args)}\nCheck your network connection to the package index and run again; "
            f"`python3 install.py --recreate` starts from a fresh environment.")


def ensure_env(torch_index: str | None = None, recreate: bool = False) -> Path:
    """Create or repair .venv. Fast when it is already healthy."""
    want = requirements(torch_index)
    if not recreate and env_is_healthy(want):
        return venv_python()
    if recreate and VENV.exists():
        say(f"removing {VENV}")
        shutil.rmtree(VENV)
    py = venv_python()
    if py.is_file():
        ver = subprocess.run([str(py), "-c", "import sys; print(sys.version_info[:2] == (3, 11))"],
                             capture_output=True, text=True)
        if ver.stdout.strip() != "True":
            say(f"{VENV} is not a Python 3.11 environment; rebuilding it")
            shutil.rmtree(VENV)
    if not py.is_file():
        base = find_python311()
        say(f"creating {VENV} with {' '.join(base)}")
        if subprocess.run([*base, "-m", "venv", "--clear", str(VENV)]).returncode != 0:
            die(f"could not create a virtual environment in {VENV}; on Debian/Ubuntu install python3.11-venv")
    STAMP.unlink(missing_ok=True)
    say("installing torch, torchvision and the core packages (a few minutes the first time)")
    torch_args = ["--index-url", torch_index, "--extra-index-url", "https://pypi.org/simple"] if torch_index else []
    pip(["install", "--upgrade", *torch_args, *TORCH, *BASE])
    say("installing test and demo packages (pytest, bpy)")
    pip(["install", "--upgrade", *DEV])
    probe = subprocess.run([str(py), "-c", PROBE], capture_output=True, text=True)
    if probe.returncode != 0:
        die(f"the environment was installed but does not import:\n{probe.stderr.strip()[-2000:]}\n"
            "Run `python3 install.py --recreate`.")
    link_core(py)
    STAMP.write_text(json.dumps(want))
    say(f"environment ready: {py}")
    return py


def link_core(py: Path) -> None:
    """Make `python -m core` work from anywhere in the environment (the add-on runs it from Blender)."""
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "neural_atelier.pth").write_text(str(ROOT) + "\n")


def run_in_env(py: Path, args: list[str]) -> int:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return subprocess.run([str(py), *args], cwd=str(ROOT), env=env).returncode


def cmd_test(ns: argparse.Namespace, extra: list[str]) -> int:
    py = ensure_env(ns.torch_index)
    return run_in_env(py, ["-m", "pytest", *(extra or ["tests"])])


def cmd_demo(ns: argparse.Namespace, extra: list[str]) -> int:
    py = ensure_env(ns.torch_index)
    out = Path(ns.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    return run_in_env(py, ["-m", "blender_addon.headless_demo", "--out", str(out), *extra])


def cmd_setup(ns: argparse.Namespace, extra: list[str]) -> int:
    ensure_env(ns.torch_index, recreate=ns.recreate)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="install.py",
        description="Set up Neural Atelier: the core environment (.venv) with torch, and the Blender add-on.",
        epilog="Commands: (none) set up; `demo [--out DIR]` run the main job headless; "
               "`test [pytest args]` run the test suite.")
    parser.add_argument("command", nargs="?", default="setup", choices=["setup", "demo", "test"])
    parser.add_argument("--out", default="demo_out", help="demo: output folder (default: ./demo_out)")
    parser.add_argument("--recreate", action="store_true", help="delete and rebuild .venv")
    parser.add_argument("--torch-index", default=None, metavar="URL",
                        help="install torch from this package index (e.g. a CUDA or ROCm wheel index)")
    ns, extra = parser.parse_known_args(argv)
    if ns.command != "test" and extra:
        parser.error(f"unrecognised arguments: {' '.join(extra)}")
    handler = {"setup": cmd_setup, "demo": cmd_demo, "test": cmd_test}[ns.command]
    return handler(ns, extra)


if __name__ == "__main__":
    sys.exit(main())
