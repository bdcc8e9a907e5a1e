"""Shared pieces of the raw-file readers: the error, bounds, text tables, units, numbers.

A reader turns one vendor file into a :class:`Parsed`: a polars frame whose columns already
have our names and units (``Time [s]``, ``Current [A]`` positive on discharge, ``Voltage [V]``,
optionally ``Temperature [°C]``, ``Step from cycler``, ``Cycle from cycler`` and the raw
capacity counters), an ``_at`` column with the line (text) or record (binary) each row came
from, and the file's own column names for messages. :mod:`._finish` checks and completes it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs
import polars as pl

from ionworks.errors import MeasurementValidationError
from ionworks.server.limits import Limits
from ionworks.server.services import measurement_files

__all__ = [
    "AT",
    "CAPACITY_UNITS",
    "CURRENT_UNITS",
    "SNIFF",
    "TEMPERATURE_UNITS",
    "TIME_UNITS",
    "VOLTAGE_UNITS",
    "Columns",
    "Parsed",
    "RawFileError",
    "Table",
    "check_shape",
    "decode_text",
    "durations",
    "filled",
    "find_column",
    "head_lines",
    "integers",
    "numbers",
    "read_table",
]

#: The column holding each row's line (text files) or record (binary files) number.
AT: Final = "_at"

TIME_UNITS: Final = {
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0, "ms": 1e-3,
    "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
}  # fmt: skip
CURRENT_UNITS: Final = {"a": 1.0, "ma": 1e-3, "ua": 1e-6, "µa": 1e-6, "μa": 1e-6}
VOLTAGE_UNITS: Final = {"v": 1.0, "mv": 1e-3}
CAPACITY_UNITS: Final = {
    "ah": 1.0, "a.h": 1.0, "ahr": 1.0, "a-h": 1.0,
    "mah": 1e-3, "ma.h": 1e-3, "mahr": 1e-3, "ma-h": 1e-3, "c": 1 / 3600,
}  # fmt: skip
#: Degrees Celsius, also as latin-1 reads of UTF-8 "°C" and of GBK "℃" (Neware exports).
TEMPERATURE_UNITS: Final = {
    "c": 1.0, "°c": 1.0, "degc": 1.0, "deg c": 1.0, "℃": 1.0, "â°c": 1.0, "¡æ": 1.0,
}  # fmt: skip


class RawFileError(MeasurementValidationError):
    """A raw cycler file that cannot be read: a one-line message naming the file and what was
    expected (never a server path or a traceback). ``status`` is the HTTP status to answer
    with: 413 when the file is over ``max_upload_bytes``, else 422."""

    def __init__(self, message: str, *, status: int = 422) -> None:
        super().__init__(message, error_code="invalid_raw_file")
        self.status = status

    def __str__(self) -> str:
        return str(self.message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.message, self.status))


def _rebuild(message: str, status: int) -> RawFileError:
    return RawFileError(message, status=status)


@attrs.frozen
class Parsed:
    """What a reader found: ``frame`` (our columns, see the module docstring, plus ``_at``),
    ``sources`` (our column → the file's column, for messages), ``at`` (``"line"`` or
    ``"record"``: what ``_at`` counts) and ``steps`` (the columns whose changes start a new
    step; empty when the file has no step numbers)."""

    frame: pl.DataFrame
    sources: Mapping[str, str]
    at: str
    steps: Sequence[str] = ()


def check_shape(name: str, rows: int, columns: int, bounds: Limits) -> None:
    """Rows and rows × columns against ``max_measurement_rows`` / ``max_measurement_cells``:
    the uploads' check (:func:`~ionworks.server.services.measurement_files.check_shape`),
    raising :class:`RawFileError`."""
    measurement_files.check_shape(
        name, rows, columns, bounds, error=RawFileError, row_word="data rows"
    )


def decode_text(data: bytes) -> str:
    """UTF-8 (a byte-order mark dropped), else latin-1 (EC-Lab, Maccor and older Neware
    exports are Windows code pages); NUL bytes mean it is no text file."""
    if b"\0" in data[:65536]:
        raise ValueError("binary data (NUL bytes) where text was expected")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


@attrs.frozen
class Table:
    """A delimited table of text: every column as strings, ``_at`` the 1-based line number."""

    frame: pl.DataFrame
    decimal_comma: bool


_DECIMAL_COMMA: Final = re.compile(r"^[+-]?\d+,\d+(?:[eE][+-]?\d+)?$")
_DECIMAL_POINT: Final = re.compile(r"^[+-]?\d*\.\d+(?:[eE][+-]?\d+)?$")


#: The bytes read to recognise a text export (its header lines are within them).
SNIFF: Final = 1 << 16


def head_lines(data: bytes) -> list[str]:
    """The first lines of a text file (those within its first ``SNIFF`` bytes), decoded."""
    head = data[:SNIFF]
    if len(data) > SNIFF and b"\n" in head:
        head = head[: head.rindex(b"\n") + 1]  # whole lines only
    return decode_text(head).splitlines(keepends=True)


def read_table(name: str, data: bytes, header: int, separator: str, bounds: Limits) -> Table:
    """The table whose column names are on line ``header`` (0-based) of ``data`` and whose
    rows follow it. Its shape (line breaks after the header × the header's fields) is checked
    against the bounds before anything else is decoded; blank lines are dropped, fields past
    the header's are ignored. A tab- or semicolon-separated table whose numbers use decimal
    commas (EC-Lab in some locales) says so in ``decimal_comma``."""
    start = 0
    for _ in range(header):
        start = data.index(b"\n", start) + 1
    end = data.find(b"\n", start)
    names = decode_text(data[start : len(data) if end < 0 else end]).split(separator)
    rows = data.count(b"\n", start) - 1 + (not data.endswith(b"\n"))
    check_shape(name, rows, len(names), bounds)
    if rows <= 0:
        raise RawFileError(f"{name} has a header line but no data rows")
    text = decode_text(data[start:])
    try:
        frame = pl.read_csv(
            io.BytesIO(text.encode("utf-8")),
            separator=separator,
            has_header=True,
            infer_schema=False,
            quote_char='"' if separator == "," else None,
            truncate_ragged_lines=True,
            raise_if_empty=True,
        )
    except Exception as exc:  # polars ComputeError etc.: a garbled table
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RawFileError(
            f"{name} is not a readable {_SEPARATORS.get(separator, repr(separator))}-separated "
            f"table after line {header + 1}: {first}"
        ) from None
    del text
    frame = frame.with_columns(pl.int_range(header + 2, header + 2 + frame.height).alias(AT))
    data_columns = [c for c in frame.columns if c != AT]
    if data_columns:
        frame = frame.filter(~pl.all_horizontal(pl.col(data_columns).is_null()))
    decimal_comma = False
    if separator != "," and frame.height:
        sample = [str(v).strip() for v in frame.row(0) if v is not None]
        decimal_comma = any(_DECIMAL_COMMA.match(v) for v in sample) and not any(
            _DECIMAL_POINT.match(v) for v in sample
        )
    return Table(frame, decimal_comma)


_SEPARATORS: Final = {"\t": "tab", ",": "comma", ";": "semicolon"}


def _normal(header: str) -> str:
    """A header for matching: lower case, ``_`` as space, single spaces, none before ``(``."""
    text = re.sub(r"[\s_]+", " ", header.strip().lower()).replace("[", "(").replace("]", ")")
    text = re.sub(r"^<([^/]+)/(.+)>$", r"<\1>/\2", text)  # EC-Lab's "<Ewe/V>"
    return re.sub(r"\s+\(", "(", text)


def find_column(
    name: str,
    columns: Sequence[str],
    bases: Sequence[str],
    units: Mapping[str, float] | None,
    *,
    default_unit: str | None = None,
    what: str = "",
) -> tuple[str, float] | None:
    """``(the file's column, its factor to our unit)`` for the first of ``bases`` (normalised
    names without unit) that the file has, with its unit in parentheses (``Current(mA)``,
    ``Test Time (sec)``) or, for BioLogic, after the last slash (``I/mA``). A column without
    a unit takes ``default_unit``; a unit not in ``units`` is a :class:`RawFileError`.
    ``None`` if no column matches. ``units=None`` matches whole names only (factor 1)."""
    exact: dict[str, str] = {}
    with_unit: dict[str, tuple[str, str]] = {}
    for column in columns:
        normal = _normal(column)
        exact.setdefault(normal, column)
        match = re.fullmatch(r"(.*?)\((.*)\)", normal)
        if match:
            with_unit.setdefault(match.group(1).strip(), (column, match.group(2).strip()))
        elif "/" in normal:
            base, _, unit = normal.rpartition("/")
            with_unit.setdefault(base.strip(), (column, unit.strip()))
    for base in bases:
        if units is None:
            if base in exact:
                return exact[base], 1.0
            continue
        if base in with_unit:
            column, unit = with_unit[base]
        elif base in exact and default_unit is not None:
            column, unit = exact[base], default_unit
        elif base in exact:
            raise RawFileError(f"{name} column {exact[base]!r} has no unit; expected {what}")
        else:
            continue
        if unit not in units:
            raise RawFileError(
                f"{name} column {column!r} has the unit {unit!r}; expected one of "
                f"{', '.join(sorted(units))} ({what})"
            )
        return column, units[unit]
    return None


def filled(frame: pl.DataFrame, column: str) -> bool:
    """Whether a text column has a value on some row (an all-empty step or cycle column is
    taken as absent)."""
    return bool((frame[column].str.strip_chars().fill_null("") != "").any())


def numbers(
    name: str, frame: pl.DataFrame, column: str, factor: float = 1.0, *, decimal_comma: bool
) -> pl.Series:
    """A text column as Float64 × ``factor``; empty cells become null, anything else that is
    no number is a :class:`RawFileError` naming the column and line."""
    raw = frame[column].str.strip_chars()
    text = raw.str.replace_all(",", ".", literal=True) if decimal_comma else raw
    values = text.cast(pl.Float64, strict=False)
    bad = values.is_null() & raw.is_not_null() & (raw != "")
    if bad.any():
        row = int(bad.arg_true()[0])
        raise RawFileError(
            f"{name} column {column!r} line {frame[AT][row]}: {raw[row]!r} is not a number"
        )
    return values * factor if factor != 1.0 else values


_DURATION: Final = re.compile(
    r"^\s*(?:(?P<d>\d+)\s*(?:d|days?|-|\.)\s*)?(?P<h>\d+):(?P<m>\d{1,2}):(?P<s>\d{1,2}(?:\.\d*)?)\s*$"
)


def durations(name: str, frame: pl.DataFrame, column: str, factor: float = 1.0) -> pl.Series:
    """A duration column (``HH:MM:SS[.fff]`` with hours past 24, ``1d 02:03:04.5``,
    ``1-02:03:04``, or plain numbers in the column's unit: × ``factor``) as seconds."""
    raw = frame[column].str.strip_chars()
    parts = raw.str.extract_groups(_DURATION.pattern)
    seconds = (
        parts.struct.field("d").cast(pl.Float64).fill_null(0.0) * 86400.0
        + parts.struct.field("h").cast(pl.Float64) * 3600.0
        + parts.struct.field("m").cast(pl.Float64) * 60.0
        + parts.struct.field("s").cast(pl.Float64)
    )
    plain = raw.cast(pl.Float64, strict=False) * factor
    values = seconds.fill_null(plain)
    bad = values.is_null() & raw.is_not_null() & (raw != "")
    if bad.any():
        row = int(bad.arg_true()[0])
        raise RawFileError(
            f"{name} column {column!r} line {frame[AT][row]}: {raw[row]!r} is not a duration "
            "(expected seconds or HH:MM:SS)"
        )
    return values.alias(column)


def integers(name: str, values: pl.Series, column: str, at: pl.Series, unit: str) -> pl.Series:
    """Step or cycle numbers as Int64: whole, finite and present on every row."""
    floats = values.cast(pl.Float64)
    bad = floats.is_null() | ~floats.is_finite() | (floats != floats.round(0))
    if bad.any():
        row = int(bad.arg_true()[0])
        shown = "is empty" if values[row] is None else f"{values[row]!r} is not a whole number"
        raise RawFileError(f"{name} column {column!r} {unit} {at[row]}: {shown}")
    return floats.cast(pl.Int64)


@attrs.frozen
class Columns:
    """The columns of one text table, looked up by name (:func:`find_column`) and read as
    numbers, step or cycle indices."""

    name: str
    table: Table

    @property
    def names(self) -> list[str]:
        return [c for c in self.table.frame.columns if c != AT]

    def find(
        self,
        bases: Sequence[str],
        units: Mapping[str, float] | None = None,
        default: str | None = None,
        what: str = "",
    ) -> tuple[str, float] | None:
        return find_column(self.name, self.names, bases, units, default_unit=default, what=what)

    def values(self, hit: tuple[str, float]) -> pl.Series:
        frame, comma = self.table.frame, self.table.decimal_comma
        return numbers(self.name, frame, hit[0], hit[1], decimal_comma=comma)

    def index(self, bases: Sequence[str]) -> pl.Series | None:
        """A step or cycle index (Int64), or ``None`` if absent or empty on every row."""
        hit = self.find(bases)
        if hit is None or not filled(self.table.frame, hit[0]):
            return None
        return integers(self.name, self.values(hit), hit[0], self.table.frame[AT], "line")
