"""Transport: retries, idempotency keys, error mapping, gzip, timeouts, loop affinity."""

from __future__ import annotations

import asyncio
import gzip
import json
import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aioresponses import aioresponses

from ionworks import AsyncIonworks
from ionworks._retry import RetryPolicy, parse_retry_after
from ionworks._transport import GZIP_THRESHOLD
from ionworks.errors import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    AuthenticationError,
    IonworksError,
    NotFoundError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from tests.conftest import API

JOB = {
    "job_id": "j1",
    "status": "completed",
    "job_type": "simulation",
    "priority": 5,
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-01T00:00:00Z",
    "is_terminal": True,
    "is_failed": False,
}


def calls(mock: aioresponses, method: str, url: str) -> list[Any]:
    return [c for (m, u), cs in mock.requests.items() if m == method and str(u) == url for c in cs]


# --- retry policy (pure) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("3", 3.0),
        ("0.5", 0.5),
        ("-4", 0.0),
        ("soon", None),
        ("nan", None),
    ],
)
def test_parse_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_parse_retry_after_http_date() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(7.0)


def test_backoff_is_full_jitter_and_capped() -> None:
    policy = RetryPolicy(max_retries=10, initial_delay=0.5, max_delay=8.0)
    for attempt in range(10):
        cap = min(0.5 * 2**attempt, 8.0)
        assert all(0 <= policy.backoff(attempt) <= cap for _ in range(50))
    assert policy.delay_for(10, None) is None  # retries exhausted
    assert policy.delay_for(0, 3.0) == 3.0  # Retry-After honoured exactly
    assert policy.delay_for(0, 120.0) is None  # too long: give up


@pytest.mark.parametrize(
    ("method", "key", "expected"),
    [
        ("GET", False, True),
        ("DELETE", False, True),
        ("POST", False, False),
        ("POST", True, True),
        ("PATCH", False, False),
        ("PATCH", True, True),
    ],
)
def test_which_methods_retry(method: str, key: bool, expected: bool) -> None:
    assert RetryPolicy.method_is_retryable(method, key) is expected


# --- retries through the client ------------------------------------------------------------


async def test_get_retries_5xx_then_succeeds(client: AsyncIonworks, mock_api: aioresponses) -> None:
    url = f"{API}/jobs/j1"
    mock_api.get(url, status=503, payload={"detail": "busy"})
    mock_api.get(url, status=502, payload={"detail": "busy"})
    mock_api.get(url, payload=JOB)
    job = await client.job.get("j1")
    assert job.job_id == "j1"
    sent = calls(mock_api, "GET", url)
    assert len(sent) == 3
    assert sent[1].kwargs["headers"]["X-Ionworks-Retry-Count"] == "1"
    assert sent[2].kwargs["headers"]["X-Ionworks-Retry-Count"] == "2"


async def test_get_gives_up_after_max_retries(
    client: AsyncIonworks, mock_api: aioresponses
) -> None:
    url = f"{API}/jobs/j1"
    for _ in range(10):
        mock_api.get(url, status=500, payload={"detail": "boom"})
    with pytest.raises(ServerError) as info:
        await client.job.get("j1")
    assert info.value.status_code == 500 and info.value.message == "boom"
    assert len(calls(mock_api, "GET", url)) == 1 + client._transport.retry_policy.max_retries


async def test_post_retries_with_the_same_idempotency_key(
    client: AsyncIonworks, mock_api: aioresponses
) -> None:
    url = f"{API}/jobs/j1/cancel"
    mock_api.post(url, status=503)
    mock_api.post(url, exception=aiohttp.ServerDisconnectedError())
    mock_api.post(url, payload=JOB)
    await client.job.cancel("j1")
    sent = calls(mock_api, "POST", url)
    keys = {c.kwargs["headers"]["Idempotency-Key"] for c in sent}
    assert len(sent) == 3 and len(keys) == 1 and keys.pop()


