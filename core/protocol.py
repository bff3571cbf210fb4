"""The worker protocol: what crosses the pipe between the add-on and `python -m core worker`,
and the validation that turns untrusted request params into typed request specs.

Protocol (version 1): JSON lines, UTF-8. One request per line on stdin; events come back one per
line on stdout. stdout carries nothing else (the worker points fd 1 at stderr and keeps a private
copy for the protocol, so a library that prints cannot corrupt it); stderr carries logs only.
Blank lines are ignored. Lines longer than 1 MiB are rejected. JSON is strict: NaN, Infinity and
integers of more than 19 digits are rejected (the error carries the request's id when it can).

Request:  {"id": "<client id>", "type": "<type>", "params": {...}}
    id: non-empty string (≤ 200 chars), unique among the worker's queued and running jobs.
    params may be omitted for ping/shutdown.

Event:    {"id": "<request id>" | null, "event": "<kind>", ...}
    accepted   {"position": n}                 job queued (0 = runs next / now); params validated
    progress   {"step", "total", "stage", "losses": {name: float}, "preview": path?}
               at most ~10 per second; "preview" (only when the engine offers one, at most ~2 per
               second) is a ≤256-px float32 H×W×C .npy in the job folder, overwritten atomically.
    result     {"result": {...}}                 final
    error      {"kind": "user"|"internal"|"protocol", "message": "<one line>"}   final
    cancelled  {}                                final
    ready      {"protocol": 1, "pid": n}        sent once at start-up, id null
Every request gets exactly one final event (result, error or cancelled). A line that cannot be
tied to a request (not JSON, no id) gets an error event with id null.
kind: "user" = the user can fix it (bad file, bad option, out of memory: the UserError text);
"protocol" = the client sent something malformed; "internal" = a bug or engine failure (the
traceback goes to stderr). After any error the worker keeps serving.

Control requests are answered at once by the stdin reader, even while a job runs:
    ping       -> result {"pong": true, "protocol": 1, "pid", "running": id|null, "queued": [ids]}
    cancel     params {"job": "<id>"} -> result {"job", "state": "queued"|"running"|"unknown"};
               a queued job gets its "cancelled" event at once, a running one when its engine
               reaches the next step (it gets a CancelToken), or at the latest just before it writes
               its outputs. Only a cancel that arrives after the outputs are written is too late:
               that job reports its result.
    shutdown   cancels queued and running jobs (each gets "cancelled"), then result
               {"shutdown": true} and exit code 0. End of stdin does the same without the reply.

Jobs run one at a time, in order, on the main thread; models stay cached in the process between
jobs. check_setup is the exception: quick and read-only, it runs at once on its own thread (so
"Check setup" answers even while a long job runs) and cannot be cancelled.
    check_setup       params {"weights": path|null, "device": "auto"|...}
        -> {"python", "python_version", "core_version", "torch", "torchvision", "device" (what
            the preference resolves to; "auto" picks CUDA, then MPS, then CPU), "device_error"
            (null, or why the preferred device is unavailable), "cuda_available", "cuda_device",
            "mps_available", "weights_found", "weights_path", "weights_message", "platform", "pid"}
        Never downloads anything.
    stylize           params {"content": npy, "style": npy | [npy...], "masks": [npy...] | null,
                              "options": {StyleOptions}, "output": npy, "job_dir"?, "overwrite"?}
        -> {"outputs": [{"path", "name": "stylized", "kind": "color", "width", "height", "channels"}],
            "info": {"losses", "device", "backbone", "steps", "seconds", "notes",
                     "weights_read" (false: the worker reused the VGG19 it had loaded)}}
    texture_train     params {"exemplars": [npy...], "map_names": [str...] | null,
                              "options": {TrainOptions}, "checkpoint": ".pt path", "resume": ".pt" | null,
                              "job_dir"?, "overwrite"?}
        -> {"outputs": [{"path": checkpoint, "name": "checkpoint", "kind": "checkpoint"}],
            "info": {"seconds", "model", "steps", "train_seconds", "losses", "maps": [{name, kind,
                     channels}], "exemplar_size": [w, h]}}
    texture_generate  params {"checkpoint": ".pt", "width", "height", "seed"?: 0, "tileable"?: true,
                              "device"?: "auto"|..., "raw"?: false, "output_dir": folder, "job_dir"?,
                              "overwrite"?}
        -> {"outputs": [{"path" (output_dir/<name>.npy), "name", "kind": "color"|"normal"|"data",
                         "channels", "width", "height"}], "info": {"seconds", "seed", "tileable", "model", "steps",
                         "refined" (GAN models: refined with the exemplar's patches), "notes"?}}
        "raw": a GAN's own output without patch refinement; "notes": e.g. why a GAN's output was not refined.
        (generation itself cannot be interrupted; a cancel takes effect before outputs are written)
        Loaded checkpoints (and their generators) stay cached, keyed by path, mtime and size.
    animate           rendered EXR frames -> temporally coherent PNG frames; see core/animation/job.py

Images cross as .npy files: float32 H×W×C, rows top-down, values 0..1 (display-referred sRGB for
colour). Paths must be absolute. The worker reads only the files it is given (never with pickle)
and writes only: the named output files (".npy"/".pt", in an existing folder, inside "job_dir"
when given, never over an existing file unless "overwrite": true), one .npy per map in
"output_dir", and preview files in the job folder ("job_dir", else the output's folder).

Validation: `from_params` raises `ProtocolError` for a malformed request (wrong type, missing
field) and `UserError` for a well-formed request that names a bad file (missing, not .npy, outside
the job folder). Arrays are read with `load_array`, never with pickle. The engines are imported
lazily by core.tasks, so this module stays cheap.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from .atomic import write_atomically
from .errors import UserError

PROTOCOL_VERSION = 1
MAX_LINE = 1 << 20  # bytes in one request line
MAX_ID = 200  # characters in a request id
JOB_TYPES = ("check_setup", "stylize", "texture_train", "texture_generate", "animate")
CONTROL_TYPES = ("ping", "cancel", "shutdown")

MAX_SIDE = 32768  # pixels; anything larger is a mistake, not a texture
MAX_INPUTS = 64  # styles, masks or exemplars in one request


class ProtocolError(Exception):
    """The request itself is malformed (not the user's image or option)."""


# --- field readers ---------------------------------------------------------------------------

def _get(params: dict, key: str, required: bool = True) -> Any:
    if key not in params or params[key] is None:
        if required:
            raise ProtocolError(f"params.{key} is required")
        return None
    return params[key]


def _str(params: dict, key: str, required: bool = True) -> Optional[str]:
    value = _get(params, key, required)
    if value is None:
        return None
    if not isinstance(value, str) or not value or "\x00" in value:
        raise ProtocolError(f"params.{key} must be a non-empty string")
    return value


def _int(params: dict, key: str, lo: int, hi: int, default: Optional[int] = None) -> int:
    value = _get(params, key, default is None)
    if value is None:
        return int(default)  # type: ignore[arg-type]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(f"params.{key} must be an integer")
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise ProtocolError(f"params.{key} must be an integer")
        value = int(value)
    if not lo <= value <= hi:
        raise UserError(f"params.{key} = {value} is out of range {lo}..{hi}")
    return value


def _bool(params: dict, key: str, default: bool) -> bool:
    value = params.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ProtocolError(f"params.{key} must be true or false")
    return value


def _dict(params: dict, key: str) -> dict:
    value = params.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ProtocolError(f"params.{key} must be an object")
    return value


def _str_list(params: dict, key: str, required: bool, allow_single: bool = False) -> Optional[list[str]]:
    value = _get(params, key, required)
    if value is None:
        return None
    if allow_single and isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v and "\x00" not in v for v in value):
        raise ProtocolError(f"params.{key} must be a non-empty list of strings")
    if len(value) > MAX_INPUTS:
        raise UserError(f"params.{key}: at most {MAX_INPUTS} entries")
    return value


