"""Output files, safely: checks before compute, and atomic writes that never leave a partial file.

`check_output` runs before any compute (folder exists and is writable, not a folder, enough free
space); `write_atomically` writes a temp file in the target's folder and renames it onto the target
only when complete, so a failure (disk full, an exception while encoding, Ctrl+C) never leaves a
partial file and never touches an existing file. A new file gets the usual umask permissions and a
replaced file keeps its mode. OS failures become a one-line UserError naming the path.
"""
from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
import threading
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Sequence

from .errors import UserError

_UMASK_LOCK = threading.Lock()
DISK_MARGIN = 1 << 20  # bytes kept free beyond the estimate (file system overhead)


def _umask() -> int:
    with _UMASK_LOCK:  # os.umask can only be read by setting it
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _mode_for(path: Path) -> int:
    """The mode the finished file should have: the replaced file's, else 0666 minus the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def explain_os_error(exc: BaseException, path: Path | str, what: str = "output") -> UserError:
    """One line naming the path and what to do, for an OSError (or torch's write RuntimeError)."""
    code = getattr(exc, "errno", None)
    if code == errno.ENOSPC or (isinstance(exc, RuntimeError) and _disk_nearly_full(Path(path))):
        why = "the disk is full; free some space or choose another folder"
    elif code in (errno.EROFS,):
        why = "the file system is read-only; choose another folder"
    elif code in (errno.EACCES, errno.EPERM):
        why = "permission denied (read-only?); choose a folder you can write to"
    elif code == errno.EISDIR:
        why = "is a folder; name a file"
    elif code == errno.ENOENT:
        why = "the folder does not exist"
    elif code == errno.EDQUOT:
        why = "the disk quota is exceeded; free some space or choose another folder"
    else:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        why = f"could not write ({getattr(exc, 'strerror', None) or text})"
    return UserError(f"{what} '{path}': {why}")


def _disk_nearly_full(path: Path) -> bool:
    try:
        return shutil.disk_usage(path.parent if not path.is_dir() else path).free < 16 * DISK_MARGIN
    except OSError:
        return False


def check_output(path: Path | str, nbytes: int = 0, what: str = "output", inputs: Iterable[Path | str] = ()) -> Path:
    """Before compute: `path` can be written (its folder exists and is writable, it is not a folder,
    not one of `inputs`), and the disk has room for about `nbytes`. UserError naming `what` if not."""
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{what} '{p}': is a folder; name a file inside it")
    folder = p.parent
    if not folder.is_dir():
        raise UserError(f"{what} '{p}': folder '{folder}' does not exist; create it first")
    for src in inputs:
        if _same_file(p, Path(src)):
            raise UserError(f"{what} '{p}': is also an input ('{src}'); choose another output name "
                            "so the input is not replaced")
    try:  # the only reliable writability test is writing: a read-only mount passes os.access as root
        fd, probe = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".probe", dir=str(folder))
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise explain_os_error(exc, p, what) from None
    if p.exists() and not os.access(p, os.W_OK) and os.geteuid() != 0:
        raise UserError(f"{what} '{p}': the existing file is read-only; choose another name")
    if nbytes:
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            free = None
        if free is not None and free < nbytes + DISK_MARGIN:
            raise UserError(f"{what} '{p}': the disk is full ({free / 1e6:.1f} MB free, about "
                            f"{(nbytes + DISK_MARGIN) / 1e6:.1f} MB needed); free some space or choose another folder")
    return p


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def free_path(path: Path | str) -> Path:
    """`path` if nothing is there, else the first free `stem_2.ext`, `stem_3.ext`, ..."""
    p = Path(path)
    if not (p.exists() or p.is_symlink()):
        return p
    n = 2
    while True:
        candidate = p.with_name(f"{p.stem}_{n}{p.suffix}")
        if not (candidate.exists() or candidate.is_symlink()):
            return candidate
        n += 1


def write_atomically(path: Path, write: Callable[[BinaryIO], object], what: str = "output") -> Path:
    """Call ``write`` with a binary file handle on a temp file next to ``path``, then rename it to ``path``.
    OSError (and torch's RuntimeError for a failed write) become a UserError naming the path."""
    return write_set([(Path(path), write)], what)[0]


def write_set(items: Sequence[tuple[Path, Callable[[BinaryIO], object]]], what: str = "output") -> list[Path]:
    """Write several files as one: every file goes to a temp file first, and only when all are
    complete are they renamed into place. A failure leaves none of them (and no temp file)."""
    temps: list[tuple[str, Path, int]] = []
    try:
        for path, write in items:
            path = Path(path)
            temps.append((_write_temp(path, write, what), path, _mode_for(path)))
        for tmp, path, mode in temps:
            os.chmod(tmp, mode)
        for tmp, path, _ in temps:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _, _ in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise
    return [path for _, path, _ in temps]


def _write_temp(path: Path, write: Callable[[BinaryIO], object], what: str) -> str:
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=str(path.parent))
    except OSError as exc:
        raise explain_os_error(exc, path, what) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())  # a full disk shows here at the latest, not after the rename
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) or (isinstance(exc, RuntimeError) and _failed_write(exc, path)):
            raise explain_os_error(exc, path, what) from None
        raise
    return tmp


def _failed_write(exc: RuntimeError, path: Path) -> bool:
    """torch.save reports a full disk as RuntimeError ('failed writing file', 'unexpected pos ...')."""
    text = str(exc).lower()
    return "writ" in text or "unexpected pos" in text or _disk_nearly_full(path)
