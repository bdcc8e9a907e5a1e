"""Raw cycler files → our time-series table (wire.md §10.6).

:func:`read_raw` reads one vendor export, recognised by its content first (magic bytes, the
header line) and its name second, into a ``pyarrow.Table`` with our columns and units:
``Time [s]`` (from 0 at the first record, non-decreasing), ``Current [A]`` (positive on
discharge), ``Voltage [V]``, and when the file has them ``Temperature [°C]``, ``Step count`` /
``Cycle count`` (0-based, consecutive), the cycler's own ``Step from cycler`` / ``Cycle from
cycler``, and per-step ``Discharge capacity [A.h]`` / ``Charge capacity [A.h]``.

Uploads are hostile: the size is checked against ``max_upload_bytes`` before anything is read,
rows × columns against ``max_measurement_rows`` / ``max_measurement_cells`` before the
values are decoded (text files: from the line count and the header; ``.mpr``: from galvani's
view of the data module; ``.ndax``: members' declared sizes first; ``.nda``: only once
decoded, within the size bound). Every failure is a :class:`RawFileError` (a
:class:`~ionworks.errors.MeasurementValidationError`, a ``ValueError``) with a one-line
message naming the file; no server path or traceback reaches it. This is blocking work: call
it in a worker thread (``anyio.to_thread.run_sync``).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path, PurePath
from typing import Any, Final

from ionworks.server.limits import Limits

from . import arbin, biologic, maccor, neware
from ._common import SNIFF, Parsed, RawFileError, check_shape, head_lines, read_table
from ._finish import finish

__all__ = ["SUPPORTED_FORMATS", "RawFileError", "printable", "read_raw"]

#: What :func:`read_raw` reads (name → what it is), for messages and docs.
SUPPORTED_FORMATS: Final = {
    ".mpr": "BioLogic EC-Lab data (galvani)",
    ".mpt": "BioLogic EC-Lab text export",
    ".nda/.ndax": "Neware BTS data (NewareNDA)",
    ".csv": "Arbin or Neware (BTSDA, flat) CSV export",
    ".txt/.NNN": "Maccor text export",
}
_SUPPORTED: Final = "; ".join(f"{k} ({v})" for k, v in SUPPORTED_FORMATS.items())
#: Formats recognised and refused, with what to do instead.
_REFUSED: Final = {
    ".res": "an Arbin .res file (a Microsoft Access database, which needs mdbtools); "
    "export the channel as CSV from MITS Pro",
    ".xlsx": "an Excel workbook; export the data as CSV",
    ".xls": "an Excel workbook; export the data as CSV",
}
_ACCESS_MAGIC: Final = (b"Standard Jet DB", b"Standard ACE DB")
_ZIP_MAGIC: Final = b"PK\x03\x04"
_OLE_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1


def printable(text: str) -> str:
    """``text`` with control characters (C0, DEL, C1) and invisible format characters
    (Unicode category Cf: bidirectional overrides such as U+202E, zero-width ones) each
    replaced by ``?``: safe to show in a message or a ``Content-Disposition``."""
    text = _CONTROL.sub("?", text)
    return "".join("?" if unicodedata.category(c) == "Cf" else c for c in text)


def _refuse(name: str, what: str) -> RawFileError:
    return RawFileError(f"{name} is {what}. Supported raw formats: {_SUPPORTED}")


def _separator(line: str) -> str:
    counts = {sep: line.count(sep) for sep in ("\t", ",", ";")}
    return max(counts, key=lambda sep: counts[sep])


def _text(name: str, data: bytes, bounds: Limits) -> Parsed:
    """A text export: EC-Lab, Maccor, Arbin or Neware, by its first lines."""
    try:
        lines = head_lines(data)
    except ValueError:
        raise _refuse(
            name, "not a supported raw cycler file (binary, no known signature)"
        ) from None
    if not lines:
        raise RawFileError(f"{name} is empty")
    if lines[0].startswith(biologic.MPT_MAGIC.decode()):
        return biologic.read_mpt(name, data, lines, bounds)
    header = maccor.header_line(lines)
    if header is not None:
        separator = _separator(lines[header])
        return maccor.read(name, read_table(name, data, header, separator, bounds))
    if neware.is_nested_csv(lines):
        raise RawFileError(
            f"{name} is a nested Neware BTSDA export (cycle, step and record layers); export "
            "the record layer alone (a flat CSV with Total Time, Current and Voltage columns)"
        )
    separator = _separator(lines[0])
    if arbin.looks_like(lines[0]):
        return arbin.read(name, read_table(name, data, 0, separator, bounds))
    lowered = lines[0].lower()
    if "current" in lowered and "voltage" in lowered and "step index" in lowered:
        return neware.read_csv(name, read_table(name, data, 0, separator, bounds))
    raise _refuse(
        name,
        "not a recognised raw cycler export (no EC-Lab, Maccor 'Rec#', Arbin or Neware "
        f"header in its first lines; it starts {lines[0].strip()[:60]!r})",
    )


def _parse(name: str, suffix: str, data: bytes | Path, bounds: Limits) -> Parsed:
    if isinstance(data, Path):
        with open(data, "rb") as fh:
            head = fh.read(SNIFF)
    else:
        head = data[:SNIFF]
    if head.startswith(biologic.MPR_MAGIC):
        body = data.read_bytes() if isinstance(data, Path) else data
        return biologic.read_mpr(name, body, bounds)
    if suffix == ".mpr":
        raise RawFileError(
            f"{name} is not a BioLogic .mpr file: it does not start with "
            f"{biologic.MPR_MAGIC.decode()!r}"
        )
    if head.startswith(neware.NDA_MAGIC):
        return neware.read_binary(name, ".nda", data, bounds)
    if suffix == ".nda":
        raise RawFileError(f"{name} is not a Neware .nda file: it does not start with 'NEWARE'")
    if head.startswith(_ZIP_MAGIC):
        if suffix == ".ndax":
            return neware.read_binary(name, ".ndax", data, bounds)
        what = _REFUSED[".xlsx"] if suffix in (".xlsx", ".xlsm") else "a zip archive"
        raise _refuse(name, what)
    if suffix == ".ndax":
        raise RawFileError(f"{name} is not a Neware .ndax file: it is no zip archive")
    if any(magic in head[:32] for magic in _ACCESS_MAGIC):
        raise _refuse(name, _REFUSED[".res"])
    if head.startswith(_OLE_MAGIC):
        raise _refuse(name, _REFUSED[".xls"])
    if suffix in _REFUSED:
        raise _refuse(name, _REFUSED[suffix])
    body = data.read_bytes() if isinstance(data, Path) else data
    return _text(name, body, bounds)


def read_raw(filename: str, data: bytes | Path, *, limits: Limits) -> Any:
    """Our time-series ``pyarrow.Table`` of one raw cycler file (see the module docstring):
    ``filename`` is the client's name for it (only its last part is used, in messages and
    to tell formats apart), ``data`` its bytes or the server's temporary copy of it (a
    :class:`RawFileError` of status 404 if that file is deleted meanwhile)."""
    name = printable((PurePath(str(filename).replace("\\", "/")).name or "the file")[:200])
    suffix = PurePath(name).suffix.lower()
    try:
        size = data.stat().st_size if isinstance(data, Path) else len(data)
        if size > limits.max_upload_bytes:
            raise RawFileError(
                f"{name} has {size:,} bytes; the limit is {limits.max_upload_bytes:,} "
                "(max_upload_bytes)",
                status=413,
            )
        if size == 0:
            raise RawFileError(f"{name} is empty")
        parsed = _parse(name, suffix, data, limits)
        table = finish(name, parsed)
        check_shape(name, table.num_rows, table.num_columns, limits)
        return table
    except RawFileError:
        raise
    except FileNotFoundError:  # the stored file was deleted meanwhile
        raise RawFileError(f"{name}: the stored file is gone", status=404) from None
    except MemoryError:
        raise RawFileError(f"{name} is too large to read on this server", status=413) from None
    except BaseException as exc:  # a parser's error on a corrupt file (pyo3 panics included)
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise RawFileError(_failure(name, exc)) from None


def _failure(name: str, exc: BaseException) -> str:
    from ionworks.server.services.measurement_files import public_message

    detail = public_message(str(exc)).strip().splitlines()
    reason = f"{type(exc).__name__}: {detail[0][:200]}" if detail else type(exc).__name__
    return f"{name} could not be read as a raw cycler file ({reason}); is it truncated or corrupt?"
