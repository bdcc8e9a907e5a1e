"""Hostile input to the project, member, role, pipeline-list and job-series routes: each a clear
4xx naming what was wrong (never a 500), another key's project a 404, and the server still
serving afterwards."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from ionworks.server.limits import Limits
from tests.faults.conftest import KEY_B

pytest.importorskip("pybamm")

Call = tuple[int, Any]


async def call(http: aiohttp.ClientSession, method: str, path: str, **kwargs: Any) -> Call:
    async with http.request(method, path, **kwargs) as resp:
        raw = await resp.read()
        return resp.status, json.loads(raw) if raw else None


async def refused(
    http: aiohttp.ClientSession, method: str, path: str, status: int, naming: str, **kw: Any
) -> None:
    """``status`` with a ``detail`` that contains ``naming``; the server still lists projects."""
    got, body = await call(http, method, path, **kw)
    assert got == status, (got, body)
    assert isinstance(body, dict) and naming in str(body.get("detail")), body
    assert len(str(body["detail"])) < 2000, "the message echoes a hostile value whole"
    assert (await call(http, "GET", "/projects"))[0] == 200


@pytest.fixture
async def http_b(fault_url: str) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=fault_url, headers={"X-API-Key": KEY_B}) as session:
        yield session


@pytest.fixture
async def project(http: aiohttp.ClientSession) -> AsyncIterator[str]:
    """A fresh project of key A."""
    status, body = await call(http, "POST", "/projects", json={"name": "hostile"})
    assert status == 201
    yield body["id"]
    await call(http, "DELETE", f"/projects/{body['id']}")


async def owner_id(session: aiohttp.ClientSession) -> str:
    _, body = await call(session, "GET", "/projects", params={"is_default": "true"})
    return str(body["items"][0]["organization_id"])


@pytest.mark.parametrize(
    ("params", "naming"),
    [
        ({"created_after": "2020"}, "'created_after'"),  # the client's name, not the wire's
        ({"owner_id": "x"}, "'owner_id'"),
        ({"order_by": "colour"}, "order_by must be one of"),
        ({"order": "sideways"}, "order must be 'asc' or 'desc'"),
        ({"is_default": "maybe"}, "'is_default'"),
        ({"limit": "-1"}, "'limit'"),
        ({"limit": "99999999"}, "'limit'"),
        ({"offset": "1e3"}, "'offset'"),
        ({"name": "ilike.abc\\"}, "escape character"),
    ],
)
async def test_list_filters(
    http: aiohttp.ClientSession, params: dict[str, str], naming: str
) -> None:
    await refused(http, "GET", "/projects", 422, naming, params=params)


async def test_odd_but_valid_filters_answer(http: aiohttp.ClientSession) -> None:
    for params in (
        {"created_at_gt": "x" * 4000},
        {"name": "%_*\u0000\U0001f600"},
        {"updated_at_lt": "", "order_by": "id", "order": "asc"},
    ):
        status, body = await call(http, "GET", "/projects", params=params)
        assert status == 200 and isinstance(body["items"], list), body


@pytest.mark.parametrize(
    ("body", "naming"),
    [
        ({}, "'name'"),
        ({"name": 5}, "'name'"),
        ({"name": "x", "description": {"a": 1}}, "'description'"),
        ([{"name": "x"}], "JSON object"),
    ],
)
async def test_create_bodies(http: aiohttp.ClientSession, body: Any, naming: str) -> None:
    await refused(http, "POST", "/projects", 422, naming, json=body)


async def test_huge_and_deep_bodies(http: aiohttp.ClientSession, project: str) -> None:
    huge = io.BytesIO(json.dumps({"name": "x" * (Limits().max_body_bytes + 10)}).encode())
    headers = {"Content-Type": "application/json"}
    await refused(http, "POST", "/projects", 413, "max_body_bytes", data=huge, headers=headers)
    deep: Any = "x"
    for _ in range(Limits().max_json_depth + 5):
        deep = [deep]
    await refused(http, "POST", f"/projects/{project}/members", 400, "nests deeper", json=deep)
    long_id = {"user_id": "u" * 500_000, "project_role_id": "project-viewer"}
    await refused(http, "POST", f"/projects/{project}/members", 422, "'user_id'", json=long_id)
    await refused(
        http, "PATCH", f"/projects/{project}", 422, "unknown project field", json={"owner_id": "x"}
    )


@pytest.mark.parametrize(
    ("body", "naming"),
    [
        ({"project_role_id": "project-viewer"}, "'user_id'"),
        ({"user_id": ["a"], "project_role_id": "project-viewer"}, "'user_id'"),
        ({"user_id": "org-x"}, "'project_role_id'"),
        ({"user_id": "org-x", "project_role_id": "Project Viewer"}, "'project_role_id'"),
        ({"user_id": "org-x", "project_role_id": {"id": 1}}, "'project_role_id'"),
        ({"user_id": "org-x", "project_role_id": "project-viewer"}, "not the owner id"),
        ({"user_id": "x", "project_role_id": "project-viewer", "admin": True}, "'admin'"),
    ],
)
async def test_member_bodies(
    http: aiohttp.ClientSession, project: str, body: dict[str, Any], naming: str
) -> None:
    await refused(http, "POST", f"/projects/{project}/members", 422, naming, json=body)


@pytest.mark.parametrize(
    ("body", "naming"),
    [
        ({"project_role_id": "project-viewer"}, "'email'"),
        ({"email": 42, "project_role_id": "project-viewer"}, "'email'"),
        ({"email": "not-an-address", "project_role_id": "project-viewer"}, "email address"),
        ({"email": "a@b.c", "project_role_id": "boss"}, "'project_role_id'"),
        ({"email": "a@b.c", "project_role_id": "project-viewer"}, "no email accounts"),
    ],
)
async def test_invite_bodies(
    http: aiohttp.ClientSession, project: str, body: dict[str, Any], naming: str
) -> None:
    await refused(http, "POST", f"/projects/{project}/invites", 422, naming, json=body)


@pytest.mark.parametrize("uid", ["nobody", "%F0%9F%98%80", "a%2Fb", "x" * 2000])
async def test_unknown_members(http: aiohttp.ClientSession, project: str, uid: str) -> None:
    body = {"project_role_id": "project-viewer"}
    await refused(
        http, "PATCH", f"/projects/{project}/members/{uid}", 404, "not a member", json=body
    )
    await refused(http, "DELETE", f"/projects/{project}/members/{uid}", 404, "not a member")


async def test_another_keys_project_is_not_found(
    http: aiohttp.ClientSession, http_b: aiohttp.ClientSession, project: str
) -> None:
    me = await owner_id(http_b)
    role = {"project_role_id": "project-admin"}
    for method, path, body in (
        ("GET", f"/projects/{project}", None),
        ("PATCH", f"/projects/{project}", {"name": "mine now"}),
        ("DELETE", f"/projects/{project}", None),
        ("GET", f"/projects/{project}/members", None),
        ("POST", f"/projects/{project}/members", {"user_id": me, **role}),
        ("PATCH", f"/projects/{project}/members/{me}", role),
        ("DELETE", f"/projects/{project}/members/{me}", None),
        ("POST", f"/projects/{project}/invites", {"email": "a@b.c", **role}),
    ):
        await refused(http_b, method, path, 404, "not found", json=body)
    for path in ("/pipelines", "/simulations"):  # lists of its own records: none there
        status, listed = await call(http_b, "GET", path, params={"project_id": project})
        assert status == 200 and listed["total"] == 0, listed
    assert (await call(http, "GET", f"/projects/{project}"))[1]["name"] == "hostile"


async def test_a_viewer_cannot_raise_itself(
    http: aiohttp.ClientSession, http_b: aiohttp.ClientSession, project: str
) -> None:
    me = await owner_id(http_b)
    viewer = {"user_id": me, "project_role_id": "project-viewer"}
    assert (await call(http, "POST", f"/projects/{project}/members", json=viewer))[0] == 201
    admin = {"project_role_id": "project-admin"}
    await refused(
        http_b, "PATCH", f"/projects/{project}/members/{me}", 403, "Project Viewer", json=admin
    )
    await refused(
        http_b,
        "POST",
        f"/projects/{project}/members",
        403,
        "Project Viewer",
        json={**viewer, **admin},
    )
    await refused(http_b, "DELETE", f"/projects/{project}", 403, "Project Viewer")
    await refused(
        http_b, "POST", f"/projects/{project}/studies", 403, "Project Viewer", json={"name": "s"}
    )
    status, members = await call(http_b, "GET", f"/projects/{project}/members")
    assert status == 200 and [(m["user_id"], m["role_name"]) for m in members] == [
        (me, "Project Viewer")
    ]
    assert (await call(http, "POST", f"/projects/{project}/members", json=viewer))[
        0
    ] == 200  # again


async def test_roles_are_an_array(http: aiohttp.ClientSession) -> None:
    status, roles = await call(http, "GET", "/roles/project", params={"anything": "x"})
    assert status == 200 and [r["name"] for r in roles] == [
        "Project Admin", "Project Contributor", "Project Viewer",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("params", "naming"),
    [
        ({"objective": "v", "max_points": "-5"}, "'max_points'"),
        ({"objective": "v", "max_points": "abc"}, "'max_points'"),
        ({"objective": "v", "x_min": "1e999"}, "'x_min'"),
        ({"objective": "v", "x_max": "nan"}, "'x_max'"),
        ({"objective": "v", "source": "../../etc"}, "'source'"),
        ({"max_points": "5"}, "'objective'"),
        ({"objective": "v", "window": "1"}, "'window'"),
    ],
)
async def test_series_parameters(
    http: aiohttp.ClientSession, project: str, params: dict[str, str], naming: str
) -> None:
    body = {"elements": {"x": {"element_type": "nope"}}, "project_id": project}
    status, pipeline = await call(http, "POST", "/pipelines", json=body)
    assert status == 200, pipeline
    job = pipeline["job_id"]
    await refused(http, "GET", f"/jobs/{job}/series", 422, naming, params=params)
    await refused(http, "GET", f"/jobs/{job}-x/series/channels", 404, "not found")


@pytest.mark.parametrize(
    "params",
    [{"order_by": "colour"}, {"skip": "-1"}, {"name": "ilike.x\\"}, {"owner_id": "x"}],
)
async def test_pipeline_list_filters(
    http: aiohttp.ClientSession, project: str, params: dict[str, str]
) -> None:
    got, body = await call(http, "GET", "/pipelines", params={"project_id": project, **params})
    assert got == 422 and body["detail"], body


async def test_other_keys_job_series_are_not_found(
    http: aiohttp.ClientSession, http_b: aiohttp.ClientSession, project: str
) -> None:
    body = {"elements": {"x": {"element_type": "nope"}}, "project_id": project}
    job = (await call(http, "POST", "/pipelines", json=body))[1]["job_id"]
    await refused(http_b, "GET", f"/jobs/{job}/series/channels", 404, "not found")
    await refused(http_b, "GET", f"/jobs/{job}/series", 404, "not found", params={"objective": "v"})
    assert (await call(http, "GET", f"/jobs/{job}/series/channels"))[0] == 200


#: Ids a member might send for the records of a project shared with it (path segments).
ODD_IDS = ["nobody", "%F0%9F%98%80", "a%2Fb", "x" * 2000]


@pytest.fixture
async def viewer_of(
    http: aiohttp.ClientSession, http_b: aiohttp.ClientSession, project: str
) -> str:
    """Key B as a viewer of ``project``: its requests search A's shared projects too."""
    body = {"user_id": await owner_id(http_b), "project_role_id": "project-viewer"}
    assert (await call(http, "POST", f"/projects/{project}/members", json=body))[0] == 201
    return project


