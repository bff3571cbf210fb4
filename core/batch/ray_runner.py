"""Run a plan on a Ray cluster: each job one Ray task (a GPU when the cluster has them and the job
can use one, else a CPU); dependents receive their dependencies' result refs as arguments, so Ray
starts them when those finish. Files stay on the shared manifest folder, or travel as bytes
through the object store (`shared_storage=False`)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import tempfile
from pathlib import Path
from typing import Any, Optional

from ..errors import UserError
from .execute import JobResult, execute
from .graph import Plan, already_done
from .kinds import uses_gpu
from .manifest import Job
from .outputs import commit, finished, make_staging, remove_staging, staged_files
from .report import Reporter
from .state import BatchState


def connect(address: Optional[str], workers: Optional[int]) -> bool:
    """Start or join a cluster; True when this call started Ray (and so should stop it).
    None: a new private local cluster of `workers` CPUs; 'auto', 'host:6379' or 'ray://host:10001': join."""
    import ray

    if address not in (None, "local"):
        _check_reachable(address)
    if ray.is_initialized():  # a program that embeds the batch (or a test) already connected
        return False
    if address in (None, "local"):
        ray.init(address="local", num_cpus=workers or os.cpu_count(), include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    else:
        try:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise UserError(f"--ray {address}: cannot join that Ray cluster ({str(exc).splitlines()[0]}); "
                            "start it with `ray start --head` or check the address") from None
    return True


def _check_reachable(address: str) -> None:
    """Fail in seconds, not minutes, when nothing listens at HOST:PORT (Ray itself waits long)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if address == "auto" or not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise UserError(f"--ray {address}: nothing answers there ({exc.strerror or exc}); start the cluster with "
                        "`ray start --head` and give its address") from None


def portable_key(path: Path, root: Path) -> str:
    """A file's name relative to the manifest folder, the same on every machine."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:  # outside the manifest folder: a stable private name
        return f"_external/{hashlib.sha1(str(path).encode()).hexdigest()[:12]}/{path.name}"


def _relocated(job: Job, root: Path, new_root: Path) -> Job:
    move = lambda p: new_root / portable_key(p, root)  # noqa: E731
    return dataclasses.replace(job, inputs={k: [move(p) for p in v] for k, v in job.inputs.items()}, out=move(job.out))


def _remote_job(job: Job, root: str, shared: bool, n_deps: int, *refs: Any) -> dict:
    """The Ray task. Arguments after n_deps dependency results are {portable key: bytes} input files."""
    deps, blobs = refs[:n_deps], refs[n_deps:]
    failed = [d["result"].id for d in deps if d["result"].status in ("failed", "blocked")]
    if failed:
        return {"result": JobResult(job.id, job.kind, "blocked", error=f"waits for failed job(s) {', '.join(failed)}")}
    if shared:
        return {"result": execute(job, raise_unexpected=True)}
    files: dict[str, bytes] = {}
    for part in [d.get("files", {}) for d in deps] + list(blobs):
        files.update(part)
    with tempfile.TemporaryDirectory(prefix="atelier-batch-") as tmp:
        for key, data in files.items():
            (Path(tmp) / key).parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / key).write_bytes(data)
        result = execute(_relocated(job, Path(root), Path(tmp)), raise_unexpected=True)
        out = {portable_key(Path(p), Path(tmp)): Path(p).read_bytes() for p in result.outputs}
    if result.result is not None:
        result.result = json.loads(json.dumps(result.result).replace(json.dumps(tmp)[1:-1], json.dumps(root)[1:-1]))
    result.outputs = [str(Path(root) / k) for k in out]
    return {"result": result, "files": out}


def _commit_bytes(job: Job, files: dict[str, bytes]) -> list[str]:
    """No shared storage: write a finished job's files next to the manifest, whole or not at all."""
    staging = make_staging(job)
    try:
        for key, data in files.items():
            (staging / Path(key).name).write_bytes(data)
        target = job.out if job.spec.folder_out else job.out.parent
        target.mkdir(parents=True, exist_ok=True)
        return [str(p) for p in commit(staged_files(staging), target, job)]
    finally:
        remove_staging(staging)


