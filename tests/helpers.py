"""Helpers shared by the resource tests: read back what ``aioresponses`` recorded, build URL
patterns, parquet payloads and minimal valid response records."""

from __future__ import annotations

import gzip
import io
import json
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from aiohttp import web
from aiohttp.test_utils import TestServer
from aioresponses import aioresponses
from yarl import URL

from tests.conftest import API

__all__ = [
    "API",
    "Sent",
    "assert_no_requests",
    "job_record",
    "last_request",
    "measurement_record",
    "parquet_bytes",
    "pipeline_record",
    "requests_to",
    "sent_requests",
    "serving",
    "simple_pipeline_record",
    "url_re",
]


def url_re(path: str, *, base: str = API) -> re.Pattern[str]:
    """A pattern matching ``base + path`` exactly, with or without a query string."""
    return re.compile("^" + re.escape(base + path) + r"(\?.*)?$")


class Sent:
    """One request as aioresponses recorded it, with the body and query decoded."""

    def __init__(self, method: str, url: URL, kwargs: Mapping[str, Any]) -> None:
        self.method = method
        self.url = url
        self.kwargs = dict(kwargs)

    def __repr__(self) -> str:
        return f"<Sent {self.method} {self.url}>"

    @property
    def path(self) -> str:
        """The path exactly as sent (percent-encoding kept)."""
        return self.url.raw_path

    @property
    def headers(self) -> Mapping[str, str]:
        return self.kwargs.get("headers") or {}

    @property
    def raw_body(self) -> bytes | None:
        data = self.kwargs.get("data")
        if data is None:
            return None
        assert isinstance(data, bytes), f"expected a bytes body, got {type(data).__name__}"
        if self.headers.get("Content-Encoding") == "gzip":
            return gzip.decompress(data)
        return data

    @property
    def json(self) -> Any:
        """The JSON body (gunzipped when sent with ``Content-Encoding: gzip``)."""
        raw = self.raw_body
        assert raw is not None, f"{self!r} had no body"
        return json.loads(raw)

    @property
    def params(self) -> list[tuple[str, str]]:
        """Query parameters in the order the transport passed them."""
        return [(str(k), str(v)) for k, v in (self.kwargs.get("params") or [])]

    @property
    def query(self) -> dict[str, str]:
        """Query parameters as a dict (for requests without repeated keys)."""
        params = self.params
        assert len({k for k, _ in params}) == len(params), f"repeated query keys: {params}"
        return dict(params)


def sent_requests(mock: aioresponses) -> list[Sent]:
    """Every recorded request (grouped by first occurrence of each (method, URL))."""
    return [
        Sent(method, url, call.kwargs)
        for (method, url), calls in mock.requests.items()
        for call in calls
    ]


def _target(path_or_url: str) -> str:
    return path_or_url if path_or_url.startswith(("http://", "https://")) else API + path_or_url


def requests_to(mock: aioresponses, method: str, path_or_url: str) -> list[Sent]:
    """Requests made with ``method`` to ``path_or_url`` (an API path or an absolute URL),
    whatever their query string. The path is compared in its encoded (sent) form."""
    target = _target(path_or_url)
    return [
        sent
        for sent in sent_requests(mock)
        if sent.method == method.upper() and str(sent.url.with_query(None)) == target
    ]


def last_request(mock: aioresponses, method: str, path_or_url: str) -> Sent:
    """The last request made with ``method`` to ``path_or_url``; fails if there was none."""
    found = requests_to(mock, method, path_or_url)
    assert found, (
        f"no {method} {_target(path_or_url)} request; sent: "
        f"{[(s.method, str(s.url)) for s in sent_requests(mock)]}"
    )
    return found[-1]


def assert_no_requests(mock: aioresponses) -> None:
    assert not mock.requests, f"expected no HTTP request, got {list(mock.requests)}"


def parquet_bytes(columns: Mapping[str, list[Any]]) -> bytes:
    """A parquet file holding ``columns``."""
    buf = io.BytesIO()
    pq.write_table(pa.table(dict(columns)), buf)
    return buf.getvalue()


# --------------------------------------------------------------------------- records


def job_record(**overrides: Any) -> dict[str, Any]:
    return {
        "job_id": "j1",
        "status": "pending",
        "job_type": "simulation",
        "priority": 5,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "is_terminal": False,
        "is_failed": False,
        **overrides,
    }


def pipeline_record(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "pl-1",
        "name": "nm",
        "status": "pending",
        "is_terminal": False,
        "is_failed": False,
        **overrides,
    }


def simple_pipeline_record(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "sp-1",
        "project_id": "p1",
        "organization_id": "org-1",
        "status": "pending",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "is_terminal": False,
        "is_failed": False,
        **overrides,
    }


def measurement_record(**overrides: Any) -> dict[str, Any]:
    return {"id": "m1", "name": "run 1", "cell_instance_id": "ci-1", **overrides}


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` in process for the block; yield its base URL (no trailing slash)."""
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()
