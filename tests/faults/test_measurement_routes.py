"""Hostile and unlucky input to the measurement routes added by issue 18 (names unique within a
cell instance): each a clear 4xx naming what was wrong (never a 500), another key's records a
404, nothing kept by a refused upload, and the server still serving afterwards."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import polars as pl
import pytest

from tests.faults.conftest import KEY_B

pytest.importorskip("pybamm")

Call = tuple[int, Any]
TS = pl.DataFrame({"Time [s]": [0.0, 1.0, 2.0], "Current [A]": [1.0] * 3, "Voltage [V]": [4.0] * 3})


async def call(http: aiohttp.ClientSession, method: str, path: str, **kwargs: Any) -> Call:
    async with http.request(method, path, **kwargs) as resp:
        raw = await resp.read()
        return resp.status, json.loads(raw) if raw else None


async def refused(
    http: aiohttp.ClientSession, method: str, path: str, status: int, naming: str, **kw: Any
) -> Any:
    """``status`` with a ``detail`` that contains ``naming``; the server still lists projects."""
    got, body = await call(http, method, path, **kw)
    assert got == status, (got, body)
    assert isinstance(body, dict) and naming in str(body.get("detail")), body
    assert len(str(body["detail"])) < 2000, "the message echoes a hostile value whole"
    assert (await call(http, "GET", "/projects"))[0] == 200
    return body


@pytest.fixture
async def http_b(fault_url: str) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=fault_url, headers={"X-API-Key": KEY_B}) as session:
        yield session


@pytest.fixture
async def instance(http: aiohttp.ClientSession) -> str:
    """A fresh (not default) cell instance of key A."""
    status, spec = await call(
        http, "POST", "/cell_specifications", json={"name": f"routes {uuid.uuid4()}"}
    )
    assert status in (200, 201), spec
    status, inst = await call(
        http, "POST", f"/cell_specifications/{spec['id']}/cell_instances", json={"name": "c1"}
    )
    assert status in (200, 201), inst
    return str(inst["id"])


async def default_instance(http: aiohttp.ClientSession) -> str:
    _, projects = await call(http, "GET", "/projects", params={"is_default": "true"})
    pid = projects["items"][0]["id"]
    _, found = await call(
        http, "GET", "/cell_instances", params={"project_id": pid, "is_default": "true"}
    )
    return str(found["items"][0]["id"])


async def initiate(http: aiohttp.ClientSession, ci: str, name: Any) -> Call:
    return await call(
        http,
        "POST",
        f"/cell_instances/{ci}/cell_measurements/initiate-upload",
        json={"measurement": {"name": name}},
    )


async def put_and_confirm(http: aiohttp.ClientSession, ci: str, init: dict[str, Any]) -> Call:
    buf = io.BytesIO()
    TS.write_parquet(buf)
    url = next(u["signed_url"] for u in init["uploads"] if u["filename"] == "time_series.parquet")
    async with http.put(url, data=buf.getvalue()) as resp:
        assert resp.status == 200, await resp.text()
    return await call(
        http,
        "POST",
        f"/cell_measurements/{init['measurement_id']}/confirm-upload",
        json={"cell_instance_id": ci, "measurement": {}},
    )


async def upload(http: aiohttp.ClientSession, ci: str, name: str) -> dict[str, Any]:
    status, init = await initiate(http, ci, name)
    assert status == 200, init
    status, body = await put_and_confirm(http, ci, init)
    assert status == 200, body
    return dict(body)


async def test_duplicate_name_is_a_conflict_naming_the_existing(
    http: aiohttp.ClientSession, instance: str
) -> None:
    first = await upload(http, instance, "run 1")
    status, body = await initiate(http, instance, "run 1")
    assert status == 409 and body["error_code"] == "CONFLICT", body
    assert body["detail"]["existing_id"] == first["id"]
    await upload(http, instance, "Run 1")  # names are case-sensitive
    await upload(http, instance, "run 2")


async def test_concurrent_uploads_of_one_name_keep_one(
    http: aiohttp.ClientSession, instance: str, fault_server: Any
) -> None:
    _, one = await initiate(http, instance, "race")
    _, two = await initiate(http, instance, "race")
    assert (await put_and_confirm(http, instance, one))[0] == 200
    status, body = await put_and_confirm(http, instance, two)
    assert status == 409 and body["detail"]["existing_id"] == one["measurement_id"], body
    assert (await call(http, "GET", f"/cell_measurements/{two['measurement_id']}"))[0] == 404
    folder = fault_server.config.data_dir / "blobs" / "measurements" / two["measurement_id"]
    assert not folder.exists()
    _, listed = await call(http, "GET", f"/cell_instances/{instance}/cell_measurements")
    assert [m["name"] for m in listed["items"]].count("race") == 1


async def test_rename_onto_an_existing_name(http: aiohttp.ClientSession, instance: str) -> None:
    a = await upload(http, instance, "a")
    b = await upload(http, instance, "b")
    body = await refused(
        http, "PATCH", f"/cell_measurements/{b['id']}", 409, "already exists", json={"name": "a"}
    )
    assert body["detail"]["existing_id"] == a["id"]
    status, same = await call(http, "PATCH", f"/cell_measurements/{a['id']}", json={"name": "a"})
    assert status == 200 and same["name"] == "a"
    for bad in (None, 3, "", ["a"]):
        await refused(
            http, "PATCH", f"/cell_measurements/{a['id']}", 422, "'name'", json={"name": bad}
        )


async def test_default_instance_keeps_repeated_names(http: aiohttp.ClientSession) -> None:
    ci = await default_instance(http)
    name = f"ad hoc {uuid.uuid4()}"
    assert (await upload(http, ci, name))["id"] != (await upload(http, ci, name))["id"]


@pytest.mark.parametrize("name", [None, 7, "", {"a": 1}, ["x"]])
async def test_hostile_names_are_refused(
    http: aiohttp.ClientSession, instance: str, name: Any
) -> None:
    path = f"/cell_instances/{instance}/cell_measurements/initiate-upload"
    await refused(http, "POST", path, 422, "'name'", json={"measurement": {"name": name}})


async def test_long_name_conflict_message_is_bounded(
    http: aiohttp.ClientSession, instance: str
) -> None:
    name = "n" * 5000
    await upload(http, instance, name)
    path = f"/cell_instances/{instance}/cell_measurements/initiate-upload"
    body = await refused(
        http, "POST", path, 409, "already exists", json={"measurement": {"name": name}}
    )
    assert len(body["message"]) < 300


async def test_another_keys_records_are_not_found(
    http: aiohttp.ClientSession, http_b: aiohttp.ClientSession, instance: str
) -> None:
    mine = await upload(http, instance, "private")
    path = f"/cell_instances/{instance}/cell_measurements/initiate-upload"
    await refused(http_b, "POST", path, 404, "not found", json={"measurement": {"name": "x"}})
    await refused(
        http_b, "PATCH", f"/cell_measurements/{mine['id']}", 404, "not found", json={"name": "x"}
    )


# --- tags and list filters ------------------------------------------------------------------


async def tagged(
    http: aiohttp.ClientSession, ci: str, name: str, tags: list[str], **meta: Any
) -> dict[str, Any]:
    status, init = await call(
        http,
        "POST",
        f"/cell_instances/{ci}/cell_measurements/initiate-upload",
        json={"measurement": {"name": name, "tags": tags, **meta}},
    )
    assert status == 200, init
    status, body = await put_and_confirm(http, ci, init)
    assert status == 200, body
    return dict(body)


async def project_of(http: aiohttp.ClientSession, ci: str) -> str:
    _, inst = await call(http, "GET", f"/cell_instances/{ci}")
    return str(inst["project_id"])


async def bulk(http: aiohttp.ClientSession, ids: list[str], **body: Any) -> Call:
    return await call(
        http, "POST", "/cell_measurements/tags/bulk", json={"measurement_ids": ids, **body}
    )


async def tags_of(http: aiohttp.ClientSession, mid: str) -> list[str]:
    _, body = await call(http, "GET", f"/cell_measurements/{mid}")
    return list(body["tags"])


async def test_tags_are_normalised_and_keep_the_project_spelling(
    http: aiohttp.ClientSession, instance: str
) -> None:
    a = await tagged(http, instance, "a", [" Baseline ", "baseline", "25degC"])
    assert a["tags"] == ["Baseline", "25degC"]
    b = await tagged(http, instance, "b", ["BASELINE"])
    assert b["tags"] == ["Baseline"]
    status, body = await bulk(http, [a["id"], b["id"]], add=["hppc", " 25DEGC"])
    assert status == 200 and body == {"updated_count": 2}, body
    assert await tags_of(http, a["id"]) == ["Baseline", "25degC", "hppc"]
    assert await tags_of(http, b["id"]) == ["Baseline", "hppc", "25degC"]
    assert (await bulk(http, [a["id"]], add=["HPPC"]))[1] == {"updated_count": 0}
    status, body = await bulk(http, [a["id"], b["id"]], remove=["BASELINE", "nope"])
    assert body == {"updated_count": 2}
    assert await tags_of(http, a["id"]) == ["25degC", "hppc"]
    status, same = await call(
        http, "PATCH", f"/cell_measurements/{b['id']}", json={"tags": ["HPPC", "new"]}
    )
    assert status == 200 and same["tags"] == ["hppc", "new"], same

    pid = await project_of(http, instance)
    status, page = await call(http, "GET", "/cell_measurements/tags", params={"project_id": pid})
    usage = {i["tag"]: i["usage_count"] for i in page["items"]}
    assert usage["hppc"] == 2 and usage["25degC"] == 1 and usage["new"] == 1, page
    assert page["items"][0]["tag"] == "hppc"
    status, page = await call(
        http, "GET", "/cell_measurements/tags", params={"project_id": pid, "q": "DEG", "limit": "1"}
    )
    assert [i["tag"] for i in page["items"]] == ["25degC"] and page["total"] >= 1


@pytest.mark.parametrize(
    ("body", "status", "naming"),
    [
        ({"add": "hppc"}, 400, "list of strings"),
        ({"add": [1]}, 400, "list of strings"),
        ({"add": ["  "]}, 400, "must not be empty"),
        ({"add": ["x" * 51]}, 400, "longer than 50"),
        ({"add": [f"t{i}" for i in range(51)]}, 400, "at most 50 tags"),
        ({"remove": {"a": 1}}, 400, "list of strings"),
        ({"measurement_ids": "abc"}, 422, "'measurement_ids'"),
        ({"measurement_ids": []}, 422, "'measurement_ids'"),
        ({"measurement_ids": [None]}, 422, "'measurement_ids'"),
        ({"measurement_ids": ["x"] * 1001}, 422, "at most 1000"),
        ({"measurement_ids": ["no-such-id"]}, 404, "not found"),
    ],
)
async def test_bulk_tags_refuses_and_changes_nothing(
    http: aiohttp.ClientSession, instance: str, body: dict[str, Any], status: int, naming: str
) -> None:
    m = await tagged(http, instance, "keep", ["keep"])
    payload = {"measurement_ids": [m["id"]], "add": ["more"], **body}
    await refused(http, "POST", "/cell_measurements/tags/bulk", status, naming, json=payload)
    assert await tags_of(http, m["id"]) == ["keep"]


async def test_bulk_tags_with_another_keys_measurement_is_404_and_atomic(
    http: aiohttp.ClientSession, http_b: aiohttp.ClientSession, instance: str
) -> None:
    mine = await tagged(http, instance, "mine", [])
    b_ci = await default_instance(http_b)
    theirs = await tagged(http_b, b_ci, f"theirs {uuid.uuid4()}", ["b"])
    await refused(
        http,
        "POST",
        "/cell_measurements/tags/bulk",
        404,
        "not found",
        json={"measurement_ids": [mine["id"], theirs["id"]], "add": ["x"]},
    )
    assert await tags_of(http, mine["id"]) == []
    assert await tags_of(http_b, theirs["id"]) == ["b"]
    pid = await project_of(http, instance)
    await refused(
        http_b, "GET", "/cell_measurements/tags", 404, "not found", params={"project_id": pid}
    )


@pytest.mark.parametrize(
    ("params", "status", "naming"),
    [
        ({"colour": "red"}, 422, "'colour'"),
        ({"created_by_email": "ilike.%a%"}, 422, "created_by_email"),
        ({"order_by": "voltage"}, 422, "order_by must be one of"),
        ({"name": "ilike.abc\\"}, 422, "escape character"),
        ({"limit": "-1"}, 422, "'limit'"),
    ],
)
async def test_list_filters_are_honoured_or_refused(
    http: aiohttp.ClientSession, instance: str, params: dict[str, str], status: int, naming: str
) -> None:
    await upload(http, instance, "listed")  # a filter meets at least one record
    path = f"/cell_instances/{instance}/cell_measurements"
    await refused(http, "GET", path, status, naming, params=params)
    pid = await project_of(http, instance)
    await refused(
        http, "GET", "/cell_measurements", status, naming, params={**params, "project_id": pid}
    )


async def test_tag_text_and_start_time_filters(http: aiohttp.ClientSession, instance: str) -> None:
    early = await tagged(
        http, instance, "early", ["HPPC", "25degC"], start_time="2024-01-01T00:00:00Z", notes="x"
    )
    late = await tagged(
        http, instance, "late", ["hppc"], start_time="2025-01-01T00:00:00Z", notes="special run"
    )
    await tagged(http, instance, "none", [])
    path = f"/cell_instances/{instance}/cell_measurements"

    async def names(**params: Any) -> list[str]:
        status, page = await call(http, "GET", path, params=params)
        assert status == 200, page
        return [m["name"] for m in page["items"]]

    assert sorted(await names(tags_all="hppc")) == ["early", "late"]
    assert await names(tags_all=["hppc", "25DEGC"]) == ["early"]
    assert sorted(await names(tags_any=["25degc", "nope"])) == ["early"]
    assert await names(q="SPECIAL") == ["late"]
    assert await names(start_time_gt="2024-06-01") == ["late"]
    assert await names(start_time_lt="2024-06-01") == ["early"]
    assert await names(order_by="start_time", order="asc") == ["early", "late", "none"]
    pid = await project_of(http, instance)
    _, page = await call(
        http, "GET", "/cell_measurements", params={"project_id": pid, "q": "25DEG"}
    )
    found = [m["id"] for m in page["items"]]
    assert early["id"] in found and late["id"] not in found


# --- properties measurements ------------------------------------------------------------------


def props_path(ci: str) -> str:
    return f"/cell_instances/{ci}/cell_measurements/create"


async def test_properties_measurement_round_trip(
    http: aiohttp.ClientSession, instance: str
) -> None:
    body = {
        "name": "thickness",
        "measurement_type": "properties",
        "properties": {"thickness": {"value": 0.52, "unit": "mm"}},
        "notes": "caliper",
        "tags": [" Lab "],
    }
    status, made = await call(http, "POST", props_path(instance), json=body)
    assert status == 201, made
    assert made["measurement_type"] == "properties" and made["properties"] == body["properties"]
    assert made["tags"] == ["Lab"] and made["cell_instance_id"] == instance
    status, again = await call(http, "POST", props_path(instance), json=body)
    assert status == 409 and again["detail"]["existing_id"] == made["id"], again
    _, listed = await call(
        http,
        "GET",
        f"/cell_instances/{instance}/cell_measurements",
        params={"measurement_type": "properties"},
    )
    assert [m["id"] for m in listed["items"]] == [made["id"]]
    await refused(
        http, "GET", f"/cell_measurements/{made['id']}/time_series/download", 404, "no time_series"
    )


@pytest.mark.parametrize(
    ("body", "naming"),
    [
        ({"properties": {}}, "'name'"),
        ({"name": 3, "properties": {}}, "'name'"),
        ({"name": "  ", "properties": {}}, "'name'"),
        ({"name": "p"}, "'properties'"),
        ({"name": "p", "properties": [1, 2]}, "'properties'"),
        ({"name": "p", "properties": {}, "measurement_type": "time_series"}, "initiate-upload"),
        ({"name": "p", "properties": {}, "measurement_type": {"x": 1}}, "measurement_type"),
        ({"name": "p", "properties": {}, "tags": "a"}, "'tags'"),
        ({"name": "p", "properties": {}, "id": "mine"}, "id"),
        ({"name": "p", "properties": {}, "processing_status": "ready"}, "processing_status"),
    ],
)
async def test_properties_hostile_bodies(
    http: aiohttp.ClientSession, instance: str, body: dict[str, Any], naming: str
) -> None:
    got, answer = await call(http, "POST", props_path(instance), json=body)
    assert 400 <= got < 500 and naming in str(answer.get("detail")), (got, answer)


async def test_properties_not_json_or_not_an_object(
    http: aiohttp.ClientSession, instance: str
) -> None:
    for data in (b"[1]", b"{", b"\xff"):
        got, _ = await call(
            http,
            "POST",
            props_path(instance),
            data=data,
            headers={"Content-Type": "application/json"},
        )
        assert 400 <= got < 500


async def test_properties_in_another_keys_instance_is_404(
    http: aiohttp.ClientSession, http_b: aiohttp.ClientSession, instance: str
) -> None:
    body = {"name": "x", "properties": {"a": 1}}
    await refused(http_b, "POST", props_path(instance), 404, "not found", json=body)
    await refused(http_b, "POST", props_path("no-such"), 404, "not found", json=body)


# --- file measurements ------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
PDF = b"%PDF-1.7\n" + b"x" * 40


async def start_files(http: aiohttp.ClientSession, ci: str, name: str, filenames: Any) -> Call:
    return await call(
        http,
        "POST",
        f"/cell_instances/{ci}/cell_measurements/initiate-upload",
        json={"measurement": {"name": name}, "measurement_type": "file", "filenames": filenames},
    )


async def upload_files(
    http: aiohttp.ClientSession, ci: str, name: str, files: dict[str, bytes]
) -> Call:
    status, init = await start_files(http, ci, name, list(files))
    assert status == 200, init
    for entry in init["uploads"]:
        async with http.put(entry["signed_url"], data=files[entry["filename"]]) as resp:
            assert resp.status == 200, await resp.text()
    return await call(
        http,
        "POST",
        f"/cell_measurements/{init['measurement_id']}/confirm-upload",
        json={"cell_instance_id": ci, "measurement": {}, "measurement_type": "file"},
    )


async def test_file_measurement_round_trip(http: aiohttp.ClientSession, instance: str) -> None:
    files = {"photo.png": PNG, "report.pdf": PDF, "raw export.mpr": b"BIO-LOGIC"}
    status, made = await upload_files(http, instance, "files", files)
    assert status == 200 and made["measurement_type"] == "file", made
    mid = made["id"]
    _, listed = await call(http, "GET", f"/cell_measurements/{mid}/files")
    assert listed == {"filenames": list(files)}
    for name, content in files.items():
        async with http.get(f"/cell_measurements/{mid}/files/{name}") as resp:
            assert resp.status == 200 and await resp.read() == content
            assert resp.headers["Content-Type"] == "application/octet-stream"
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert resp.headers["Content-Disposition"].startswith("attachment")
    await refused(http, "GET", f"/cell_measurements/{mid}/files/other.png", 404, "no file")
    await refused(http, "GET", f"/cell_measurements/{mid}/files/..%2Fx", 404, "no file")
    await refused(
        http, "PATCH", f"/cell_measurements/{mid}", 422, "file_metadata", json={"file_metadata": []}
    )
    series = await upload(http, instance, "a series")
    await refused(http, "GET", f"/cell_measurements/{series['id']}/files", 422, "not a file")


@pytest.mark.parametrize(
    ("filenames", "naming"),
    [
        (None, "'filenames'"),
        ([], "'filenames'"),
        ("a.png", "'filenames'"),
        ([f"f{i}.png" for i in range(21)], "at most 20"),
        (["../etc/passwd.png"], "not allowed"),
        (["/abs.png"], "not allowed"),
        (["dir\\x.png"], "not allowed"),
        ([".hidden.png"], "not allowed"),
        (["a..png"], "not allowed"),
        (["x" * 300 + ".png"], "not allowed"),
        ([3], "not allowed"),
        (["page.html"], "not accepted"),
        (["image.svg"], "not accepted"),
        (["noext"], "not accepted"),
        (["a.png", "A.PNG"], "repeat"),
    ],
)
async def test_file_names_are_refused_before_any_upload(
    http: aiohttp.ClientSession, instance: str, filenames: Any, naming: str
) -> None:
    path = f"/cell_instances/{instance}/cell_measurements/initiate-upload"
    body = {"measurement": {"name": "f"}, "measurement_type": "file", "filenames": filenames}
    await refused(http, "POST", path, 422, naming, json=body)


@pytest.mark.parametrize(
    ("files", "naming"),
    [
        ({"fake.png": b"<html><script>alert(1)</script></html>"}, "not a valid PNG"),
        ({"fake.pdf": b"MZ\x90\x00"}, "not a valid PDF"),
        ({"fake.webp": b"RIFF0000JUNK"}, "not a valid WEBP"),
        ({"empty.csv": b""}, "is empty"),
    ],
)
async def test_file_contents_are_checked_and_nothing_kept(
    http: aiohttp.ClientSession,
    instance: str,
    fault_server: Any,
    files: dict[str, bytes],
    naming: str,
) -> None:
    name = f"bad {uuid.uuid4()}"
    status, body = await upload_files(http, instance, name, files)
    assert status == 422 and naming in str(body["detail"]), body
    _, listed = await call(http, "GET", f"/cell_instances/{instance}/cell_measurements")
    assert name not in [m["name"] for m in listed["items"]]
    assert str(fault_server.config.data_dir) not in str(body)


async def test_unconfirmed_file_is_refused(http: aiohttp.ClientSession, instance: str) -> None:
    status, init = await start_files(http, instance, "half", ["a.png", "b.png"])
    assert status == 200
    async with http.put(init["uploads"][0]["signed_url"], data=PNG) as resp:
        assert resp.status == 200
    status, body = await call(
        http,
        "POST",
        f"/cell_measurements/{init['measurement_id']}/confirm-upload",
        json={"measurement": {}},
    )
    assert status == 422 and "b.png" in str(body["detail"]), body


async def test_another_keys_files_are_not_found(
    http: aiohttp.ClientSession, http_b: aiohttp.ClientSession, instance: str
) -> None:
    status, made = await upload_files(http, instance, f"mine {uuid.uuid4()}", {"a.png": PNG})
    assert status == 200
    mid = made["id"]
    await refused(http_b, "GET", f"/cell_measurements/{mid}/files", 404, "not found")
    await refused(http_b, "GET", f"/cell_measurements/{mid}/files/a.png", 404, "not found")
    path = f"/cell_instances/{instance}/cell_measurements/initiate-upload"
    body = {"measurement": {"name": "x"}, "measurement_type": "file", "filenames": ["a.png"]}
    await refused(http_b, "POST", path, 404, "not found", json=body)


# --- steps and cycles derived on the server --------------------------------------------------


def cycling(cycles: int = 3, per_step: int = 30) -> pl.DataFrame:
    """CC discharge, rest, CC charge, rest — ``cycles`` times, no step column."""
    t, i, v = [], [], []
    clock = 0.0
    for _ in range(cycles):
        for current, start, slope in ((2.0, 4.1, -0.01), (0.0, 3.6, 0.0), (-2.0, 3.6, 0.01)):
            for k in range(per_step):
                t.append(clock)
                i.append(current)
                v.append(start + slope * k)
                clock += 10.0
            for _k in range(per_step // 3):
                t.append(clock)
                i.append(0.0)
                v.append(v[-1])
                clock += 10.0
    return pl.DataFrame({"Time [s]": t, "Current [A]": i, "Voltage [V]": v})


async def upload_frame(
    http: aiohttp.ClientSession, ci: str, name: str, frame: pl.DataFrame
) -> dict[str, Any]:
    status, init = await initiate(http, ci, name)
    assert status == 200, init
    buf = io.BytesIO()
    frame.write_parquet(buf)
    url = next(u["signed_url"] for u in init["uploads"] if u["filename"] == "time_series.parquet")
    async with http.put(url, data=buf.getvalue()) as resp:
        assert resp.status == 200
    status, body = await call(
        http, "POST", f"/cell_measurements/{init['measurement_id']}/confirm-upload", json={}
    )
    assert status == 200, body
    return dict(body)


async def test_steps_and_cycles_of_an_upload_without_steps(
    http: aiohttp.ClientSession, instance: str
) -> None:
    made = await upload_frame(http, instance, "cycling", cycling())
    assert made["has_steps"] is False
    status, body = await call(http, "GET", f"/cell_measurements/{made['id']}/steps_and_cycles")
    assert status == 200, body
    types = body["steps"]["Step type"]
    assert "Constant current discharge" in types and "Constant current charge" in types, types
    assert len(body["cycles"]["Cycle count"]) == 3, body["cycles"]
    status, only = await call(http, "GET", f"/cell_measurements/{made['id']}/cycles")
    assert status == 200 and only == {"cycles": body["cycles"]}
    await refused(
        http, "GET", f"/cell_measurements/{made['id']}/steps/download", 404, "no steps.parquet"
    )


async def test_steps_and_cycles_refusals(
    http: aiohttp.ClientSession, http_b: aiohttp.ClientSession, instance: str
) -> None:
    made = await upload_frame(http, instance, "for b", cycling(1))
    for path in ("steps_and_cycles", "cycles"):
        await refused(http_b, "GET", f"/cell_measurements/{made['id']}/{path}", 404, "not found")
        await refused(http, "GET", f"/cell_measurements/no-such/{path}", 404, "not found")
    status, props = await call(
        http, "POST", props_path(instance), json={"name": "p for steps", "properties": {}}
    )
    assert status == 201, props
    await refused(
        http, "GET", f"/cell_measurements/{props['id']}/steps_and_cycles", 422, "only time"
    )


# --- start and end times -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "naming"),
    [
        ({"start_time": "yesterday"}, "'start_time' must be an ISO 8601"),
        ({"end_time": 5}, "'end_time' must be an ISO 8601"),
        ({"start_time": "2025-01-02T00:00:00Z", "end_time": "2025-01-01T00:00:00Z"}, "before"),
        ({"start_time": "2025-01-02T01:00:00+02:00", "end_time": "2025-01-01T22:30:00"}, "before"),
    ],
)
async def test_times_are_checked_on_every_write(
    http: aiohttp.ClientSession, instance: str, fields: dict[str, Any], naming: str
) -> None:
    path = f"/cell_instances/{instance}/cell_measurements/initiate-upload"
    await refused(http, "POST", path, 422, naming, json={"measurement": {"name": "t", **fields}})
    body = {"name": "t", "properties": {}, **fields}
    await refused(http, "POST", props_path(instance), 422, naming, json=body)


async def test_patch_end_before_the_stored_start(
    http: aiohttp.ClientSession, instance: str
) -> None:
    made = await tagged(http, instance, "timed", [], start_time="2025-01-02T00:00:00Z")
    path = f"/cell_measurements/{made['id']}"
    await refused(http, "PATCH", path, 422, "before", json={"end_time": "2025-01-01T00:00:00Z"})
    status, ok = await call(http, "PATCH", path, json={"end_time": "2025-01-03T00:00:00Z"})
    assert status == 200 and ok["end_time"] == "2025-01-03T00:00:00Z", ok
