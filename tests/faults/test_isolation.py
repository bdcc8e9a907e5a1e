"""A second API key can neither read, list, change, cancel nor delete the first key's resources:
every attempt is a 404 (never 403: existence is not revealed), and nothing of A's changes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import numpy as np
import polars as pl
import pytest

from ionworks import AsyncIonworks
from tests.faults.conftest import KEY_A, KEY_B
from tests.faults.conftest import QUICK_MODEL as MODEL
from tests.faults.conftest import QUICK_PROTOCOL as PROTOCOL

pytest.importorskip("pybamm")

FAILING_PIPELINE = {"elements": {"x": {"element_type": "nope"}}}


class Http:
    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def __call__(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {} if body is None else {"json": body}
        async with self.session.request(method, path, **kwargs) as resp:
            raw = await resp.read()
            return resp.status, json.loads(raw) if raw else None


@pytest.fixture
async def clients(fault_url: str) -> AsyncIterator[tuple[Http, Http]]:
    async with (
        aiohttp.ClientSession(base_url=fault_url, headers={"X-API-Key": KEY_A}) as a,
        aiohttp.ClientSession(base_url=fault_url, headers={"X-API-Key": KEY_B}) as b,
    ):
        yield Http(a), Http(b)


def _items(body: Any, key: str = "items") -> list[dict[str, Any]]:
    if isinstance(body, list):
        return body
    assert isinstance(body, dict), body
    value = body.get(key, body.get("items"))
    if value is None:  # e.g. {"pipelines": [...], "total": n}
        value = next((v for v in body.values() if isinstance(v, list)), None)
    assert isinstance(value, list), body
    return value


async def _resources_of_a(a: Http, fault_url: str) -> dict[str, str]:
    status, project = await a("POST", "/projects", {"name": "A's private project"})
    assert status in (200, 201), project
    pid = project["id"]
    status, template = await a(
        "POST",
        "/protocols/parse-to-template",
        {"protocol_experiment": {"protocol": PROTOCOL, "name": "A"}, "project_id": pid},
    )
    assert status == 200, template
    status, sims = await a(
        "POST",
        "/simulations/with-template/batch",
        {
            "parameterized_model": MODEL,
            "experiment_template_id": template["template_id"],
            "project_id": pid,
        },
    )
    assert status == 200, sims
    status, study = await a("POST", f"/projects/{pid}/studies", {"name": "A's study"})
    assert status == 201, study
    async with AsyncIonworks(api_key=KEY_A, api_url=fault_url, project_id=pid) as api:
        n = 40
        frame = pl.DataFrame(
            {
                "Time [s]": np.arange(n, dtype=float),
                "Current [A]": np.ones(n),
                "Voltage [V]": np.linspace(4.2, 3.0, n),
                "Step count": np.zeros(n, dtype=int),
            }
        )
        measurement = await api.cell_measurement.upload(frame, name="A's measurement")
        pipeline = await api.pipeline.create(FAILING_PIPELINE, name="A's pipeline")
        simple = await api.simple_pipeline.create(FAILING_PIPELINE, name="A's simple pipeline")
    status, instance = await a("GET", f"/cell_instances/{measurement.cell_instance_id}")
    assert status == 200, instance
    return {
        "project": pid,
        "template": template["template_id"],
        "simulation": sims[0]["simulation_id"],
        "job": sims[0]["job_id"],
        "study": study["id"],
        "measurement": measurement.id,
        "pipeline": pipeline.id,
        "simple_pipeline": simple.id,
        "pipeline_job": str(pipeline.job_id or ""),
        "cell_instance": instance["id"],
        "cell_specification": instance["cell_specification_id"],
    }


def _attempts(ids: dict[str, str], b_project: str) -> list[tuple[str, str, Any]]:
    """Every read, write, cancel and delete that key B could try on A's resources."""
    p, s, m = ids["project"], ids["study"], ids["measurement"]
    sim, job, tpl = ids["simulation"], ids["job"], ids["template"]
    out: list[tuple[str, str, Any]] = [
        ("GET", f"/projects/{p}", None),
        ("PATCH", f"/projects/{p}", {"name": "stolen"}),
        ("DELETE", f"/projects/{p}", None),
        ("GET", f"/projects/{p}/studies", None),
        ("POST", f"/projects/{p}/studies", {"name": "planted"}),
        ("GET", f"/projects/{p}/studies/{s}", None),
        ("PATCH", f"/projects/{p}/studies/{s}", {"name": "stolen"}),
        ("DELETE", f"/projects/{p}/studies/{s}", None),
        ("GET", f"/projects/{p}/studies/{s}/measurements", None),
        ("GET", f"/projects/{b_project}/studies/{s}", None),  # A's study under B's project
        ("POST", f"/projects/{b_project}/studies/{s}/simulations/{sim}", None),
        ("POST", f"/projects/{b_project}/studies/{s}/measurements/{m}", None),
        ("GET", f"/simulations/{sim}", None),
        ("GET", f"/simulations/{sim}/time_series/download", None),
        ("GET", f"/simulations/{sim}/steps/download", None),
        ("DELETE", f"/simulations/{sim}", None),
        ("GET", f"/jobs/{job}", None),
        ("GET", f"/jobs/{job}/metadata", None),
        ("POST", f"/jobs/{job}/cancel", None),
        ("GET", f"/cell_measurements/{m}", None),
        ("PATCH", f"/cell_measurements/{m}", {"name": "stolen"}),
        ("DELETE", f"/cell_measurements/{m}", None),
        ("GET", f"/cell_measurements/{m}/time_series/download", None),
        ("GET", f"/cell_measurements/{m}/steps/download", None),
        ("POST", f"/cell_measurements/{m}/confirm-upload", {}),
        ("GET", f"/cell_instances/{ids['cell_instance']}", None),
        ("GET", f"/cell_instances/{ids['cell_instance']}/cell_measurements", None),
        (
            "POST",
            f"/cell_instances/{ids['cell_instance']}/cell_measurements/initiate-upload",
            {"measurement": {"name": "planted"}},
        ),
        ("GET", f"/cell_specifications/{ids['cell_specification']}", None),
        ("GET", f"/cell_specifications/{ids['cell_specification']}/cell_instances", None),
        (
            "POST",
            "/simulations/with-template/batch",
            {"parameterized_model": MODEL, "experiment_template_id": tpl},
        ),
        (
            "POST",
            "/simulations/with-template/batch",  # B's own template, A's project
            {"parameterized_model": MODEL, "experiment_template_id": "B-TEMPLATE", "project_id": p},
        ),
        (
            "POST",
            "/protocols/parse-to-template",
            {"protocol_experiment": {"protocol": PROTOCOL, "name": "B"}, "project_id": p},
        ),
    ]
    for kind in ("pipelines", "simple_pipelines"):
        rid = ids["pipeline" if kind == "pipelines" else "simple_pipeline"]
        out += [
            ("GET", f"/{kind}/{rid}", None),
            ("PATCH", f"/{kind}/{rid}", {"name": "stolen"}),
            ("POST", f"/{kind}/{rid}/cancel", None),
            ("DELETE", f"/{kind}/{rid}", None),
        ]
    out += [("GET", f"/pipelines/{ids['pipeline']}/result", None)]
    out += [("GET", f"/pipelines/{ids['pipeline']}/elements", None)]
    if ids["pipeline_job"]:
        out += [("POST", f"/jobs/{ids['pipeline_job']}/cancel", None)]
    return out