@pytest.mark.parametrize("rid", ODD_IDS)
async def test_a_members_odd_record_ids_are_not_found(
    http_b: aiohttp.ClientSession, viewer_of: str, rid: str
) -> None:
    for method, path in (
        ("GET", f"/cell_specifications/{rid}"),
        ("GET", f"/cell_specifications/{rid}/cell_instances"),
        ("POST", f"/cell_specifications/{rid}/cell_instances"),
        ("GET", f"/cell_instances/{rid}"),
        ("GET", f"/cell_instances/{rid}/cell_measurements"),
        ("POST", f"/cell_instances/{rid}/cell_measurements/initiate-upload"),
        ("GET", f"/cell_measurements/{rid}"),
        ("PATCH", f"/cell_measurements/{rid}"),
        ("GET", f"/cell_measurements/{rid}/time_series/download"),
        ("POST", f"/cell_measurements/{rid}/confirm-upload"),
        ("GET", f"/models/{rid}"),
        ("DELETE", f"/models/{rid}"),
        ("GET", f"/parameterized_models/{rid}"),
        ("GET", f"/cells/{rid}/parameterized_models"),
    ):
        naming = "no pending upload" if path.endswith("confirm-upload") else "not found"
        await refused(http_b, method, path, 404, naming, json={"name": "x"})


