"""The record of finished jobs beside the manifest (.atelier-batch/<manifest>.json): a re-run skips a
job only when the files it wrote are still there, unchanged, and its spec is the same. A file the
record does not know (the user's) is never taken for a finished output."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..atomic import write_atomically
from .manifest import Job, Manifest


def spec_hash(job: Job) -> str:
    spec = {"kind": job.kind, "inputs": {k: [str(p) for p in v] for k, v in job.inputs.items()},
            "out": str(job.out), "options": job.options}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def _fingerprint(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


class BatchState:
    def __init__(self, manifest: Manifest) -> None:
        self.path = manifest.root / ".atelier-batch" / f"{manifest.path.name}.json"
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self.jobs: dict[str, dict] = data["jobs"] if isinstance(data.get("jobs"), dict) else {}
        except (OSError, ValueError, AttributeError):
            self.jobs = {}

    def complete(self, job: Job) -> bool:
        entry = self.jobs.get(job.id)
        if not isinstance(entry, dict) or entry.get("spec") != spec_hash(job) or not entry.get("files"):
            return False
        try:
            return all(_fingerprint(Path(p)) == fp for p, fp in entry["files"].items())
        except OSError:
            return False

    def record(self, job: Job, outputs: list[str]) -> None:
        """Remember a job's files; saved at once (temp + rename) so an interrupted batch resumes."""
        self.jobs[job.id] = {"spec": spec_hash(job), "files": {p: _fingerprint(Path(p)) for p in outputs}}
        self.path.parent.mkdir(exist_ok=True)
        data = json.dumps({"jobs": self.jobs}, indent=1).encode()
        write_atomically(self.path, lambda fh: fh.write(data))
