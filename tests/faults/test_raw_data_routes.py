"""Hostile inputs to the raw-data routes (``/raw_data…``, ``/cell_measurements/{id}/raw_data…``,
``…/cell_measurements/from-raw-data``): size caps, content types, path-like file names,
unknown ids, other keys' and other projects' records, garbage bytes for each vendor
extension, double confirms and malformed bodies; each a 4xx with a clear message, never a
500. Against the real local servers of the fault tests (the upload tests' small limits for
the caps), plus the import service without HTTP."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

pytest.importorskip("pybamm")

from ionworks.server.db import cells, raw_data
from ionworks.server.db.store import Store, new_id
from ionworks.server.hosting import EmbeddedServer
from ionworks.server.limits import Limits
from ionworks.server.services.raw_import import import_raw
from ionworks.server.services.raw_readers import RawFileError
from tests.faults.conftest import KEY_A, KEY_B
from tests.faults.test_uploads import SMALL, Api, session, small_server

RAW = Path(__file__).parent.parent / "data" / "cycler" / "raw"
#: Extensions of every format the readers know (and two they refuse by name).
EXTENSIONS = (".mpr", ".mpt", ".nda", ".ndax", ".csv", ".txt", ".041", ".res", ".xlsx")


__all__ = ["session", "small_server"]  # fixtures of the upload tests, used here


@pytest.fixture
def a(fault_url: str, session: aiohttp.ClientSession) -> Api:
    return Api(session, fault_url, KEY_A)


@pytest.fixture
def b(fault_url: str, session: aiohttp.ClientSession) -> Api:
    return Api(session, fault_url, KEY_B)


@pytest.fixture
def small(small_server: EmbeddedServer, session: aiohttp.ClientSession) -> Api:
    """Key A on a server with the upload tests' small limits (:data:`SMALL`)."""
    return Api(session, str(small_server.url), KEY_A)


async def from_raw(api: Api, body: dict[str, Any], instance: str | None = None) -> tuple[int, Any]:
    """``POST …/cell_measurements/from-raw-data`` (default: the key's default instance)."""
    ci = instance or await api.default_instance()
    return await api.call(
        "POST", f"/cell_instances/{ci}/cell_measurements/from-raw-data", json=body
    )


async def project_of(api: Api) -> str:
    status, projects = await api.call("GET", "/projects")
    assert status == 200, projects
    return str(next(p["id"] for p in projects["items"] if p["is_default"]))


async def initiate(api: Api, **fields: Any) -> tuple[int, Any]:
    body = {"project_id": await project_of(api), "filename": "f.csv", **fields}
    return await api.call("POST", "/raw_data/initiate-upload", json=body)


async def upload(api: Api, data: bytes, **fields: Any) -> tuple[int, Any]:
    """initiate → PUT → confirm: (status, body) of the confirm."""
    status, init = await initiate(api, **fields)
    assert status == 200, init
    status, body = await api.put(init["uploads"][0]["signed_url"], data)
    assert status == 200, body
    return await api.call("POST", f"/raw_data/{init['raw_data_id']}/confirm-upload", json={})


def refused(status: int, body: Any, expected: int, *words: str) -> None:
    assert status == expected, body
    text = json.dumps(body)
    assert all(w in text for w in words), body
    assert "Traceback" not in text and "/tmp/" not in text, body


async def test_size_cap_empty_file_and_size_mismatch(
    small: Api, small_server: EmbeddedServer
) -> None:
    status, init = await initiate(small)
    url, rid = init["uploads"][0]["signed_url"], init["raw_data_id"]
    status, body = await small.put(url, b"x" * (SMALL.max_upload_bytes + 1))
    refused(status, body, 413, "max_upload_bytes")
    status, body = await small.call("POST", f"/raw_data/{rid}/confirm-upload", json={})
    refused(status, body, 422, "was not uploaded")
    status, body = await upload(small, b"")
    refused(status, body, 422, "empty")
    for wrong in (4, "3", 3.0, True):
        status, init = await initiate(small)
        status, _ = await small.put(init["uploads"][0]["signed_url"], b"abc")
        path = f"/raw_data/{init['raw_data_id']}/confirm-upload"
        status, body = await small.call("POST", path, json={"size_bytes": wrong})
        refused(status, body, 422, "size_bytes", "3 bytes were uploaded")
        status, body = await small.call("POST", path, json={})  # the URL is spent
        refused(status, body, 404, "no pending upload")
    assert not any((small_server.config.data_dir / "blobs" / "raw_data").glob("*/file"))


