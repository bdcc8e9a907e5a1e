"""Hostile load and input on the web pages at ``/ui``: a large stored time series (only the
plotted columns decoded, thinned, a few decodes at a time), form bodies sent in pieces or
chunked, login links that only sign in through their same-origin form, the caps on sessions
and failed sign-ins, a table deleted while its page is read, and paths next to ``/ui``."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import numpy as np
import polars as pl
import pytest
from yarl import URL

from ionworks import AsyncIonworks
from ionworks.server.ui import sessions as ui_sessions
from ionworks.server.ui.sessions import MAX_FAILURES
from ionworks.server.ui.tables import MAX_DECODES, MAX_POINTS
from tests.faults import test_ui_routes
from tests.faults.conftest import KEY_A
from tests.faults.test_ui_routes import continue_form

pytest.importorskip("pybamm")

browser_a = test_ui_routes.browser_a  # a signed-in session of key A (the same fixture)
anon = test_ui_routes.anon  # a browser-like session without a sign-in

ROWS = 300_000
PLOTTED = {"Time [s]", "Voltage [V]", "Current [A]", "Temperature [degC]"}


def big_measurement() -> pl.DataFrame:
    """A compressible 9-column time series of :data:`ROWS` rows."""
    t = np.arange(ROWS, dtype=np.float64) * 0.1
    step = (np.arange(ROWS) // (ROWS // 3)).clip(max=2)
    extra = {f"Extra {i} [-]": np.full(ROWS, float(i)) for i in range(4)}
    return pl.DataFrame(
        {
            "Time [s]": t,
            "Current [A]": np.select([step == 0, step == 1], [1.0, 0.0], -0.5),
            "Voltage [V]": 4.1 - 1e-6 * t,
            "Temperature [degC]": np.full(ROWS, 25.0),
            "Step count": step,
            **extra,
        }
    )


@pytest.fixture(scope="module")
def measurement_id(fault_server: Any) -> str:
    async def make() -> str:
        async with AsyncIonworks(api_key=KEY_A, api_url=fault_server.url) as client:
            made = await client.cell_measurement.upload(big_measurement(), name="big one")
            return made.id

    return asyncio.run(make())


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Every decode of the big table in this process: the columns asked for, and how many
    decodes ran at the same time (each held for a moment)."""
    import pyarrow.parquet as pq

    seen: dict[str, Any] = {"columns": [], "now": 0, "most": 0}
    lock = threading.Lock()

    def track(file: Any, columns: Any) -> bool:
        if file.metadata.num_rows != ROWS:
            return False
        with lock:
            seen["columns"].append(None if columns is None else list(columns))
            seen["now"] += 1
            seen["most"] = max(seen["most"], seen["now"])
        time.sleep(0.3)
        return True

    def done() -> None:
        with lock:
            seen["now"] -= 1

    def wrap_read(name: str) -> None:
        original = getattr(pq.ParquetFile, name)

        def spy(self: Any, *args: Any, columns: Any = None, **kwargs: Any) -> Any:
            tracked = track(self, columns)
            try:
                return original(self, *args, columns=columns, **kwargs)
            finally:
                if tracked:
                    done()

        monkeypatch.setattr(pq.ParquetFile, name, spy)

    for name in ("read", "read_row_group", "read_row_groups"):
        wrap_read(name)
    batches = pq.ParquetFile.iter_batches

    def spy_batches(self: Any, *args: Any, columns: Any = None, **kwargs: Any) -> Any:
        tracked = track(self, columns)
        try:
            yield from batches(self, *args, columns=columns, **kwargs)
        finally:
            if tracked:
                done()

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", spy_batches)
    yield seen


def series_of(page: str) -> dict[str, list[Any]]:
    found = re.search(r'<script type="application/json" id="series-data">(.*?)</script>', page)
    assert found, "the page carries no series"
    data: dict[str, list[Any]] = json.loads(found.group(1).replace("&amp;", "&"))
    return data


