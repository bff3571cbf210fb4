"""Run a plan on this machine: one job at a time per device (each GPU, else the CPU), in this process."""
from __future__ import annotations

import queue
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Optional

from .execute import JobResult, execute
from .graph import Plan, already_done, blocked_by
from .outputs import finished
from .manifest import Job
from .report import Reporter
from .state import BatchState


def device_slots(workers: Optional[int] = None) -> list[Optional[int]]:
    """A CUDA index per concurrent job, or None for the default device (CPU or MPS: one job)."""
    import torch

    devices: list[Optional[int]] = list(range(torch.cuda.device_count())) or [None]
    return [devices[i % len(devices)] for i in range(workers or len(devices))]


def _run_on_slot(job: Job, slots: "queue.Queue[Optional[int]]", reporter: Reporter) -> JobResult:
    device = slots.get()
    try:
        if device is not None:
            import torch

            torch.cuda.set_device(device)  # per thread: "cuda"/"auto" in the command now means this GPU
        reporter.started(job.id)
        return execute(job, progress=lambda f: reporter.progress(job.id, f))
    finally:
        slots.put(device)


def run_local(plan: Plan, reporter: Reporter, state: BatchState, workers: Optional[int] = None) -> list[JobResult]:
    slot_list = device_slots(workers)
    slots: "queue.Queue[Optional[int]]" = queue.Queue()
    for slot in slot_list:
        slots.put(slot)
    status: dict[str, str] = {}
    results: list[JobResult] = []
    pending = list(plan.order)
    running: dict[Future, Job] = {}

    def finish(result: JobResult) -> None:
        if result.status == "succeeded":
            state.record(plan.job(result.id), result.outputs)
            finished(plan.job(result.id))
        status[result.id] = result.status
        results.append(result)
        reporter.finished(result)

    with ThreadPoolExecutor(max_workers=len(slot_list), thread_name_prefix="batch") as pool:
        while pending or running:
            for job in list(pending):
                bad = blocked_by(job.id, plan.deps, status)
                if bad:
                    pending.remove(job)
                    finish(JobResult(job.id, job.kind, "blocked", error=f"waits for failed job(s) {', '.join(bad)}"))
                elif already_done(plan, state, job):
                    pending.remove(job)
                    finish(JobResult(job.id, job.kind, "skipped"))
                elif all(d in status for d in plan.deps[job.id]) and len(running) < len(slot_list):
                    pending.remove(job)
                    running[pool.submit(_run_on_slot, job, slots, reporter)] = job
            if not running:
                continue
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                running.pop(future)
                finish(future.result())
    return results