# --- paths -----------------------------------------------------------------------------------

def _absolute(key: str, raw: str) -> Path:
    path = Path(raw)
    if not path.is_absolute():
        raise UserError(f"params.{key}: '{raw}' must be an absolute path (the worker's folder is not yours)")
    return Path(os.path.normpath(path))


def input_file(key: str, raw: str, suffixes: tuple[str, ...] = (".npy",)) -> Path:
    path = _absolute(key, raw)
    if path.suffix.lower() not in suffixes:
        raise UserError(f"params.{key}: '{raw}' must be a {' or '.join(suffixes)} file")
    if not path.is_file():
        raise UserError(f"params.{key}: '{raw}' does not exist or is not a file")
    return path


def job_folder(params: dict) -> Optional[Path]:
    raw = _str(params, "job_dir", required=False)
    if raw is None:
        return None
    path = _absolute("job_dir", raw)
    if not path.is_dir():
        raise UserError(f"params.job_dir: '{raw}' is not an existing folder")
    return path.resolve()


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder)
        return True
    except ValueError:
        return False


def output_file(key: str, raw: str, suffix: str, job_dir: Optional[Path], overwrite: bool) -> Path:
    """An output the worker may write: absolute, right suffix, parent exists, inside job_dir when
    one is given, not a folder or link, and not an existing file unless overwrite is set."""
    path = _absolute(key, raw)
    if path.suffix.lower() != suffix:
        raise UserError(f"params.{key}: '{raw}' must end in {suffix}")
    if not path.parent.is_dir():
        raise UserError(f"params.{key}: the folder of '{raw}' does not exist")
    if job_dir is not None and not _inside(path.parent, job_dir):
        raise UserError(f"params.{key}: '{raw}' is outside the job folder '{job_dir}'")
    if path.is_symlink() or path.is_dir():
        raise UserError(f"params.{key}: '{raw}' is a folder or a link; the worker will not write there")
    if path.exists() and not overwrite:
        raise UserError(f"params.{key}: '{raw}' already exists (send \"overwrite\": true to replace it)")
    return path


