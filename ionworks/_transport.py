"""HTTP transport: one aiohttp session per client, retries, timeouts, gzip, typed errors."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import logging
import uuid
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urljoin

import anyio

from ionworks._config import ClientConfig
from ionworks._jsonbody import dumps
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

if TYPE_CHECKING:  # aiohttp is imported when a client first sends a request
    import aiohttp

__all__ = ["GZIP_THRESHOLD", "NOT_GIVEN", "FormPart", "NotGiven", "Transport", "dumps"]

log = logging.getLogger("ionworks")

GZIP_THRESHOLD = 512 * 1024  # the official client's threshold (wire.md §1.3)
DOWNLOAD_READ_TIMEOUT = 300.0
#: Headers that carry the client's credentials: sent to the API's own origin only.
CREDENTIAL_HEADERS = (
    "Authorization",
    "X-API-Key",
    "X-Organization-Id",
    "X-Ionworks-Internal-Client",
)
#: ``"location"``: redirects are not followed; the answer is ``(status, absolute Location or
#: None)``.
ResponseKind = Literal["json", "bytes", "none", "multipart", "location"]
#: One ``multipart/form-data`` part: ``(field name, value, filename, content type)``; a part
#: with a filename is a file, one without is a plain form field.
FormPart = tuple[str, str | bytes, str | None, str | None]


class NotGiven:
    """Sentinel for "argument not passed" where ``None`` has a meaning."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False


NOT_GIVEN = NotGiven()


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
    def credential(self) -> str:
        """The credential requests carry (API key or bearer token; empty without one). Only
        for keying local caches by digest: never logged or sent elsewhere."""
        return self._auth_headers.get("X-API-Key") or self._auth_headers.get("Authorization", "")

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
            import aiohttp

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
                middlewares=(self._credentials_stay_home,),
            )
        return self._session

    async def _credentials_stay_home(
        self, request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        """Every hop of a request, redirects included: a hop that leaves the API's origin
        loses the credentials (aiohttp itself drops only ``Authorization``)."""
        from yarl import URL

        home = self._base_url
        if home is None or request.url.origin() != URL(home).origin():
            for name in CREDENTIAL_HEADERS:
                request.headers.popall(name, None)
        return await handler(request)

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
        form: Sequence[FormPart] | None = None,
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
        the same key is reused on every retry so the server can deduplicate. ``form`` sends a
        ``multipart/form-data`` body instead (built afresh for each attempt).
        """
        method = method.upper()
        if isinstance(idempotency_key, NotGiven):
            idempotency_key = str(uuid.uuid4()) if method in ("POST", "PATCH") else None
        req_headers: dict[str, str] = dict(headers or {})
        body: bytes | Sequence[FormPart] | None = data if form is None else tuple(form)
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
        import aiohttp

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
        body: bytes | Sequence[FormPart] | None,
        headers: dict[str, str],
        expect: ResponseKind,
        read_timeout: float | None,
        authenticate: bool,
    ) -> Any:
        import aiohttp

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
                data=body if body is None or isinstance(body, bytes) else _form_data(body),
                headers=headers,
                timeout=timeout,
                allow_redirects=expect != "location",
            ) as resp:
                raw = await resp.read()
                status = resp.status
                content_type = resp.headers.get("Content-Type", "")
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                location = resp.headers.get("Location")
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
        if expect == "location":
            return status, (urljoin(url, location) if location else None)
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


def _form_data(parts: Sequence[FormPart]) -> aiohttp.FormData:
    """A fresh ``multipart/form-data`` body (aiohttp consumes one on sending); file contents
    go in as streams (aiohttp refuses large raw ``bytes``)."""
    import aiohttp

    form = aiohttp.FormData(default_to_multipart=True)
    for name, value, filename, content_type in parts:
        body = io.BytesIO(value) if isinstance(value, bytes) else value
        form.add_field(name, body, filename=filename, content_type=content_type)
    return form


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
