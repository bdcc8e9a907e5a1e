"""Parts of the web pages that need no server: sessions and tokens, ``client.urls`` on the
cloud (both clients) and the static files shipped in the package."""

from __future__ import annotations

import pytest

from ionworks import AsyncIonworks
from ionworks.server.ui.sessions import MAX_SESSIONS, SESSION_TTL, TOKEN_TTL, Sessions


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
    for _ in range(MAX_SESSIONS):
        sessions.open("owner")
    assert sessions.get(first) is None  # the oldest went when the table filled
    assert all(len(k) == 64 for k in sessions._sessions)  # only hashes are kept


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