async def test_double_confirm_and_kinds_never_cross(a: Api) -> None:
    status, init = await initiate(a)
    rid = init["raw_data_id"]
    await a.put(init["uploads"][0]["signed_url"], b"a,b\n1,2\n")
    # a measurement's confirm-upload does not take a raw-data upload
    status, body = await a.confirm(rid)
    refused(status, body, 404, "no pending upload")
    status, body = await a.call("POST", f"/raw_data/{rid}/confirm-upload", json={})
    assert status == 200 and body["id"] == rid and body["size_bytes"] == 8, body
    status, body = await a.call("POST", f"/raw_data/{rid}/confirm-upload", json={})
    refused(status, body, 409, "already confirmed")
    # nor a raw-data confirm a measurement's upload
    mid, _ = await a.start(await a.default_instance())
    status, body = await a.call("POST", f"/raw_data/{mid}/confirm-upload", json={})
    refused(status, body, 404, "no pending upload")


@pytest.mark.parametrize(
    "content_type",
    ["text/html", "application/xhtml+xml", "image/svg+xml", "image/png", "x", "", 7, None],
)
async def test_content_types_a_browser_would_run_are_refused(a: Api, content_type: Any) -> None:
    status, body = await initiate(a, content_type=content_type)
    refused(status, body, 422, "content_type")


async def test_path_like_names_are_never_paths(a: Api, fault_server: EmbeddedServer) -> None:
    cleaned = {
        "../../etc/passwd": "passwd",
        "C:\\Users\\x\\run.csv": "run.csv",
        "/abs/olute.mpr": "olute.mpr",
        "tab\there\x00.txt": "tab?here?.txt",
        "a" * 400: "a" * 255,
    }
    for given, kept in cleaned.items():
        status, body = await upload(a, b"1,2\n", filename=given)
        assert status == 200 and body["filename"] == kept and body["name"] == kept, body
        stored = fault_server.config.data_dir / "blobs" / "raw_data" / body["id"] / "file"
        assert stored.read_bytes() == b"1,2\n"
    assert not list(fault_server.config.data_dir.rglob("passwd"))
    for bad in ("..", "/", "", "   ", 5, None, ["x"]):
        status, body = await initiate(a, filename=bad)
        refused(status, body, 422, "filename")


async def test_invisible_and_c1_characters_are_replaced(a: Api) -> None:
    """A right-to-left override would show "\u202egpj.exe" as "exe.jpg" in a download."""
    cleaned = {
        "\u202egpj.exe": "?gpj.exe",
        "a\u200bb\u2066c\ufeff.csv": "a?b?c?.csv",
        "x\x85y\x9b\x9fz.csv": "x?y??z.csv",
        "\u00e9t\u00e9 \u2013 \u6570\u636e.csv": "\u00e9t\u00e9 \u2013 \u6570\u636e.csv",
    }
    for given, kept in cleaned.items():
        status, body = await upload(a, b"1,2\n", filename=given)
        assert status == 200 and body["filename"] == kept and body["name"] == kept, body
        async with a.session.get(
            f"{a.url}/raw_data/{body['id']}/content", headers={"X-API-Key": a.key}
        ) as resp:
            assert resp.status == 200 and await resp.read() == b"1,2\n"
            disposition = resp.headers["Content-Disposition"]
        assert disposition == f"attachment; filename*=UTF-8''{quote(kept, safe='')}"


async def test_malformed_bodies(a: Api) -> None:
    pid = await project_of(a)
    for fields, word in (
        ({"project_id": None}, "project_id"),
        ({"project_id": 3}, "project_id"),
        ({"metadata": [1]}, "metadata"),
        ({"source": 5}, "source"),
        ({"source": "s" * 2001}, "source"),
        ({"name": ""}, "name"),
        ({"name": "n" * 300}, "name"),
        ({"owner_id": "x"}, "owner_id"),
    ):
        status, body = await initiate(a, **fields)
        refused(status, body, 422, word)
    status, body = await a.call("POST", "/raw_data/initiate-upload", data=b"{not json")
    assert status == 400, body
    status, body = await a.call("GET", "/raw_data")
    refused(status, body, 422, "project_id")
    status, body = await a.call("GET", "/raw_data", params={"project_id": pid, "limit": "5000"})
    refused(status, body, 422, "limit")
    status, body = await a.call("GET", "/raw_data", params={"project_id": pid, "limit": "-1"})
    assert 400 <= status < 500, body
    status, rec = await upload(a, b"1,2\n")
    for patch, word in (({"metadata": "x"}, "metadata"), ({"size_bytes": 1}, "size_bytes")):
        status, body = await a.call("PATCH", f"/raw_data/{rec['id']}", json=patch)
        refused(status, body, 422, word)
    m = await measurement(a)
    for ids in (None, "x", [], [5], ["x"] * 1001, {"a": 1}):
        status, body = await a.call(
            "POST", f"/cell_measurements/{m}/raw_data", json={"raw_data_ids": ids}
        )
        refused(status, body, 422, "raw_data_ids" if not isinstance(ids, list) or not ids else "")
    for body_in, expected, word in (
        ({}, 422, "raw data ids"),
        ({"raw_data_id": rec["id"], "extra": 1}, 422, "extra"),
        ({"raw_data_id": rec["id"], "name": 5}, 422, "name"),
        ({"raw_data_id": rec["id"], "notes": ["x"]}, 422, "notes"),
        ({"raw_data_id": rec["id"], "tags": "x"}, 400, "tags"),
    ):
        status, body = await from_raw(a, body_in)
        refused(status, body, expected, word)


