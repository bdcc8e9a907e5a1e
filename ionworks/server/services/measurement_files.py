"""Checks of uploaded measurement files, run in a worker thread before anything is stored.

An uploaded file is parquet, or CSV with a header row (converted to parquet). Before anything
is decoded, its rows and columns (the parquet footer, or a streaming count of the CSV's line
breaks and header fields) are checked against ``max_measurement_rows`` and
``max_measurement_cells``, and each parquet column's decompressed size against
``max_upload_bytes``. Decoding then runs one column at a time, text columns
dictionary-encoded, so that their decoded size (at most ``max_upload_bytes`` in all) is known
before it could be materialised. Every failure is a :class:`MeasurementValidationError` whose
message names the file, the column or the limit, and never a server path.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from ionworks.errors import MeasurementValidationError
from ionworks.server.db.measurements import STEPS, TIME_SERIES
from ionworks.server.db.store import Store
from ionworks.server.limits import Limits
from ionworks.wire.measurements import REQUIRED_COLUMNS, validate_time_series

__all__ = [
    "ATTACHMENT_TYPES",
    "PARQUET_MAGIC",
    "attachment_type",
    "check_attachment",
    "check_files",
    "check_shape",
    "derived_steps_and_cycles",
    "public_message",
    "store_series",
]

CHUNK: Final = 1 << 20
PARQUET_MAGIC: Final = b"PAR1"
#: Absolute paths in third-party error messages (never shown to clients).
_SERVER_PATH = re.compile(r"(?<![\w.:/])/(?:[^\s'\"/]+/)+[^\s'\",;:)\]]*")


def public_message(message: str) -> str:
    """A third-party error message without server paths."""
    return _SERVER_PATH.sub("<file>", message)


def check_shape(
    name: str,
    rows: int,
    columns: int,
    bounds: Limits,
    *,
    error: type[MeasurementValidationError] = MeasurementValidationError,
    row_word: str = "rows",
) -> None:
    """Rows and rows × columns against ``max_measurement_rows`` / ``max_measurement_cells``
    (``error``: the exception to raise; ``row_word``: how the message counts the rows)."""
    if rows > bounds.max_measurement_rows:
        raise error(
            f"{name} has {rows:,} {row_word}; the limit is {bounds.max_measurement_rows:,} "
            "(max_measurement_rows)"
        )
    if rows * columns > bounds.max_measurement_cells:
        raise error(
            f"{name} has {rows:,} rows × {columns:,} columns = {rows * columns:,} values; the "
            f"limit is {bounds.max_measurement_cells:,} (max_measurement_cells)"
        )


def _csv_shape(path: Path) -> tuple[int, int] | None:
    """``(data rows, columns)`` of a CSV file from a streaming count of its line breaks and of
    its header's separators (quoted ones count too: an upper bound); ``None`` unless the file
    looks like CSV (no NUL byte at its start, a comma in its first line)."""
    columns, lines, in_header, last = 1, 0, True, b""
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            if not lines and not last and b"\0" in chunk:
                return None
            if in_header:
                end = chunk.find(b"\n")
                columns += (chunk if end < 0 else chunk[:end]).count(b",")
                in_header = end < 0
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    if columns == 1:
        return None
    lines += last not in (b"\n", b"")  # a last line without a line break
    return max(0, lines - 1), columns


def _csv_to_parquet(source: Path, target: Path) -> None:
    """Decode a CSV file (types inferred over the whole file) into a parquet file."""
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    with open(source, "rb") as fh:
        table = pa_csv.read_csv(fh)
    with open(target, "wb") as out:
        pq.write_table(table, out, compression="zstd")


def _kind(arrow_type: Any) -> str | None:
    """``"text"`` (variable-size values), ``"fixed"`` (fixed-size values) or ``None`` (a
    type measurements do not hold: nested, fixed-size binary, extension …)."""
    import pyarrow as pa

    types = pa.types
    if types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    text = (
        "is_string", "is_large_string", "is_binary", "is_large_binary",
        "is_string_view", "is_binary_view",
    )  # fmt: skip
    if any(getattr(types, check, lambda _: False)(arrow_type) for check in text):
        return "text"
    fixed = ("is_integer", "is_floating", "is_boolean", "is_temporal", "is_decimal", "is_null")
    if any(getattr(types, check)(arrow_type) for check in fixed):
        return "fixed"
    return None


def _check_parquet(name: str, path: Path, bounds: Limits, required: Sequence[str]) -> int:
    """Check a parquet file against the bounds from its footer, then decode it one column at a
    time (text columns dictionary-encoded) and validate the ``required`` columns as a time
    series. Returns its row count."""
    import polars as pl
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    with open(path, "rb") as fh:
        footer = pq.ParquetFile(fh)
        meta, schema = footer.metadata, footer.schema_arrow
        groups = [meta.row_group(i) for i in range(meta.num_row_groups)]
        rows = max(meta.num_rows, sum(g.num_rows for g in groups))
        check_shape(name, rows, max(meta.num_columns, len(schema)), bounds)
        names = list(schema.names)
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise MeasurementValidationError(
                f"{name} has duplicate column name(s) {', '.join(map(repr, twice))}"
            )
        if any(column not in names for column in required):  # names the missing columns
            validate_time_series(pl.DataFrame(schema=names))
        text: list[str] = []
        for field in schema:
            kind = _kind(field.type)
            if kind is None:
                raise MeasurementValidationError(
                    f"{name} column {field.name!r} has type {field.type}; measurement columns "
                    "hold numbers, booleans, dates/times or text"
                )
            if kind == "text":
                text.append(field.name)
        for j in range(meta.num_columns):
            size = sum(g.column(j).total_uncompressed_size for g in groups)
            if size > bounds.max_upload_bytes:
                column = groups[0].column(j).path_in_schema
                raise MeasurementValidationError(
                    f"{name} column {column!r} holds {size:,} bytes once decompressed; the "
                    f"limit is {bounds.max_upload_bytes:,} (max_upload_bytes)"
                )
        for column in required:
            if column in text:
                dtype = schema.field(column).type
                raise MeasurementValidationError(
                    f"time_series column {column!r} must be numeric, got {dtype}"
                )
        reader = pq.ParquetFile(fh, read_dictionary=text)
        kept: dict[str, Any] = {}
        text_bytes = 0
        for column in names:
            values = reader.read(columns=[column], use_threads=False).column(0)
            if column in text:
                for chunk in values.chunks:
                    lengths = pc.binary_length(chunk.dictionary)
                    text_bytes += pc.sum(pc.take(lengths, chunk.indices)).as_py() or 0
                if text_bytes > bounds.max_upload_bytes:
                    raise MeasurementValidationError(
                        f"{name}'s text columns hold more than {bounds.max_upload_bytes:,} bytes "
                        f"once decoded (max_upload_bytes; column {column!r})"
                    )
            elif column in required:
                if pa.types.is_dictionary(values.type):
                    values = values.cast(values.type.value_type)
                kept[column] = values
            del values
    if required:
        frame = pl.from_arrow(pa.table(kept))
        assert isinstance(frame, pl.DataFrame)
        validate_time_series(frame)
    return int(rows)


def _check_file(name: str, path: Path, converted: Path, bounds: Limits) -> tuple[Path, int]:
    """``(the parquet file to store, its rows)``: the upload itself if it is parquet, else its
    parquet copy if it is CSV. ``MeasurementValidationError`` (without server paths) if it
    is neither, is over a limit, cannot be decoded or is not a valid time series."""
    required = REQUIRED_COLUMNS if name == TIME_SERIES else ()
    what = "parquet"
    try:
        with open(path, "rb") as fh:
            magic = fh.read(len(PARQUET_MAGIC))
        if magic != PARQUET_MAGIC:
            shape = _csv_shape(path)
            if shape is None:
                raise MeasurementValidationError(
                    f"{name} is not a readable parquet file: it does not start with "
                    f"{PARQUET_MAGIC.decode()} (nor is it CSV with a header row)"
                )
            what = "CSV"
            check_shape(name, *shape, bounds)
            _csv_to_parquet(path, converted)
            what, path = "parquet", converted
        return path, _check_parquet(name, path, bounds, required)
    except MeasurementValidationError:
        raise
    except BaseException as exc:  # pyo3's PanicException derives from BaseException
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        detail = public_message(str(exc)) or type(exc).__name__
        raise MeasurementValidationError(
            f"{name} is not a readable {what} file: {detail}"
        ) from None


def check_files(
    files: dict[str, tuple[Path, Path]], bounds: Limits
) -> tuple[dict[str, Path], int, int | None]:
    """(file name → parquet file to store, time-series rows, step rows or None) of the
    uploaded ``files`` (name → (upload, where a CSV's parquet copy goes))."""
    stored: dict[str, Path] = {}
    rows: dict[str, int] = {}
    for name, (path, converted) in files.items():
        stored[name], rows[name] = _check_file(name, path, converted, bounds)
    return stored, rows[TIME_SERIES], rows.get(STEPS)


def store_series(
    store: Store, files: dict[str, tuple[Path, Path]], folder: str, bounds: Limits
) -> tuple[int, int | None]:
    """:func:`check_files`, then move the files to store into ``folder`` of the blob
    directory: (time-series rows, step rows or None). Blocking: run it in a worker thread."""
    stored, rows, steps = check_files(files, bounds)
    (store.blob_dir / folder).mkdir(parents=True, exist_ok=True)
    for name, path in stored.items():
        os.replace(path, store.blob_path(folder, name))
    return rows, steps


# --- attachments of file measurements (images, PDFs, raw exports) ------------------------------

#: The file types a ``file`` measurement may hold (by extension, lower case); images and PDFs
#: must also start with their format's signature. Anything else (HTML, SVG, scripts,
#: executables) is refused: attachments are served back as downloads only.
IMAGE_SIGNATURES: Final = {
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
    "gif": (b"GIF87a", b"GIF89a"),
    "tiff": (b"II*\x00", b"MM\x00*"),
    "tif": (b"II*\x00", b"MM\x00*"),
    "bmp": (b"BM",),
    "pdf": (b"%PDF-",),
}
ATTACHMENT_TYPES: Final = frozenset(
    {*IMAGE_SIGNATURES, "webp", "csv", "tsv", "txt", "json", "xlsx", "xls", "parquet", "npy"}
    | {"npz", "mat", "h5", "hdf5", "mpr", "mpt", "res", "nda", "ndax", "zip"}
)
#: A file name: a plain name with an allowed extension (never a path; stored under a name of
#: the server's own).
_FILENAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()+-]{0,199}$")


def attachment_type(filename: Any) -> str:
    """The extension of an acceptable attachment name; ``MeasurementValidationError``
    otherwise (the message repeats at most 80 characters of the name)."""
    shown = repr(filename)[:80]
    if not isinstance(filename, str) or not _FILENAME.match(filename) or ".." in filename:
        raise MeasurementValidationError(
            f"file name {shown} is not allowed: use a plain name of at most 200 letters, "
            "digits, spaces and ._()+- (no folders), starting with a letter or digit"
        )
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ext not in ATTACHMENT_TYPES:
        raise MeasurementValidationError(
            f"file {shown}: type {ext or '(none)'!r} is not accepted; allowed: "
            f"{', '.join(sorted(ATTACHMENT_TYPES))}"
        )
    return ext


def check_attachment(filename: str, path: Path, bounds: Limits) -> int:
    """The size of an uploaded attachment after checking it: not empty, within
    ``max_upload_bytes``, and an image or PDF that starts with its format's signature."""
    ext = attachment_type(filename)
    size = path.stat().st_size
    if size == 0:
        raise MeasurementValidationError(f"file {filename!r} is empty")
    if size > bounds.max_upload_bytes:
        raise MeasurementValidationError(
            f"file {filename!r} exceeds max_upload_bytes ({bounds.max_upload_bytes:,} bytes)"
        )
    with path.open("rb") as fh:
        head = fh.read(16)
    signatures = IMAGE_SIGNATURES.get(ext)
    webp_bad = ext == "webp" and not (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
    if webp_bad or (signatures and not head.startswith(signatures)):
        raise MeasurementValidationError(
            f"file {filename!r} is not a valid {ext.upper()} file (its content does not match "
            "the format)"
        )
    return size


# --- steps and cycles derived from a stored time series -----------------------------------------


def _columns(frame: Any) -> dict[str, list[Any]]:
    """A frame as ``{column: [values]}`` with NaN and infinities as null (valid JSON)."""
    import polars as pl

    floats = [c for c, t in frame.schema.items() if t.is_float()]
    cleaned = frame.with_columns(
        [pl.when(pl.col(c).is_finite()).then(pl.col(c)).otherwise(None).alias(c) for c in floats]
    )
    out: dict[str, list[Any]] = cleaned.to_dict(as_series=False)
    return out


def derived_steps_and_cycles(time_series: Path) -> dict[str, dict[str, list[Any]]]:
    """``{"steps": {...}, "cycles": {...}}`` of a stored time series (its own step and cycle
    columns honoured when it has them; :func:`ionworks.wire.steps.steps_and_cycles`). Run in
    a worker thread; a series the detector cannot read is a ``MeasurementValidationError``
    without server paths."""
    import polars as pl

    from ionworks.wire.steps import steps_and_cycles

    try:
        frame = pl.read_parquet(time_series)
        steps, cycles = steps_and_cycles(frame)
    except (ValueError, TypeError, KeyError, pl.exceptions.PolarsError) as exc:
        raise MeasurementValidationError(
            f"cannot derive steps from this time series: {public_message(str(exc))[:300]}"
        ) from None
    return {"steps": _columns(steps), "cycles": _columns(cycles)}
