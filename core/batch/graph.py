"""The dependency graph of a manifest's jobs: explicit `after`, plus inputs that another job writes."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError
from .manifest import Job, Manifest


@dataclass
class Plan:
    manifest: Manifest
    order: list[Job]  # every dependency before its dependents; manifest order otherwise
    deps: dict[str, list[str]]  # job id -> ids it waits for

    def job(self, job_id: str) -> Job:
        return next(j for j in self.order if j.id == job_id)


def build_plan(manifest: Manifest) -> Plan:
    """Check ids and outputs, add implicit dependencies and order the jobs; UserError on a cycle."""
    by_id = {j.id: j for j in manifest.jobs}
    writer: dict = {}
    for job in manifest.jobs:
        if job.out in writer:
            raise UserError(f"job '{job.id}'.out: '{job.out}' is also the output of job '{writer[job.out]}'")
        writer[job.out] = job.id
    deps: dict[str, list[str]] = {}
    for job in manifest.jobs:
        wanted = list(job.after)
        for path in job.input_files():  # reading another job's output means waiting for it
            if path in writer and writer[path] not in wanted:
                wanted.append(writer[path])
        for dep in wanted:
            if dep not in by_id:
                raise UserError(f"job '{job.id}'.after: no job has the id '{dep}'")
            if dep == job.id:
                raise UserError(f"job '{job.id}'.after: a job cannot wait for itself")
        deps[job.id] = wanted
    return Plan(manifest, _ordered(manifest.jobs, deps), deps)


def _ordered(jobs: list[Job], deps: dict[str, list[str]]) -> list[Job]:
    done: set[str] = set()
    order: list[Job] = []
    pending = list(jobs)
    while pending:
        ready = [j for j in pending if all(d in done for d in deps[j.id])]
        if not ready:
            cycle = " -> ".join(j.id for j in pending)
            raise UserError(f"jobs {cycle}: their 'after' lists wait for each other in a cycle; break it")
        for job in ready:
            order.append(job)
            done.add(job.id)
        pending = [j for j in pending if j.id not in done]
    return order


def blocked_by(job_id: str, deps: dict[str, list[str]], status: dict[str, str]) -> list[str]:
    """The dependencies of a job that ended without usable outputs."""
    return [d for d in deps[job_id] if status.get(d) in ("failed", "blocked")]