async def measurement(api: Api) -> str:
    """A new time-series measurement of the key's default instance (uploaded as CSV)."""
    instance = await api.default_instance()
    csv = b"Time [s],Current [A],Voltage [V]\n0,1,4\n1,1,3.9\n"
    status, init = await api.call(
        "POST",
        f"/cell_instances/{instance}/cell_measurements/initiate-upload",
        json={"measurement": {"name": f"m-{new_id()}"}},
    )
    assert status == 200, init
    url = next(u["signed_url"] for u in init["uploads"] if u["filename"] == "time_series.parquet")
    status, body = await api.put(url, csv)
    assert status == 200, body
    status, body = await api.confirm(init["measurement_id"])
    assert status == 200, body
    return str(init["measurement_id"])


async def test_unknown_ids_other_keys_and_other_projects(a: Api, b: Api) -> None:
    status, rec = await upload(a, (RAW / "arbin_rest.csv").read_bytes(), filename="arbin.csv")
    assert status == 200, rec
    rid, m = rec["id"], await measurement(a)
    for api, target in ((a, "no-such-id"), (b, rid)):  # unknown, and another key's
        for method, path in (
            ("GET", f"/raw_data/{target}"),
            ("PATCH", f"/raw_data/{target}"),
            ("DELETE", f"/raw_data/{target}"),
            ("GET", f"/raw_data/{target}/download-url"),
            ("GET", f"/raw_data/{target}/content"),
            ("GET", f"/raw_data/{target}/cell_measurements"),
            ("POST", f"/raw_data/{target}/confirm-upload"),
        ):
            status, body = await api.call(method, path, json={})
            refused(status, body, 404)
    m_b = await measurement(b)
    status, body = await b.call(
        "POST", f"/cell_measurements/{m_b}/raw_data", json={"raw_data_ids": [rid]}
    )
    refused(status, body, 404, "not found")
    status, body = await from_raw(b, {"raw_data_id": rid})
    refused(status, body, 404, "not found")
    for api, mid in ((b, m), (a, "no-such-measurement")):
        for method, path in (
            ("POST", f"/cell_measurements/{mid}/raw_data"),
            ("GET", f"/cell_measurements/{mid}/raw_data"),
            ("DELETE", f"/cell_measurements/{mid}/raw_data/{rid}"),
        ):
            status, body = await api.call(method, path, json={"raw_data_ids": [rid]})
            refused(status, body, 404)
    status, body = await a.call("DELETE", f"/cell_measurements/{m}/raw_data/{rid}")
    refused(status, body, 404, "not linked")
    status, body = await from_raw(a, {"raw_data_id": rid}, "no-such-ci")
    refused(status, body, 404, "cell instance")
    # a record of the same key's other project: refused, nothing linked
    status, project = await a.call("POST", "/projects", json={"name": "raw other"})
    assert status in (200, 201), project
    status, init = await a.call(
        "POST",
        "/raw_data/initiate-upload",
        json={"project_id": project["id"], "filename": "other.csv"},
    )
    await a.put(init["uploads"][0]["signed_url"], b"1,2\n")
    status, other = await a.call("POST", f"/raw_data/{init['raw_data_id']}/confirm-upload")
    assert status == 200, other
    status, body = await a.call(
        "POST", f"/cell_measurements/{m}/raw_data", json={"raw_data_ids": [rid, other["id"]]}
    )
    refused(status, body, 422, "not in project")
    status, body = await a.call("GET", f"/cell_measurements/{m}/raw_data")
    assert status == 200 and body["total"] == 0, body
    status, body = await from_raw(a, {"raw_data_id": other["id"]})
    refused(status, body, 422, "not in project")
    status, body = await a.call("DELETE", f"/projects/{project['id']}")
    assert status in (200, 204), body
    status, body = await a.call("GET", f"/raw_data/{other['id']}")
    refused(status, body, 404)


