"""Protocol files sent to ``POST /protocols/parse`` (``protocol.parse_file``), and the
human-readable text of a protocol.

This server reads UCP files (YAML, or JSON, which is YAML too) and answers the cloud's
``ParsedProtocol`` keys (wire.md §9.2). Vendor cycler files (Maccor, Arbin, Neware, BioLogic,
Novonix) are recognised by name or content and refused with a message that says so: only the
Ionworks cloud imports them. Runs in a worker thread (a large protocol takes seconds).
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any, Final

__all__ = ["UCP_SUFFIXES", "ProtocolFileError", "describe_text", "parse_file"]

#: File name suffixes of UCP files (other names are read as UCP too, unless a vendor's).
UCP_SUFFIXES: Final = (".yaml", ".yml", ".json", ".ucp")
_MACCOR_SUFFIX: Final = re.compile(r"^\.\d{3}$")
#: File name suffixes of vendor files (Maccor's procedures are ``.000`` to ``.999``).
_VENDOR_SUFFIXES: Final = {
    ".sdu": "Arbin",
    ".sdx": "Arbin",
    ".xml": "Neware",
    ".mps": "BioLogic",
    ".pro2": "Novonix",
    ".mwf": "Maccor",
}
#: Content signatures of vendor files (looked for in the first KiB).
_VENDOR_MARKS: Final = (
    ("MaccorTestProcedure", "Maccor"),
    ("[Schedule]", "Arbin"),
    ("BT-LAB SETTING", "BioLogic"),
    ("EC-LAB SETTING", "BioLogic"),
    ("BTS_Client", "Neware"),
    ("<?xml", "an XML cycler"),
)


class ProtocolFileError(ValueError):
    """A file this server cannot turn into UCP (HTTP 422; the message says why)."""


def describe_text(protocol: str | dict[str, Any]) -> str:
    """The human-readable text of a protocol; :class:`~ionworks.ucp.UCPError` if invalid."""
    from ionworks import ucp
    from ionworks.ucp.describe import describe

    return describe(ucp.parse(protocol))


def _vendor_refusal(vendor: str) -> ProtocolFileError:
    return ProtocolFileError(
        f"this looks like a {vendor} protocol file; the local server parses UCP protocol "
        f"files only (YAML or JSON with a 'steps' list: {', '.join(UCP_SUFFIXES)}). Importing "
        "vendor cycler files (Maccor, Arbin, Neware, BioLogic, Novonix) needs the Ionworks "
        "cloud API; protocol.convert() writes UCP out to those formats locally"
    )


def _vendor_by_name(filename: str) -> str | None:
    suffix = PurePath(filename).suffix.lower()
    if _MACCOR_SUFFIX.match(suffix):
        return "Maccor"
    return _VENDOR_SUFFIXES.get(suffix)


def _vendor_by_content(head: str) -> str | None:
    return next((vendor for mark, vendor in _VENDOR_MARKS if mark in head), None)


def parse_file(filename: str, data: bytes) -> dict[str, Any]:
    """The ``ParsedProtocol`` body of a UCP file; :class:`ProtocolFileError` otherwise (a
    vendor's file name suffix, text that is not UTF-8, or text that is not valid UCP)."""
    from ionworks import ucp
    from ionworks.ucp.describe import describe

    vendor = _vendor_by_name(filename)
    if vendor is not None:
        raise _vendor_refusal(vendor)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        vendor = _vendor_by_content(data[:1024].decode("latin-1"))
        raise _vendor_refusal(vendor or "binary (not UTF-8)") from None
    if not text.strip():
        raise ProtocolFileError("the file is empty; send a UCP protocol (YAML or JSON)")
    try:
        protocol = ucp.parse(text)
    except (ucp.UCPError, RecursionError) as exc:
        vendor = _vendor_by_content(text[:1024])
        if vendor is not None:
            raise _vendor_refusal(vendor) from None
        reason = exc if isinstance(exc, ucp.UCPError) else "nested too deeply"
        raise ProtocolFileError(f"the file is not a valid UCP protocol: {reason}") from None
    drive_cycles = [s.drive_cycle for s in protocol.steps() if s.drive_cycle is not None]
    return {
        "parsed_protocol_ucp": text,
        "parsed_protocol_human": describe(protocol),
        "raw_protocol": text,
        "cycler_type": None,
        "nominal_capacity_ah": None,
        "required_drive_cycles": list(dict.fromkeys(drive_cycles)),
        "available_drive_cycles": [],
        "required_subroutines": [],
        "available_subroutines": [],
        "error": None,
    }
