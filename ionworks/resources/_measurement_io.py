"""Helpers of ``client.cell_measurement`` (not part of the public surface): frames from user
input or a folder, the upload progress bar, and the error a processing wait raises."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import polars as pl

from ionworks.dataframes import to_arrow
from ionworks.errors import MeasurementProcessingError, MeasurementValidationError

__all__ = [
    "PROGRESS_MIN_BYTES",
    "MeasurementProcessingError",
    "as_polars",
    "failure_message",
    "measurement_fields",
    "progress_bar",
    "read_folder",
    "tag_list",
]

PROGRESS_MIN_BYTES = 8 * 1024 * 1024  # uploads at least this big get a progress bar on a TTY


def failure_message(failures: dict[str, str], total: int) -> str:
    """One measurement: the server's reason; a batch: a count and one line per failure."""
    if total == 1:
        return next(iter(failures.values()))
    listed = "\n".join(f"  {mid}: {reason}" for mid, reason in failures.items())
    return f"{len(failures)} of {total} uploads could not be processed:\n{listed}"


def as_polars(frame: Any, what: str) -> pl.DataFrame:
    try:
        table = to_arrow(frame)
    except TypeError as exc:
        raise MeasurementValidationError(f"{what}: {exc}") from exc
    result = pl.from_arrow(table)
    assert isinstance(result, pl.DataFrame)
    return result


def read_folder(
    folder: str | os.PathLike[str],
) -> tuple[pl.DataFrame, pl.DataFrame | None, str]:
    """``(time_series, steps or None, name)`` from a folder; ``.parquet`` wins over ``.csv``.

    A path to a single ``.parquet``/``.csv`` file is read as the time series (no steps). The
    name is the folder's (or the file's stem).
    """
    path = Path(folder).resolve()
    readers: dict[str, Callable[[Path], pl.DataFrame]] = {
        ".parquet": pl.read_parquet,
        ".csv": pl.read_csv,
    }
    if path.is_file() and path.suffix in readers:
        return readers[path.suffix](path), None, path.stem
    if not path.is_dir():
        raise MeasurementValidationError(f"{path} is neither a folder nor a .parquet/.csv file")
    found: dict[str, pl.DataFrame] = {}
    for stem in ("time_series", "steps"):
        for ext, reader in readers.items():
            if (path / f"{stem}{ext}").is_file():
                found[stem] = reader(path / f"{stem}{ext}")
                break
    if "time_series" not in found:
        raise MeasurementValidationError(
            f"{path} has no time_series.parquet or time_series.csv "
            f"(found: {', '.join(sorted(p.name for p in path.iterdir())) or 'nothing'})"
        )
    return found["time_series"], found.get("steps"), path.name


def progress_bar(total: int, progress: bool | None) -> Any:
    """A tqdm bar over the upload's bytes: forced on/off by ``progress``, else shown for large
    uploads when stderr is a terminal."""
    show = progress if progress is not None else total >= PROGRESS_MIN_BYTES and sys.stderr.isatty()
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="Uploading", unit="B", unit_scale=True, unit_divisor=1024)


def tag_list(tags: Iterable[str] | None) -> list[str] | None:
    """A tag filter as a list (a bare string is one tag, not its letters); None when empty."""
    if tags is None:
        return None
    return ([tags] if isinstance(tags, str) else [*tags]) or None


def measurement_fields(
    name: str,
    notes: str | None,
    protocol: dict[str, Any] | None,
    start_time: str | None,
    end_time: str | None,
    test_setup: dict[str, Any] | None,
    tags: Iterable[str] | None,
) -> dict[str, Any]:
    """A measurement's metadata: the name and the optional fields given (``tags`` as a
    list)."""
    optional = {
        "notes": notes,
        "protocol": protocol,
        "start_time": start_time,
        "end_time": end_time,
        "test_setup": test_setup,
    }
    out: dict[str, Any] = {"name": name, **{k: v for k, v in optional.items() if v is not None}}
    if tags is not None:
        out["tags"] = tag_list(tags) or []
    return out