@pytest.mark.parametrize("extension", EXTENSIONS)
async def test_garbage_in_each_vendor_extension_is_a_422(a: Api, extension: str) -> None:
    garbage = os.urandom(4096)
    for data in (garbage, b"PK\x03\x04" + garbage, b"BIO-LOGIC MODULAR FILE\x1a" + garbage):
        status, rec = await upload(a, data, filename=f"cell 7{extension}")
        assert status == 200, rec
        status, body = await from_raw(a, {"raw_data_id": rec["id"], "name": f"junk {new_id()}"})
        refused(status, body, 422, f"cell 7{extension}")


async def test_rows_over_the_limit_are_refused(small: Api) -> None:
    status, rec = await upload(small, (RAW / "neware.ndax").read_bytes(), filename="big.ndax")
    assert status == 200, rec
    status, body = await from_raw(small, {"raw_data_id": rec["id"]})
    refused(status, body, 422, "max_measurement_rows", "big.ndax")


async def test_a_deleted_projects_files_go_at_the_next_start(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    folder = tmp_path / "blobs" / "raw_data"
    with EmbeddedServer(tmp_path, api_keys=[KEY_A], allow_anonymous=False, workers=1) as server:
        api = Api(session, str(server.url), KEY_A)
        status, project = await api.call("POST", "/projects", json={"name": "to delete"})
        assert status in (200, 201), project
        status, kept = await upload(api, b"1,2\n")
        status, gone = await upload(api, b"1,2\n", project_id=project["id"])
        assert status == 200 and (folder / gone["id"] / "file").is_file(), gone
        status, body = await api.call("DELETE", f"/projects/{project['id']}")
        assert status in (200, 204), body
        status, body = await api.call("GET", f"/raw_data/{gone['id']}")
        refused(status, body, 404)
    with EmbeddedServer(tmp_path, api_keys=[KEY_A], allow_anonymous=False, workers=1) as server:
        assert sorted(p.name for p in folder.iterdir()) == [kept["id"]]


# --- the import service, without HTTP -----------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path)
    yield s
    s.close()


def stored_raw(store: Store, filename: str, data: bytes) -> Any:
    """A raw record of the owner's default project with ``data`` as its file, and an instance."""
    project = store.default_project("owner")
    rid = new_id()
    meta = {"name": filename, "filename": filename, "content_type": "text/plain"}
    raw_data.create(store, "owner", rid, project["id"], {**meta, "size_bytes": len(data)})
    store.write_blobs(raw_data.FOLDER.format(rid), {raw_data.BLOB: data})
    row = raw_data.get(store, "owner", rid)
    spec_id = cells.create_specification(store, "owner", project["id"], "s", {})
    spec = cells.get_specification(store, "owner", spec_id)
    assert spec is not None
    instance_id = cells.create_instance(store, spec, "i", {})
    return row, cells.get_instance(store, "owner", instance_id)


async def test_the_cap_is_checked_before_parsing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = (RAW / "neware.csv").read_bytes()
    row, instance = stored_raw(store, "neware.csv", data)
    parsed: list[str] = []
    monkeypatch.setattr(
        "ionworks.server.services.raw_import.read_raw", lambda *a, **k: parsed.append("x")
    )
    with pytest.raises(RawFileError) as info:
        await import_raw(
            store, Limits(max_upload_bytes=len(data) - 1), instance, row, {"name": "x"}
        )
    assert info.value.status == 413 and "max_upload_bytes" in str(info.value) and not parsed
    assert not store.query("SELECT id FROM cell_measurements")


async def test_a_file_deleted_while_it_is_imported_is_a_404(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ionworks.server.services import raw_import
    from ionworks.server.services.raw_readers import read_raw

    row, instance = stored_raw(store, "neware.csv", (RAW / "neware.csv").read_bytes())

    def deleted_first(filename: str, data: Path, **kw: Any) -> Any:
        data.unlink()  # another request deleted the record between the checks and the read
        return read_raw(filename, data, **kw)

    monkeypatch.setattr(raw_import, "read_raw", deleted_first)
    with pytest.raises(RawFileError) as info:
        await import_raw(store, Limits(), instance, row, {"name": "x"})
    assert info.value.status == 404 and "neware.csv" in str(info.value)
    assert str(store.data_dir) not in str(info.value)
    assert not store.query("SELECT id FROM cell_measurements")


def test_read_raw_of_a_missing_file_is_a_404(tmp_path: Path) -> None:
    from ionworks.server.services.raw_readers import read_raw

    with pytest.raises(RawFileError) as info:
        read_raw("run\u202e.csv", tmp_path / "gone", limits=Limits())
    assert info.value.status == 404 and str(info.value).startswith("run?.csv")
