"""`python -m core batch MANIFEST [--ray [ADDRESS]] [--workers N]`."""
from __future__ import annotations

import argparse

from ..errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "batch", help="run the jobs of a manifest (JSON or TOML) locally or on a Ray cluster",
        description="Run every job of MANIFEST: one JSON line per finished job, a JSON summary last. "
                    "Jobs whose outputs are complete are skipped; existing files are never replaced "
                    "unless the job sets \"overwrite\": true.")
    p.add_argument("manifest", metavar="MANIFEST", help="manifest file (.json or .toml); relative paths start at its folder")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run as Ray tasks: alone, on a new local cluster; 'auto', 'host:6379' or "
                        "'ray://host:10001' to join one (needs the ray extra: install.py setup --with ray)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="jobs at once: locally default one per GPU (or 1 on the CPU); with a bare --ray, "
                        "the CPUs of the local cluster (default: all). A joined cluster's own resources decide")
    p.add_argument("--no-shared-storage", action="store_true",
                   help="Ray: the nodes do not see the manifest's folder; send files through Ray's object store")
    p.add_argument("--retries", type=int, default=2, metavar="N",
                   help="Ray: retries of a job that crashed or raised an unexpected error (default 2)")
    p.set_defaults(func=run_batch)


def run_batch(args: argparse.Namespace) -> int:
    from .graph import build_plan
    from .manifest import load_manifest
    from .report import Reporter
    from .state import BatchState

    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers {args.workers}: must be 1 or more")
    if args.retries < 0:
        raise UserError(f"--retries {args.retries}: must be 0 or more")
    if args.workers is not None and args.ray not in (None, "local"):
        raise UserError(f"--workers: a joined Ray cluster ({args.ray}) runs as many jobs as its GPUs and CPUs "
                        "allow; leave --workers out (it sizes local runs and the cluster a bare --ray starts)")
    if args.no_shared_storage and args.ray is None:
        raise UserError("--no-shared-storage: only means something with --ray")
    plan = build_plan(load_manifest(args.manifest))
    reporter = Reporter(len(plan.order), "local" if args.ray is None else "ray")
    state = BatchState(plan.manifest)
    if args.ray is None:
        from .local import run_local

        run_local(plan, reporter, state, args.workers)
    else:
        try:
            import ray  # noqa: F401
        except ModuleNotFoundError:
            raise UserError("--ray: the ray package is not installed; run `python3 install.py setup --with ray`") from None
        from .ray_runner import run_ray

        run_ray(plan, reporter, state, None if args.ray == "local" else args.ray, args.workers,
                shared_storage=not args.no_shared_storage, retries=args.retries)
    summary = reporter.summary()
    return 0 if summary["failed"] + summary["blocked"] == 0 else 1