async def test_each_logical_post_gets_a_new_key(
    client: AsyncIonworks, mock_api: aioresponses
) -> None:
    url = f"{API}/jobs/j1/cancel"
    mock_api.post(url, payload=JOB, repeat=True)
    await client.job.cancel("j1")
    await client.job.cancel("j1")
    keys = [c.kwargs["headers"]["Idempotency-Key"] for c in calls(mock_api, "POST", url)]
    assert len(set(keys)) == 2


async def test_keyed_post_is_not_retried_where_keys_may_be_ignored(
    mock_api: aioresponses,
) -> None:
    async with AsyncIonworks(api_key="k", api_url=API) as remote:
        assert remote._transport.retry_keyed_writes is False  # not a local server
        remote._transport.retry_policy = RetryPolicy(max_retries=3, initial_delay=0.001)
        mock_api.post(f"{API}/jobs/j1/cancel", status=503, repeat=True)
        with pytest.raises(ServerError):
            await remote.job.cancel("j1")
        assert len(calls(mock_api, "POST", f"{API}/jobs/j1/cancel")) == 1
    async with AsyncIonworks(api_url="http://127.0.0.1:9") as local:
        assert local._transport.retry_keyed_writes is True


async def test_post_without_key_is_not_retried_on_5xx(
    client: AsyncIonworks, mock_api: aioresponses
) -> None:
    url = f"{API}/x"
    mock_api.post(url, status=503, repeat=True)
    with pytest.raises(ServerError):
        await client._transport.request("POST", "/x", json_body={}, idempotency_key=None)
    assert len(calls(mock_api, "POST", url)) == 1


async def test_connect_error_is_retried_for_any_method() -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now: connection refused
    async with AsyncIonworks(api_url=f"http://127.0.0.1:{port}") as client:
        client._transport.retry_policy = RetryPolicy(max_retries=2, initial_delay=0.001)
        with pytest.raises(APIConnectionError, match="Error during request to"):
            await client._transport.request("POST", "/x", json_body={}, idempotency_key=None)
        assert client._transport.request_count == 3


async def test_connection_errors_exhausted_raise_api_connection_error(
    client: AsyncIonworks, mock_api: aioresponses
) -> None:
    mock_api.get(f"{API}/jobs/j1", exception=aiohttp.ServerDisconnectedError(), repeat=True)
    with pytest.raises(APIConnectionError) as info:
        await client.job.get("j1")
    assert info.value.status_code is None
    assert "Error during request to" in str(info.value)
    assert isinstance(info.value.__cause__, aiohttp.ClientError)


