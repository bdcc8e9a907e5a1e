"""Export UCP protocols to commercial cycler files (vendors.md; wire.md §9.3).

::

    from ionworks.ucp.export import export

    result = export(yaml_text, "maccor")            # ExportResult
    result.primary_filename, result.primary_bytes   # "protocol.000", b"<?xml ..."
    result.assets                                   # [("us06.MWF", b"...")] for drive cycles

Targets: ``maccor`` (.000 + .MWF), ``arbin`` (.sdu, MITS Pro 7), ``neware`` (BTS .xml),
``biologic_bttest`` (BT-Lab Modulo Bat .mps) and ``novonix`` (HPC protocol text).
``arbin_sdx`` is refused until a real sample of the format is available. A construct the
target cannot express raises :class:`ExportError` naming the target, the step and the
reason; nothing is dropped or approximated silently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from ..errors import UCPError
from ..model import Protocol
from ..parse import parse
from . import arbin, biologic, maccor, neware, novonix
from ._common import ExportError, ExportResult, Plan, check_stem, parse_samples

__all__ = [
    "SDX_MESSAGE",
    "TARGETS",
    "ExportError",
    "ExportResult",
    "check_stem",
    "export",
    "parse_samples",
]

_Writer = Callable[[Plan, str], ExportResult]
_WRITERS: dict[str, _Writer] = {
    "maccor": maccor.write,
    "arbin": arbin.write,
    "neware": neware.write,
    "biologic_bttest": biologic.write,
    "novonix": novonix.write,
}
_CHECKERS: dict[str, Callable[[ExportResult], list[str]]] = {
    "maccor": maccor.check,
    "arbin": arbin.check,
    "neware": neware.check,
    "biologic_bttest": biologic.check,
    "novonix": novonix.check,
}
#: Every target name the API accepts (``arbin_sdx`` is accepted but not supported yet).
TARGETS = ("maccor", "arbin", "arbin_sdx", "neware", "biologic_bttest", "novonix")
SDX_MESSAGE = (
    "target 'arbin_sdx' (.sdx, MITS Pro 8+) is not supported yet: no real sample of the "
    "format is available to build it from; use target 'arbin' (.sdu) for MITS Pro 7"
)


def export(
    protocol: Protocol | str | Mapping[str, Any],
    target: str,
    *,
    drive_cycles: Mapping[str, Any] | None = None,
    filename_stem: str = "protocol",
    nominal_capacity_ah: float | None = None,
    verify: bool = False,
    clock: datetime | None = None,
) -> ExportResult:
    """Convert ``protocol`` (a parsed :class:`Protocol`, YAML text or a mapping) to ``target``.

    ``drive_cycles`` maps each drive-cycle name to samples (CSV text, ``[[t, v], ...]``,
    ``{"time": [...], "value": [...]}`` or a column dict). ``nominal_capacity_ah`` is
    required by neware and biologic_bttest when the protocol uses C-rates. ``verify``
    re-reads the written files and checks their structure. ``clock`` fixes the time stamp
    of formats that need one (Neware, Novonix); default: now.

    Raises :class:`ExportError` (a ``ValueError``) for unknown targets, invalid protocols
    and constructs the target cannot express.
    """
    if target == "arbin_sdx":
        raise ExportError(target, "protocol", "target", SDX_MESSAGE.split(" is ", 1)[1])
    if target not in _WRITERS:
        raise ExportError(
            str(target),
            "protocol",
            "target",
            f"unknown target; expected one of {', '.join(TARGETS)}",
        )
    try:
        stem = check_stem(filename_stem)
    except ValueError as exc:
        raise ExportError(target, "filename_stem", "filename", str(exc)) from None
    if nominal_capacity_ah is not None and not (
        isinstance(nominal_capacity_ah, int | float) and 0 < nominal_capacity_ah < 1e6
    ):
        raise ExportError(
            target, "nominal_capacity_ah", "capacity", f"must be > 0, got {nominal_capacity_ah!r}"
        )
    if not isinstance(protocol, Protocol):
        try:
            protocol = parse(protocol)
        except UCPError as exc:
            raise ExportError(target, "protocol", "invalid protocol", str(exc)) from None
    plan = Plan(
        protocol,
        target,
        capacity_ah=None if nominal_capacity_ah is None else float(nominal_capacity_ah),
        drive_cycles=drive_cycles,
        clock=clock,
    )
    result = _WRITERS[target](plan, stem)
    if verify:
        problems = _CHECKERS[target](result)
        if problems:
            raise ExportError(target, "output", "verify", "; ".join(problems))
    return result
