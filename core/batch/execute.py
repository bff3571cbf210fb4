"""Run one job in this process: check its files, run its command into a staging folder, commit the outputs."""
from __future__ import annotations

import json
import socket
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional

from ..errors import UserError
from ..progress import Progress
from .chunks import join_chunk_folders
from .kinds import run_command
from .manifest import Job
from .outputs import check_not_clobbering, commit, make_staging, remove_staging, staged_files

STATUSES = ("succeeded", "failed", "skipped", "blocked")  # skipped: outputs already complete


@dataclass
class JobResult:
    id: str
    kind: str
    status: str
    seconds: float = 0.0
    outputs: list[str] = field(default_factory=list)
    error: Optional[str] = None
    result: Optional[dict] = None  # the command's own JSON summary
    host: Optional[str] = None

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, [], {})}


def check_inputs(job: Job) -> None:
    for name, paths in job.inputs.items():
        for path in paths:
            if not (path.is_dir() if name == "chunks" else path.is_file()):
                raise UserError(f"job '{job.id}'.{name}: '{path}' not found")


def execute(job: Job, progress: Optional[Callable[[float], None]] = None, raise_unexpected: bool = False) -> JobResult:
    """UserErrors become a failed result (retrying cannot help). Other exceptions too, unless
    `raise_unexpected` (Ray: the task raises so that Ray retries it)."""
    t0 = time.perf_counter()
    host = socket.gethostname()
    try:
        check_inputs(job)
        check_not_clobbering(job)
        staging = make_staging(job)
        target = job.out if job.spec.folder_out else job.out.parent
        try:
            if job.kind == "animate_join":
                summary = join_chunk_folders(job.inputs["chunks"], staging)
            else:
                out = staging if job.spec.folder_out else staging / job.out.name
                summary = run_command(job.spec, job.argv(out=out), _engine_progress(progress))
            target.mkdir(parents=True, exist_ok=True)
            outputs = commit(staged_files(staging), target, job)
        finally:
            remove_staging(staging)
        # The command reported its staging paths; report where the files are now.
        summary = json.loads(json.dumps(summary).replace(json.dumps(str(staging))[1:-1], json.dumps(str(target))[1:-1]))
        return JobResult(job.id, job.kind, "succeeded", round(time.perf_counter() - t0, 3),
                         [str(p) for p in outputs], result=summary, host=host)
    except UserError as exc:
        return JobResult(job.id, job.kind, "failed", round(time.perf_counter() - t0, 3), error=str(exc), host=host)
    except Exception as exc:  # noqa: BLE001 - one line per job; the batch goes on
        if raise_unexpected:
            raise
        return JobResult(job.id, job.kind, "failed", round(time.perf_counter() - t0, 3),
                         error=f"{type(exc).__name__}: {exc}", host=host)


def _engine_progress(progress: Optional[Callable[[float], None]]):
    if progress is None:
        return lambda p: None  # an explicit callback keeps the command's own terminal bar off
    return lambda p: progress(p.step / max(1, p.total)) if isinstance(p, Progress) else None
