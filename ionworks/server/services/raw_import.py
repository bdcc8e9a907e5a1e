"""A time-series measurement made from a stored raw cycler file (``POST /cell_instances/{ci}/
cell_measurements/from-raw-data``), testable without HTTP.

The raw record's file (``blobs/raw_data/<id>/file``) is refused over ``max_upload_bytes``
before anything is read, then parsed by :func:`~ionworks.server.services.raw_readers.read_raw`
in a worker thread, written as parquet to a temporary file and stored exactly as an uploaded
time series is (:func:`~ionworks.server.services.measurement_files.store_series`: the same
checks and on-disk layout), so pipelines and studies resolve its ``db:<id>`` like any other.
The record is written (names unique within the cell instance) and linked to the raw record;
on any failure nothing is kept.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path, PurePath
from typing import Any

import anyio.to_thread

from ionworks.server.db import measurements, raw_data, uploads
from ionworks.server.db.measurements import TIME_SERIES
from ionworks.server.db.store import Store, new_id
from ionworks.server.limits import Limits
from ionworks.server.services.measurement_files import store_series
from ionworks.server.services.raw_readers import RawFileError, read_raw

__all__ = ["NameTaken", "default_name", "import_raw", "raw_path"]


class NameTaken(Exception):
    """The cell instance already has a measurement of this name (``existing_id``)."""

    def __init__(self, existing_id: str) -> None:
        super().__init__(existing_id)
        self.existing_id = existing_id


def default_name(filename: str) -> str:
    """A measurement's name from its raw file's name: without the extension."""
    path = PurePath(filename)
    return path.stem or path.name or "raw data"


def raw_path(store: Store, raw: sqlite3.Row) -> Path:
    """Where the raw record's file is stored."""
    return store.blob_path(raw_data.FOLDER.format(raw["id"]), raw_data.BLOB)


def _convert(
    store: Store, filename: str, source: Path, work: Path, folder: str, bounds: Limits
) -> int:
    """Parse, write parquet, check and store (blocking): the time series' rows."""
    import pyarrow.parquet as pq

    table = read_raw(filename, source, limits=bounds)
    work.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, work)
    del table
    rows, _ = store_series(store, {TIME_SERIES: (work, work.with_suffix(".2.tmp"))}, folder, bounds)
    return rows


async def import_raw(
    store: Store, bounds: Limits, instance: sqlite3.Row, raw: sqlite3.Row, meta: dict[str, Any]
) -> str:
    """The id of a new time-series measurement of ``instance`` made from the raw record
    ``raw`` (same owner and project: the caller checked), with ``meta`` (name, notes, tags,
    checked by the caller). :class:`RawFileError` (``status`` 413 or 422; 404 if the file or
    the record went meanwhile) for a file that cannot be read or is over a limit;
    :class:`NameTaken` when the name is taken."""
    source = raw_path(store, raw)
    try:
        size = source.stat().st_size
    except FileNotFoundError:
        raise RawFileError(f"raw data {raw['id']} has no stored file", status=404) from None
    if size > bounds.max_upload_bytes:
        raise RawFileError(
            f"{raw['filename']} has {size:,} bytes; the limit is {bounds.max_upload_bytes:,} "
            "(max_upload_bytes)",
            status=413,
        )
    mid = new_id()
    folder = measurements.FOLDER.format(mid)
    work = uploads.partial_path(store, f"raw-{mid}")
    try:
        rows = await anyio.to_thread.run_sync(
            _convert, store, str(raw["filename"]), source, work, folder, bounds
        )
        existing = measurements.create(store, instance, mid, meta, row_count=rows, steps_count=None)
        if existing is not None:
            raise NameTaken(existing)
        try:
            raw_data.link(store, mid, [str(raw["id"])])
        except sqlite3.IntegrityError:  # the raw record was deleted meanwhile
            measurements.delete(store, mid)
            raise RawFileError(
                f"raw data {raw['id']} was deleted while it was read", status=404
            ) from None
    except BaseException:
        store.delete_blobs(folder)
        raise
    finally:
        work.unlink(missing_ok=True)
        work.with_suffix(".2.tmp").unlink(missing_ok=True)
    return mid
