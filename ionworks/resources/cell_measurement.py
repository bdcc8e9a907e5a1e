"""``client.cell_measurement`` (alias ``client.measurement``): measured cycling data."""

from __future__ import annotations

import builtins
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import anyio

from ionworks.dataframes import write_parquet
from ionworks.errors import IonworksError, MeasurementValidationError
from ionworks.models import Measurement, Page, structure
from ionworks.models.measurements import MeasurementTagUsage
from ionworks.resources._base import (
    existing_id,
    expect,
    filter_params,
    filters_of,
    is_conflict,
    parse_page,
    seg,
)
from ionworks.resources._measurement_checks import check_options, strict_checks
from ionworks.resources._measurement_extend import AsyncMeasurementExtend
from ionworks.resources._measurement_io import (
    MeasurementProcessingError,
    as_polars,
    measurement_fields,
    read_folder,
    tag_list,
)
from ionworks.resources._measurement_raw import AsyncMeasurementRaw
from ionworks.resources._measurement_reads import AsyncMeasurementReads
from ionworks.resources._measurement_upload import (
    read_attachments,
    upload_attachments,
    upload_files,
    wait_processed,
)
from ionworks.resources._measurement_watch import AsyncMeasurementWatch
from ionworks.wire.measurements import validate_time_series

__all__ = ["AsyncCellMeasurements", "MeasurementProcessingError"]


#: Seconds a processing wait lasts by default, and between its polls.
PROCESSING_TIMEOUT_SECONDS = 600.0
PROCESSING_POLL_SECONDS = 2.0


