"""The dependency graph of a manifest's jobs: explicit `after`, plus inputs that another job writes."""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from ..errors import UserError
from .chunks import plan_chunks
from .manifest import Job, Manifest


@dataclass
class Plan:
    manifest: Manifest
    order: list[Job]  # every dependency before its dependents; manifest order otherwise
    deps: dict[str, list[str]]  # job id -> ids it waits for
    part_of: dict[str, str] = field(default_factory=dict)  # animation chunk id -> its join job's id

    def job(self, job_id: str) -> Job:
        return next(j for j in self.order if j.id == job_id)


def expand_animation(job: Job) -> list[Job]:
    """Chunk jobs of consecutive frames, each into a hidden folder inside `out`, and the join job
    (same id as the animate job) that blends them into `out`; '#' keeps chunk ids apart from user ids."""
    try:
        ranges = plan_chunks(len(job.inputs["frames"]), job.chunking["chunk"], job.chunking["overlap"])
    except UserError as exc:
        raise UserError(f"job '{job.id}'.{exc}") from None
    numbers = [_frame_number(p) for p in job.inputs["frames"]]
    if None in numbers or len(set(numbers)) != len(numbers):
        raise UserError(f"job '{job.id}'.frames: every frame file needs its own frame number at the end of its "
                        "name (render_0001.exr, ...), so that the chunks' frames can be matched when joined")

    def part(r: range) -> dict:
        picked = {"frames": [job.inputs["frames"][i] for i in r], "style": job.inputs["style"]}
        if "vectors" in job.inputs:
            picked["vectors"] = [job.inputs["vectors"][i] for i in r]
        return picked

    chunks = [dataclasses.replace(job, id=f"{job.id}#{k}", kind="animate_chunk", out=job.out / f".batch-chunk-{k}",
                                  inputs=part(r)) for k, r in enumerate(ranges)]
    join = dataclasses.replace(job, kind="animate_join", inputs={"chunks": [c.out for c in chunks]}, options={},
                               after=list(job.after) + [c.id for c in chunks])
    return [*chunks, join]


def _frame_number(path) -> int | None:
    match = re.search(r"(\d+)$", path.stem)
    return int(match.group(1)) if match else None


def build_plan(manifest: Manifest) -> Plan:
    """Check ids and outputs, add implicit dependencies and order the jobs; UserError on a cycle."""
    jobs = [part for job in manifest.jobs for part in (expand_animation(job) if job.kind == "animate" else [job])]
    part_of = {j.id: j.id.split("#")[0] for j in jobs if j.kind == "animate_chunk"}
    manifest = dataclasses.replace(manifest, jobs=jobs)
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
    return Plan(manifest, _ordered(manifest.jobs, deps), deps, part_of)


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


def already_done(plan: Plan, state, job: Job) -> bool:
    """Finished in an earlier run: recorded as complete, or a chunk of an animation already joined."""
    return state.complete(job) or (job.id in plan.part_of and state.complete(plan.job(plan.part_of[job.id])))


def blocked_by(job_id: str, deps: dict[str, list[str]], status: dict[str, str]) -> list[str]:
    """The dependencies of a job that ended without usable outputs."""
    return [d for d in deps[job_id] if status.get(d) in ("failed", "blocked")]
