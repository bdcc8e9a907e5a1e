"""List endpoints are bounded: every list pages (default and maximum page: the server's
``max_page_size``), a larger ``limit`` is a 422 naming the maximum, and the client reads a
whole list in pages of that maximum. Simple-pipeline filters take only known columns and
PostgREST's LIKE patterns.

Large lists are seeded straight into the running server's database as finished records (no
job is queued, so no worker runs): 1,005 simulations cost milliseconds instead of minutes.
"""

from __future__ import annotations

import json
import sqlite3
import urllib.request
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import pytest

from ionworks import AsyncIonworks
from ionworks.server.hosting import EmbeddedServer
from ionworks.server.limits import Limits
from tests.faults.conftest import KEY_A

PAGE = Limits().max_page_size  # 1,000: the default and the maximum page
SMALL = 3  # the page of a server started with --max-page-size 3
SEQ0 = 10**9  # seeded rows sort after anything the server numbered itself


# --- seeding ---------------------------------------------------------------------------------


def _ts(i: int) -> str:
    moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(milliseconds=i)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _db(server: EmbeddedServer) -> closing[sqlite3.Connection]:
    path: Path = server.config.data_dir / "ionworks.sqlite3"
    return closing(sqlite3.connect(path, timeout=30))


def _jobs(db: sqlite3.Connection, owner: str, prefix: str, n: int, job_type: str) -> list[str]:
    ids = [f"{prefix}-job-{i:05d}" for i in range(n)]
    db.executemany(
        "INSERT INTO jobs(id, owner_id, job_type, status, params, result, created_at, "
        "updated_at, seq) VALUES (?, ?, ?, 'completed', '{}', '{}', ?, ?, ?)",
        [(jid, owner, job_type, _ts(i), _ts(i), SEQ0 + i) for i, jid in enumerate(ids)],
    )
    return ids


def seed_simulations(server: EmbeddedServer, owner: str, project: str, n: int) -> list[str]:
    """``n`` completed simulations (and their jobs); ids newest first."""
    ids = [f"sim-{i:05d}" for i in range(n)]
    with _db(server) as db, db:
        jobs = _jobs(db, owner, "sim", n, "simulation")
        db.executemany(
            "INSERT INTO simulations(id, owner_id, project_id, template_id, job_id, "
            "parameterized_model, experiment_parameters, design_parameters, extra_variables, "
            "max_backward_jumps, created_at, updated_at, seq) "
            "VALUES (?, ?, ?, 'seeded', ?, '\"chen2020-spm\"', '{}', '{}', '[]', 1, ?, ?, ?)",
            [
                (sid, owner, project, jid, _ts(i), _ts(i), SEQ0 + i)
                for i, (sid, jid) in enumerate(zip(ids, jobs, strict=True))
            ],
        )
    return ids[::-1]


def seed_pipelines(
    server: EmbeddedServer, owner: str, project: str, kind: str, names: list[str]
) -> dict[str, str]:
    """Completed pipelines (``kind`` ``pipeline`` or ``simple``) named ``names``: name → id."""
    ids = {name: f"{kind}-{i:05d}" for i, name in enumerate(names)}
    with _db(server) as db, db:
        jobs = _jobs(db, owner, kind, len(names), "pipeline")
        db.executemany(
            "INSERT INTO pipelines(id, owner_id, kind, project_id, name, description, config, "
            "options, job_id, created_at, updated_at, seq) "
            "VALUES (?, ?, ?, ?, ?, NULL, '{\"elements\": {}}', '{}', ?, ?, ?, ?)",
            [
                (ids[name], owner, kind, project, name, jid, _ts(i), _ts(i), SEQ0 + i)
                for i, (name, jid) in enumerate(zip(names, jobs, strict=True))
            ],
        )
    return ids


def seed_measurements(
    server: EmbeddedServer, owner: str, project: str, instance: str, n: int
) -> list[str]:
    ids = [f"meas-{i:05d}" for i in range(n)]
    with _db(server) as db, db:
        db.executemany(
            "INSERT INTO cell_measurements(id, owner_id, project_id, cell_instance_id, name, "
            "fields, measurement_type, row_count, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, '{}', 'time_series', 0, ?, ?)",
            [(mid, owner, project, instance, mid, _ts(i), _ts(i)) for i, mid in enumerate(ids)],
        )
    return ids