class AsyncCellMeasurements(
    AsyncMeasurementReads, AsyncMeasurementWatch, AsyncMeasurementExtend, AsyncMeasurementRaw
):
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
        created_by_email: str | None = None,
        started_after: str | None = None,
        started_before: str | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
        updated_after: str | None = None,
        updated_before: str | None = None,
        tags_all: Iterable[str] | None = None,
        tags_any: Iterable[str] | None = None,
        order_by: str | None = None,
        order: str | None = None,
    ) -> Page[Measurement]:
        """Measurements of one cell instance (without ``limit``: all of them). ``tags_all`` /
        ``tags_any``: every one / at least one of these tags (any case); ``started_*``: by
        ``start_time``; ``order_by``: ``name``, ``created_at``, ``updated_at`` or
        ``start_time``."""
        params = {
            "limit": limit,
            "offset": offset,
            "measurement_type": measurement_type,
            "tags_all": tag_list(tags_all),
            "tags_any": tag_list(tags_any),
            "start_time_gt": started_after,
            "start_time_lt": started_before,
            **filters_of(locals()),
        }
        path = f"/cell_instances/{seg(cell_instance_id)}/cell_measurements"
        return await self._list(path, params, Measurement, what="measurement list")

    async def list_by_project(
        self,
        project_id: str,
        limit: int | None = None,
        offset: int | None = None,
        measurement_type: str | None = None,
        *,
        q: str | None = None,
        tags_all: Iterable[str] | None = None,
        tags_any: Iterable[str] | None = None,
        order_by: str | None = None,
        order: str | None = None,
    ) -> Page[Measurement]:
        """Measurements of a project (without ``limit``: all of them). ``q``: free text in the
        name, notes, protocol name and tags."""
        params = {
            "project_id": _project_id(project_id),
            "limit": limit,
            "offset": offset,
            "measurement_type": measurement_type,
            "q": q,
            "tags_all": tag_list(tags_all),
            "tags_any": tag_list(tags_any),
            **filter_params(order_by=order_by, order=order),
        }
        return await self._list("/cell_measurements", params, Measurement, what="measurement list")

    async def list_tags(
        self, project_id: str, q: str | None = None, limit: int | None = None
    ) -> Page[MeasurementTagUsage]:
        """The distinct tags of a project's measurements with how many measurements carry
        each, most used first; ``q``: a case-insensitive substring; ``limit``: at most this
        many (the server's default 50, at most 1000)."""
        params = {"project_id": _project_id(project_id), "q": q}
        data = await self._api.get("/cell_measurements/tags", params={**params, "limit": limit})
        return parse_page(data, MeasurementTagUsage, what="measurement tag list")

    async def add_tags(self, measurement_ids: str | Iterable[str], tags: Iterable[str]) -> int:
        """Add tags to one measurement or up to 1,000; returns how many changed. Tags they
        already have are left alone; an added tag takes the spelling its project already uses
        (400 for an invalid tag or more than 50 on a measurement; 404 for one not visible)."""
        return await self._bulk_tags(measurement_ids, add=tag_list(tags) or [], remove=[])

    async def remove_tags(self, measurement_ids: str | Iterable[str], tags: Iterable[str]) -> int:
        """Remove tags (matched case-insensitively) from one measurement or up to 1,000;
        returns how many changed."""
        return await self._bulk_tags(measurement_ids, add=[], remove=tag_list(tags) or [])

    async def _bulk_tags(
        self, measurement_ids: str | Iterable[str], *, add: Sequence[str], remove: Sequence[str]
    ) -> int:
        ids = [measurement_ids] if isinstance(measurement_ids, str) else [*measurement_ids]
        data = await self._api.post(
            "/cell_measurements/tags/bulk",
            {"measurement_ids": ids, "add": [*add], "remove": [*remove]},
        )
        data = expect(data, dict, what="tag update", keys={"updated_count": int})
        return int(data["updated_count"])

    async def create_properties(
        self,
        cell_instance_id: str,
        name: str,
        properties: dict[str, Any],
        *,
        notes: str | None = None,
        protocol: dict[str, Any] | None = None,
        start_time: str | None = None,
        end_time: str | None = None,
        test_setup: dict[str, Any] | None = None,
        tags: Iterable[str] | None = None,
    ) -> Measurement:
        """Create a ``properties`` measurement (no upload): manual values such as thickness
        or mass, e.g. ``{"thickness": {"value": 0.52, "unit": "mm"}}``. Names are unique
        within a cell instance (409 ``CONFLICT``); tags as for :meth:`add_tags`."""
        body = measurement_fields(name, notes, protocol, start_time, end_time, test_setup, tags)
        body.update(measurement_type="properties", properties=properties)
        path = f"/cell_instances/{seg(cell_instance_id)}/cell_measurements/create"
        return structure(await self._api.post(path, body), Measurement, what="measurement")

    async def create_file(
        self,
        cell_instance_id: str,
        name: str,
        filepaths: builtins.list[str],
        *,
        validate_images: bool = False,
        notes: str | None = None,
        protocol: dict[str, Any] | None = None,
        start_time: str | None = None,
        end_time: str | None = None,
        test_setup: dict[str, Any] | None = None,
        tags: Iterable[str] | None = None,
    ) -> Measurement:
        """Create a ``file`` measurement from local files (images, PDFs, raw exports; the
        server accepts up to 20 files of known types, images and PDFs checked by content).
        ``validate_images``: first check locally that each file is an image of an allowed
        type. ``FileNotFoundError`` for a missing path; nothing is sent then."""
        files = await anyio.to_thread.run_sync(read_attachments, filepaths, validate_images)
        meta = measurement_fields(name, notes, protocol, start_time, end_time, test_setup, tags)
        return await upload_attachments(self._api, cell_instance_id, meta, files)

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
        validate_strict: bool = False,
        rated_capacity: float | None = None,
        voltage_window: tuple[float, float] | None = None,
        skip_checks: Iterable[str] | None = None,
        wait_for_processing: bool = True,
        *,
        timeout: float = PROCESSING_TIMEOUT_SECONDS,
        poll_interval: float = PROCESSING_POLL_SECONDS,
    ) -> Measurement:
        """Upload a time-series measurement.

        ``measurement_detail = {"measurement": {"name": ..., ...}, "time_series": DataFrame,
        "steps": DataFrame (optional)}``; ``measurement["data_type"]`` is a validation hint
        that is not stored. The data are checked locally first (required columns "Time [s]",
        "Current [A]", "Voltage [V]", finite values, non-decreasing time; with
        ``validate_strict`` also at least 2 points per step, the cycle constant within a
        step, no time gap over 5 h, with ``voltage_window`` no out-of-order voltage jumps,
        and with ``rated_capacity`` and a steps table no two consecutive full steps in one
        direction; ``skip_checks`` names strict checks to leave out), then uploaded as
        parquet: initiate → PUT each file → confirm. A name the cell instance already has is
        a 409 ``CONFLICT`` (see :meth:`create_or_get`). With ``wait_for_processing`` the call
        returns once the server has processed the upload (``MeasurementProcessingError`` if it
        could not, or not within ``timeout`` seconds).
        """
        skip = check_options(rated_capacity, voltage_window, skip_checks)
        if not isinstance(measurement_detail, Mapping):
            raise MeasurementValidationError("measurement_detail must be a dict")
        meta = measurement_detail.get("measurement")
        if not isinstance(meta, Mapping) or not meta.get("name"):
            raise MeasurementValidationError(
                'measurement_detail["measurement"] must be a dict with a non-empty "name"'
            )
        if measurement_detail.get("time_series") is None:
            raise MeasurementValidationError('measurement_detail needs a "time_series" DataFrame')
        ts = as_polars(measurement_detail["time_series"], "time_series")
        validate_time_series(ts)
        files = {"time_series.parquet": write_parquet(ts)}
        steps = None
        if measurement_detail.get("steps") is not None:
            steps = as_polars(measurement_detail["steps"], "steps")
            files["steps.parquet"] = write_parquet(steps)
        if validate_strict:
            strict_checks(
                ts, steps, rated_capacity=rated_capacity, voltage_window=voltage_window, skip=skip
            )
        meta_body = {k: v for k, v in dict(meta).items() if k != "data_type"}
        return await upload_files(
            self._api,
            cell_instance_id,
            meta_body,
            files,
            wait_for_processing,
            timeout,
            poll_interval,
        )

    async def create_or_get(
        self,
        cell_instance_id: str,
        measurement_detail: dict[str, Any],
        validate_strict: bool = False,
        rated_capacity: float | None = None,
        voltage_window: tuple[float, float] | None = None,
        skip_checks: Iterable[str] | None = None,
        wait_for_processing: bool = True,
    ) -> Measurement:
        """:meth:`create`, or the cell instance's existing measurement of that name (names
        are unique within a cell instance: the server answers a duplicate with a 409 whose
        ``detail.existing_id`` names the existing one)."""
        try:
            return await self.create(
                cell_instance_id,
                measurement_detail,
                validate_strict,
                rated_capacity,
                voltage_window,
                skip_checks,
                wait_for_processing,
            )
        except IonworksError as exc:
            if not is_conflict(exc):
                raise
            existing = existing_id(exc)
            if existing is not None:
                return await self.get(existing)
            name = measurement_detail["measurement"]["name"]
            for m in await self.list(cell_instance_id, name_exact=name):
                if m.name == name:
                    return m
            raise ValueError(
                f"Measurement {name!r} reported as duplicate but could not be found"
            ) from exc

    async def wait_for_processing(
        self, measurement_ids: str | Iterable[str], timeout: float = PROCESSING_TIMEOUT_SECONDS
    ) -> dict[str, dict[str, Any]]:
        """Wait until the server has processed each measurement; returns the last record read
        of each, by id. Not fail-fast: every failure (and whatever is still processing after
        ``timeout`` seconds, shared by the batch) is reported together in one
        ``MeasurementProcessingError`` (``failures``: reason by id). Stopping the wait does
        not stop the processing."""
        ids = [measurement_ids] if isinstance(measurement_ids, str) else list(measurement_ids)
        return await wait_processed(self._api, ids, timeout, PROCESSING_POLL_SECONDS)

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
        ts = as_polars(data, "time_series")
        validate_time_series(ts)
        files = {"time_series.parquet": write_parquet(ts)}
        if steps is not None:
            files["steps.parquet"] = write_parquet(as_polars(steps, "steps"))
        return await upload_files(
            self._api, cell_instance_id, meta, files, wait_for_processing, timeout, 2, progress
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


def _project_id(project_id: object) -> str:
    """A required project id: a non-empty string (``ValueError`` otherwise)."""
    if not isinstance(project_id, str) or not project_id.strip():
        raise ValueError(f"project_id must be a non-empty string, not {project_id!r}")
    return project_id
