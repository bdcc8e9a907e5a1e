"""Offline protocol checks: ``python -m ionworks.ucp validate FILE [FILE ...]``.

``validate`` prints ``FILE: valid`` or ``FILE: invalid`` followed by the issues and exits
with status 1 if any file is invalid; ``inputs`` prints the ``input["…"]`` names of each
file as JSON. :func:`main` is what the ``ionworks`` command-line tool calls.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .inputs import find_input_references
from .parse import validate

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="ionworks.ucp", description="Check UCP protocol files.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("validate", "validate protocol files"),
        ("inputs", "list input references"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    status = 0
    for path in args.files:
        try:
            text = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as error:
            print(f"{path}: cannot read: {error}", file=sys.stderr)
            status = 2
            continue
        if args.command == "inputs":
            print(f"{path}: {json.dumps(find_input_references(text), ensure_ascii=False)}")
            continue
        result = validate(text)
        if result["valid"]:
            print(f"{path}: valid")
        else:
            status = max(status, 1)
            print(f"{path}: invalid")
            for line in str(result["error"]).splitlines():
                print(f"  {line}")
    return status


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