def _request(url: str, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        url + path,
        data=data,
        method=method,
        headers={"X-API-Key": KEY_A, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


@attrs.frozen
class Parents:
    """Records the list endpoints hang off, and the owner's default project."""

    owner: str
    project: str
    study: str
    spec: str
    instance: str

    def path(self, template: str) -> str:
        return template.format(pid=self.project, sid=self.study, spec=self.spec, ci=self.instance)


def make_parents(server: EmbeddedServer, *, instances: int = 1, studies: int = 1) -> Parents:
    assert server.url is not None
    url = server.url
    projects = _request(url, "GET", "/projects")["items"]
    default = next(p for p in projects if p["is_default"])
    pid = default["id"]
    study = ""
    for i in range(studies):
        study = _request(url, "POST", f"/projects/{pid}/studies", {"name": f"study {i}"})["id"]
    spec = _request(url, "POST", "/cell_specifications", {"name": "spec", "project_id": pid})
    instance = ""
    for i in range(instances):
        path = f"/cell_specifications/{spec['id']}/cell_instances"
        instance = _request(url, "POST", path, {"name": f"cell {i}"})["id"]
    return Parents(default["organization_id"], pid, study, spec["id"], instance)


# Every list endpoint: path template, the key of its items (None: a bare array).
LISTS: list[tuple[str, str | None]] = [
    ("/simulations", "simulations"),
    ("/jobs", None),
    ("/jobs/", None),
    ("/pipelines", "pipelines"),
    ("/simple_pipelines", "items"),
    ("/projects", "items"),
    ("/projects/{pid}/studies", "items"),
    ("/projects/{pid}/studies/{sid}/measurements", "items"),
    ("/parameterized_models", "items"),
    ("/models", "items"),
    ("/cell_instances", "items"),
    ("/cell_specifications/{spec}/cell_instances", "items"),
    ("/cell_instances/{ci}/cell_measurements", "items"),
    ("/cell_measurements", "items"),
]
LIST_IDS = [path for path, _ in LISTS]


def _items(body: Any, key: str | None) -> list[Any]:
    items = body if key is None else body[key]
    assert isinstance(items, list), body
    return items


def _id(item: dict[str, Any]) -> str:
    return str(item.get("id") or item.get("job_id"))


async def _get(http: aiohttp.ClientSession, path: str, **params: Any) -> tuple[int, Any]:
    async with http.get(path, params={k: str(v) for k, v in params.items()}) as resp:
        return resp.status, await resp.json()


async def _all_pages(http: aiohttp.ClientSession, path: str, key: str | None) -> list[str]:
    """Every id of a list, read page by page with ``offset`` (default page size)."""
    ids: list[str] = []
    while True:
        status, body = await _get(http, path, offset=len(ids))
        assert status == 200, body
        page = [_id(i) for i in _items(body, key)]
        assert not set(page) & set(ids), f"{path} repeats items at offset {len(ids)}"
        ids += page
        if not page:
            return ids


# --- the default server: 1,000 a page --------------------------------------------------------


@pytest.fixture(scope="module")
def seeded(fault_server: EmbeddedServer) -> tuple[Parents, list[str]]:
    """The parents of every list, and 1,005 simulations (newest first)."""
    parents = make_parents(fault_server)
    sims = seed_simulations(fault_server, parents.owner, parents.project, PAGE + 5)
    return parents, sims


async def test_simulations_come_in_pages_of_the_maximum(
    http: aiohttp.ClientSession, seeded: tuple[Parents, list[str]]
) -> None:
    _, sims = seeded
    status, body = await _get(http, "/simulations")
    assert status == 200 and body["total"] == len(sims)
    assert [s["id"] for s in body["simulations"]] == sims[:PAGE]  # newest first, one page
    status, rest = await _get(http, "/simulations", offset=PAGE)
    assert [s["id"] for s in rest["simulations"]] == sims[PAGE:]
    status, body = await _get(http, "/simulations", limit=PAGE + 1)
    assert status == 422, body
    assert f"'limit' must be at most {PAGE} (the server's max_page_size)" in body["detail"]
    status, body = await _get(http, "/simulations", limit=PAGE)
    assert status == 200 and len(body["simulations"]) == PAGE


async def test_jobs_come_in_pages_of_the_maximum(
    http: aiohttp.ClientSession, seeded: tuple[Parents, list[str]]
) -> None:
    _, sims = seeded
    status, body = await _get(http, "/jobs")
    assert status == 200 and isinstance(body, list) and len(body) == PAGE  # still a bare array
    everything = await _all_pages(http, "/jobs", None)
    assert len(everything) == len(set(everything)) >= len(sims)
    assert {f"sim-job-{i:05d}" for i in range(len(sims))} <= set(everything)


async def test_the_client_reads_a_whole_list_in_pages_of_the_maximum(
    fault_url: str, seeded: tuple[Parents, list[str]]
) -> None:
    _, sims = seeded
    async with AsyncIonworks(api_key=KEY_A, api_url=fault_url) as api:
        before = api._transport.request_count
        everything = await api.simulation.list()
        assert api._transport.request_count - before == 2  # 1,000 + 5
        assert [s["id"] for s in everything] == sims  # type: ignore[index]
        page = await api.simulation.list(limit=5)
        assert [s["id"] for s in page] == sims[:5] and page.total == len(sims)  # type: ignore[union-attr]
        tail = await api.simulation.list(offset=PAGE + 2)
        assert [s["id"] for s in tail] == sims[PAGE + 2 :]  # type: ignore[index]
        jobs = await api.job.list()
        assert {f"sim-job-{i:05d}" for i in range(len(sims))} <= {j.job_id for j in jobs}
        assert len(await api.job.list(limit=3)) == 3


@pytest.mark.parametrize(("template", "key"), LISTS, ids=LIST_IDS)
async def test_every_list_refuses_a_page_over_the_maximum(
    http: aiohttp.ClientSession, seeded: tuple[Parents, list[str]], template: str, key: str | None
) -> None:
    path = seeded[0].path(template)
    status, body = await _get(http, path, limit=PAGE + 1)
    assert status == 422, (path, body)
    assert f"at most {PAGE} (the server's max_page_size)" in body["detail"]
    status, body = await _get(http, path, limit=10**30)
    assert status == 422 and f"at most {PAGE}" in body["detail"], (path, body)
    for name, value in (("limit", -1), ("limit", "ten"), ("limit", "1e3"), ("offset", -5)):
        status, body = await _get(http, path, **{name: value})
        assert status == 422, (path, name, value, body)
        assert f"'{name}' must be a whole number >= 0" in body["detail"]
    status, body = await _get(http, path, limit=PAGE)
    assert status == 200 and len(_items(body, key)) <= PAGE, (path, body)


# --- a server started with --max-page-size 3 --------------------------------------------------


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmbeddedServer, Parents]]:
    """A server whose page is 3, with more than 3 records in every list."""
    data_dir = tmp_path_factory.mktemp("small-pages")
    limits = Limits(max_page_size=SMALL)
    with EmbeddedServer(
        data_dir, api_keys=[KEY_A], allow_anonymous=False, workers=1, limits=limits
    ) as srv:
        assert srv.url is not None
        parents = make_parents(srv, instances=4, studies=4)
        for i in range(3):
            _request(srv.url, "POST", "/projects", {"name": f"project {i}"})
        seed_simulations(srv, parents.owner, parents.project, 5)
        names = [f"p{i}" for i in range(5)]
        seed_pipelines(srv, parents.owner, parents.project, "pipeline", names)
        seed_pipelines(srv, parents.owner, parents.project, "simple", names)
        measurements = seed_measurements(srv, parents.owner, parents.project, parents.instance, 5)
        for mid in measurements:
            _request(srv.url, "POST", parents.path("/projects/{pid}/studies/{sid}/measurements/")
                     + mid)  # fmt: skip
        yield srv, parents


