"""`python -m core ...`: the command line. Each engine registers its own subcommand."""
from __future__ import annotations

import argparse
import importlib
import signal
import sys

from .errors import UserError

# Modules that provide `register(subparsers)`; each adds one subcommand whose handler
# is stored as `func` and returns an exit code.
COMMAND_MODULES = ("core.style.cli", "core.texture.cli", "core.animation.cli", "core.worker", "core.batch.cli")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        raise UserError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m core", description="Neural Atelier core engine")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if not name.startswith(exc.name or "?"):
                raise
            continue  # engine not built yet
        module.register(sub)
    return parser


class Terminated(BaseException):
    """SIGTERM: unwinds like Ctrl+C, so atomic writes remove their temp files."""


def _terminate(signum, frame) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    try:
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except (UserError, KeyboardInterrupt, Terminated) as exc:
        code, line = next(v for k, v in _STOPS.items() if isinstance(exc, k))
        print(line.format(exc), file=sys.stderr)
        return code


# How each way of stopping early is reported: (exit code, the one line on stderr).
_STOPS: dict[type, tuple[int, str]] = {
    UserError: (2, "error: {}"),
    KeyboardInterrupt: (130, "interrupted"),
    Terminated: (143, "terminated"),
}

if __name__ == "__main__":
    sys.exit(main())
