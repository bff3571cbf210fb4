"""sha256 of files, computed once per process per (path, size, mtime): weight files are checked on every load."""
from __future__ import annotations

import hashlib
import threading
from pathlib import Path

_HASHES: dict[tuple[str, int, int], str] = {}
_LOCK = threading.Lock()


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file; recomputed only when its size or modification time changes."""
    st = Path(path).stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _LOCK:
        if key in _HASHES:
            return _HASHES[key]
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    with _LOCK:
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]
