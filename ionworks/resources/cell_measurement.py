"""``client.cell_measurement`` (alias ``client.measurement``): measured cycling data."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import polars as pl

from ionworks._concurrency import task_group
from ionworks.dataframes import from_arrow, to_arrow, write_parquet
from ionworks.errors import IonworksError, MeasurementValidationError
from ionworks.models import Measurement, Page, structure
from ionworks.resources._base import AsyncResource, expect, filter_params, parse_page, seg
from ionworks.wire.arrow import read_parquet
from ionworks.wire.measurements import validate_time_series

__all__ = ["AsyncCellMeasurements"]

PROGRESS_MIN_BYTES = 8 * 1024 * 1024  # uploads at least this big get a progress bar on a TTY


def _as_polars(frame: Any, what: str) -> pl.DataFrame:
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


class AsyncCellMeasurements(AsyncResource):
    """Upload, list, read and delete cell measurements."""

    async def get(self, measurement_id: str) -> Measurement:
        """One measurement record."""
        data = await self._api.get(f"/cell_measurements/{seg(measurement_id)}")
        return structure(data, Measurement, what="measurement")

    async def list(
        self,
        cell_instance_id: str,
        limit: int | None = None,
        offset: int | None = None,
        measurement_type: str | None = None,
        *,
        name: str | None = None,
        name_exact: str | None = None,
        order_by: str | None = None,
        order: str | None = None,
    ) -> Page[Measurement]:
        """Measurements of one cell instance (without ``limit``: all of them)."""
        params = {
            "limit": limit,
            "offset": offset,
            "measurement_type": measurement_type,
            **filter_params(name=name, name_exact=name_exact, order_by=order_by, order=order),
        }
        path = f"/cell_instances/{seg(cell_instance_id)}/cell_measurements"
        return await self._list(path, params, Measurement, what="measurement list")

    async def list_by_project(
        self,
        project_id: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        measurement_type: str | None = None,
        *,
        order_by: str | None = None,
        order: str | None = None,
    ) -> Page[Measurement]:
        """Measurements of a project (default: the client's project; without ``limit``: all
        of them)."""
        params = {
            "project_id": await self._api.default_project_id(project_id),
            "limit": limit,
            "offset": offset,
            "measurement_type": measurement_type,
            **filter_params(order_by=order_by, order=order),
        }
        return await self._list("/cell_measurements", params, Measurement, what="measurement list")

    async def _download(self, measurement_id: str, kind: str) -> Any:
        path = f"/cell_measurements/{seg(measurement_id)}/{kind}/download"
        raw = await self._api.download(path)
        return from_arrow(read_parquet(raw), self._api.config.dataframe_backend)

    async def time_series(self, measurement_id: str) -> Any:
        """The measurement's time series as a DataFrame."""
        return await self._download(measurement_id, "time_series")

    async def steps(self, measurement_id: str) -> Any:
        """The measurement's step table as a DataFrame."""
        return await self._download(measurement_id, "steps")

    async def update(self, measurement_id: str, data: dict[str, Any]) -> Measurement:
        """Change fields of a measurement (e.g. name, notes, tags)."""
        result = await self._api.patch(f"/cell_measurements/{seg(measurement_id)}", data)
        return structure(result, Measurement, what="measurement")

    async def delete(self, measurement_id: str) -> None:
        """Delete a measurement (it is also removed from its studies)."""
        await self._api.delete(f"/cell_measurements/{seg(measurement_id)}")

    async def create(
        self,
        cell_instance_id: str,
        measurement_detail: dict[str, Any],
        wait_for_processing: bool = True,
        timeout: float = 600,
        poll_interval: float = 2,
    ) -> Measurement:
        """Upload a time-series measurement.

        ``measurement_detail = {"measurement": {"name": ..., ...}, "time_series": DataFrame,
        "steps": DataFrame (optional)}``. The data are checked locally first (required columns
        "Time [s]", "Current [A]", "Voltage [V]", finite values, non-decreasing time), then
        uploaded as parquet: initiate → PUT each file → confirm.
        """
        if not isinstance(measurement_detail, Mapping):
            raise MeasurementValidationError("measurement_detail must be a dict")
        meta = measurement_detail.get("measurement")
        if not isinstance(meta, Mapping) or not meta.get("name"):
            raise MeasurementValidationError(
                'measurement_detail["measurement"] must be a dict with a non-empty "name"'
            )
        if measurement_detail.get("time_series") is None:
            raise MeasurementValidationError('measurement_detail needs a "time_series" DataFrame')
        ts = _as_polars(measurement_detail["time_series"], "time_series")
        validate_time_series(ts)
        files = {"time_series.parquet": write_parquet(ts)}
        if measurement_detail.get("steps") is not None:
            steps = _as_polars(measurement_detail["steps"], "steps")
            files["steps.parquet"] = write_parquet(steps)
        meta_body = {k: v for k, v in dict(meta).items() if k != "data_type"}
        return await self._upload_files(
            cell_instance_id, meta_body, files, wait_for_processing, timeout, poll_interval
        )

    async def upload(
        self,
        data: Any,
        name: str | None = None,
        *,
        cell_instance_id: str | None = None,
        project_id: str | None = None,
        steps: Any = None,
        notes: str | None = None,
        tags: Sequence[str] | None = None,
        progress: bool | None = None,
        wait_for_processing: bool = True,
        timeout: float = 600,
    ) -> Measurement:
        """Upload a measurement from a DataFrame or a folder.

        ``data`` is a polars/pandas DataFrame (or a dict of columns), or a folder holding
        ``time_series.parquet`` (or ``.csv``) and optionally ``steps.parquet`` (or ``.csv``).
        ``name`` defaults to the folder's name. Without ``cell_instance_id`` the data go to the
        project's default cell instance (``project_id`` or the client's project). Large uploads
        show a progress bar on a terminal (``progress=True``/``False`` forces it on/off).
        """
        if isinstance(data, str | os.PathLike):
            data, folder_steps, folder_name = await anyio.to_thread.run_sync(read_folder, data)
            steps = folder_steps if steps is None else steps
            name = name or folder_name
        if not name:
            raise MeasurementValidationError("upload() needs a name= for the measurement")
        if cell_instance_id is None:
            cell_instance_id = str((await self.default_cell_instance(project_id))["id"])
        meta: dict[str, Any] = {"name": name}
        if notes is not None:
            meta["notes"] = notes
        if tags is not None:
            meta["tags"] = list(tags)
        ts = _as_polars(data, "time_series")
        validate_time_series(ts)
        files = {"time_series.parquet": write_parquet(ts)}
        if steps is not None:
            files["steps.parquet"] = write_parquet(_as_polars(steps, "steps"))
        return await self._upload_files(
            cell_instance_id, meta, files, wait_for_processing, timeout, 2, progress
        )

    async def default_cell_instance(self, project_id: str | None = None) -> dict[str, Any]:
        """The project's default cell instance (the server creates one per project)."""
        pid = await self._api.default_project_id(project_id)
        data = await self._api.get(
            "/cell_instances", params={"project_id": pid, "is_default": "true"}
        )
        found = parse_page(data, None, what="cell instance list").items
        if not found or not isinstance(found[0], Mapping) or "id" not in found[0]:
            raise IonworksError(f"the server returned no default cell instance for project {pid}")
        return dict(found[0])

    async def _upload_files(
        self,
        cell_instance_id: str,
        meta: dict[str, Any],
        files: dict[str, bytes],
        wait_for_processing: bool,
        timeout: float,
        poll_interval: float,
        progress: bool | None = None,
    ) -> Measurement:
        """initiate-upload → PUT each file to its upload URL → confirm-upload (→ wait)."""
        base = f"/cell_instances/{seg(cell_instance_id)}/cell_measurements"
        init = await self._api.post(
            f"{base}/initiate-upload",
            {"measurement": {k: meta[k] for k in ("name", "notes") if k in meta}},
        )
        init = expect(
            init, dict, what="initiate-upload", keys={"measurement_id": object, "uploads": list}
        )
        measurement_id = str(init["measurement_id"])
        urls = {
            u.get("filename"): u.get("signed_url")
            for u in init["uploads"]
            if isinstance(u, Mapping)
        }
        for filename in files:
            if not urls.get(filename):
                raise IonworksError(f"No {filename} upload URL returned from server")
        total = sum(len(b) for b in files.values())
        bar = _progress_bar(total, progress)
        try:
            async with task_group() as tg:
                for filename, body in files.items():
                    tg.start_soon(self._put, str(urls[filename]), body, bar)
        finally:
            if bar is not None:
                bar.close()
        confirmed = await self._api.post(
            f"/cell_measurements/{seg(measurement_id)}/confirm-upload",
            {
                "cell_instance_id": cell_instance_id,
                "measurement": meta,
                "measurement_type": "time_series",
            },
        )
        record = structure(confirmed, Measurement, what="measurement")
        if wait_for_processing and record.processing_status in ("pending", "running"):
            await self._wait_processing(measurement_id, timeout, poll_interval)
        return record

    async def _put(self, url: str, body: bytes, bar: Any) -> None:
        """PUT one file to its upload URL (streamed in chunks that advance ``bar``)."""
        await self._api.upload(url, body, progress=None if bar is None else bar.update)

    async def _wait_processing(self, measurement_id: str, timeout: float, interval: float) -> None:
        path = f"/cell_measurements/{seg(measurement_id)}"
        params = {"include_steps": False, "include_time_series": False}
        with anyio.fail_after(timeout if math.isfinite(timeout) else None):
            while True:
                current = await self._api.get(path, params=params)
                status = current.get("processing_status") if isinstance(current, Mapping) else None
                if status == "failed":
                    raise IonworksError(
                        f"Measurement {measurement_id} processing failed: "
                        f"{current.get('processing_error') or 'unknown error'}"
                    )
                if status not in ("pending", "running"):
                    return
                await anyio.sleep(interval)


def _progress_bar(total: int, progress: bool | None) -> Any:
    """A tqdm bar over the upload's bytes: forced on/off by ``progress``, else shown for large
    uploads when stderr is a terminal."""
    show = progress if progress is not None else total >= PROGRESS_MIN_BYTES and sys.stderr.isatty()
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="Uploading", unit="B", unit_scale=True, unit_divisor=1024)
