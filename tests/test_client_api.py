"""Client-level methods (``ionworks/_client_api.py``) on both clients: discovery and
``resolve_measurement`` against the real local server, the raw helpers against it and against
small servers that redirect or echo multipart bodies; faults with aioresponses."""

from __future__ import annotations

import asyncio
import io
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from aiohttp import web
from aioresponses import aioresponses

from ionworks import AsyncIonworks, Ionworks
from ionworks.errors import ConflictError, IonworksError, NotFoundError
from ionworks.models import Measurement
from ionworks.server.hosting import EmbeddedServer
from ionworks.ucp.json_schema import protocol_schema
from tests.conftest import API
from tests.helpers import assert_no_requests
from tests.server.conftest import local_server

KEY = "client-api-key"
Make = Callable[..., AbstractAsyncContextManager[Any]]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    with local_server(tmp_path_factory, "client-api", KEY) as srv:
        yield srv


@pytest.fixture
async def c(new_client: Make, server: EmbeddedServer) -> AsyncIterator[Any]:
    """``AsyncIonworks`` or ``Ionworks`` (behind the async adapter) on the real server."""
    async with new_client(api_key=KEY, api_url=server.url) as client:
        yield client


# --- discovery --------------------------------------------------------------------------------


async def test_whoami_capabilities_and_schemas(c: Any) -> None:
    me = await c.whoami()
    assert me["email"] is None and me["authorized_organization"]["id"] == me["id"]
    assert (await c.capabilities())["schemas"]["protocol"] == "/discovery/schemas/protocol"
    assert await c.schema("protocol") == protocol_schema()
    assert (await c.schema("data"))["hierarchy"][0]["name"] == "cell_specification"


async def test_pybamm_models_and_validation(c: Any) -> None:
    assert "DFN" in (await c.pybamm_models())["pybamm_models"]["lithium_ion"]
    assert await c.validate_pybamm_model_config("SPMe", {"thermal": "lumped"}) == {"valid": True}
    bad = await c.validate_pybamm_model_config("SPMe", {"thermal": "warm"}, "lithium_ion")
    assert bad["valid"] is False and bad["error_type"] == "OptionError"
    lead = await c.validate_pybamm_model_config("LOQS", module="lead_acid")
    assert lead == {"valid": True}


async def test_schema_names_are_checked_before_any_request(
    client: AsyncIonworks, mock_api: aioresponses
) -> None:
    with pytest.raises(
        ValueError, match=r"^Unknown schema 'materials'\. Choose from: data, protocol$"
    ):
        await client.schema("materials")
    assert_no_requests(mock_api)


# --- resolve_measurement ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tree(server: EmbeddedServer) -> dict[str, Any]:
    """Two projects; in the first a spec with two instances, one measured."""

    async def build() -> dict[str, Any]:
        async with AsyncIonworks(api_key=KEY, api_url=server.url) as a:
            project = await a.project.create({"name": "resolve"})
            other = await a.project.create({"name": "resolve (other)"})
            spec = await a.post("/cell_specifications", {"name": "NMC", "project_id": project.id})
            base = f"/cell_specifications/{spec['id']}/cell_instances"
            cell = await a.post(base, {"name": "Cell 1"})
            await a.post(base, {"name": "Cell 2"})
            frame = pl.DataFrame(
                {"Time [s]": [0.0, 1.0], "Current [A]": [1.0, 1.0], "Voltage [V]": [4.0, 3.9]}
            )
            m = await a.measurement.create(
                cell["id"], {"measurement": {"name": "RPT 0"}, "time_series": frame}
            )
            return {"project": project.id, "other": other.id, "measurement": m.id}

    return asyncio.run(build())


async def test_resolve_measurement_by_names(
    new_client: Make, server: EmbeddedServer, tree: dict[str, Any]
) -> None:
    async with new_client(api_key=KEY, api_url=server.url, project_id=tree["project"]) as c:
        found = await c.resolve_measurement("NMC", "Cell 1", "RPT 0")
        assert isinstance(found, Measurement) and found.id == tree["measurement"]
        with pytest.raises(NotFoundError, match="No cell specification named 'NMC' found") as e:
            await c.resolve_measurement("NMC", "Cell 1", "RPT 0", project_id=tree["other"])
        assert e.value.status_code == 404
        with pytest.raises(NotFoundError, match="No cell instance named 'Cell 9'"):
            await c.resolve_measurement("NMC", "Cell 9", "RPT 0")
        with pytest.raises(NotFoundError, match="No cell measurement named 'rpt 0'"):
            await c.resolve_measurement("NMC", "Cell 1", "rpt 0")  # names match exactly
        with pytest.raises(NotFoundError, match="No cell measurement named 'RPT 0'"):
            await c.resolve_measurement("NMC", "Cell 2", "RPT 0")


