"""What every command shares: the error kinds the boundary in :func:`ionworks.cli.main`
turns into exit codes, the parser and help formatter, flag-named messages, and the
``NAME=VALUE`` / ``NAME=CSV`` options."""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

if TYPE_CHECKING:
    from ionworks import AsyncIonworks

__all__ = [
    "CLIError",
    "HelpFormatter",
    "Interrupted",
    "Parser",
    "UsageError",
    "add_drive_cycle_option",
    "assignments",
    "data_dir",
    "did_you_mean",
    "name_flags",
    "quoted",
    "read_drive_cycles",
    "read_text",
    "with_client",
]

T = TypeVar("T")


class CLIError(Exception):
    """A user error: one or two lines on stderr, exit 1. ``prog``: the command to name, for
    errors raised while parsing (before :func:`ionworks.cli.main` knows the command)."""

    exit_code = 1

    def __init__(self, message: str, prog: str | None = None) -> None:
        super().__init__(message)
        self.prog = prog


class UsageError(CLIError):
    """A wrong argument (a flag's value, a missing or unknown name): exit 2."""

    exit_code = 2


class Interrupted(Exception):
    """Ctrl-C, after the command cleaned up (e.g. canceled the job it started): exit 130."""


class HelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to an option's help when the default means something (not
    None, False or empty) and the help does not state it already."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            action.option_strings
            and default not in (None, False, argparse.SUPPRESS)
            and default != []
            and "default" not in text.lower()
            and text != argparse.SUPPRESS
        ):
            text = f"{text} (default: %(default)s)"
        return text


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors raise :class:`UsageError` (one line, no usage dump)
    and whose help shows defaults."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')", prog=self.prog)


#: API argument names in library messages → the flags that set them.
FLAGS = {
    "nominal_capacity_ah": "--nominal-capacity",
    "filename_stem": "--stem",
    "drive_cycles": "--drive-cycle",
    "experiment_parameters": "--param",
    "parameterized_model": "--model",
    "project_id": "--project",
}
_FLAG_WORDS = re.compile(r"\b(" + "|".join(map(re.escape, FLAGS)) + r")\b")


def name_flags(text: str) -> str:
    """``text`` with the API argument names it mentions replaced by their flags."""
    return _FLAG_WORDS.sub(lambda match: FLAGS[match.group(1)], text)


def quoted(names: Iterable[str]) -> str:
    """``'a', 'b'``."""
    return ", ".join(repr(name) for name in names)


def did_you_mean(name: str, choices: Sequence[str]) -> str:
    """``"; did you mean 'x'?"`` for close matches of ``name`` (case-insensitive), else ``""``."""
    by_lower = {choice.lower(): choice for choice in choices}
    found = difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.6)
    if not found:
        return ""
    names = [repr(by_lower[f]) for f in found]
    listed = f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0]
    return f"; did you mean {listed}?"


def read_text(path: str | Path, what: str) -> str:
    """The UTF-8 text of ``path``; a :class:`CLIError` naming ``what`` if it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CLIError(f"cannot read {what} {str(path)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CLIError(f"cannot read {what} {str(path)!r}: not UTF-8 text") from None


def assignments(items: Sequence[str], flag: str, metavar: str) -> list[tuple[str, str]]:
    """``NAME=VALUE`` option values split at the first ``=``; a :class:`UsageError` for any
    without a name or a value."""
    out = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value:
            raise UsageError(f"{flag} expects {metavar}, got {item!r}")
        out.append((name.strip(), value))
    return out


def add_drive_cycle_option(parser: argparse.ArgumentParser) -> None:
    """``--drive-cycle NAME=CSV`` (repeatable), read by :func:`read_drive_cycles`."""
    parser.add_argument(
        "--drive-cycle",
        action="append",
        default=[],
        metavar="NAME=CSV",
        help="samples of the protocol's drive cycle NAME: a CSV of time [s] and value (repeatable)",
    )


def read_drive_cycles(items: Sequence[str]) -> dict[str, str]:
    """``--drive-cycle NAME=CSV`` values → ``{name: CSV text}``."""
    return {
        name: read_text(path, f"--drive-cycle {name}")
        for name, path in assignments(items, "--drive-cycle", "NAME=CSV")
    }


def data_dir(args: argparse.Namespace) -> Path:
    """``--data-dir``, else the default data directory (``IONWORKS_DATA_DIR``...)."""
    from ionworks.server import daemon

    return Path(args.data_dir) if args.data_dir else daemon.default_data_dir()


def with_client(work: Callable[[AsyncIonworks], Awaitable[T]]) -> T:
    """Run ``work`` with a client (configured from the environment; else the local server)."""
    import asyncio

    from ionworks import AsyncIonworks

    async def run() -> T:
        async with AsyncIonworks() as client:
            return await work(client)

    return asyncio.run(run())
