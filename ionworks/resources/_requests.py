"""What a resource may ask of its client (not part of the public surface).

The client builds one :class:`Requests` over its :class:`~ionworks._transport.Transport` and
hands it to every resource; resources reach the API and the client's settings only through
it. Retries, timeouts, idempotency keys, authentication and error mapping are the
Transport's, unchanged: each method here is one ``Transport.request`` (or, for uploads to a
signed URL, one ``Transport.put_stream``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from ionworks._config import ClientConfig
from ionworks._transport import DOWNLOAD_READ_TIMEOUT, FormPart, Transport
from ionworks.wire.multipart import Part

__all__ = ["UPLOAD_CHUNK", "Requests"]

#: Uploads to a signed URL are streamed in pieces of this size (each one advances progress).
UPLOAD_CHUNK = 1024 * 1024

Params = Mapping[str, Any]


class Requests:
    """Typed HTTP verbs on the client's API, and the client facts resources need: its
    settings (:attr:`config`), its default project and the server's capabilities.

    ``default_project_id`` and ``capabilities`` are the client's own (it decides the default
    project and asks the server what it offers); this class only passes them on.
    """

    def __init__(
        self,
        transport: Transport,
        config: ClientConfig,
        *,
        default_project_id: Callable[[str | None], Awaitable[str]],
        capabilities: Callable[[bool], Awaitable[frozenset[str]]],
    ) -> None:
        self._transport = transport
        #: The client's resolved settings (frozen): its project, DataFrame backend, ….
        self.config = config
        self._default_project_id = default_project_id
        self._capabilities = capabilities

    # ------------------------------------------------------------------ client facts

    async def default_project_id(self, explicit: str | None = None) -> str:
        """``explicit`` > the client's project > (on a local server) the key's default project;
        else a ``ValueError`` saying how to give one."""
        return await self._default_project_id(explicit)

    async def capabilities(self, ask: bool = True) -> frozenset[str]:
        """What the server offers beyond the cloud's API (empty for other servers);
        ``ask=False``: only what is known already (no request)."""
        return await self._capabilities(ask)

    async def identity(self) -> tuple[str, str]:
        """``(the API's base URL, the credential requests carry)``: what keys local caches
        (:mod:`ionworks.cache` stores only a digest of the credential)."""
        return await self._transport.base_url(), self._transport.credential

    # ------------------------------------------------------------------ JSON requests

    async def get(self, path: str, *, params: Params | None = None) -> Any:
        """``GET path``: the decoded JSON body."""
        return await self._transport.request("GET", path, params=params)

    async def post(self, path: str, body: Any = None) -> Any:
        """``POST path`` with a JSON body (``None``: ``{}``) and a fresh Idempotency-Key."""
        return await self._transport.request("POST", path, json_body={} if body is None else body)

    async def patch(self, path: str, body: Any) -> Any:
        """``PATCH path`` with a JSON body and a fresh Idempotency-Key."""
        return await self._transport.request("PATCH", path, json_body=body)

    async def delete(self, path: str) -> None:
        """``DELETE path``."""
        await self._transport.request("DELETE", path)

    async def post_form(
        self,
        path: str,
        *,
        fields: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        params: Mapping[str, Any] | None = None,
        method: str = "POST",
    ) -> Any:
        """``POST`` (or ``method``) ``path`` with a ``multipart/form-data`` body: the form
        ``fields`` and the ``files`` (``{field: (filename, bytes, content type)}``), and a fresh
        Idempotency-Key; the long read timeout (the server may parse the files). The decoded
        JSON body, as :meth:`post`."""
        form: list[FormPart] = [(name, value, None, None) for name, value in (fields or {}).items()]
        form += [(name, body, fn, ctype) for name, (fn, body, ctype) in (files or {}).items()]
        return await self._transport.request(
            method, path, params=params, form=form, timeout=DOWNLOAD_READ_TIMEOUT
        )

    # ------------------------------------------------------------------ files

    async def download(self, path: str, *, accept: str | None = None) -> bytes:
        """``GET path``: the raw body (long read timeout). ``accept``: the Accept header."""
        raw: bytes = await self._transport.request(
            "GET", path, headers=_accept(accept), expect="bytes"
        )
        return raw

    async def fetch(self, url: str, *, read_timeout: float | None = None) -> bytes:
        """``GET`` a URL the API handed out (e.g. a signed download URL): the raw body (long
        read timeout unless ``read_timeout``). A URL on the API's own origin is authenticated
        like any request; any other gets no API credentials."""
        base = await self._transport.base_url()
        raw: bytes = await self._transport.request(
            "GET",
            url,
            absolute_url=True,
            authenticate=_origin(url) == _origin(base),
            expect="bytes",
            timeout=DOWNLOAD_READ_TIMEOUT if read_timeout is None else read_timeout,
        )
        return raw

    async def download_parts(self, path: str, *, accept: str | None = None) -> dict[str, Part]:
        """``GET path`` answered with ``multipart/mixed``: ``{name: (content type, bytes)}``
        (a malformed body is an ``APIResponseValidationError``)."""
        parts: dict[str, Part] = await self._transport.request(
            "GET", path, headers=_accept(accept), expect="multipart"
        )
        return parts

    async def post_parts(
        self, path: str, body: Any, *, accept: str | None = None
    ) -> dict[str, Part]:
        """``POST path`` with a JSON body (a query), answered with ``multipart/mixed``, as
        :meth:`download_parts`."""
        parts: dict[str, Part] = await self._transport.request(
            "POST", path, json_body=body, headers=_accept(accept), expect="multipart"
        )
        return parts

    async def upload(
        self, url: str, body: bytes, *, progress: Callable[[int], object] | None = None
    ) -> None:
        """``PUT`` a file. A path (``/...``) is on the API server: authenticated and retried
        like any request, with the long read timeout. An absolute URL (a signed storage URL)
        gets no API credentials and is streamed in :data:`UPLOAD_CHUNK` pieces. ``progress``
        is called with the number of bytes each time some are sent."""
        headers = {"Content-Type": "application/octet-stream"}
        if not url.startswith(("http://", "https://")):
            await self._transport.request(
                "PUT", url, data=body, headers=headers, expect="none", timeout=DOWNLOAD_READ_TIMEOUT
            )
            if progress is not None:
                progress(len(body))
            return

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), UPLOAD_CHUNK):
                piece = body[start : start + UPLOAD_CHUNK]
                yield piece
                if progress is not None:
                    progress(len(piece))

        headers["Content-Length"] = str(len(body))
        await self._transport.put_stream(url, chunks(), headers=headers)

    async def upload_stream(
        self, url: str, chunks: AsyncIterator[bytes], size: int, *, content_type: str
    ) -> None:
        """``PUT`` a body of ``size`` bytes, read piece by piece from ``chunks``, to a signed
        upload URL (absolute: no API credentials, one attempt), as :meth:`upload` does."""
        headers = {"Content-Type": content_type, "Content-Length": str(size)}
        await self._transport.put_stream(url, chunks, headers=headers)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


def _accept(accept: str | None) -> dict[str, str] | None:
    return None if accept is None else {"Accept": accept}
