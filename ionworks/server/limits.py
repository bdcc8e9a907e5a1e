"""Resource bounds of one server: every limit a request is checked against before work is done.

Each field is a ``ionworks serve`` flag (``--max-body-bytes`` …, generated from the fields
below by :func:`add_arguments`) and is documented in ``docs/security.md``. A request over a
limit gets a 4xx whose message names the limit and its value.
"""

from __future__ import annotations

import argparse
from typing import Any, Final

import attrs

__all__ = ["Limits", "add_arguments", "from_arguments"]

MiB: Final = 1024 * 1024


def _limit(default: float, help: str) -> Any:
    return attrs.field(default=default, metadata={"help": help})


@attrs.frozen(kw_only=True)
class Limits:
    """The server's bounds (see the module docstring); defaults are the documented ones."""

    max_body_bytes: int = _limit(32 * MiB, "JSON request body size, after decompression")
    max_json_depth: int = _limit(64, "nesting depth of a JSON request body")
    max_protocol_bytes: int = _limit(1 * MiB, "UCP protocol YAML size")
    max_upload_bytes: int = _limit(512 * MiB, "measurement upload size, after decompression")
    max_measurement_rows: int = _limit(10_000_000, "rows of one measurement table")
    max_measurement_cells: int = _limit(200_000_000, "rows × columns of one measurement table")
    max_open_uploads: int = _limit(16, "unconfirmed measurement uploads per key")
    upload_ttl_seconds: float = _limit(24 * 3600.0, "lifetime of an unconfirmed upload")
    max_page_size: int = _limit(1000, "items in one list page (also the default page size)")
    max_batch_simulations: int = _limit(
        10_000, "simulations one batch creates (DOE points × parameter sets × conditions)"
    )
    max_fit_parameters: int = _limit(64, "fitted parameters of one data fit")
    max_population_size: int = _limit(1000, "population size of a population optimiser")
    max_iterations: int = _limit(10_000, "iterations (maxiter) of one optimiser")
    read_timeout_seconds: float = _limit(60.0, "time to receive a request's headers and body")

    def __attrs_post_init__(self) -> None:
        for field in attrs.fields(type(self)):
            value = getattr(self, field.name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
                raise ValueError(f"limit {field.name} must be a positive number, got {value!r}")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--max-…`` flag per limit, with its default in the help."""
    group = parser.add_argument_group("resource limits (see docs/security.md)")
    for field in attrs.fields(Limits):
        kind = float if isinstance(field.default, float) else int
        group.add_argument(
            _flag(field.name),
            dest=f"limit_{field.name}",
            type=kind,
            default=None,
            metavar="N",
            help=f"{field.metadata['help']} (default: {field.default:,})",
        )


def from_arguments(args: argparse.Namespace) -> Limits:
    """The :class:`Limits` of parsed ``serve`` arguments (unset flags keep the defaults)."""
    values = {
        field.name: getattr(args, f"limit_{field.name}")
        for field in attrs.fields(Limits)
        if getattr(args, f"limit_{field.name}", None) is not None
    }
    return Limits(**values)
