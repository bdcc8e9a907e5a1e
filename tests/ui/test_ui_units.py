"""Parts of the web pages that need no server: sessions and tokens, ``client.urls`` on the
cloud (both clients) and the static files shipped in the package."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ionworks import AsyncIonworks
from ionworks.server.api.http import HTTPError
from ionworks.server.ui import sessions as ui_sessions
from ionworks.server.ui.sessions import (
    FAILURE_WINDOW,
    MAX_ADDRESSES,
    MAX_FAILURES,
    MAX_SESSIONS,
    MAX_SESSIONS_PER_OWNER,
    MAX_TOKENS,
    MAX_TOKENS_PER_OWNER,
    SESSION_TTL,
    TOKEN_TTL,
    Full,
    Sessions,
    Throttle,
)


def test_tokens_expire_and_tables_are_bounded() -> None:
    now = [1000.0]
    sessions = Sessions(clock=lambda: now[0])
    token = sessions.issue_token("owner")
    now[0] += TOKEN_TTL + 1
    assert sessions.redeem(token) is None
    sid, session = sessions.open("owner")
    assert sessions.get(sid) == session and sessions.get(sid + "x") is None
    now[0] += SESSION_TTL + 1
    assert sessions.get(sid) is None
    first, _ = sessions.open("owner")
    for _ in range(MAX_SESSIONS_PER_OWNER):
        sessions.open("owner")
    assert sessions.get(first) is None  # the owner's oldest went when it had its share
    assert all(len(k) == 64 for k in sessions._sessions)  # only hashes are kept


def test_one_owner_cannot_end_anothers_sessions() -> None:
    sessions = Sessions(clock=lambda: 1000.0)
    victim, _ = sessions.open("victim")
    victim_token = sessions.issue_token("victim")
    mine = [sessions.open("attacker")[0] for _ in range(MAX_SESSIONS + 10)]
    tokens = [sessions.issue_token("attacker") for _ in range(MAX_TOKENS + 10)]
    assert sessions.get(victim) is not None and sessions.valid(victim_token)
    assert sum(sessions.get(sid) is not None for sid in mine) == MAX_SESSIONS_PER_OWNER
    assert all(sessions.get(sid) is not None for sid in mine[-MAX_SESSIONS_PER_OWNER:])
    assert sum(sessions.valid(t) for t in tokens) == MAX_TOKENS_PER_OWNER
    assert sessions.redeem(victim_token) == "victim" and not sessions.valid(victim_token)


def test_a_full_table_refuses_new_entries_and_keeps_the_others() -> None:
    now = [1000.0]
    sessions = Sessions(clock=lambda: now[0])
    owners = MAX_SESSIONS // MAX_SESSIONS_PER_OWNER
    first = [
        sessions.open(f"o{i}")[0] for i in range(owners) for _ in range(MAX_SESSIONS_PER_OWNER)
    ]
    with pytest.raises(Full):
        sessions.open("newcomer")
    assert all(sessions.get(sid) is not None for sid in first)
    for i in range(MAX_TOKENS // MAX_TOKENS_PER_OWNER):
        for _ in range(MAX_TOKENS_PER_OWNER):
            sessions.issue_token(f"o{i}")
    with pytest.raises(Full):
        sessions.issue_token("newcomer")
    sessions.open("o0")  # an owner at its share still gets a new one (its oldest goes)
    now[0] += SESSION_TTL + 1
    sessions.open("newcomer")  # expired entries make room
    sessions.issue_token("newcomer")


def test_failed_sign_ins_are_throttled_per_address(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    throttle = Throttle(clock=lambda: now[0])
    for _ in range(MAX_FAILURES):
        assert not throttle.blocked("10.0.0.1")
        throttle.failed("10.0.0.1")
    assert throttle.blocked("10.0.0.1") and not throttle.blocked("10.0.0.2")
    now[0] += FAILURE_WINDOW + 1
    assert not throttle.blocked("10.0.0.1")
    monkeypatch.setattr(ui_sessions, "MAX_ADDRESSES", 4)
    for i in range(10):
        throttle.failed(f"10.1.0.{i}")
    assert len(throttle._failures) == 4 < MAX_ADDRESSES  # bounded: the oldest forgotten


def _form_request(body: bytes, length: int | None) -> Any:
    from unittest import mock

    from aiohttp import streams
    from aiohttp.test_utils import make_mocked_request

    protocol = mock.Mock(_reading_paused=False)
    payload = streams.StreamReader(protocol, 2**16, loop=asyncio.get_running_loop())
    payload.feed_data(body)
    payload.feed_eof()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if length is not None:
        headers["Content-Length"] = str(length)
    else:
        headers["Transfer-Encoding"] = "chunked"
    return make_mocked_request("POST", "/ui/login", headers=headers, payload=payload)


async def test_read_form_reads_the_declared_length_or_refuses() -> None:
    from ionworks.server.ui.auth import MAX_FORM_BYTES, read_form

    assert await read_form(_form_request(b"api_key=abc&x=1", 15)) == {"api_key": "abc", "x": "1"}
    with pytest.raises(HTTPError) as short:
        await read_form(_form_request(b"api_key=abc", 40))
    assert short.value.status == 400
    assert await read_form(_form_request(b"api_key=abc", None)) == {"api_key": "abc"}
    with pytest.raises(HTTPError) as long:
        await read_form(_form_request(b"a=" + b"x" * MAX_FORM_BYTES, None))
    assert long.value.status == 413


async def test_paths_next_to_ui_go_through_the_key_check() -> None:
    from types import SimpleNamespace

    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from ionworks.server.api.app import auth_middleware
    from ionworks.server.state import STATE

    app = web.Application()
    app[STATE] = SimpleNamespace(config=SimpleNamespace(allow_anonymous=False))  # type: ignore[assignment]

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="reached")

    for path, status in (("/uix", 401), ("/ui-admin", 401), ("/ui", 200), ("/ui/jobs", 200)):
        response = await auth_middleware(make_mocked_request("GET", path, app=app), handler)
        assert response.status == status, path


async def test_urls_link_to_the_cloud_app(monkeypatch: pytest.MonkeyPatch) -> None:
    async with AsyncIonworks(
        api_key="k", api_url="https://stage-api.ionworks.com", project_id="p"
    ) as client:
        assert await client.urls.project() == "https://stage.ionworks.com/projects/p/studies"
        assert (
            await client.urls.simulation("s", "pm")
            == "https://stage.ionworks.com/projects/p/parameterized-models/pm/simulations/s"
        )
        monkeypatch.setenv("IONWORKS_APP_URL", "http://localhost:3000/")
        assert (
            await client.urls.cell_instances("c")
            == "http://localhost:3000/projects/p/data/specs/c/instances"
        )
    async with AsyncIonworks(
        api_key="k", api_url="https://api.ionworks.com", project_id="p"
    ) as client:
        monkeypatch.delenv("IONWORKS_APP_URL")
        assert (
            await client.urls.measurement("m", "q")
            == "https://app.ionworks.com/projects/q/data/measurements/m"
        )


def test_sync_client_links() -> None:
    from ionworks import Ionworks

    with Ionworks(api_key="k", api_url="https://api.ionworks.com", project_id="p") as client:
        assert client.urls.pipeline("x") == "https://app.ionworks.com/projects/p/pipelines/x"


def test_static_files_ship_in_the_package() -> None:
    from ionworks.server.ui.static import FILES, FOLDER

    for name in FILES:
        assert (FOLDER / name).stat().st_size > 0
    assert "MIT" in (FOLDER / "uPlot.LICENSE").read_text()
    assert "1.6.32" in (FOLDER / "uPlot.SOURCE").read_text()