def output_folder(key: str, raw: str, job_dir: Optional[Path]) -> Path:
    path = _absolute(key, raw)
    if not path.is_dir():
        raise UserError(f"params.{key}: '{raw}' is not an existing folder")
    if job_dir is not None and not _inside(path, job_dir):
        raise UserError(f"params.{key}: '{raw}' is outside the job folder '{job_dir}'")
    return path.resolve()


# --- arrays ----------------------------------------------------------------------------------

def load_array(path: Path, what: str, mask: bool = False) -> np.ndarray:
    """Read an image .npy (float32 H×W×C, rows top-down, 0..1) without pickle; H×W becomes H×W×1.
    Integer arrays are rescaled from their full range. Masks come back as H×W."""
    try:
        head = np.load(path, mmap_mode="r", allow_pickle=False)  # the header only: refuse huge arrays unread
        if head.ndim >= 2 and not (head.shape[0] <= MAX_SIDE and head.shape[1] <= MAX_SIDE):
            raise UserError(f"{what} '{path}' is {head.shape[1]}×{head.shape[0]}; sides must be 1..{MAX_SIDE}")
        del head
        arr = np.load(path, allow_pickle=False)
    except UserError:
        raise
    except Exception as exc:  # ValueError for pickled objects, OSError/EOFError for truncated files
        raise UserError(f"{what} '{path}' is not a readable .npy array ({exc})") from None
    if arr.dtype.kind not in "fiub":
        raise UserError(f"{what} '{path}' has dtype {arr.dtype}; send float32 0..1")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in ((1,) if mask else (1, 2, 3, 4)):
        raise UserError(f"{what} '{path}' has shape {arr.shape}; expected H×W{'' if mask else '×C (C = 1, 3 or 4)'}")
    h, w = arr.shape[:2]
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        raise UserError(f"{what} '{path}' is {w}×{h}; sides must be 1..{MAX_SIDE}")
    if arr.dtype.kind in "iu":
        arr = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    from .imageio import finite_pixels  # lazily: OpenCV is not needed to validate requests

    arr = finite_pixels(arr, f"{what} '{path}'")
    return arr[:, :, 0] if mask else arr


def save_array(path: Path, arr: np.ndarray) -> None:
    """Write float32 .npy atomically (temp file + rename): a reader never sees half a file."""
    write_atomically(path, npy_writer(arr))


