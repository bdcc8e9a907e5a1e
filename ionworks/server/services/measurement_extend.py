"""An extend of a stored time series (``POST /cell_measurements/{mid}/confirm-extend``), in a
worker thread: the delta's checks, then the stitch.

:func:`check_delta` checks the uploaded delta as an upload's time series
(:func:`~ionworks.server.services.measurement_files.check_files`: bounds from metadata before
decoding, required columns, finite numbers, non-decreasing time), then against the stored
series: the same column set, each column of the same type (integers into a float column are
widened, nothing else is converted), its first time not before the stored series' last, and
the stitched series within ``max_measurement_rows`` / ``max_measurement_cells``.

:func:`stitch` appends the delta and writes the new ``time_series.parquet`` atomically
(:meth:`Store.write_blobs`: temp file, fsync, rename), then, for a measurement uploaded with a
step table, a new ``steps.parquet`` of the step detector (:mod:`ionworks.wire.steps`) over the
whole stitched series: an uploaded step table cannot be extended row by row, and the
detector's table is what ``steps_and_cycles`` derives from the same series, so ``steps()``
and ``steps_and_cycles()`` agree afterwards. The time series is written first: a stop between
the two writes is recognised at the next start by its row count (:func:`finish_interrupted`).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ionworks.errors import MeasurementValidationError
from ionworks.server.db.measurements import STEPS, TIME_SERIES
from ionworks.server.db.store import Store
from ionworks.server.limits import Limits
from ionworks.server.services.measurement_files import check_files, check_shape, public_message

__all__ = ["check_delta", "parquet_rows", "regenerate_steps", "stitch"]

DELTA = "the extend delta"


def check_delta(stored: Path, delta: Path, converted: Path, bounds: Limits) -> Any:
    """The uploaded delta (parquet or CSV at ``delta``; a CSV's parquet copy goes to
    ``converted``) as a polars frame in the stored series' column order and types;
    ``MeasurementValidationError`` naming the column, the row or the limit otherwise."""
    import polars as pl
    import pyarrow.parquet as pq

    try:
        checked, rows, _ = check_files({TIME_SERIES: (delta, converted)}, bounds)
    except MeasurementValidationError as exc:
        raise MeasurementValidationError(exc.message.replace(TIME_SERIES, DELTA)) from None
    schema = pl.read_parquet_schema(stored)
    frame = pl.read_parquet(checked[TIME_SERIES])
    missing = [c for c in schema if c not in frame.columns]
    extra = [c for c in frame.columns if c not in schema]
    if missing or extra:
        said = [f"missing {', '.join(map(repr, missing))}"] if missing else []
        said += [f"not in the stored series: {', '.join(map(repr, extra))}"] if extra else []
        raise MeasurementValidationError(
            f"{DELTA} must have the stored series' columns ({'; '.join(said)})"
        )
    for name, dtype in schema.items():
        have = frame.schema[name]
        if have == dtype:
            continue
        if not (dtype.is_float() and have.is_integer()):
            raise MeasurementValidationError(
                f"{DELTA} column {name!r} has type {have}; the stored series' is {dtype}"
            )
        frame = frame.with_columns(pl.col(name).cast(dtype))
    last = pl.read_parquet(stored, columns=["Time [s]"])["Time [s]"].cast(pl.Float64).max()
    first = float(frame["Time [s]"].cast(pl.Float64)[0])
    if isinstance(last, float) and first < last:
        raise MeasurementValidationError(
            f"{DELTA} starts at Time [s] = {first}, before the stored series ends ({last}); "
            "time must not go backwards"
        )
    total = pq.read_metadata(stored).num_rows + rows
    check_shape("the extended time series", total, len(schema), bounds)
    return frame.select(list(schema))


def write_parquet(frame: Any) -> bytes:
    """A polars frame as parquet (zstd) bytes."""
    buf = io.BytesIO()
    frame.write_parquet(buf, compression="zstd")
    return buf.getvalue()


def parquet_rows(path: Path) -> int:
    """A parquet file's row count, from its footer."""
    import pyarrow.parquet as pq

    return int(pq.read_metadata(path).num_rows)


def _detected_steps(frame: Any) -> Any:
    """The detector's step table of a time series (``MeasurementValidationError`` without
    server paths when it cannot be derived)."""
    import polars as pl

    from ionworks.wire.steps import steps_and_cycles

    try:
        steps, _ = steps_and_cycles(frame)
    except (ValueError, TypeError, KeyError, pl.exceptions.PolarsError) as exc:
        raise MeasurementValidationError(
            f"cannot derive steps from the extended series: {public_message(str(exc))[:300]}"
        ) from None
    return steps


def regenerate_steps(store: Store, folder: str) -> int:
    """Write the detector's step table of the stored time series as ``steps.parquet``; its
    rows."""
    import polars as pl

    steps = _detected_steps(pl.read_parquet(store.blob_path(folder, TIME_SERIES)))
    store.write_blobs(folder, {STEPS: write_parquet(steps)})
    return int(steps.height)


def stitch(store: Store, folder: str, delta: Any, with_steps: bool) -> tuple[int, int | None]:
    """Append ``delta`` (from :func:`check_delta`) to the stored series, atomically; with
    ``with_steps`` regenerate the step table (derived before anything is written, so a series
    the detector cannot read changes nothing). ``(rows, step rows or None)``."""
    import polars as pl

    new = pl.concat([pl.read_parquet(store.blob_path(folder, TIME_SERIES)), delta])
    steps = _detected_steps(new) if with_steps else None
    files = {TIME_SERIES: write_parquet(new)}  # the time series first: see the module's notes
    if steps is not None:
        files[STEPS] = write_parquet(steps)
    store.write_blobs(folder, files)
    return new.height, None if steps is None else int(steps.height)
