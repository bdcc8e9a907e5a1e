"""``client.raw_data``: raw cycler files (original vendor exports) of a project, stored as
uploaded, and the measurements made from them."""

from __future__ import annotations

import mimetypes
import os
from collections.abc import AsyncIterator
from typing import IO, Any, Final

import anyio.to_thread

from ionworks import cache
from ionworks.errors import IonworksError
from ionworks.models import Page, RawData, structure
from ionworks.resources._base import AsyncResource, expect, seg
from ionworks.resources._requests import UPLOAD_CHUNK

__all__ = ["AsyncRawDataClient"]

BASE: Final = "/raw_data"
CACHE_KIND: Final = "raw_data"  # the kind of a raw file's entries in the local cache

FileLike = str | os.PathLike[str] | IO[bytes]


def _open(file: FileLike) -> tuple[IO[bytes], str, bool]:
    """(a binary handle, the file's name, whether it was opened here)."""
    if isinstance(file, str | os.PathLike):
        return open(file, "rb"), os.path.basename(os.fspath(file)), True
    return file, os.path.basename(str(getattr(file, "name", "") or "upload.bin")), False


def _sized(handle: IO[bytes]) -> tuple[IO[bytes] | bytes, int]:
    """The body to send and its size: a seekable handle itself (measured by seeking), else
    its content read once (a pipe cannot be measured without reading it)."""
    if handle.seekable():
        start = handle.tell()
        size = handle.seek(0, os.SEEK_END) - start
        handle.seek(start)
        return handle, size
    data = handle.read()
    return data, len(data)


async def _pieces(body: IO[bytes] | bytes, size: int) -> AsyncIterator[bytes]:
    """``size`` bytes of ``body`` in pieces of at most ``UPLOAD_CHUNK`` (files read in a
    worker thread); an ``IonworksError`` if the file is shorter than measured."""
    if isinstance(body, bytes):
        for start in range(0, len(body), UPLOAD_CHUNK):
            yield body[start : start + UPLOAD_CHUNK]
        return
    left = size
    while left > 0:
        piece = await anyio.to_thread.run_sync(body.read, min(left, UPLOAD_CHUNK))
        if not piece:
            raise IonworksError(f"the file ended after {size - left:,} of {size:,} bytes")
        left -= len(piece)
        yield piece


class AsyncRawDataClient(AsyncResource):
    """Upload, list, read, download, update and delete raw-data records."""

    async def upload(
        self,
        project_id: str,
        file: str | os.PathLike[str] | IO[bytes],
        name: str | None = None,
        source: str | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: tuple[float, float] | float | None = None,
    ) -> RawData:
        """Upload a raw file (a path, or an open binary file) to a project: initiate-upload →
        the bytes streamed to the upload URL → confirm-upload. ``name``: the record's label
        (default: the file's name); ``source``: free-text provenance; ``metadata``: any JSON
        object. ``timeout`` is accepted for the official signature (the upload waits up to the
        client's long read timeout between writes). A caller's open file is not closed."""
        del timeout
        handle, filename, opened = _open(file)
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        fields: dict[str, Any] = {
            "project_id": project_id,
            "name": name or filename,
            "filename": filename,
            "content_type": content_type,
            "metadata": metadata or {},
        }
        if source is not None:
            fields["source"] = source
        try:
            body, size = await anyio.to_thread.run_sync(_sized, handle)
            init = await self._api.post(f"{BASE}/initiate-upload", fields)
            init = expect(
                init,
                dict,
                what="raw data initiate-upload",
                keys={"raw_data_id": str, "uploads": list},
            )
            targets = [u for u in init["uploads"] if isinstance(u, dict) and u.get("signed_url")]
            if not targets:
                raise IonworksError("initiate-upload returned no upload URL for the raw file")
            await self._api.upload_stream(
                str(targets[0]["signed_url"]), _pieces(body, size), size, content_type=content_type
            )
        finally:
            if opened:
                handle.close()
        confirmed = await self._api.post(
            f"{BASE}/{seg(init['raw_data_id'])}/confirm-upload", {**fields, "size_bytes": size}
        )
        return structure(confirmed, RawData, what="raw data")

    async def list(self, project_id: str, limit: int = 100, offset: int = 0) -> Page[RawData]:
        """A page of a project's raw-data records, newest first (``.total``: all of them)."""
        params = {"project_id": project_id, "limit": limit, "offset": offset}
        return await self._list(BASE, params, RawData, what="raw data list")

    async def get(self, raw_data_id: str) -> RawData:
        """One raw-data record."""
        data = await self._api.get(f"{BASE}/{seg(raw_data_id)}")
        return structure(data, RawData, what="raw data")

    async def download_url(self, raw_data_id: str) -> str:
        """A URL of the stored file (a short-lived signed URL on the cloud; on the local
        server it needs the API key)."""
        data = await self._api.get(f"{BASE}/{seg(raw_data_id)}/download-url")
        return str(expect(data, dict, what="download URL", keys={"url": str})["url"])

    async def download(
        self,
        raw_data_id: str,
        use_cache: bool = True,
        read_timeout: float = 300.0,
    ) -> bytes:
        """The stored file's bytes, exactly as uploaded. ``use_cache``: keep them in the local
        cache (:mod:`ionworks.cache`) and read them from there next time (the record is asked
        for first: a deleted record is never served from the cache). ``read_timeout``:
        seconds the download may wait between reads (raw files can be large)."""
        record = await self.get(raw_data_id)
        key = None
        if use_cache and cache.get_cache_enabled():
            base_url, credential = await self._api.identity()
            version = f"raw:{record.size_bytes}:{record.extra.get('created_at')}"
            key = cache.entry_key(base_url, credential, record.id, version)
            hit = await anyio.to_thread.run_sync(cache.load, key, CACHE_KIND)
            if hit:
                return hit
        url = await self.download_url(record.id)
        data = await self._api.fetch(url, read_timeout=read_timeout)
        if key is not None:
            await anyio.to_thread.run_sync(cache.save, key, CACHE_KIND, data)
        return data

    async def update(
        self,
        raw_data_id: str,
        name: str | None = None,
        source: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> RawData:
        """Change the label, the provenance (``""`` clears it) and/or the metadata (replaced
        whole); only the arguments given are sent."""
        given = {"name": name, "source": source, "metadata": metadata}
        body = {k: v for k, v in given.items() if v is not None}
        data = await self._api.patch(f"{BASE}/{seg(raw_data_id)}", body)
        return structure(data, RawData, what="raw data")

    async def delete(self, raw_data_id: str) -> None:
        """Delete the record and its stored file; measurements made from it keep their data
        (only the links go)."""
        await self._api.delete(f"{BASE}/{seg(raw_data_id)}")

    async def list_measurements(
        self, raw_data_id: str, limit: int = 100, offset: int = 0
    ) -> Page[str]:
        """A page of the ids of the measurements made from (or linked to) the record."""
        path = f"{BASE}/{seg(raw_data_id)}/cell_measurements"
        page: Page[Any] = await self._list(
            path, {"limit": limit, "offset": offset}, None, what="raw data measurement ids"
        )
        return Page(items=[str(i) for i in page.items], total=page.total)