@pytest.mark.parametrize(("template", "key"), LISTS, ids=LIST_IDS)
async def test_the_default_page_is_the_servers_maximum(
    small: tuple[EmbeddedServer, Parents], template: str, key: str | None
) -> None:
    server, parents = small
    path = parents.path(template)
    async with aiohttp.ClientSession(
        base_url=server.url, headers={"X-API-Key": KEY_A}, timeout=aiohttp.ClientTimeout(total=60)
    ) as http:
        status, body = await _get(http, path)
        assert status == 200, (path, body)
        first = [_id(i) for i in _items(body, key)]
        assert len(first) == SMALL, (path, body)
        everything = await _all_pages(http, path, key)
        assert everything[:SMALL] == first and len(set(everything)) == len(everything)
        if key is not None:
            assert body["total"] == len(everything), (path, body)
        assert len(everything) > SMALL or template == "/models"  # the three model types
        status, body = await _get(http, path, limit=SMALL + 1)
        assert status == 422 and f"at most {SMALL} (the server's" in body["detail"], (path, body)


# --- simple-pipeline filters -----------------------------------------------------------------

NAMES = [
    "run[1]", "run1", "run?", "runX", "100% done", "100 done", "a_b", "axb", "a\\b",
    "alpha diffevo", "gamma DiffEvo", "beta",
]  # fmt: skip