async def test_retry_after_is_honoured(
    client: AsyncIonworks, mock_api: aioresponses, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []

    async def fake_sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr("ionworks._transport.anyio.sleep", fake_sleep)
    url = f"{API}/jobs/j1"
    mock_api.get(url, status=429, headers={"Retry-After": "2.5"})
    mock_api.get(url, payload=JOB)
    await client.job.get("j1")
    assert slept == [2.5]


async def test_retry_after_too_long_raises_rate_limit(
    client: AsyncIonworks, mock_api: aioresponses
) -> None:
    mock_api.get(
        f"{API}/jobs/j1",
        status=429,
        headers={"Retry-After": "3600"},
        payload={"detail": "slow down"},
    )
    with pytest.raises(RateLimitError, match="slow down"):
        await client.job.get("j1")


async def test_client_errors_are_not_retried(client: AsyncIonworks, mock_api: aioresponses) -> None:
    url = f"{API}/jobs/j1"
    mock_api.get(url, status=404, payload={"detail": "nope"}, repeat=True)
    with pytest.raises(NotFoundError):
        await client.job.get("j1")
    assert len(calls(mock_api, "GET", url)) == 1


async def test_malformed_json_on_get_is_retried_then_reported(
    client: AsyncIonworks, mock_api: aioresponses
) -> None:
    url = f"{API}/jobs/j1"
    mock_api.get(url, body="{not json", content_type="application/json", repeat=True)
    with pytest.raises(APIResponseValidationError, match="malformed JSON"):
        await client.job.get("j1")
    assert len(calls(mock_api, "GET", url)) == 1 + client._transport.retry_policy.max_retries


async def test_malformed_multipart_is_retried_then_reported(
    client: AsyncIonworks, mock_api: aioresponses
) -> None:
    url = f"{API}/simulations/s1/result"
    mock_api.get(
        url, body=b"--b\r\nno end", content_type="multipart/mixed; boundary=b", repeat=True
    )
    with pytest.raises(APIResponseValidationError, match="malformed multipart"):
        await client._transport.request("GET", "/simulations/s1/result", expect="multipart")
    assert len(calls(mock_api, "GET", url)) == 1 + client._transport.retry_policy.max_retries


async def test_multipart_parts_by_name(client: AsyncIonworks, mock_api: aioresponses) -> None:
    writer = aiohttp.MultipartWriter("mixed")
    writer.append_json({"m": 1}).set_content_disposition("inline", name="metrics")
    blob = b"\xff\xff\xff\xff\r\n--not-the-boundary\r\n"
    part = writer.append(blob, {"Content-Type": "application/vnd.apache.arrow.stream"})
    part.set_content_disposition("inline", name="time_series")
    body = await writer.as_bytes()
    mock_api.get(f"{API}/r", body=body, content_type=writer.headers["Content-Type"])
    parts = await client._transport.request("GET", "/r", expect="multipart")
    assert parts["time_series"] == ("application/vnd.apache.arrow.stream", blob)
    assert json.loads(parts["metrics"][1]) == {"m": 1}


# --- error mapping (wire.md §2) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "cls", "text", "code"),
    [
        (404, {"detail": "nope"}, NotFoundError, "error code: 404, message: nope", None),
        (
            404,
            {"error_code": "NOT_FOUND", "message": "gone", "detail": {"id": "x"}},
            NotFoundError,
            "error code: 404, message: gone",
            "NOT_FOUND",
        ),
        (
            409,
            {"detail": {"error_code": "CONFLICT", "message": "dup", "existing_id": "e1"}},
            IonworksError,
            "error code: 409, message: dup",
            "CONFLICT",
        ),
        (
            422,
            {"detail": [{"loc": ["body"], "msg": "bad"}]},
            ValidationError,
            "error code: 422, message: [{'loc': ['body'], 'msg': 'bad'}]",
            None,
        ),
        (401, {"detail": "no key"}, AuthenticationError, "error code: 401, message: no key", None),
        (418, None, ValidationError, "error code: 418, message: 418", None),
    ],
)
async def test_error_mapping(
    client: AsyncIonworks,
    mock_api: aioresponses,
    status: int,
    body: Any,
    cls: type[IonworksError],
    text: str,
    code: str | None,
) -> None:
    if body is None:
        mock_api.get(f"{API}/jobs/j1", status=status, body="")
    else:
        mock_api.get(f"{API}/jobs/j1", status=status, payload=body)
    with pytest.raises(cls) as info:
        await client.job.get("j1")
    err = info.value
    assert str(err) == text
    assert err.status_code == status
    assert err.error_code == code
    if code:
        assert err.data is not None and err.data["error_code"] == code


async def test_error_with_non_json_body(client: AsyncIonworks, mock_api: aioresponses) -> None:
    mock_api.get(f"{API}/jobs/j1", status=400, body="plain failure", content_type="text/plain")
    with pytest.raises(IonworksError, match="plain failure") as info:
        await client.job.get("j1")
    assert info.value.status_code == 400


def test_errors_pickle_round_trip() -> None:
    import pickle

    err = NotFoundError({"error_code": "NOT_FOUND", "message": "gone"}, 404)
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is NotFoundError and str(copy) == str(err) and copy.error_code == "NOT_FOUND"


# --- request encoding ------------------------------------------------------------------------