async def test_resolve_measurement_with_names_a_server_has_twice(
    client: AsyncIonworks, mock_api: aioresponses
) -> None:
    """Our server keeps names unique; a server (or an old data directory) that has two records
    of one name makes the look-up ambiguous: a 409, not a guess."""
    twins = {"items": [{"id": "s1", "name": "Twin"}, {"id": "s2", "name": "Twin"}], "total": 2}
    mock_api.get(re.compile(rf"^{re.escape(API)}/cell_specifications\b.*"), payload=twins)
    with pytest.raises(ConflictError, match="Multiple cell specifications named 'Twin'") as e:
        await client.resolve_measurement("Twin", "x", "y")
    assert e.value.status_code == 409


async def test_resolve_measurement_needs_a_project_on_a_remote_server(
    client: AsyncIonworks, mock_api: aioresponses
) -> None:
    async with AsyncIonworks(api_key="k", api_url=API) as bare:
        with pytest.raises(ValueError, match="project_id is required"):
            await bare.resolve_measurement("a", "b", "c")
    assert_no_requests(mock_api)


# --- raw JSON requests ---------------------------------------------------------------------------


async def test_get_post_patch_delete_request(c: Any, tree: dict[str, Any]) -> None:
    created = await c.post("/projects", {"name": "raw helpers"})
    assert created["name"] == "raw helpers"
    path = f"/projects/{created['id']}"
    assert (await c.patch(path, {"description": "d"}))["description"] == "d"
    assert (await c.get(path))["id"] == created["id"]
    listed = await c.request("GET", "/projects?name=eq.raw%20helpers")
    assert [p["id"] for p in listed["items"]] == [created["id"]]
    assert await c.delete(path) is None
    with pytest.raises(NotFoundError):
        await c.request("GET", path)
    raw = await c.request_raw(
        "GET", f"/cell_measurements/{tree['measurement']}/time_series/download"
    )
    assert raw[:4] == b"PAR1"
    assert await c.request_raw("GET", "/healthz", (5, 30)) == await c.request_raw(
        "GET", "/healthz", 30
    )


@pytest.mark.parametrize("endpoint", ["projects", ".evil.test/x", "https://evil.test/x", "", None])
async def test_an_endpoint_must_be_a_path(
    client: AsyncIonworks, mock_api: aioresponses, endpoint: Any
) -> None:
    with pytest.raises(ValueError, match="endpoint must be a path starting with '/'"):
        await client.get(endpoint)
    with pytest.raises(ValueError, match="endpoint must be a path"):
        await client.post_multipart(endpoint, {"file": b"x"})
    assert_no_requests(mock_api)


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), (5,), (5, 0), "30", True])
async def test_request_raw_timeouts_are_checked(
    client: AsyncIonworks, mock_api: aioresponses, timeout: Any
) -> None:
    with pytest.raises(ValueError, match="timeout must be seconds > 0"):
        await client.request_raw("GET", "/x", timeout)
    assert_no_requests(mock_api)


async def test_a_redirect_without_location_is_an_error(
    client: AsyncIonworks, mock_api: aioresponses
) -> None:
    mock_api.get(f"{API}/files/1", status=302)
    with pytest.raises(
        IonworksError,
        match=rf"message: Expected {API}/files/1 to redirect to storage, got 302 with no Location header\.$",
    ) as e:
        await client.redirect_url("/files/1")
    assert e.value.status_code is None


# --- servers that redirect and echo multipart bodies ----------------------------------------------


