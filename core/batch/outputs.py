"""A job's output files on disk: which they are, and how they appear (written into a private staging
folder, then moved into place whole; never over a file the job did not ask to replace)."""
from __future__ import annotations

import errno
import os
import shutil
import uuid
from pathlib import Path
from typing import Optional

from ..errors import UserError
from .manifest import Job


def expected_outputs(job: Job) -> Optional[list[Path]]:
    """The files a finished job leaves, or None when that cannot be known yet (a texture set whose
    model has not been trained: its map names live in the checkpoint)."""
    if job.spec.folder_out:
        return None  # the command names its files; each is checked when it is moved into place
    if job.kind != "texture_generate":
        return [job.out]
    model = job.inputs["model"][0]
    if not model.is_file():
        return None
    from ..texture.checkpoint import load_checkpoint

    try:
        maps = load_checkpoint(model).maps
    except UserError:
        return None
    if len(maps) == 1:
        return [job.out]
    return [job.out.with_name(f"{job.out.stem}_{m.name}{job.out.suffix}") for m in maps]


def check_not_clobbering(job: Job, files: Optional[list[Path]] = None) -> None:
    """Before any compute: refuse when a file the job would write exists and the job did not ask to replace it."""
    if job.overwrite:
        return
    for path in files if files is not None else (expected_outputs(job) or []):
        if path.exists():
            raise UserError(f"job '{job.id}': '{path}' already exists and the job would replace it; "
                            "move it away, or set \"overwrite\": true on the job")


def make_staging(job: Job) -> Path:
    """A private folder next to the output (same file system, so the final move is a rename)."""
    job.out.parent.mkdir(parents=True, exist_ok=True)
    folder = job.out.parent / f".batch-{job.id}-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    return folder


def remove_staging(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def finished(job: Job) -> None:
    """After a job's outputs are in place: an animation's join no longer needs its chunk folders."""
    if job.kind == "animate_join":
        for folder in job.inputs["chunks"]:
            if folder.name.startswith(".batch-chunk-"):  # only the hidden folders batch made
                shutil.rmtree(folder, ignore_errors=True)


def staged_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def commit(staged: list[Path], dest_dir: Path, job: Job) -> list[Path]:
    """Move every staged file into dest_dir under its own name: all of them or none. Without
    `overwrite`, an existing file is never replaced (a hard link refuses atomically when it exists)."""
    moves = [(src, dest_dir / src.name) for src in staged]
    if not job.overwrite:
        check_not_clobbering(job, [dst for _, dst in moves])
    done: list[tuple[Path, Path, Optional[Path]]] = []  # (src, dst, backup of the replaced file)
    try:
        for src, dst in moves:
            backup = None
            if job.overwrite and dst.exists():
                backup = src.with_name(f".old-{src.name}")
                os.replace(dst, backup)
            if job.overwrite:
                os.replace(src, dst)
            else:
                _move_no_clobber(src, dst, job)
            done.append((src, dst, backup))
    except BaseException:
        for src, dst, backup in reversed(done):  # put everything back as it was
            os.replace(dst, src)
            if backup is not None:
                os.replace(backup, dst)
        raise
    return [dst for _, dst in moves]


def _move_no_clobber(src: Path, dst: Path, job: Job) -> None:
    try:
        os.link(src, dst)
    except FileExistsError:
        raise UserError(f"job '{job.id}': '{dst}' appeared while the job ran; it was left untouched") from None
    except OSError as exc:  # file systems without hard links: check, then rename
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOTSUP):
            raise
        if dst.exists():
            raise UserError(f"job '{job.id}': '{dst}' appeared while the job ran; it was left untouched") from None
        os.replace(src, dst)
        return
    src.unlink()
