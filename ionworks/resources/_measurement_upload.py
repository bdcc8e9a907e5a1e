"""The upload and processing-wait flows of ``client.cell_measurement`` (not part of the public
surface): initiate-upload → PUT each file to its upload URL → confirm-upload, then polling
``processing_status`` (wire.md §10.2)."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import anyio

from ionworks._concurrency import task_group
from ionworks.errors import IonworksError
from ionworks.models import Measurement, structure
from ionworks.resources._base import expect, seg
from ionworks.resources._measurement_io import (
    MeasurementProcessingError,
    failure_message,
    progress_bar,
)
from ionworks.resources._requests import Requests

__all__ = ["read_attachments", "upload_attachments", "upload_files", "wait_processed"]


async def wait_processed(
    api: Requests, ids: Sequence[str], timeout: float, interval: float
) -> dict[str, dict[str, Any]]:
    """Poll each record until it is not ``pending``/``running``; the last record read by id.
    Not fail-fast: failures and whatever outlasts ``timeout`` raise one
    :class:`MeasurementProcessingError` once the batch settles."""
    params = {"include_steps": "false", "include_time_series": "false"}
    pending = [*ids]
    failures: dict[str, str] = {}
    settled: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + (timeout if math.isfinite(timeout) else math.inf)
    while pending:
        for mid in pending:
            data = await api.get(f"/cell_measurements/{seg(mid)}", params=params)
            data = expect(data, dict, what="measurement")
            settled[mid] = data
            status = data.get("processing_status")
            if status == "failed":
                failures[mid] = str(
                    data.get("processing_error") or "The server could not process this upload."
                )
        running = ("pending", "running")
        pending = [m for m in pending if settled[m].get("processing_status") in running]
        if pending and time.monotonic() >= deadline:
            for mid in pending:
                failures[mid] = (
                    f"Still processing after {timeout:.0f}s. The upload may yet finish; "
                    "check processing_status to find out."
                )
            break
        if pending:
            await anyio.sleep(interval)
    if failures:
        raise MeasurementProcessingError(failure_message(failures, len(ids)), failures)
    return settled


async def upload_files(
    api: Requests,
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
    init = await api.post(
        f"{base}/initiate-upload",
        {"measurement": {k: meta[k] for k in ("name", "notes") if k in meta}},
    )
    init = expect(
        init, dict, what="initiate-upload", keys={"measurement_id": object, "uploads": list}
    )
    measurement_id = str(init["measurement_id"])
    urls = {
        u.get("filename"): u.get("signed_url") for u in init["uploads"] if isinstance(u, Mapping)
    }
    for filename in files:
        if not urls.get(filename):
            raise IonworksError(f"No {filename} upload URL returned from server")
    total = sum(len(b) for b in files.values())
    bar = progress_bar(total, progress)
    try:
        async with task_group() as tg:
            for filename, body in files.items():
                tg.start_soon(_put, api, str(urls[filename]), body, bar)
    finally:
        if bar is not None:
            bar.close()
    confirmed = await api.post(
        f"/cell_measurements/{seg(measurement_id)}/confirm-upload",
        {
            "cell_instance_id": cell_instance_id,
            "measurement": meta,
            "measurement_type": "time_series",
        },
    )
    record = structure(confirmed, Measurement, what="measurement")
    if wait_for_processing and record.processing_status in ("pending", "running"):
        await wait_processed(api, [measurement_id], timeout, poll_interval)
    return record


async def _put(api: Requests, url: str, body: bytes, bar: Any) -> None:
    """PUT one file to its upload URL (streamed in chunks that advance ``bar``)."""
    await api.upload(url, body, progress=None if bar is None else bar.update)


#: Image types ``create_file(validate_images=True)`` accepts, with their leading bytes.
IMAGE_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "gif": (b"GIF87a", b"GIF89a"),
    "webp": (b"RIFF",),
    "tiff": (b"II\x2a\x00", b"MM\x00\x2a"),
    "bmp": (b"BM",),
}


def read_attachments(filepaths: Sequence[str], validate_images: bool) -> dict[str, bytes]:
    """``{file name: content}`` of local files (``FileNotFoundError`` for a missing one; with
    ``validate_images`` an ``IonworksError`` for a file that is not an allowed image)."""
    out: dict[str, bytes] = {}
    for filepath in filepaths:
        if not os.path.isfile(filepath):
            raise FileNotFoundError(f"File not found: {filepath}")
        name = os.path.basename(filepath)
        if name in out:
            raise IonworksError(f"two files are named {name!r}; file names must differ")
        with open(filepath, "rb") as fh:
            data = fh.read()
        if validate_images:
            _check_image(name, data)
        out[name] = data
    return out


def _check_image(name: str, data: bytes) -> None:
    ext = os.path.splitext(name)[1].lstrip(".").lower()
    if ext not in IMAGE_SIGNATURES:
        raise IonworksError(
            f"File '{name}' has unsupported extension '.{ext}'. Allowed: "
            f"{', '.join(sorted(IMAGE_SIGNATURES))}"
        )
    ok = (
        data[:4] == b"RIFF" and data[8:12] == b"WEBP"
        if ext == "webp"
        else data.startswith(IMAGE_SIGNATURES[ext])
    )
    if not ok:
        raise IonworksError(
            f"File '{name}' does not appear to be a valid {ext.upper()} image. The file "
            "content does not match the expected format."
        )


async def upload_attachments(
    api: Requests, cell_instance_id: str, meta: dict[str, Any], files: dict[str, bytes]
) -> Measurement:
    """A file measurement: initiate-upload (``measurement_type: "file"`` and the names) → PUT
    each file to its URL (paired by name) → confirm-upload."""
    base = f"/cell_instances/{seg(cell_instance_id)}/cell_measurements"
    names = [*files]
    init = await api.post(
        f"{base}/initiate-upload",
        {
            "measurement": {k: meta[k] for k in ("name", "notes") if k in meta},
            "measurement_type": "file",
            "filenames": names,
        },
    )
    init = expect(
        init, dict, what="initiate-upload", keys={"measurement_id": object, "uploads": list}
    )
    urls = {
        u.get("filename"): u.get("signed_url") for u in init["uploads"] if isinstance(u, Mapping)
    }
    for name in names:
        if not urls.get(name):
            raise IonworksError(f"No {name} upload URL returned from server")
    async with task_group() as tg:
        for name, body in files.items():
            tg.start_soon(_put, api, str(urls[name]), body, None)
    confirmed = await api.post(
        f"/cell_measurements/{seg(str(init['measurement_id']))}/confirm-upload",
        {
            "cell_instance_id": cell_instance_id,
            "measurement": meta,
            "measurement_type": "file",
            "filenames": names,
        },
    )
    return structure(confirmed, Measurement, what="measurement")
