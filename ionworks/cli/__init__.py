"""Command line: ``ionworks demo | run | validate | convert | serve | stop | logs | jobs | cancel
| watch | ui``.

:func:`main` is the one error boundary. Exit codes: 0 success; 1 a failure (a file that
cannot be read, an invalid protocol, an unknown model, an error from the API or a failed
job, or a bug); 2 a usage error (a wrong or missing argument: one line naming it); 130
Ctrl-C. Errors are one or two lines on stderr; ``--debug`` (before or after the command) or
``IONWORKS_DEBUG=1`` prints the traceback as well.

The commands live in ``_simulate`` (run, demo), ``_protocols`` (validate, convert),
``_server`` (serve, stop, logs, jobs, cancel), ``_watch`` (watch) and ``_ui`` (ui); each imports what it
needs when it runs, so ``ionworks --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from ionworks.cli import _protocols, _server, _simulate, _ui, _watch
from ionworks.cli._common import CLIError, Interrupted, Parser, name_flags
from ionworks.cli._simulate import DEMO_PROTOCOL

__all__ = ["DEMO_PROTOCOL", "build_parser", "main"]

DEBUG_ENV = "IONWORKS_DEBUG"
DEBUG_HELP = f"print the traceback of an error (or set {DEBUG_ENV}=1)"
#: Longest error line shown; the rest is cut (``--debug`` shows everything).
MAX_LINE = 600
INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    """The ``ionworks`` parser and its subcommands."""
    parser = Parser(prog="ionworks", description="Ionworks battery modelling")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (_simulate, _protocols, _server, _watch, _ui):
        module.add_commands(sub)
    for command in sub.choices.values():  # --debug after the command too
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); the exit code."""
    prog = "ionworks"
    debug = os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")
    try:
        args = build_parser().parse_args(argv)
        prog = f"ionworks {args.command}"
        debug = debug or args.debug
        code: int = args.func(args)
        return code
    except Interrupted as exc:
        _report(prog, f"interrupted: {exc}", exc, debug, label="")
        return INTERRUPTED
    except KeyboardInterrupt as exc:
        _report(prog, "interrupted", exc, debug, label="")
        return INTERRUPTED
    except CLIError as exc:
        _report(exc.prog or prog, str(exc), exc, debug)
        return exc.exit_code
    except Exception as exc:
        message = _user_message(exc)
        if message is not None:
            _report(prog, message, exc, debug)
        else:  # a bug
            first = (str(exc).strip().splitlines() or [""])[0]
            text = f"unexpected {type(exc).__name__}: {first}"
            hint = "" if debug else "\nrun with --debug for the traceback"
            _report(prog, text + hint, exc, debug)
        return 1


def _user_message(exc: Exception) -> str | None:
    """What to tell the user of an error that is theirs or the server's, not a bug (else
    ``None``): the client's errors (a failed job: the server's message and its code), files
    that cannot be read or written, a local server that cannot start."""
    from ionworks.errors import IonworksError, JobFailedError

    if isinstance(exc, JobFailedError):
        return str(exc)
    if isinstance(exc, IonworksError):
        message = exc.message if isinstance(exc.message, str) else str(exc.message)
        codes = [f"HTTP {exc.status_code}"] if exc.status_code else []
        codes += [exc.error_code] if exc.error_code else []
        return name_flags(message) + (f" [{', '.join(codes)}]" if codes else "")
    if isinstance(exc, OSError | RuntimeError):
        return str(exc)
    return None


def _report(prog: str, text: str, exc: BaseException, debug: bool, label: str = "error") -> None:
    """The traceback (with ``--debug``), then ``text`` in at most two lines."""
    if debug:
        traceback.print_exception(exc)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()] or [""]
    if len(lines) > 2:
        lines = [lines[0], f"{lines[1]} (and {len(lines) - 2} more lines)"]
    lines = [line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…" for line in lines]
    head = f"{prog}: {label}: " if label else f"{prog}: "
    print(head + lines[0], file=sys.stderr)
    for line in lines[1:]:
        print(f"  {line}", file=sys.stderr)