def run_ray(plan: Plan, reporter: Reporter, state: BatchState, address: Optional[str] = None, workers: Optional[int] = None,
            shared_storage: bool = True, retries: int = 2) -> list[JobResult]:
    import ray

    started = connect(address, workers)
    try:
        return _run(plan, reporter, state, shared_storage, retries)
    finally:
        if started:
            ray.shutdown()


def _run(plan: Plan, reporter: Reporter, state: BatchState, shared: bool, retries: int) -> list[JobResult]:
    import ray

    task = ray.remote(_remote_job)
    has_gpu = ray.cluster_resources().get("GPU", 0) > 0
    root = plan.manifest.root
    writer = {j.out: j.id for j in plan.order}
    refs: dict[str, Any] = {}  # job id -> ObjectRef of its task
    decided: dict[str, JobResult] = {}  # jobs settled without a task
    blob_refs: dict[Path, Any] = {}
    results: list[JobResult] = []

    def settle(result: JobResult) -> None:
        if result.status == "succeeded":
            state.record(plan.job(result.id), result.outputs)
            finished(plan.job(result.id))
        decided[result.id] = result
        results.append(result)
        reporter.finished(result)

    for job in plan.order:
        bad = [d for d in plan.deps[job.id] if d in decided and decided[d].status in ("failed", "blocked")]
        if bad:
            settle(JobResult(job.id, job.kind, "blocked", error=f"waits for failed job(s) {', '.join(bad)}"))
            continue
        if already_done(plan, state, job):
            settle(JobResult(job.id, job.kind, "skipped"))
            continue
        dep_refs = [refs[d] for d in plan.deps[job.id] if d in refs]
        blobs = []
        try:
            for path in job.input_files():
                if writer.get(path) in refs or (dep_refs and not path.exists()):
                    continue  # a dependency of this run produces it
                if not path.is_file():
                    raise UserError(f"job '{job.id}': input '{path}' not found")
                if shared:
                    continue
                if path not in blob_refs:
                    blob_refs[path] = ray.put({portable_key(path, root): path.read_bytes()})
                blobs.append(blob_refs[path])
        except UserError as exc:
            settle(JobResult(job.id, job.kind, "failed", error=str(exc)))
            continue
        resources = {"num_gpus": 1} if has_gpu and uses_gpu(job.options) else {"num_cpus": 1}
        refs[job.id] = task.options(**resources, max_retries=retries, retry_exceptions=True, name=f"batch:{job.id}") \
            .remote(job, str(root), shared, len(dep_refs), *dep_refs, *blobs)

    by_ref = {ref: job_id for job_id, ref in refs.items()}
    waiting = list(refs.values())
    while waiting:
        ready, waiting = ray.wait(waiting, num_returns=1)
        job = plan.job(by_ref[ready[0]])
        try:
            value = ray.get(ready[0])
            result = value["result"]
            if "files" in value and result.status == "succeeded":
                result.outputs = _commit_bytes(job, value["files"])
        except UserError as exc:
            result = JobResult(job.id, job.kind, "failed", error=str(exc))
        except ray.exceptions.RayError as exc:
            result = _classify_failure(job, plan, decided, exc, retries)
        settle(result)
    return results


def _classify_failure(job: Job, plan: Plan, decided: dict[str, JobResult], exc: Exception, retries: int) -> JobResult:
    bad = [d for d in plan.deps[job.id] if d in decided and decided[d].status in ("failed", "blocked")]
    if bad:  # Ray fails a task whose argument failed; that is the dependency's error, not this job's
        return JobResult(job.id, job.kind, "blocked", error=f"waits for failed job(s) {', '.join(bad)}")
    cause = getattr(exc, "cause", None) or exc
    text = str(cause).strip().splitlines()
    message = text[-1] if text else type(cause).__name__
    return JobResult(job.id, job.kind, "failed", error=f"{type(cause).__name__}: {message} (after {retries} retries)")
