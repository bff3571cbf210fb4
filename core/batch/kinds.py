"""The job kinds a manifest may name, each mapped onto the CLI command it runs in-process."""
from __future__ import annotations

import argparse
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from ..errors import UserError
from ..progress import ProgressCallback


@dataclass(frozen=True)
class Kind:
    name: str
    command: tuple[str, ...]  # the words after `python -m core`
    inputs: tuple[str, ...]  # manifest fields holding input files, in the command's positional order
    many: tuple[str, ...]  # of those, the ones that may list several files
    out_suffixes: tuple[str, ...]
    out_flag: str  # how the command takes its output path
    optional: tuple[str, ...] = ()  # inputs a job may leave out
    folder_out: bool = False  # `out` is a folder the command fills
    public: bool = True  # may appear in a manifest (the others are made by expanding an animate job)
    needs: str = ""  # a subcommand that must exist in this build, else the kind is validated but not run


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
KINDS: dict[str, Kind] = {
    "stylize": Kind("stylize", ("stylize",), ("content", "style"), ("style",), IMAGE_SUFFIXES, "-o"),
    "texture_train": Kind("texture_train", ("texture", "train"), ("exemplar",), ("exemplar",),
                          (".pt", ".pth", ".ckpt"), "-o"),
    "texture_generate": Kind("texture_generate", ("texture", "generate"), ("model",), (), IMAGE_SUFFIXES, "-o"),
    # An animate job becomes chunk jobs (consecutive frames, in order, on one worker) and a join job.
    # vectors: Vector pass files (.exr/.npy), one per frame, for PNG/TIFF frames (EXR frames carry their own).
    "animate": Kind("animate", ("animate",), ("frames", "style", "vectors"), ("frames", "style", "vectors"), (),
                    "-o", optional=("vectors",), folder_out=True, needs="animate"),
    "animate_chunk": Kind("animate_chunk", ("animate",), ("frames", "style", "vectors"), ("frames", "style", "vectors"),
                          (), "-o", optional=("vectors",), folder_out=True, public=False, needs="animate"),
    "animate_join": Kind("animate_join", (), ("chunks",), ("chunks",), (), "", folder_out=True, public=False),
}
ANIMATE_DEFAULTS = {"chunk": 24, "overlap": 4}  # frames per chunk, frames shared by neighbouring chunks
# Options the manifest must not set: the job's own fields carry them.
RESERVED = {"out", "output", "o", "help", "h"}


@lru_cache(maxsize=1)
def _root_parser() -> argparse.ArgumentParser:
    from ..__main__ import build_parser

    return build_parser()


def _subparser(words: tuple[str, ...]) -> Optional[argparse.ArgumentParser]:
    parser = _root_parser()
    for word in words:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if word not in sub.choices:
            return None
        parser = sub.choices[word]
    return parser


def available(kind: Kind) -> bool:
    return not kind.needs or _subparser((kind.needs,)) is not None


def unavailable_message(kind: Kind) -> str:
    return (f"kind '{kind.name}': `python -m core {kind.needs}` is not part of this build yet, so these jobs "
            "are checked but not run; update Neural Atelier")


def _option_action(parser: argparse.ArgumentParser, key: str) -> Optional[argparse.Action]:
    flag = "--" + key.replace("_", "-")
    for action in parser._actions:
        if flag in action.option_strings:
            return action
    return None


def options_argv(kind: Kind, options: dict[str, Any], where: str) -> list[str]:
    """The command-line form of a job's options (long options without the dashes).
    `where` names the job in errors, e.g. "job 'a': options.size"."""
    parser = _subparser(kind.command)
    if parser is None:  # the command is not in this build: keep the options as given, report at run time
        return []
    argv: list[str] = []
    for key, value in options.items():
        action = _option_action(parser, key) if key not in RESERVED else None
        if action is None:
            raise UserError(f"{where}.{key}: not an option of `python -m core {' '.join(kind.command)}` "
                            f"(see its --help; inputs and 'out' are job fields)")
        flag = "--" + key.replace("_", "-")
        if isinstance(action, argparse.BooleanOptionalAction):
            if not isinstance(value, bool):
                raise UserError(f"{where}.{key}: must be true or false")
            argv.append(flag if value else "--no-" + key.replace("_", "-"))
        elif isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            if not isinstance(value, bool):
                raise UserError(f"{where}.{key}: must be true or false")
            if value == isinstance(action, argparse._StoreTrueAction):
                argv.append(flag)
        elif isinstance(action, argparse._AppendAction):
            for item in value if isinstance(value, list) else [value]:
                argv.append(f"{flag}={_scalar(item, f'{where}.{key}')}")
        else:  # --flag=value: a value starting with '-' stays a value
            argv.append(f"{flag}={_scalar(value, f'{where}.{key}')}")
    return argv


def _scalar(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise UserError(f"{where}: must be a number or a string, got {type(value).__name__}")
    return str(value)


def command_argv(kind: Kind, inputs: dict[str, list[Path]], out: Path, options: dict[str, Any], where: str) -> list[str]:
    """The full argv of the command this job runs, checked by the command's own parser."""
    if kind.name == "animate_join" or not available(kind):
        return []
    if kind.name.startswith("animate"):  # FRAMES... --style STYLE... [--vectors FILE...] -o OUTDIR
        files = [str(p) for p in inputs["frames"]] + ["--style", *[str(p) for p in inputs["style"]]]
        if inputs.get("vectors"):
            files += ["--vectors", *[str(p) for p in inputs["vectors"]]]
    else:
        files = [str(p) for name in kind.inputs for p in inputs.get(name, [])]
    argv = [*kind.command, *files, kind.out_flag, str(out), *options_argv(kind, options, where)]
    try:
        _root_parser().parse_args(argv)
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None
    return argv


def run_command(kind: Kind, argv: list[str], progress: Optional[ProgressCallback]) -> dict:
    """Run the command in this process through its Python entry point; returns its JSON summary."""
    if not available(kind):
        raise UserError(unavailable_message(kind))
    args = _root_parser().parse_args(argv)
    if kind.name == "stylize":
        from ..style.cli import stylize_to_file

        return stylize_to_file(args, progress)
    if kind.name == "texture_train":
        from ..texture.cli import train_to_file

        return train_to_file(args, progress)
    if kind.name == "texture_generate":
        from ..texture.cli import generate_to_files

        return generate_to_files(args)
    if kind.name == "animate_chunk":
        return _quiet(args.func, args)
    raise UserError(f"kind '{kind.name}' has no runner")


_QUIET = threading.Lock()


def _quiet(func, args: argparse.Namespace) -> dict:
    """Run a command that prints its JSON summary (and draws its own bar on a terminal); return the
    summary instead. The redirect is process-wide, so such commands run one at a time in a process."""
    import contextlib
    import io
    import json

    buffer = io.StringIO()
    with _QUIET, contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(io.StringIO()):
        func(args)
    lines = [line for line in buffer.getvalue().splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def uses_gpu(options: dict[str, Any]) -> bool:
    """Every kind runs on a GPU when one is there, unless the job pins the CPU."""
    return str(options.get("device", "auto")).lower() != "cpu"
