"""Batch jobs from a manifest, run locally (one job per device) or as Ray tasks on a cluster.

manifest (parse + validate) -> graph (dependencies, order) -> local or ray_runner, which run each job
through execute (stage, call the command in-process, commit) and tell report (progress, JSON lines)."""