async def test_a_large_measurement_decodes_only_plotted_columns_thinned(
    browser_a: aiohttp.ClientSession, measurement_id: str, reads: dict[str, Any]
) -> None:
    async with browser_a.get(f"/ui/measurements/{measurement_id}") as resp:
        assert resp.status == 200
        data = series_of(await resp.text())
    assert set(data) == PLOTTED
    times = data["Time [s]"]
    assert len(times) == MAX_POINTS and all(len(v) == MAX_POINTS for v in data.values())
    assert times[0] == 0.0 and times[-1] == pytest.approx((ROWS - 1) * 0.1)
    assert reads["columns"], "the page decoded nothing of the stored table"
    for columns in reads["columns"]:
        assert columns is not None and set(columns) <= PLOTTED, columns


async def test_concurrent_views_share_a_small_decode_limit(
    browser_a: aiohttp.ClientSession, measurement_id: str, reads: dict[str, Any]
) -> None:
    async def view() -> int:
        async with browser_a.get(f"/ui/measurements/{measurement_id}") as resp:
            await resp.read()
            return resp.status

    assert await asyncio.gather(*(view() for _ in range(MAX_DECODES + 3))) == [200] * (
        MAX_DECODES + 3
    )
    assert 1 <= reads["most"] <= MAX_DECODES


