"""Job folders and .npy image files shared with the worker (numpy only; Blender's Python has it).

Convention on the wire: float32 H×W×C, rows top-down, values 0..1. Blender's image pixels are
bottom-up RGBA, so callers flip rows (`arr[::-1]`) on the way in and out.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

_MARKER = ".atelier-job"


def jobs_root() -> Path:
    return Path(tempfile.gettempdir()) / "neural-atelier-jobs"


def new_job_dir(root: str | os.PathLike | None = None, prefix: str = "job-") -> str:
    """A fresh, empty, absolute folder for one job's files; marked so remove_job_dir can tell it is ours."""
    base = Path(root) if root else jobs_root()
    base.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=base)).resolve()
    (path / _MARKER).write_text("created by Neural Atelier; safe to delete\n", encoding="utf-8")
    return str(path)


def remove_job_dir(path: str | os.PathLike) -> bool:
    """Delete a folder made by new_job_dir (and only such a folder). Returns whether it was removed."""
    p = Path(path)
    if not (p / _MARKER).is_file():
        return False
    shutil.rmtree(p, ignore_errors=True)
    return not p.exists()


def write_npy(path: str | os.PathLike, array) -> str:
    """Write an image as float32 .npy atomically; H×W becomes H×W×1. Returns the path as str."""
    arr = np.asarray(array, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(f"expected an H×W×C image, got shape {arr.shape}")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(arr), allow_pickle=False)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return str(path)


def read_npy(path: str | os.PathLike) -> np.ndarray:
    """Read a worker output (never with pickle) as float32 H×W×C."""
    arr = np.load(Path(path), allow_pickle=False)
    arr = np.asarray(arr, dtype=np.float32)
    return arr[:, :, None] if arr.ndim == 2 else arr