@contextmanager
def threaded(app: web.Application) -> Iterator[str]:
    """Serve ``app`` on its own loop in a thread (the sync client blocks the test's loop)."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    ready = threading.Event()

    def run() -> None:
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def echo_app(seen: list[dict[str, Any]], storage: str = "") -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        form: dict[str, list[Any]] = {}
        if request.content_type == "multipart/form-data":
            async for part in await request.multipart():
                value = await part.read()  # type: ignore[union-attr]
                item = (part.filename, part.headers.get("Content-Type"), bytes(value))  # type: ignore[union-attr]
                form.setdefault(str(part.name), []).append(item)  # type: ignore[union-attr]
        else:
            form["body"] = [await request.read()]
        seen.append(
            {
                "method": request.method,
                "query": dict(request.query),
                "headers": dict(request.headers),
                "form": form,
            }
        )
        return web.json_response({"ok": len(seen)})

    async def redirect(request: web.Request) -> web.Response:
        seen.append({"path": request.path, "key": request.headers.get("X-API-Key")})
        raise web.HTTPFound(request.query.get("to", f"{storage}/blob?sig=1"))

    async def blob(request: web.Request) -> web.Response:
        seen.append({"path": request.path, "key": request.headers.get("X-API-Key")})
        return web.Response(body=b"\x00stored", content_type="application/octet-stream")

    async def plain(request: web.Request) -> web.Response:
        return web.Response(text="just text")

    async def nothing(request: web.Request) -> web.Response:
        return web.Response(status=204)

    app = web.Application(client_max_size=16 * 2**20)
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/blob", blob)
    app.router.add_get("/plain", plain)
    app.router.add_get("/nothing", nothing)
    return app


async def test_post_multipart_sends_requests_style_files(new_client: Make, tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    on_disk = tmp_path / "cycle.csv"
    on_disk.write_bytes(b"t,v\n0,4.2\n" * 200_000)  # 2 MB: read in a thread
    with threaded(echo_app(seen)) as url, on_disk.open("rb") as fh:
        async with new_client(api_key="k", api_url=url) as c:
            files = {
                "file": ("a.json", io.BytesIO(b"{}"), "application/json"),
                "text": ("t.txt", "héllo"),
                "raw": b"\x00\x01",
                "disk": fh,
            }
            assert await c.post_multipart("/echo", files, {"lang": "en"}) == {"ok": 1}
            assert await c.post_multipart("/echo", None, {"n": 2}) == {"ok": 2}
    sent, bare = seen
    assert sent["method"] == "POST" and sent["query"] == {"lang": "en"}
    assert sent["headers"]["Content-Type"].startswith("multipart/form-data; boundary=")
    assert sent["headers"]["X-API-Key"] == "k" and sent["headers"]["Idempotency-Key"]
    assert sent["form"]["file"] == [("a.json", "application/json", b"{}")]
    assert sent["form"]["text"][0][::2] == ("t.txt", "héllo".encode())
    assert sent["form"]["raw"][0][::2] == ("raw", b"\x00\x01")
    assert sent["form"]["disk"][0][::2] == ("cycle.csv", on_disk.read_bytes())
    assert bare["query"] == {"n": "2"} and bare["form"] == {"body": [b""]}
    assert "multipart" not in bare["headers"].get("Content-Type", "")


async def test_upload_multipart_fields_files_and_method(new_client: Make) -> None:
    seen: list[dict[str, Any]] = []
    with threaded(echo_app(seen)) as url:
        async with new_client(api_key="k", api_url=url) as c:
            data = {"name": "m", "tags": ["a", "b"], "n": 3, "skip": None}
            files = {"file": ("m.json", b'{"x":1}', "application/json")}
            assert await c.upload_multipart("/echo", data=data, files=files, method="PATCH")
    (sent,) = seen
    assert sent["method"] == "PATCH"
    fields = {k: [v[2] for v in vs] for k, vs in sent["form"].items()}
    assert fields == {"name": [b"m"], "tags": [b"a", b"b"], "n": [b"3"], "file": [b'{"x":1}']}


@pytest.mark.parametrize(
    ("files", "error"),
    [
        ({"file": ("a", b"x", "t/t", {"X": "1"})}, "must be \\(filename, content\\)"),
        ({"file": 42}, "expected bytes, str or a binary file object, got int"),
    ],
)
async def test_unusable_files_are_type_errors(
    client: AsyncIonworks, mock_api: aioresponses, files: Any, error: str
) -> None:
    with pytest.raises(TypeError, match=error):
        await client.post_multipart("/x", files)
    assert_no_requests(mock_api)


async def test_redirects_and_credentials(new_client: Make) -> None:
    api_seen: list[dict[str, Any]] = []
    storage_seen: list[dict[str, Any]] = []
    with threaded(echo_app(storage_seen)) as storage, threaded(echo_app(api_seen, storage)) as url:
        async with new_client(api_key="k", api_url=url) as c:
            assert await c.redirect_url("/redirect") == f"{storage}/blob?sig=1"
            assert await c.redirect_url("/redirect?to=/blob") == f"{url}/blob"
            assert await c.request_raw("GET", "/redirect") == b"\x00stored"
            assert await c.get("/plain") == "just text"
            assert await c.get("/nothing") is None
            with pytest.raises(IonworksError, match="got 200 with no Location header"):
                await c.redirect_url("/blob")
            with pytest.raises(NotFoundError):
                await c.redirect_url("/missing")
    assert [s["key"] for s in api_seen] == ["k", "k", "k", "k"]
    assert storage_seen == [{"path": "/blob", "key": None}]  # the key stayed with the API


# --- the constructor ----------------------------------------------------------------------------


def test_the_constructor_takes_the_official_positional_order() -> None:
    args = ("key", API, "proj", "pandas", None, None, "tok", "org")
    for cls in (AsyncIonworks, Ionworks):
        client = cls(*args)
        try:
            assert (client.api_key, client.api_url, client.project_id) == ("key", API, "proj")
            assert client.dataframe_backend == "pandas"
            assert (client.timeout, client.request_timeout, client.max_retries) == (10.0, 10.0, 5)
            assert (client.token, client.organization_id) == ("tok", "org")
        finally:
            if isinstance(client, Ionworks):
                client.close()