async def test_headers_auth_and_json(client: AsyncIonworks, mock_api: aioresponses) -> None:
    mock_api.post(f"{API}/protocols/validate", payload={"valid": True})
    await client.protocol.validate("steps: []")
    (call,) = calls(mock_api, "POST", f"{API}/protocols/validate")
    headers = call.kwargs["headers"]
    assert headers["X-API-Key"] == "key-1"
    assert headers["Content-Type"] == "application/json"
    assert "Authorization" not in headers
    assert json.loads(call.kwargs["data"]) == {"protocol": "steps: []"}


async def test_large_bodies_are_gzipped(client: AsyncIonworks, mock_api: aioresponses) -> None:
    mock_api.post(f"{API}/x", payload={})
    mock_api.post(f"{API}/y", payload={})
    big = {"blob": "a" * GZIP_THRESHOLD}
    small = {"blob": "a" * 100}
    await client._transport.request("POST", "/x", json_body=big)
    await client._transport.request("POST", "/y", json_body=small)
    (big_call,) = calls(mock_api, "POST", f"{API}/x")
    (small_call,) = calls(mock_api, "POST", f"{API}/y")
    assert big_call.kwargs["headers"]["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(big_call.kwargs["data"])) == big
    assert "Content-Encoding" not in small_call.kwargs["headers"]


async def test_nan_is_refused_before_any_request(
    client: AsyncIonworks, mock_api: aioresponses
) -> None:
    body = {"b": [1.0], "a": {"c": [2.0, float("nan")]}}
    with pytest.raises(ValueError, match=r"cannot send nan .*at body\['a'\]\['c'\]\[1\]"):
        await client._transport.request("POST", "/x", json_body=body)
    assert not mock_api.requests


async def test_query_params_encoding(client: AsyncIonworks, mock_api: aioresponses) -> None:
    mock_api.get(re.compile(rf"^{re.escape(API)}/x.*"), payload={})
    await client._transport.request("GET", "/x", params={"a": True, "b": None, "c": ["1", "2"]})
    ((_, url),) = list(mock_api.requests)
    assert url.query_string == "a=true&c=1&c=2"


# --- against a real aiohttp server: timeouts, gzip responses, loop affinity ------------------


@pytest.fixture
async def slow_server() -> Any:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("delay", "0")))
        return web.json_response({"ok": True}, content_type="application/json")

    async def gz(request: web.Request) -> web.Response:
        resp = web.json_response({"rows": list(range(1000))})
        resp.enable_compression()
        return resp

    app = web.Application()
    app.router.add_get("/slow", slow)
    app.router.add_get("/gz", gz)
    server = TestServer(app)
    await server.start_server()
    yield server
    await server.close()


async def test_read_timeout_raises_api_timeout_error(slow_server: TestServer) -> None:
    url = str(slow_server.make_url("")).rstrip("/")
    async with AsyncIonworks(api_url=url, timeout=0.2, max_retries=1) as client:
        client._transport.retry_policy = RetryPolicy(max_retries=1, initial_delay=0.001)
        with pytest.raises(APITimeoutError):
            await client._transport.request("GET", "/slow", params={"delay": "2"})
        assert client._transport.request_count == 2  # retried once (GET)
        assert await client._transport.request("GET", "/slow") == {"ok": True}


async def test_gzip_response_is_decoded(slow_server: TestServer) -> None:
    url = str(slow_server.make_url("")).rstrip("/")
    async with AsyncIonworks(api_url=url) as client:
        data = await client._transport.request("GET", "/gz")
    assert data == {"rows": list(range(1000))}


async def test_client_is_bound_to_its_loop(slow_server: TestServer) -> None:
    url = str(slow_server.make_url("")).rstrip("/")
    client = AsyncIonworks(api_url=url)
    await client._transport.request("GET", "/slow")

    def use_elsewhere() -> None:
        async def go() -> None:
            await client._transport.request("GET", "/slow")

        asyncio.run(go())

    with pytest.raises(RuntimeError, match="bound to the event loop"):
        await asyncio.to_thread(use_elsewhere)
    await client.aclose()
    await client.aclose()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        await client._transport.request("GET", "/slow")
