"""HTTP transport: one aiohttp session per client, retries, timeouts, gzip, typed errors."""

from __future__ import annotations

import asyncio
import datetime as _dt
import gzip
import json
import logging
import math
import uuid
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from typing import Any, Literal

import aiohttp
import anyio

from ionworks._config import ClientConfig
from ionworks._retry import RetryPolicy, parse_retry_after
from ionworks._version import __version__
from ionworks.errors import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    IonworksError,
    error_from_response,
)
from ionworks.wire import multipart

__all__ = ["GZIP_THRESHOLD", "NOT_GIVEN", "NotGiven", "Transport", "dumps"]

log = logging.getLogger("ionworks")

GZIP_THRESHOLD = 512 * 1024  # the official client's threshold (wire.md §1.3)
DOWNLOAD_READ_TIMEOUT = 300.0
ResponseKind = Literal["json", "bytes", "none", "multipart"]


class NotGiven:
    """Sentinel for "argument not passed" where ``None`` has a meaning."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False


NOT_GIVEN = NotGiven()


def _json_default(value: Any) -> Any:
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    python = _as_python(value)
    if python is not value:
        return python
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _as_python(value: Any) -> Any:
    """numpy arrays and scalars as Python lists and numbers (``value`` itself otherwise)."""
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars (scalars → Python)
    if callable(tolist):
        return tolist()
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    return value


def _non_finite(value: Any, path: str = "") -> tuple[str, float] | None:
    """Where ``value`` holds the first NaN or infinity: ``(path, number)``, or ``None``."""
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, value)
    if value is None or isinstance(value, str | bytes | int):
        return None
    if isinstance(value, Mapping):
        children: Any = ((f"{path}[{k!r}]", v) for k, v in value.items())
    elif isinstance(value, list | tuple | set | frozenset):
        children = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    else:
        python = _as_python(value)
        return None if python is value else _non_finite(python, path)
    for child_path, child in children:
        found = _non_finite(child, child_path)
        if found is not None:
            return found
    return None


def dumps(body: Any) -> bytes:
    """Serialise a request body as strict JSON. JSON has no NaN or infinity: a body holding
    one is a ``ValueError`` naming the value and where it is (pipeline configs have their
    NaN/inf replaced by ``null`` before, as the official client does: wire.md §6.2)."""
    try:
        text = json.dumps(body, default=_json_default, allow_nan=False, separators=(",", ":"))
    except ValueError:
        found = _non_finite(body)
        if found is None:
            raise
        path, value = found
        raise ValueError(
            f"cannot send {value!r} in the request body (at body{path}): JSON has no NaN or "
            "infinity; pass a finite number, or None for a missing value"
        ) from None
    return text.encode()


BaseUrlProvider = Callable[[], Awaitable[str]]


class Transport:
    """Sends requests for one client. Owns exactly one lazily created ``aiohttp.ClientSession``.

    The session is bound to the event loop it was first used on; using the client from another
    loop raises ``RuntimeError`` instead of failing obscurely inside aiohttp.
    """

    def __init__(
        self,
        config: ClientConfig,
        base_url: BaseUrlProvider,
        *,
        retry_policy: RetryPolicy | None = None,
        max_connections: int = 64,
    ) -> None:
        self._config = config
        self._base_url_provider = base_url
        self._base_url: str | None = None
        self.retry_policy = retry_policy or RetryPolicy(max_retries=config.max_retries)
        self._max_connections = max_connections
        self._auth_headers = config.auth_headers()
        # Retry POST/PATCH that may have reached the server only where the server is known to
        # deduplicate by Idempotency-Key (the local server); elsewhere only connect failures.
        self.retry_keyed_writes = False
        # The base URL is the local daemon's: after a refused connection, ask for it again (the
        # provider restarts a daemon that stopped when idle).
        self.rediscover_local = False
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self.request_count = 0

    def set_credentials(self, *, api_key: str) -> None:
        """Authenticate with ``api_key`` from now on (the embedded server's key)."""
        self._auth_headers = {**self._auth_headers, "X-API-Key": api_key}

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def session_open(self) -> bool:
        """A session was created and not closed yet."""
        return self._session is not None and not self._closed

    async def base_url(self) -> str:
        if self._base_url is None:
            self._base_url = (await self._base_url_provider()).rstrip("/")
        return self._base_url

    def _check_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError(
                "AsyncIonworks is bound to the event loop it was first used on; "
                "create one client per event loop"
            )

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("this client is closed; create a new one")
        self._check_loop()
        if self._session is None:
            timeout = self._config.timeout
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0),
                timeout=aiohttp.ClientTimeout(
                    total=None, connect=timeout, sock_connect=timeout, sock_read=timeout
                ),
                headers={
                    "Accept": "application/json",
                    "User-Agent": f"ionworks-python/{__version__}",
                },
            )
        return self._session

    async def aclose(self) -> None:
        """Close the session (idempotent)."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            with anyio.CancelScope(shield=True):
                await session.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json_body: Any = NOT_GIVEN,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | NotGiven | None = NOT_GIVEN,
        expect: ResponseKind = "json",
        timeout: float | NotGiven | None = NOT_GIVEN,
        absolute_url: bool = False,
        authenticate: bool = True,
        retry: bool = True,
    ) -> Any:
        """Send one logical request (with retries unless ``retry=False``) and decode the
        response.

        POST/PATCH get a fresh ``Idempotency-Key`` unless one is given (``None`` disables it);
        the same key is reused on every retry so the server can deduplicate.
        """
        method = method.upper()
        if isinstance(idempotency_key, NotGiven):
            idempotency_key = str(uuid.uuid4()) if method in ("POST", "PATCH") else None
        req_headers: dict[str, str] = dict(headers or {})
        body: bytes | None = data
        if not isinstance(json_body, NotGiven):
            body = dumps(json_body)  # a body JSON cannot carry fails here, before any request
            req_headers["Content-Type"] = "application/json"
            if len(body) >= GZIP_THRESHOLD:
                body = gzip.compress(body, compresslevel=1)
                req_headers["Content-Encoding"] = "gzip"
        if idempotency_key:
            req_headers["Idempotency-Key"] = idempotency_key
        query = _encode_params(params)
        url = path if absolute_url else f"{await self.base_url()}{path}"
        read_timeout = self._config.timeout if isinstance(timeout, NotGiven) else timeout
        if expect in ("bytes", "multipart") and isinstance(timeout, NotGiven):
            read_timeout = DOWNLOAD_READ_TIMEOUT
        retryable_method = self.retry_policy.method_is_retryable(
            method, bool(idempotency_key) and self.retry_keyed_writes
        )
        attempt = 0
        rediscover = False
        while True:
            if attempt:
                req_headers["X-Ionworks-Retry-Count"] = str(attempt)
            if rediscover:  # the local daemon may have stopped (idle) or moved: find it again
                self._base_url = None
                url = f"{await self.base_url()}{path}"
            try:
                return await self._send_once(
                    method,
                    url,
                    query,
                    body,
                    req_headers,
                    expect,
                    read_timeout,
                    authenticate,
                )
            except _Retryable as failure:
                delay = None
                if retry and (retryable_method or failure.safe_for_any_method):
                    delay = self.retry_policy.delay_for(attempt, failure.retry_after)
                if delay is None:
                    raise failure.error from failure.__cause__
                rediscover = (
                    self.rediscover_local and failure.safe_for_any_method and not absolute_url
                )
                log.debug(
                    "retrying %s %s in %.2fs (attempt %d): %s",
                    method,
                    url,
                    delay,
                    attempt + 1,
                    failure.error,
                )
                attempt += 1
                await anyio.sleep(delay)

    async def put_stream(
        self, url: str, body: AsyncIterable[bytes], *, headers: Mapping[str, str]
    ) -> None:
        """``PUT`` a streamed body to an absolute URL outside the API (a signed upload URL):
        without the API's credentials, one attempt, the download read timeout; a failure
        status raises the same typed errors as the API's."""
        session = self._get_session()
        timeout = aiohttp.ClientTimeout(total=None, sock_read=DOWNLOAD_READ_TIMEOUT)
        try:
            async with session.put(url, data=body, headers=dict(headers), timeout=timeout) as resp:
                raw, status, reason = await resp.read(), resp.status, resp.reason or ""
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise APIConnectionError(f"Error during upload to {url}: {exc!r}") from exc
        if status >= 400:
            raise error_from_response(status, _decode_error_body(raw, ""), reason)

    async def _send_once(
        self,
        method: str,
        url: str,
        query: list[tuple[str, str]],
        body: bytes | None,
        headers: dict[str, str],
        expect: ResponseKind,
        read_timeout: float | None,
        authenticate: bool,
    ) -> Any:
        session = self._get_session()
        self.request_count += 1
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=self._config.timeout,
            sock_connect=self._config.timeout,
            sock_read=read_timeout,
        )
        if authenticate:
            headers = {**self._auth_headers, **headers}
        try:
            async with session.request(
                method,
                url,
                params=query or None,
                data=body,
                headers=headers,
                timeout=timeout,
            ) as resp:
                raw = await resp.read()
                status = resp.status
                content_type = resp.headers.get("Content-Type", "")
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        except aiohttp.ClientConnectorError as exc:
            # Nothing reached the server: safe to retry any method.
            err = APIConnectionError(f"Error during request to {url}: {exc}")
            raise _Retryable(err, safe_for_any_method=True) from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            terr = APITimeoutError(f"Request to {url} timed out: {exc or type(exc).__name__}")
            raise _Retryable(terr) from exc
        except aiohttp.ClientError as exc:
            err = APIConnectionError(f"Error during request to {url}: {exc}")
            raise _Retryable(err) from exc
        if status >= 400:
            error = error_from_response(status, _decode_error_body(raw, content_type), "")
            if self.retry_policy.should_retry_status(status):
                raise _Retryable(error, retry_after=retry_after)
            raise error
        if expect == "none" or method == "DELETE":
            return None
        if expect == "bytes":
            return raw
        if expect == "multipart":
            try:
                return multipart.parse(raw, content_type)
            except ValueError as exc:
                bad = APIResponseValidationError(
                    f"{method} {url} returned a malformed multipart body: {exc}", status
                )
                raise _Retryable(bad) from exc
        if not raw:
            return None
        if content_type.split(";")[0].strip() in ("application/json", "") or raw[:1] in b"[{":
            try:
                return json.loads(raw)
            except ValueError as exc:
                bad = APIResponseValidationError(
                    f"{method} {url} returned malformed JSON: {exc}", status
                )
                # Retried where the method is (GET; keyed POST/PATCH where keys are honoured).
                raise _Retryable(bad) from exc
        return raw.decode("utf-8", errors="replace")


class _Retryable(Exception):
    def __init__(
        self,
        error: IonworksError,
        *,
        retry_after: float | None = None,
        safe_for_any_method: bool = False,
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after
        self.safe_for_any_method = safe_for_any_method


def _decode_error_body(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", errors="replace")


def _encode_params(
    params: Mapping[str, Any] | list[tuple[str, Any]] | None,
) -> list[tuple[str, str]]:
    """Query parameters: ``None`` dropped, booleans as ``true``/``false``, lists repeated."""
    if not params:
        return []
    items = params.items() if isinstance(params, Mapping) else params
    out: list[tuple[str, str]] = []
    for key, value in items:
        if value is None:
            continue
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            if isinstance(v, bool):
                out.append((key, "true" if v else "false"))
            else:
                out.append((key, str(v)))
    return out
