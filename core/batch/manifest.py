"""Read a batch manifest (JSON or TOML) into validated Job specs; paths resolve against its folder."""
from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from .kinds import ANIMATE_DEFAULTS, KINDS, Kind, command_argv

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_COMMON = {"id", "kind", "out", "after", "options", "overwrite"}


@dataclass
class Job:
    id: str
    kind: str
    inputs: dict[str, list[Path]]  # manifest field -> absolute input files
    out: Path  # absolute
    options: dict[str, Any] = field(default_factory=dict)
    after: list[str] = field(default_factory=list)
    overwrite: bool = False  # the job may replace existing outputs
    chunking: dict[str, int] = field(default_factory=dict)  # animate: chunk and overlap (frames)

    @property
    def spec(self) -> Kind:
        return KINDS[self.kind]

    def input_files(self) -> list[Path]:
        return [p for paths in self.inputs.values() for p in paths]

    def argv(self, out: Path | None = None, inputs: dict[str, list[Path]] | None = None) -> list[str]:
        """The command line this job runs, optionally with its files moved (staging, another machine)."""
        return command_argv(self.spec, inputs or self.inputs, out or self.out, self.options, f"job '{self.id}': options")


@dataclass
class Manifest:
    path: Path
    root: Path  # the manifest's folder: relative paths start here; shared storage for Ray
    jobs: list[Job]


def _load(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"manifest '{path}': cannot read it ({exc.strerror or exc})") from None
    try:
        if path.suffix.lower() == ".toml":
            return tomllib.loads(text)
        return json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"manifest '{path}': not valid {'TOML' if path.suffix.lower() == '.toml' else 'JSON'} ({exc})") from None


def _path(root: Path, raw: Any, where: str) -> Path:
    if not isinstance(raw, str) or not raw or "\x00" in raw:
        raise UserError(f"{where}: must be a file path (a non-empty string)")
    p = Path(os.path.expanduser(raw))
    return Path(os.path.normpath(p if p.is_absolute() else root / p))


def _job(root: Path, raw: Any, index: int) -> Job:
    where = f"jobs[{index}]"
    if not isinstance(raw, dict):
        raise UserError(f"{where}: must be an object with id, kind, out and the kind's inputs")
    job_id = raw.get("id")
    if not isinstance(job_id, str) or not _ID.match(job_id):
        raise UserError(f"{where}.id: give each job a short id of letters, digits, '_', '.' or '-'")
    where = f"job '{job_id}'"
    kind_name = raw.get("kind")
    public = [k for k, v in KINDS.items() if v.public]
    if kind_name not in public:
        raise UserError(f"{where}.kind: '{kind_name}' is not one of {', '.join(public)}")
    kind = KINDS[kind_name]
    chunking = {k: raw.get(k, v) for k, v in ANIMATE_DEFAULTS.items()} if kind_name == "animate" else {}
    for key, value in chunking.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise UserError(f"{where}.{key}: must be a whole number of frames")
    unknown = set(raw) - _COMMON - set(kind.inputs) - set(chunking)
    if unknown:
        raise UserError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}; a {kind_name} job has "
                        f"{', '.join(sorted(_COMMON | set(kind.inputs)))} (command options go in 'options')")
    inputs: dict[str, list[Path]] = {}
    for name in kind.inputs:
        value = raw.get(name)
        if value is None and name in kind.optional:
            continue
        if value is None:
            raise UserError(f"{where}.{name}: required for a {kind_name} job")
        values = value if isinstance(value, list) and name in kind.many else [value]
        if not values:
            raise UserError(f"{where}.{name}: give at least one file")
        inputs[name] = [_path(root, v, f"{where}.{name}") for v in values]
        if name == "frames" and len(inputs[name]) == 1 and any(c in str(inputs[name][0]) for c in "*?["):
            pattern = inputs[name][0]  # "render/frame_*.exr": every match, in name order
            inputs[name] = sorted(pattern.parent.glob(pattern.name))
            if not inputs[name]:
                raise UserError(f"{where}.frames: no file matches '{pattern}'")
    if "vectors" in inputs and len(inputs["vectors"]) != len(inputs["frames"]):
        raise UserError(f"{where}.vectors: {len(inputs['vectors'])} files for {len(inputs['frames'])} frames; one per frame")
    out = _path(root, raw.get("out"), f"{where}.out")
    if kind.folder_out:
        if out.is_file():
            raise UserError(f"{where}.out: '{out}' is a file; an {kind_name} job writes into a folder")
    elif out.suffix.lower() not in kind.out_suffixes:
        raise UserError(f"{where}.out: '{out.name}' must end in {', '.join(kind.out_suffixes)}")
    after = raw.get("after", [])
    if isinstance(after, str):
        after = [after]
    if not isinstance(after, list) or not all(isinstance(a, str) for a in after):
        raise UserError(f"{where}.after: must be a list of job ids")
    options = raw.get("options", {})
    if not isinstance(options, dict):
        raise UserError(f"{where}.options: must be an object of the command's long options without the dashes")
    overwrite = raw.get("overwrite", False)
    if not isinstance(overwrite, bool):
        raise UserError(f"{where}.overwrite: must be true or false")
    if out in [f for files in inputs.values() for f in files]:
        raise UserError(f"{where}.out: must not be one of the job's inputs")
    job = Job(job_id, kind_name, inputs, out, dict(options), list(after), overwrite, chunking)
    job.argv()  # the command's own parser checks every option now, before any job runs
    return job


def load_manifest(path: str | os.PathLike) -> Manifest:
    """Parse and validate; raises UserError naming the field. Input files are checked per job at run time,
    so one missing file fails its job (and those after it), not the whole batch."""
    p = Path(path).expanduser().resolve()
    if not p.is_file():
        raise UserError(f"manifest '{path}': file not found")
    data = _load(p)
    if not isinstance(data, dict) or not isinstance(data.get("jobs"), list) or not data["jobs"]:
        raise UserError(f"manifest '{p}': expected {{\"jobs\": [...]}} with at least one job")
    extra = set(data) - {"jobs"}
    if extra:
        raise UserError(f"manifest '{p}': unknown top-level field(s) {', '.join(sorted(extra))}; only 'jobs'")
    jobs = [_job(p.parent, raw, i) for i, raw in enumerate(data["jobs"])]
    seen: set[str] = set()
    for job in jobs:
        if job.id in seen:
            raise UserError(f"job '{job.id}': the id is used twice; ids must be unique")
        seen.add(job.id)
    return Manifest(p, p.parent, jobs)