def npy_writer(arr: np.ndarray) -> Callable[[Any], None]:
    """A writer (for core.atomic) of `arr` as a float32 .npy file, never pickled."""
    data = np.ascontiguousarray(arr, dtype=np.float32)
    return lambda fh: np.save(fh, data, allow_pickle=False)


_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(text: str, limit: int = 60) -> str:
    name = _SAFE.sub("_", text).strip("._")[:limit]
    return name or "item"


# --- request specs ---------------------------------------------------------------------------

def _output_in_job_folder(params: dict, key: str, suffix: str) -> tuple[Path, Optional[Path]]:
    """The output file a request names (checked by output_file) and its job folder, if one is given."""
    job_dir = job_folder(params)
    overwrite = _bool(params, "overwrite", False)
    return output_file(key, _str(params, key), suffix, job_dir, overwrite), job_dir


@dataclass
class StylizeRequest:
    content: Path
    styles: list[Path]
    masks: Optional[list[Path]]
    options: dict
    output: Path
    job_dir: Path

    @classmethod
    def from_params(cls, params: dict) -> "StylizeRequest":
        output, job_dir = _output_in_job_folder(params, "output", ".npy")
        content = input_file("content", _str(params, "content"))
        styles = [input_file("style", s) for s in _str_list(params, "style", True, allow_single=True)]
        masks_raw = _str_list(params, "masks", required=False)
        masks = [input_file("masks", m) for m in masks_raw] if masks_raw else None
        if masks is not None and len(masks) != len(styles):
            raise UserError(f"params.masks: {len(masks)} masks for {len(styles)} styles; send one mask per style")
        if output in (content, *styles, *(masks or [])):
            raise UserError("params.output must not be one of the input files")
        return cls(content, styles, masks, _dict(params, "options"), output, job_dir or output.parent)


@dataclass
class TrainRequest:
    exemplars: list[Path]
    map_names: Optional[list[str]]
    options: dict
    checkpoint: Path
    resume: Optional[Path]
    job_dir: Path

    @classmethod
    def from_params(cls, params: dict) -> "TrainRequest":
        checkpoint, job_dir = _output_in_job_folder(params, "checkpoint", ".pt")
        exemplars = [input_file("exemplars", e) for e in _str_list(params, "exemplars", True, allow_single=True)]
        map_names = _str_list(params, "map_names", required=False)
        if map_names is not None and len(map_names) != len(exemplars):
            raise UserError(f"params.map_names: {len(map_names)} names for {len(exemplars)} exemplars")
        resume_raw = _str(params, "resume", required=False)
        resume = input_file("resume", resume_raw, (".pt",)) if resume_raw else None
        return cls(exemplars, map_names, _dict(params, "options"), checkpoint, resume, job_dir or checkpoint.parent)


@dataclass
class GenerateRequest:
    checkpoint: Path
    width: int
    height: int
    seed: int
    tileable: bool
    output_dir: Path
    overwrite: bool
    job_dir: Path
    device: Optional[str] = None
    raw: bool = False  # GAN models: the network's own output, without patch refinement

    @classmethod
    def from_params(cls, params: dict) -> "GenerateRequest":
        job_dir = job_folder(params)
        output_dir = output_folder("output_dir", _str(params, "output_dir"), job_dir)
        return cls(
            checkpoint=input_file("checkpoint", _str(params, "checkpoint"), (".pt",)),
            width=_int(params, "width", 8, 16384),
            height=_int(params, "height", 8, 16384),
            seed=_int(params, "seed", 0, 2**63 - 1, default=0),
            tileable=_bool(params, "tileable", True),
            output_dir=output_dir,
            overwrite=_bool(params, "overwrite", False),
            job_dir=job_dir or output_dir,
            device=_str(params, "device", required=False),
            raw=_bool(params, "raw", False),
        )


# Job types whose params are validated into a spec before they are queued (check_setup's are read by its handler).
SPECS: dict[str, Callable[[dict], Any]] = {
    "stylize": StylizeRequest.from_params,
    "texture_train": TrainRequest.from_params,
    "texture_generate": GenerateRequest.from_params,
    "animate": lambda params: _animate_request(params),
}


def _animate_request(params: dict) -> Any:
    from .animation.job import AnimateRequest  # its params and notes live with the animation engine
    return AnimateRequest.from_params(params)
