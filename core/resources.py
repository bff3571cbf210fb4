"""Memory preflight: how much memory a job may use, and refusing a job that cannot fit before it starts."""
from __future__ import annotations

import os

from .errors import UserError

MEMORY_ENV = "NEURAL_ATELIER_MEMORY_GB"  # caps the memory jobs may assume is available (shared machines)


def available_memory() -> int | None:
    """Bytes of memory available to a new job (MemAvailable, capped by NEURAL_ATELIER_MEMORY_GB); None if unknown."""
    found = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    found = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        try:
            found = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            found = None
    cap = os.environ.get(MEMORY_ENV)
    if cap:
        try:
            capped = int(float(cap) * 1e9)
        except ValueError:
            raise UserError(f"{MEMORY_ENV}='{cap}': expected a number of GB") from None
        found = capped if found is None else min(found, capped)
    return found


def check_memory(nbytes: int, what: str, advice: str) -> None:
    """UserError before compute when a job needs more memory than is available."""
    free = available_memory()
    if free is not None and nbytes > free:
        raise UserError(f"{what}: needs about {nbytes / 1e9:.1f} GB of memory, only {free / 1e9:.1f} GB is "
                        f"available; {advice}")