async def test_a_table_deleted_meanwhile_is_a_404(
    browser_a: aiohttp.ClientSession, measurement_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.parquet as pq

    opened = pq.ParquetFile.__init__

    def gone(self: Any, source: Any, *args: Any, **kwargs: Any) -> None:
        if not hasattr(source, "read"):  # a path: the file went after the API answered
            raise FileNotFoundError(source)
        opened(self, source, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "__init__", gone)
    async with browser_a.get(f"/ui/measurements/{measurement_id}") as resp:
        assert resp.status == 404 and "deleted" in await resp.text()


# --- form bodies ------------------------------------------------------------------------------


async def raw_post(url: str, head: bytes, *pieces: bytes) -> tuple[int, str]:
    """``head`` and the body ``pieces`` on a socket of its own, a pause between pieces."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(head)
        for piece in pieces:
            await writer.drain()
            await asyncio.sleep(0.2)
            writer.write(piece)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(65536), 30)
    finally:
        writer.close()
    status_line, _, rest = answer.decode("latin-1").partition("\r\n")
    return int(status_line.split()[1]), rest


def form_head(url: str, length: int | None) -> bytes:
    host = urlsplit(url).netloc
    sized = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return (
        f"POST /ui/login HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\n{sized}\r\n\r\n"
    ).encode()


async def test_a_form_sent_in_two_pieces_is_read_whole(fault_url: str) -> None:
    body = f"api_key={KEY_A}".encode()
    status, rest = await raw_post(fault_url, form_head(fault_url, len(body)), body[:5], body[5:])
    assert status == 303 and "Set-Cookie: ionworks_ui=" in rest


async def test_chunked_forms_are_read_up_to_the_cap(fault_url: str) -> None:
    def chunk(data: bytes) -> bytes:
        return f"{len(data):x}\r\n".encode() + data + b"\r\n"

    body = f"api_key={KEY_A}".encode()
    status, rest = await raw_post(
        fault_url, form_head(fault_url, None), chunk(body[:4]), chunk(body[4:]) + b"0\r\n\r\n"
    )
    assert status == 303 and "Set-Cookie: ionworks_ui=" in rest
    big = chunk(b"api_key=" + b"x" * 3000)
    status, rest = await raw_post(fault_url, form_head(fault_url, None), big, big + b"0\r\n\r\n")
    assert status == 413 and "at most 4096 bytes" in rest


# --- login links, sessions, failed sign-ins ---------------------------------------------------


async def token_path(session: aiohttp.ClientSession) -> str:
    async with session.post("/ui/login-token", headers={"X-API-Key": KEY_A}) as resp:
        path: str = (await resp.json())["login_path"]
    return path


async def test_a_login_link_alone_signs_nobody_in(fault_url: str) -> None:
    async with aiohttp.ClientSession(
        base_url=fault_url, cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as victim:
        token = await continue_form(victim, await token_path(victim))
        async with victim.get("/ui/projects", allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/ui/login"
        async with victim.post(
            "/ui/login", data={"token": token}, headers={"Origin": "https://evil.example"}
        ) as resp:
            assert resp.status == 403 and "Set-Cookie" not in resp.headers
        async with victim.post("/ui/login", data={"token": token}, allow_redirects=False) as resp:
            assert resp.status == 303  # the refused cross-origin post did not spend it


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Sec-Fetch-Site": "cross-site", "Origin": "null"}, 403),
        ({"Sec-Fetch-Site": "same-site"}, 403),
        ({"Sec-Fetch-Site": "same-origin", "Origin": "https://evil.example"}, 403),
        ({"Origin": "null"}, 403),  # no fetch metadata: a null origin may be anyone's
        ({"Sec-Fetch-Site": "same-origin", "Origin": "null"}, 303),  # our page, no-referrer
    ],
)
async def test_only_same_origin_pages_post_a_login(
    anon: aiohttp.ClientSession, headers: dict[str, str], status: int
) -> None:
    token = await continue_form(anon, await token_path(anon))
    async with anon.post(
        "/ui/login", data={"token": token}, headers=headers, allow_redirects=False
    ) as resp:
        assert resp.status == status
        assert ("Set-Cookie" in resp.headers) == (status == 303)


async def test_signing_in_again_ends_the_previous_session(
    fault_url: str, browser_a: aiohttp.ClientSession
) -> None:
    old = browser_a.cookie_jar.filter_cookies(URL(fault_url + "/ui"))["ionworks_ui"].value
    token = await continue_form(browser_a, await token_path(browser_a))
    async with browser_a.post("/ui/login", data={"token": token}, allow_redirects=False) as resp:
        assert resp.status == 303
    new = browser_a.cookie_jar.filter_cookies(URL(fault_url + "/ui"))["ionworks_ui"].value
    assert new != old
    async with browser_a.get("/ui/jobs", allow_redirects=False) as resp:
        assert resp.status == 200  # the new session works
    async with aiohttp.ClientSession(
        base_url=fault_url, cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as stale:
        stale.cookie_jar.update_cookies({"ionworks_ui": old})
        async with stale.get("/ui/jobs", allow_redirects=False) as resp:
            assert resp.status == 303  # the old cookie no longer opens pages


async def test_failed_sign_ins_are_limited_per_address(fault_url: str) -> None:
    # From an address of its own (127.0.0.2): the other tests' logins stay unaffected.
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(base_url=fault_url, connector=connector) as client:
        for _ in range(MAX_FAILURES):
            async with client.post("/ui/login", data={"api_key": "wrong"}) as resp:
                assert resp.status == 401
        async with client.post("/ui/login", data={"api_key": KEY_A}) as resp:
            assert resp.status == 429 and "failed sign-ins" in await resp.text()
        async with client.post("/ui/login", data={"token": "x"}) as resp:
            assert resp.status == 429
    async with aiohttp.ClientSession(base_url=fault_url) as other:
        async with other.post("/ui/login", data={"api_key": KEY_A}, allow_redirects=False) as resp:
            assert resp.status == 303  # another address signs in as before


async def test_a_full_session_table_is_a_429(
    fault_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ui_sessions, "MAX_SESSIONS", 0)
    async with aiohttp.ClientSession(base_url=fault_url) as client:
        async with client.post("/ui/login", data={"api_key": KEY_A}, allow_redirects=False) as resp:
            assert resp.status == 429 and "too many open sessions" in await resp.text()
            assert "Set-Cookie" not in resp.headers
        monkeypatch.setattr(ui_sessions, "MAX_TOKENS", 0)
        async with client.post("/ui/login-token", headers={"X-API-Key": KEY_A}) as resp:
            assert resp.status == 429


# --- paths next to /ui ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/uix", "/ui-admin", "/uiapi/projects", "/ui.json"])
async def test_paths_next_to_ui_need_a_key(fault_url: str, path: str) -> None:
    async with aiohttp.ClientSession(base_url=fault_url) as client:
        async with client.get(path) as resp:
            assert resp.status == 401 and "API key" in (await resp.json())["detail"]
