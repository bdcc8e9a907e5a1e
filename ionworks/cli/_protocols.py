"""``ionworks validate | convert``: UCP files, checked and exported locally."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, overload

from ionworks.cli._common import (
    CLIError,
    add_drive_cycle_option,
    name_flags,
    read_drive_cycles,
    read_text,
)

__all__ = ["add_commands"]


class _Targets(Sequence[str]):
    """``ionworks.ucp.export.TARGETS``, imported when argparse first looks at them (a parse
    or a help of ``convert``), so building the parser stays light."""

    @staticmethod
    def _names() -> tuple[str, ...]:
        from ionworks.ucp.export import TARGETS

        return TARGETS

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())


def _validate(args: argparse.Namespace) -> int:
    from ionworks import ucp

    status = 0
    for name in args.files:
        path = Path(name)
        try:
            text = read_text(path, "FILE")
        except CLIError as exc:
            print(f"ionworks validate: error: {exc}", file=sys.stderr)
            status = 1
            continue
        result = ucp.validate(text)
        if args.json:
            print(json.dumps({"file": str(path), **result}))
        elif result["valid"]:
            refs = ucp.find_input_references(text)
            extra = f" (inputs: {', '.join(refs)})" if refs else ""
            print(f"{path}: valid{extra}")
        else:
            print(f"{path}: invalid\n{result['error']}", file=sys.stderr)
        if not result["valid"]:
            status = 1
    return status


def _convert(args: argparse.Namespace) -> int:
    from ionworks.ucp.export import ExportError, export

    path = Path(args.file)
    text = read_text(path, "FILE")
    drive_cycles = read_drive_cycles(args.drive_cycle)
    try:
        result = export(
            text,
            args.target,
            drive_cycles=drive_cycles or None,
            filename_stem=args.stem or path.stem,
            nominal_capacity_ah=args.nominal_capacity,
            verify=args.verify,
        )
    except ExportError as exc:
        raise CLIError(f"{path}: {name_flags(str(exc))}") from None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, content in [(result.primary_filename, result.primary_bytes), *result.assets]:
        (out / name).write_bytes(content)
        print(out / name)
    return 0


def add_commands(sub: Any) -> None:
    """The ``validate`` and ``convert`` subcommands."""
    validate = sub.add_parser("validate", help="check UCP protocol files")
    validate.add_argument("files", nargs="+", metavar="FILE", help="UCP YAML files")
    validate.add_argument("--json", action="store_true", help="one JSON result per line")
    validate.set_defaults(func=_validate)
    convert = sub.add_parser("convert", help="convert a UCP file to a cycler protocol file")
    convert.add_argument("file", metavar="FILE", help="UCP YAML file")
    convert.add_argument(
        "--target", required=True, choices=_Targets(), metavar="TARGET", help="%(choices)s"
    )
    convert.add_argument("--out", default=".", help="output directory (created if needed)")
    convert.add_argument(
        "--nominal-capacity", type=float, default=None, metavar="AH", help="capacity in A.h"
    )
    add_drive_cycle_option(convert)
    convert.add_argument("--stem", default=None, help="output file name stem (default: FILE's)")
    convert.add_argument("--verify", action="store_true", help="re-check the written structure")
    convert.set_defaults(func=_convert)