@pytest.fixture(scope="module")
def named(fault_server: EmbeddedServer, seeded: tuple[Parents, list[str]]) -> dict[str, str]:
    """Simple pipelines (and pipelines) with names full of pattern characters: name → id."""
    parents = seeded[0]
    seed_pipelines(fault_server, parents.owner, parents.project, "pipeline", NAMES)
    return seed_pipelines(fault_server, parents.owner, parents.project, "simple", NAMES)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("like.run[1]", ["run[1]"]),  # brackets are no character class
        ("like.run?", ["run?"]),  # ? is no wildcard
        ("like.run_", ["run1", "run?", "runX"]),  # _ is exactly one character
        ("like.run*", ["run[1]", "run1", "run?", "runX"]),
        ("like.100% done", ["100% done", "100 done"]),  # % is SQL's run, * its alias
        ("like.100\\% done", ["100% done"]),
        ("like.100*done", ["100% done", "100 done"]),
        ("like.a\\_b", ["a_b"]),
        ("like.a_b", ["a_b", "axb", "a\\b"]),
        ("like.a\\\\b", ["a\\b"]),
        ("ilike.%diffevo%", ["alpha diffevo", "gamma DiffEvo"]),
        ("ilike.*DIFFEVO", ["alpha diffevo", "gamma DiffEvo"]),
        ("like.*diffevo", ["alpha diffevo"]),
        ("eq.run[1]", ["run[1]"]),
        ("in.(beta,runX)", ["runX", "beta"]),
    ],
)
async def test_like_filters_are_postgrests(
    http: aiohttp.ClientSession, named: dict[str, str], pattern: str, expected: list[str]
) -> None:
    for path, key in (("/simple_pipelines", "items"), ("/pipelines", "pipelines")):
        status, body = await _get(http, path, name=pattern, order="asc")
        assert status == 200, body
        assert [p["name"] for p in body[key]] == expected, (path, pattern)


async def test_a_like_pattern_ending_in_its_escape_is_422(
    http: aiohttp.ClientSession, named: dict[str, str]
) -> None:
    for path in ("/simple_pipelines", "/projects"):  # /projects: list_window, never empty
        status, body = await _get(http, path, name="like.run\\")
        assert status == 422 and "ends with the escape character" in body["detail"], (path, body)


@pytest.mark.parametrize(
    ("path", "params", "unknown"),
    [
        ("/simple_pipelines", {"colour": "eq.red"}, "colour"),
        ("/simple_pipelines", {"name": "eq.beta", "statuss": "eq.completed"}, "statuss"),
        ("/simple_pipelines", {"skip": 1}, "skip"),  # the offset of /simple_pipelines is offset
        ("/pipelines", {"created_at_after": "2026"}, "created_at_after"),
        ("/pipelines", {"select": "id"}, "select"),
    ],
)
async def test_a_filter_on_an_unknown_column_is_422(
    http: aiohttp.ClientSession,
    named: dict[str, str],
    path: str,
    params: dict[str, Any],
    unknown: str,
) -> None:
    status, body = await _get(http, path, **params)
    assert status == 422, body
    detail = body["detail"]
    assert f"unknown filter column {unknown!r}" in detail
    assert "id, name, description, status, created_by_email, created_at, updated_at" in detail
    assert "created_at_gt" in detail and "order_by" in detail


async def test_known_parameters_still_filter_and_page(
    http: aiohttp.ClientSession, seeded: tuple[Parents, list[str]], named: dict[str, str]
) -> None:
    project = seeded[0].project
    status, body = await _get(
        http,
        "/pipelines",
        project_id=project,
        name="like.run*",
        order_by="name",
        order="asc",
        skip=1,
        limit=2,
        created_at_gte=_ts(0),
    )
    assert status == 200, body
    assert [p["name"] for p in body["pipelines"]] == ["run?", "runX"] and body["total"] == 4
