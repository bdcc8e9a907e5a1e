"""The client-level API of :class:`~ionworks.AsyncIonworks` (a base class it inherits): who the
key belongs to, the platform's discovery endpoints, measurement lookup by name, and the raw
request helpers of the official client. Everything goes through the client's one
:class:`~ionworks._transport.Transport`: the same retries, timeouts, authentication and
errors as every resource.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping
from typing import Any, Final

import anyio.to_thread

from ionworks._transport import DOWNLOAD_READ_TIMEOUT, NOT_GIVEN, FormPart, Transport
from ionworks.errors import ConflictError, IonworksError, NotFoundError
from ionworks.models import Measurement, structure
from ionworks.resources._base import expect, parse_page, seg
from ionworks.resources._requests import Requests

__all__ = ["REDIRECT_READ_TIMEOUT", "SCHEMA_NAMES", "ClientApi"]

#: The names :meth:`ClientApi.schema` accepts (the official client's, checked before asking).
SCHEMA_NAMES: Final = ("data", "protocol")
#: Read timeout of :meth:`ClientApi.redirect_url` (the official client's).
REDIRECT_READ_TIMEOUT: Final = 60.0
#: File objects smaller than this (in memory) are read on the event loop; others in a thread.
INLINE_READ_BYTES: Final = 1024 * 1024


class ClientApi:
    """Client-level methods; :class:`~ionworks.AsyncIonworks` provides the transport."""

    _transport: Transport
    _api: Requests

    # ------------------------------------------------------------------ account, discovery

    async def whoami(self) -> dict[str, Any]:
        """``GET /users/me``: who the configured credential belongs to (``id``, ``email``,
        ``authorized_organization``, ``organizations``). A bad key is a 401
        :class:`~ionworks.errors.AuthenticationError`."""
        return await self._get_object("/users/me")

    async def capabilities(self) -> dict[str, Any]:
        """``GET /discovery/capabilities``: the platform's domain context, authentication and
        where its schemas are."""
        return await self._get_object("/discovery/capabilities")

    async def schema(self, name: str) -> dict[str, Any]:
        """``GET /discovery/schemas/{name}``: ``"data"`` (the cell data hierarchy) or
        ``"protocol"`` (the UCP JSON Schema). Another name is a ``ValueError`` before any
        request."""
        if name not in SCHEMA_NAMES:
            raise ValueError(f"Unknown schema {name!r}. Choose from: {', '.join(SCHEMA_NAMES)}")
        return await self._get_object(f"/discovery/schemas/{name}")

    async def pybamm_models(self) -> dict[str, Any]:
        """``GET /discovery/pybamm_models``: ``{"pybamm_models": {module: [class names]},
        "ionworks_models": {...}, "options": {name: [values]}, "pybamm_version": ...}``."""
        return await self._get_object("/discovery/pybamm_models")

    async def validate_pybamm_model_config(
        self,
        pybamm_model: str,
        options: dict[str, Any] | None = None,
        module: str = "lithium_ion",
    ) -> dict[str, Any]:
        """Whether the server can build ``pybamm_model`` (a class name of ``module``) with
        ``options``: ``{"valid": True}``, or ``{"valid": False, "error": ..., "error_type":
        ...}``. Nothing is stored."""
        body = {"pybamm_model": pybamm_model, "module": module, "options": options or {}}
        data = await self._transport.request(
            "POST", "/discovery/pybamm_models/validate", json_body=body
        )
        return _object(data, "/discovery/pybamm_models/validate")

    async def resolve_measurement(
        self,
        cell_specification: str,
        cell_instance: str,
        measurement: str,
        *,
        project_id: str | None = None,
    ) -> Measurement:
        """The measurement named ``measurement`` of the cell instance named ``cell_instance``
        of the cell specification named ``cell_specification`` (in ``project_id``, default:
        the client's project). Names match exactly; a level with no match is a
        :class:`~ionworks.errors.NotFoundError` (status 404), one with several a
        :class:`~ionworks.errors.ConflictError` (409)."""
        pid = await self._api.default_project_id(project_id)
        spec = await self._one_named(
            "/cell_specifications", "cell specification", cell_specification, project_id=pid
        )
        instance = await self._one_named(
            f"/cell_specifications/{seg(str(spec['id']))}/cell_instances",
            "cell instance",
            cell_instance,
        )
        found = await self._one_named(
            f"/cell_instances/{seg(str(instance['id']))}/cell_measurements",
            "cell measurement",
            measurement,
        )
        return structure(found, Measurement, what="cell measurement")

    # ------------------------------------------------------------------ raw requests

    async def request(
        self, method: str, endpoint: str, json_payload: dict[str, Any] | None = None
    ) -> Any:
        """``method endpoint`` (a path on the API, query string included) with an optional
        JSON body: the decoded JSON, the text of another response, or ``None`` (empty bodies
        and every DELETE). An error status raises the typed
        :class:`~ionworks.errors.IonworksError` subclass."""
        body = NOT_GIVEN if json_payload is None else json_payload
        return await self._transport.request(method, _path(endpoint), json_body=body)

    async def get(self, endpoint: str) -> Any:
        """``GET endpoint`` (see :meth:`request`)."""
        return await self.request("GET", endpoint)

    async def post(self, endpoint: str, json_payload: dict[str, Any]) -> Any:
        """``POST endpoint`` with a JSON body (see :meth:`request`)."""
        return await self.request("POST", endpoint, json_payload)

    async def patch(self, endpoint: str, json_payload: dict[str, Any]) -> Any:
        """``PATCH endpoint`` with a JSON body (see :meth:`request`)."""
        return await self.request("PATCH", endpoint, json_payload)

    async def delete(self, endpoint: str) -> None:
        """``DELETE endpoint``."""
        await self.request("DELETE", endpoint)

    async def request_raw(
        self,
        method: str,
        endpoint: str,
        timeout: tuple[float, float] | float | None = None,
    ) -> bytes:
        """``method endpoint``: the raw response body (redirects followed; credentials are
        never sent to another host). ``timeout``: seconds between reads, or the official
        client's ``(connect, read)`` pair, whose read part is used; default 300."""
        raw: bytes = await self._transport.request(
            method, _path(endpoint), expect="bytes", timeout=_read_timeout(timeout)
        )
        return raw

    async def redirect_url(self, endpoint: str) -> str:
        """The absolute URL ``GET endpoint`` redirects to (not followed), e.g. a file in
        storage; an answer without a ``Location`` header is an
        :class:`~ionworks.errors.IonworksError`."""
        path = _path(endpoint)
        status, location = await self._transport.request(
            "GET", path, expect="location", timeout=REDIRECT_READ_TIMEOUT
        )
        if location is None:
            url = f"{await self._transport.base_url()}{path}"
            raise IonworksError(
                f"Expected {url} to redirect to storage, got {status} with no Location header."
            )
        return str(location)

    async def post_multipart(
        self,
        endpoint: str,
        files: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """``POST endpoint`` with the ``files`` as ``multipart/form-data`` (a requests-style
        mapping, ``{"file": (filename, bytes | str | binary file, content type)}``) and
        ``params`` in the query string; without files, a POST with no body. The decoded JSON
        (see :meth:`request`); long read timeout (300 s)."""
        form = await _form_parts(None, files) if files else None
        return await self._transport.request(
            "POST", _path(endpoint), params=params, form=form, timeout=DOWNLOAD_READ_TIMEOUT
        )

    async def upload_multipart(
        self,
        endpoint: str,
        *,
        data: dict[str, Any] | None = None,
        files: dict[str, Any] | None = None,
        method: str = "POST",
    ) -> Any:
        """``method endpoint`` with a ``multipart/form-data`` body: the form fields ``data``
        (a list value repeats its field; ``None`` values are left out) and the ``files`` (as
        :meth:`post_multipart`). The decoded JSON (see :meth:`request`)."""
        form = await _form_parts(data, files) if data or files else None
        return await self._transport.request(method, _path(endpoint), form=form)

    # ------------------------------------------------------------------ helpers

    async def _get_object(self, path: str) -> dict[str, Any]:
        return _object(await self._transport.request("GET", path), path)

    async def _one_named(
        self, path: str, label: str, name: str, *, project_id: str | None = None
    ) -> dict[str, Any]:
        """The one record of the list at ``path`` named exactly ``name`` (404: none; 409:
        several)."""
        params = {"name": f"eq.{name}", "project_id": project_id}
        data = await self._transport.request("GET", path, params=params)
        items = parse_page(data, None, what=f"{label} list ({path})").items
        named = [i for i in items if isinstance(i, dict) and i.get("name") == name]
        if not named:
            raise NotFoundError(f"No {label} named '{name}' found", status_code=404)
        if len(named) > 1:
            raise ConflictError(
                f"Multiple {label}s named '{name}' found; resolve by id instead", status_code=409
            )
        if "id" not in named[0]:
            raise IonworksError(f"The {label} named '{name}' came without an id ({path})")
        return dict(named[0])


def _object(data: Any, path: str) -> dict[str, Any]:
    return dict(expect(data, dict, what=path))


def _path(endpoint: str) -> str:
    """An endpoint is a path on the API (``/...``): the credentials never go elsewhere."""
    if not isinstance(endpoint, str) or not endpoint.startswith("/"):
        raise ValueError(f"endpoint must be a path starting with '/', got {endpoint!r}")
    return endpoint


def _read_timeout(timeout: tuple[float, float] | float | None) -> float:
    if timeout is None:
        return DOWNLOAD_READ_TIMEOUT
    read = timeout[1] if isinstance(timeout, tuple) and len(timeout) == 2 else timeout
    if (
        isinstance(read, bool)
        or not isinstance(read, int | float)
        or not (math.isfinite(read) and read > 0)
    ):
        raise ValueError(
            f"timeout must be seconds > 0 or a (connect, read) pair of them, got {timeout!r}"
        )
    return float(read)


async def _form_parts(
    data: Mapping[str, Any] | None, files: Mapping[str, Any] | None
) -> list[FormPart]:
    """requests-style ``data`` and ``files`` as form parts."""
    parts: list[FormPart] = []
    for name, value in (data or {}).items():
        for item in value if isinstance(value, list | tuple) else [value]:
            if item is not None:
                text = item.decode() if isinstance(item, bytes) else str(item)
                parts.append((str(name), text, None, None))
    for name, spec in (files or {}).items():
        parts.append(await _file_part(str(name), spec))
    return parts


async def _file_part(name: str, spec: Any) -> FormPart:
    """One requests-style file: ``content`` or ``(filename, content[, content type])``."""
    filename: str | None = None
    content_type: str | None = None
    content = spec
    if isinstance(spec, tuple):
        if not 2 <= len(spec) <= 3:
            raise TypeError(
                f"files[{name!r}] must be (filename, content) or (filename, content, content "
                f"type), got a tuple of {len(spec)}"
            )
        filename, content = spec[0], spec[1]
        content_type = spec[2] if len(spec) == 3 else None
    body = await _read_content(name, content)
    if filename is None:
        given = getattr(content, "name", None)
        filename = os.path.basename(given) if isinstance(given, str) else name
    return (name, body, str(filename), content_type)


async def _read_content(name: str, content: Any) -> bytes:
    if isinstance(content, bytes | bytearray | memoryview):
        return bytes(content)
    if isinstance(content, str):
        return content.encode()
    read = getattr(content, "read", None)
    if not callable(read):
        raise TypeError(
            f"files[{name!r}]: expected bytes, str or a binary file object, "
            f"got {type(content).__name__}"
        )
    size = _known_size(content)
    small = size is not None and size <= INLINE_READ_BYTES
    raw = read() if small else await anyio.to_thread.run_sync(read)
    if not isinstance(raw, str | bytes | bytearray | memoryview):
        raise TypeError(f"files[{name!r}].read() returned {type(raw).__name__}, not bytes")
    return raw.encode() if isinstance(raw, str) else bytes(raw)


def _known_size(content: Any) -> int | None:
    """The size of an in-memory buffer or a regular file (``None``: unknown)."""
    if isinstance(content, io.BytesIO):
        with content.getbuffer() as view:
            return view.nbytes
    try:
        return os.fstat(content.fileno()).st_size
    except (AttributeError, OSError, ValueError, TypeError):
        return None
