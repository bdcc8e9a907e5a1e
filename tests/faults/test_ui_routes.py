"""Hostile input to the web pages at ``/ui``: sign-in tokens and sessions, CSRF, scoping to
the key's records (another key's ids are a 404), the read-only API bridge, escaping of stored
text, the static files and the security headers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from ionworks import AsyncIonworks
from ionworks.cli import main
from ionworks.server.ui.sessions import TOKEN_TTL
from tests.faults.conftest import KEY_A, KEY_B, QUICK_MODEL, QUICK_PROTOCOL

pytest.importorskip("pybamm")

HOSTILE = '<script>alert("x")</script>'


@pytest.fixture(scope="module")
def records(fault_server: Any) -> dict[str, str]:
    """A finished simulation of key A whose protocol name is hostile HTML, and its ids."""
    import asyncio

    async def make() -> dict[str, str]:
        async with AsyncIonworks(api_key=KEY_A, api_url=fault_server.url) as client:
            config = {
                "parameterized_model": QUICK_MODEL,
                "protocol_experiment": {"protocol": QUICK_PROTOCOL, "name": HOSTILE},
            }
            sid = (await client.simulation.protocol(config)).simulation_id
            (record,) = await client.simulation.wait_for_completion(
                [sid], timeout=120, poll_interval=0.1, verbose=False
            )
            return {"simulation": sid, "job": record["job_id"], "project": record["project_id"]}

    return asyncio.run(make())


async def signed_in(url: str, key: str) -> aiohttp.ClientSession:
    """A browser-like session (cookies kept) signed in with ``key`` via a login token."""
    session = aiohttp.ClientSession(base_url=url, cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.post("/ui/login-token", headers={"X-API-Key": key}) as resp:
        assert resp.status == 200
        path = (await resp.json())["login_path"]
    token = await continue_form(session, path)
    async with session.post("/ui/login", data={"token": token}, allow_redirects=False) as resp:
        assert resp.status == 303 and resp.headers["Location"] == "/ui/projects"
    return session


async def continue_form(session: aiohttp.ClientSession, path: str) -> str:
    """The token the "Continue" page of a login link posts (the GET itself signs nobody in)."""
    async with session.get(path, allow_redirects=False) as resp:
        assert resp.status == 200 and "Set-Cookie" not in resp.headers
        page = await resp.text()
    assert 'method="post"' in page and 'action="/ui/login"' in page and "Continue" in page
    found = re.search(r'name="token" value="([^"]+)"', page)
    assert found, "the page carries no token form"
    return found.group(1)


@pytest.fixture
async def browser_a(fault_url: str) -> AsyncIterator[aiohttp.ClientSession]:
    session = await signed_in(fault_url, KEY_A)
    yield session
    await session.close()


@pytest.fixture
async def browser_b(fault_url: str) -> AsyncIterator[aiohttp.ClientSession]:
    session = await signed_in(fault_url, KEY_B)
    yield session
    await session.close()


@pytest.fixture
async def anon(fault_url: str) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(
        base_url=fault_url, cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as session:
        yield session


def csrf_of(page: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert found, "the page carries no CSRF token"
    return found.group(1)


# --- tokens and sessions ----------------------------------------------------------------------


async def test_login_token_needs_a_valid_key(anon: aiohttp.ClientSession) -> None:
    for headers in ({}, {"X-API-Key": "wrong"}, {"X-API-Key": "x" * 8000}):
        async with anon.post("/ui/login-token", headers=headers) as resp:
            assert resp.status == 401
            assert "API key" in (await resp.json())["detail"]


async def test_token_works_once_and_sets_a_strict_cookie(anon: aiohttp.ClientSession) -> None:
    async with anon.post("/ui/login-token", headers={"X-API-Key": KEY_A}) as resp:
        answer = await resp.json()
    assert answer["expires_in"] == TOKEN_TTL and len(answer["token"]) >= 40
    token = await continue_form(anon, answer["login_path"])
    assert token == answer["token"]
    async with anon.post("/ui/login", data={"token": token}, allow_redirects=False) as resp:
        assert resp.status == 303
        cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/ui" in cookie
    async with anon.get(answer["login_path"], allow_redirects=False) as resp:
        assert resp.status == 401 and "already used or has expired" in await resp.text()
    async with anon.post("/ui/login", data={"token": token}, allow_redirects=False) as resp:
        assert resp.status == 401 and "Set-Cookie" not in resp.headers


@pytest.mark.parametrize(
    "token", ["", "nope", "a" * 129, "%00", "../../etc/passwd", "\u202e\u0000x", HOSTILE]
)
async def test_bad_tokens_are_401_pages(anon: aiohttp.ClientSession, token: str) -> None:
    async with anon.get("/ui/login", params={"token": token}, allow_redirects=False) as resp:
        assert resp.status == 401
        text = await resp.text()
    assert "Set-Cookie" not in resp.headers and "<script>alert" not in text


async def test_pages_need_a_session(anon: aiohttp.ClientSession, records: dict[str, str]) -> None:
    anon.cookie_jar.update_cookies({"ionworks_ui": "forged-session-id"})
    for path in ("/ui/projects", f"/ui/simulations/{records['simulation']}", "/ui/jobs"):
        async with anon.get(path, allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/ui/login"
    async with anon.get(f"/ui/api/simulations/{records['simulation']}") as resp:
        assert resp.status == 401 and "sign in" in (await resp.json())["detail"]


async def test_login_form(anon: aiohttp.ClientSession) -> None:
    async with anon.get("/ui/login") as resp:
        assert resp.status == 200 and 'name="api_key"' in await resp.text()
    async with anon.post("/ui/login", data={"api_key": "wrong"}) as resp:
        assert resp.status == 401 and "not valid" in await resp.text()
    async with anon.post("/ui/login", data={"api_key": "x" * 5000}) as resp:
        assert resp.status == 413
    async with anon.post("/ui/login", json={"api_key": KEY_A}) as resp:
        assert resp.status == 415
    async with anon.post(
        "/ui/login", data={"api_key": KEY_A}, headers={"Origin": "https://evil.example"}
    ) as resp:
        assert resp.status == 403
    async with anon.post("/ui/login", data={"api_key": KEY_A}, allow_redirects=False) as resp:
        assert resp.status == 303 and "HttpOnly" in resp.headers["Set-Cookie"]


# --- scoping ----------------------------------------------------------------------------------


async def test_another_keys_records_are_404(
    browser_a: aiohttp.ClientSession, browser_b: aiohttp.ClientSession, records: dict[str, str]
) -> None:
    sid, pid = records["simulation"], records["project"]
    async with browser_a.get(f"/ui/simulations/{sid}") as resp:
        assert resp.status == 200
    paths = [
        f"/ui/simulations/{sid}",
        f"/ui/projects/{pid}/simulations",
        f"/ui/projects/{pid}/measurements",
        f"/ui/projects/{pid}/pipelines",
        f"/ui/api/simulations/{sid}",
        f"/ui/api/simulations/{sid}/time_series/download",
        f"/ui/api/jobs/{records['job']}",
    ]
    for path in paths:
        async with browser_b.get(path) as resp:
            assert resp.status == 404, path
    async with browser_b.get("/ui/jobs") as resp:
        assert records["job"] not in await resp.text()
    async with browser_b.get("/ui/projects") as resp:
        page = await resp.text()
    assert pid not in page
    async with browser_b.post(
        f"/ui/jobs/{records['job']}/cancel", headers={"X-CSRF-Token": csrf_of(page)}
    ) as resp:
        assert resp.status == 404


@pytest.mark.parametrize(
    "path",
    [
        "/ui/simulations/..%2F..%2Fjobs",
        "/ui/simulations/.hidden",
        "/ui/simulations/" + "a" * 300,
        "/ui/simulations/%3Cscript%3E",
        "/ui/simulations/x%00y",
        "/ui/measurements/..%2Fusers%2Fme",
        "/ui/pipelines/%F0%9F%92%A5",
        "/ui/projects/nope/simulations",
        "/ui/projects/nope/sweeps/also-nope",
        "/ui/projects/nope/studies/x",
        "/ui/api/users/me",
        "/ui/api/healthz",
        "/ui/api/ui/projects",
        "/ui/api/jobs/..%2F..%2Fui%2Fprojects",
        "/ui/api/simulations/../../ui/jobs",
        "/ui/api/discovery/capabilities",
        "/ui/static/..%2Fauth.py",
        "/ui/static/ui.js%00.css",
        "/ui/static/sessions.py",
    ],
)
async def test_hostile_paths_are_404(browser_a: aiohttp.ClientSession, path: str) -> None:
    async with browser_a.get(path, allow_redirects=False) as resp:
        assert resp.status == 404, path
        text = await resp.text()
    assert "<script>" not in text


async def test_the_api_bridge_reads_only(browser_a: aiohttp.ClientSession) -> None:
    async with browser_a.get("/ui/projects") as resp:
        csrf = csrf_of(await resp.text())
    for method in ("POST", "DELETE", "PATCH", "PUT"):
        async with browser_a.request(
            method, "/ui/api/simulations", headers={"X-CSRF-Token": csrf}
        ) as resp:
            assert resp.status == 405, method
    async with browser_a.get("/ui/api/simulations", params={"limit": "-1"}) as resp:
        assert resp.status == 422 and "limit" in (await resp.json())["detail"]
    async with browser_a.get("/ui/api/jobs", params={"limit": "10"}) as resp:
        assert resp.status == 200 and isinstance(await resp.json(), list)


async def test_stored_text_is_escaped(
    browser_a: aiohttp.ClientSession, records: dict[str, str]
) -> None:
    for path in (
        f"/ui/simulations/{records['simulation']}",
        f"/ui/projects/{records['project']}/simulations",
    ):
        async with browser_a.get(path) as resp:
            text = await resp.text()
        assert HOSTILE not in text and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    assert "<script>" not in text.replace('<script type="application/json"', "")


# --- CSRF and state changes -------------------------------------------------------------------


async def test_cancel_and_logout_need_the_csrf_token(
    browser_a: aiohttp.ClientSession, records: dict[str, str]
) -> None:
    path = f"/ui/jobs/{records['job']}/cancel"
    async with browser_a.get(path) as resp:
        assert resp.status == 405  # no state change on GET
    for headers in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": "é" * 50}):
        async with browser_a.post(path, headers=headers, data={"csrf": "also-wrong"}) as resp:
            assert resp.status == 403, headers
    async with browser_a.get("/ui/jobs") as resp:
        csrf = csrf_of(await resp.text())
    async with browser_a.post(
        path, headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"}
    ) as resp:
        assert resp.status == 403
    async with browser_a.post(path, data={"csrf": csrf}, allow_redirects=False) as resp:
        assert resp.status == 303 and resp.headers["Location"] == "/ui/jobs"
    async with browser_a.post(path, headers={"X-CSRF-Token": csrf}) as resp:
        assert resp.status == 200 and (await resp.json())["status"] == "completed"
    async with browser_a.post("/ui/logout", data={"csrf": "wrong"}) as resp:
        assert resp.status == 403
    async with browser_a.post("/ui/logout", data={"csrf": csrf}, allow_redirects=False) as resp:
        assert resp.status == 303
    browser_a.cookie_jar.clear()
    async with browser_a.get("/ui/jobs", allow_redirects=False) as resp:
        assert resp.status == 303  # the session is gone


# --- headers and static files -----------------------------------------------------------------


async def test_security_headers_everywhere(
    browser_a: aiohttp.ClientSession, anon: aiohttp.ClientSession
) -> None:
    for session, path in (
        (browser_a, "/ui/projects"),
        (browser_a, "/ui/simulations/nope"),
        (browser_a, "/ui/api/jobs"),
        (anon, "/ui/login"),
        (anon, "/ui/static/ui.js"),
    ):
        async with session.get(path) as resp:
            headers = resp.headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, path
        assert "frame-ancestors 'none'" in csp
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"
    async with anon.get("/ui/static/uPlot.iife.min.js") as resp:
        assert resp.status == 200 and resp.content_type == "text/javascript"
        assert "uPlot" in await resp.text()


async def test_no_inline_script_in_pages(
    browser_a: aiohttp.ClientSession, records: dict[str, str]
) -> None:
    async with browser_a.get(f"/ui/simulations/{records['simulation']}") as resp:
        text = await resp.text()
    scripts = re.findall(r"<script([^>]*)>", text)
    assert scripts and all("src=" in s or 'type="application/json"' in s for s in scripts)
    assert " on" not in "".join(re.findall(r"<[a-z]+ [^>]*>", text)).replace(" onload", " on")


# --- the CLI and client.urls ------------------------------------------------------------------


def test_cli_prints_a_working_login_link(
    fault_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ui", "--url", fault_url, "--api-key", KEY_A, "--no-browser"]) == 0
    link = capsys.readouterr().out.strip().splitlines()[-1]
    assert link.startswith(f"{fault_url}/ui/login?token=")
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with opener.open(link) as resp:
        assert resp.status == 200 and resp.url == link  # the "Continue" form
        found = re.search(r'name="token" value="([^"]+)"', resp.read().decode())
    assert found
    with opener.open(f"{fault_url}/ui/login", data=f"token={found.group(1)}".encode()) as resp:
        assert resp.status == 200 and resp.url.endswith("/ui/projects")
    assert main(["ui", "--url", fault_url, "--api-key", "wrong", "--no-browser"]) == 1
    assert "refused the API key" in capsys.readouterr().err
    assert main(["ui", "--url", "ftp://x", "--api-key", KEY_A, "--no-browser"]) == 2


async def test_urls_link_to_local_pages(fault_url: str, records: dict[str, str]) -> None:
    async with AsyncIonworks(api_key=KEY_A, api_url=fault_url) as client:
        sim = await client.urls.simulation(records["simulation"])
        assert sim == f"{fault_url}/ui/simulations/{records['simulation']}"
        assert (
            await client.urls.project()
            == f"{fault_url}/ui/projects/{records['project']}/simulations"
        )
        assert (
            await client.urls.study("s/1")
            == f"{fault_url}/ui/projects/{records['project']}/studies/s%2F1"
        )
        assert await client.urls.measurement("m") == f"{fault_url}/ui/measurements/m"


async def test_a_shared_project_is_seen_as_the_api_shows_it(
    fault_url: str, browser_b: aiohttp.ClientSession, records: dict[str, str]
) -> None:
    from tests.server.conftest import user_id

    async with AsyncIonworks(api_key=KEY_A, api_url=fault_url) as owner:
        project = await owner.project.create({"name": "shared with B"})
        async with AsyncIonworks(api_key=KEY_A, api_url=fault_url, project_id=project.id) as inside:
            config = {
                "parameterized_model": QUICK_MODEL,
                "protocol_experiment": {"protocol": QUICK_PROTOCOL, "name": "shared run"},
            }
            sid = (await inside.simulation.protocol(config)).simulation_id
            await inside.simulation.wait_for_completion([sid], timeout=120, verbose=False)
            job_id = (await inside.simulation.get(sid))["job_id"]
        async with AsyncIonworks(api_key=KEY_B, api_url=fault_url) as member:
            await owner.project.add_member(project.id, await user_id(member), "Project Viewer")
    async with browser_b.get("/ui/projects") as resp:
        page = await resp.text()
    assert "shared with B" in page and "Project Viewer" in page
    async with browser_b.get(f"/ui/projects/{project.id}/simulations") as resp:
        assert resp.status == 200 and sid in await resp.text()
    async with browser_b.get(f"/ui/simulations/{sid}") as resp:
        assert resp.status == 200 and "shared run" in await resp.text()
    async with browser_b.get(f"/ui/simulations/{records['simulation']}") as resp:
        assert resp.status == 404  # the owner's other projects stay hidden
    async with browser_b.post(
        f"/ui/jobs/{job_id}/cancel", headers={"X-CSRF-Token": csrf_of(page)}
    ) as resp:
        assert resp.status == 403 and "Project Viewer" in await resp.text()  # reading only