async def test_second_key_gets_404_for_everything_of_the_first(
    clients: tuple[Http, Http], fault_url: str
) -> None:
    a, b = clients
    ids = await _resources_of_a(a, fault_url)
    status, projects_b = await b("GET", "/projects")
    assert status == 200
    b_project = _items(projects_b)[0]["id"]
    status, b_template = await b(
        "POST",
        "/protocols/parse-to-template",
        {"protocol_experiment": {"protocol": PROTOCOL, "name": "A"}},
    )
    assert status == 200 and b_template["template_id"] != ids["template"]  # no sharing by digest
    status, b_study = await b("POST", f"/projects/{b_project}/studies", {"name": "B's study"})
    assert status == 201
    before = await _snapshot(a, ids)

    failures = []
    for method, path, body in _attempts(ids, b_project):
        path = path.replace("B-TEMPLATE", b_template["template_id"])
        status, answer = await b(method, path, body)
        if status != 404 or not (isinstance(answer, dict) and answer.get("detail")):
            failures.append((method, path, status, answer))
    # B's own study, A's members
    for path in (
        f"/projects/{b_project}/studies/{b_study['id']}/simulations/{ids['simulation']}",
        f"/projects/{b_project}/studies/{b_study['id']}/measurements/{ids['measurement']}",
    ):
        status, answer = await b("POST", path)
        if status != 404:
            failures.append(("POST", path, status, answer))
    assert not failures, failures

    # lists of B contain nothing of A
    lists = {
        "/projects": "items",
        "/simulations?limit=1000": "simulations",
        "/jobs": "items",
        "/cell_measurements": "items",
        "/cell_instances": "items",
        "/pipelines?limit=1000": "items",
        "/simple_pipelines?limit=1000": "items",
        f"/projects/{b_project}/studies": "items",
    }
    a_ids = set(ids.values())
    for path, key in lists.items():
        status, body = await b("GET", path)
        assert status == 200, (path, body)
        leaked = {str(item.get("id") or item.get("job_id")) for item in _items(body, key)} & a_ids
        assert not leaked, (path, leaked)
    status, statuses = await b(
        "POST", "/simulations/statuses", {"simulation_ids": [ids["simulation"]]}
    )
    assert status == 200 and statuses == []
    status, statuses = await b(
        "POST",
        "/simulations/statuses",
        {"simulation_ids": [ids["simulation"]], "finished_only": True},
    )  # another key's finished simulation is as missing as an unknown one
    assert status == 200 and statuses == [{"simulation_id": ids["simulation"], "missing": True}]

    assert await _snapshot(a, ids) == before  # nothing of A's changed or vanished


async def _snapshot(a: Http, ids: dict[str, str]) -> dict[str, Any]:
    paths = {
        "project": f"/projects/{ids['project']}",
        "study": f"/projects/{ids['project']}/studies/{ids['study']}",
        "simulation": f"/simulations/{ids['simulation']}",
        "measurement": f"/cell_measurements/{ids['measurement']}",
        "pipeline": f"/pipelines/{ids['pipeline']}",
        "simple_pipeline": f"/simple_pipelines/{ids['simple_pipeline']}",
    }
    out = {}
    for name, path in paths.items():
        status, body = await a("GET", path)
        assert status == 200, (name, body)
        out[name] = {k: body.get(k) for k in ("id", "name", "updated_at", "study_id")}
    status, job = await a("GET", f"/jobs/{ids['job']}")
    assert status == 200
    out["job_exists"] = job["job_id"] if "job_id" in job else job.get("id")
    return out