@pytest.mark.parametrize("pid", ODD_IDS[1:])
async def test_a_members_odd_project_ids_are_not_found(
    http_b: aiohttp.ClientSession, viewer_of: str, pid: str
) -> None:
    for path in ("/cell_specifications", "/cell_instances", "/cell_measurements", "/models"):
        await refused(http_b, "GET", path, 404, "not found", params={"project_id": pid})
    await refused(
        http_b, "GET", "/parameterized_models", 404, "not found", params={"project_id": pid}
    )
    for project_id in (pid, ["a"], {"a": 1}, 5):
        body = {"name": "x", "project_id": project_id}
        await refused(http_b, "POST", "/cell_specifications", 404, "not found", json=body)


async def test_a_viewer_reads_and_cannot_write_the_records(
    http: aiohttp.ClientSession, http_b: aiohttp.ClientSession, viewer_of: str
) -> None:
    project = viewer_of
    _, spec = await call(
        http, "POST", "/cell_specifications", json={"name": "s", "project_id": project}
    )
    _, ci = await call(
        http, "POST", f"/cell_specifications/{spec['id']}/cell_instances", json={"name": "c"}
    )
    _, pending = await call(
        http,
        "POST",
        f"/cell_instances/{ci['id']}/cell_measurements/initiate-upload",
        json={"measurement": {"name": "m"}},
    )
    mid = pending["measurement_id"]
    for path in (f"/cell_specifications/{spec['id']}", f"/cell_instances/{ci['id']}"):
        assert (await call(http_b, "GET", path))[0] == 200
    for method, path, body in (
        ("POST", f"/cell_specifications/{spec['id']}/cell_instances", {"name": "c"}),
        (
            "POST",
            f"/cell_instances/{ci['id']}/cell_measurements/initiate-upload",
            {"measurement": {"name": "m"}},
        ),
        ("POST", f"/cell_measurements/{mid}/confirm-upload", {}),
        ("POST", f"/cells/{spec['id']}/parameterized_models", {"name": "p", "model_id": "SPM"}),
        ("POST", "/models", {"name": "m", "config": {"type": "SPM"}, "project_id": project}),
    ):
        await refused(http_b, method, path, 403, "'Project Viewer'", json=body)
    # the viewer's refused confirm left the upload to its owner
    await refused(
        http, "POST", f"/cell_measurements/{mid}/confirm-upload", 422, "was not uploaded", json={}
    )
