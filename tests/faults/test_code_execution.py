"""No client JSON reaches a deserialiser that imports by name; workers answer only their job.

Issue 14, critical: ``{"type": "fork", "module": "os"}`` as a pipeline model once made a
worker call ``os.fork()``, after which replies were matched to the wrong jobs.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

pytest.importorskip("pybamm")

import pybamm
from pybamm.expression_tree.operations.serialise import Serialise

from ionworks.server.engine.safe_pybamm import (
    UnsafeConfig,
    check_model_config,
    check_parameter_values,
)
from ionworks.server.execution.executor import ProcessExecutor, WorkerError
from ionworks.server.fitting.model import build_model
from tests.faults import worker_tricks

FORK = {"type": "fork", "module": "os"}
POPEN = {"$type": "subprocess.Popen", "args": ["true"]}
#: (model config, the path the 422 must name)
HOSTILE_MODELS: list[tuple[Any, str]] = [
    (FORK, "model.module"),
    ({"type": "system", "module": "os"}, "model.module"),
    ("os", "model.type"),
    ({"type": "__class__"}, "model.type"),
    ({"type": "SPM", "module": "lithium_ion.os"}, "model.module"),
    ({"type": "custom", "model": {"model": {"base_class": "subprocess.Popen"}}}, "base_class"),
    ({"type": "custom", "model": {"rhs": [[POPEN, 1]]}}, "model.model.rhs[0][0].$type"),
    ({"type": "custom", "model": {"x": {"$type": "type", "class": "subprocess.Popen"}}}, "x.class"),
    ({"type": "custom", "model": {"x": {"module": "subprocess", "class": "Popen"}}}, "x.class"),
    ({"type": "custom", "model": {"x": {"type": "os.system"}}}, "model.model.x.type"),
    ({"type": "custom", "model": {"x": {"$type": "pybamm.os.system"}}}, "x.$type"),
    ({"type": "custom", "model": {"x": {"py/reduce": ["os.system", ["id"]]}}}, "py/reduce"),
    ({"type": "custom", "compressed": True, "model": {}}, "compressed"),
    (
        {
            "type": "custom",
            "model": {"x": {"$type": "numpy.ndarray", "data": [1], "dtype": "V9999999999"}},
        },
        "x.dtype",
    ),
    ({"type": "SPM", "custom_variables": {"v": {"$type": "builtins.eval"}}}, "custom_variables.v"),
    ({"type": "SPM", "options": {"thermal": {"$type": "subprocess.Popen"}}}, "options.thermal"),
]


@pytest.mark.parametrize(("config", "where"), HOSTILE_MODELS)
def test_hostile_model_configs_are_refused_with_their_path(config: Any, where: str) -> None:
    with pytest.raises(UnsafeConfig) as err:
        check_model_config(config)
    message = str(err.value)
    assert message.startswith("model") and where in message, message


def test_nothing_named_is_imported_or_called(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: Any) -> None:
        raise AssertionError("a user-named function ran")

    monkeypatch.setattr(os, "fork", forbidden)
    with pytest.raises(UnsafeConfig):
        build_model(FORK)  # the worker's own entry point checks again
    for module in ("antigravity", "this", "xml.dom.minidom"):
        assert module not in sys.modules
        with pytest.raises(UnsafeConfig):
            check_model_config({"type": "custom", "model": {"a": {"$type": f"{module}.Thing"}}})
        with pytest.raises(UnsafeConfig):
            check_parameter_values({"p": {"$type": f"{module}.Thing"}})
        assert module not in sys.modules


def test_real_pybamm_payloads_still_pass() -> None:
    for model in (pybamm.lithium_ion.BasicSPM(), pybamm.lithium_ion.SPM()):
        serialised = json.loads(
            json.dumps(Serialise.serialise_custom_model(model), default=lambda o: o.name)
        )
        config = {"type": "custom", "model": serialised}
        check_model_config(config)
        assert isinstance(build_model(config), pybamm.BaseModel)
    built = build_model({"type": "SPMe", "options": {"thermal": "lumped"}})
    assert built.options["thermal"] == "lumped"
    check_parameter_values(pybamm.ParameterValues("Chen2020").to_json())


@pytest.mark.parametrize(
    "value", ["[input]", "[data]/etc/passwd", "lookup.csv", True, [1, 2], {"a": 1}, None]
)
def test_parameter_values_take_numbers_or_expressions(value: Any) -> None:
    with pytest.raises(UnsafeConfig, match=r"parameters\.Negative particle radius"):
        check_parameter_values({"Negative particle radius [m]": value})
    check_parameter_values({"Negative particle radius [m]": "5.8e-6", "Other": 3})


# --- through the server: 422 before anything is stored ------------------------------------


async def _count(http: aiohttp.ClientSession, path: str) -> int:
    async with http.get(path, params={"limit": "1000"}) as resp:
        body = await resp.json()
    return int(body["total"]) if isinstance(body, dict) else len(body)


def _entry(model: Any) -> dict[str, Any]:
    return {"elements": {"entry": {"element_type": "entry", "values": {"model": model}}}}


def _objective(model: Any) -> dict[str, Any]:
    data = {"Time [s]": [0, 1], "Current [A]": [1, 1], "Voltage [V]": [4, 4]}
    fit = {
        "element_type": "data_fit",
        "objectives": {"v": {"type": "CurrentDriven", "data": data, "options": {"model": model}}},
        "parameters": {"Negative particle radius [m]": {"bounds": [1e-6, 1e-5]}},
    }
    return {"elements": {"fit": fit}}


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (_entry(FORK), "elements.entry.values.model.module"),
        (_objective(FORK), "elements.fit.objectives.v.options.model.module"),
        (_entry({"type": "custom", "model": {"x": POPEN}}), "elements.entry.values.model.model.x"),
        (
            {"elements": {"e": {"element_type": "entry", "values": {
                "parameterized_model": {"model_id": "SPM", "parameters": {"p": POPEN}}}}}},
            "elements.e.values.parameterized_model",
        ),
    ],
)  # fmt: skip
async def test_pipelines_with_hostile_models_are_422(
    http: aiohttp.ClientSession, body: dict[str, Any], where: str
) -> None:
    before = await _count(http, "/pipelines")
    for path, payload in (("/pipelines", body), ("/simple_pipelines", {"config": body})):
        async with http.post(path, json=payload) as resp:
            detail = (await resp.json())["detail"]
            assert resp.status == 422, detail
        assert where in detail
    assert await _count(http, "/pipelines") == before


@pytest.mark.parametrize(
    ("model", "needle"),
    [
        ({"model_id": "SPM", "parameters": {"p": POPEN}}, "parameters.p.$type"),
        ({"model_id": "SPM", "parameters": {"p": "[input]"}}, "parameters.p"),
        ({"model_id": "SPM", "parameters": {"p": "[data]/etc/passwd"}}, "parameters.p"),
        ({"model_id": "SPM", "options": {"thermal": POPEN}}, "options.thermal"),
        ({"model_id": "SPM", "options": {"thermal": "lumped"}, "parameters": {"p": True}}, "p"),
    ],
)
async def test_simulations_with_hostile_parameters_are_422(
    http: aiohttp.ClientSession, model: dict[str, Any], needle: str
) -> None:
    protocol = "global: {initial_soc: 1}\nsteps:\n  - Rest: {duration: 10}\n"
    async with http.post(
        "/protocols/parse-to-template",
        json={"protocol_experiment": {"protocol": protocol, "name": "p"}},
    ) as resp:
        template = (await resp.json())["template_id"]
    before = await _count(http, "/simulations")
    body = {"parameterized_model": model, "experiment_template_id": template}
    async with http.post("/simulations/with-template/batch", json=body) as resp:
        detail = (await resp.json())["detail"]
        assert resp.status == 422, detail
    assert needle in detail
    assert await _count(http, "/simulations") == before


# --- workers answer only the job they were given -----------------------------------------


@pytest.fixture
async def one_worker() -> AsyncIterator[ProcessExecutor]:
    executor = ProcessExecutor(1)
    try:
        yield executor
    finally:
        await executor.aclose()


async def test_a_forged_reply_fails_that_job_and_replaces_the_worker(
    one_worker: ProcessExecutor,
) -> None:
    first = await one_worker.run("job-0", worker_tricks.echo, 0)
    with pytest.raises(WorkerError, match="answered out of turn"):
        await one_worker.run("job-1", worker_tricks.forge_reply, 1)
    for i in range(2, 6):  # every later job gets its own answer, from a fresh worker
        result = await one_worker.run(f"job-{i}", worker_tricks.echo, i)
        assert result["payload"] == i
        assert result["pid"] != first["pid"]


async def test_a_job_that_forks_gets_one_answer_and_later_jobs_their_own(
    one_worker: ProcessExecutor,
) -> None:
    forked = await one_worker.run("job-0", worker_tricks.fork_then_answer, "x")
    assert forked["payload"] == "x"
    for i in range(1, 6):
        result = await one_worker.run(f"job-{i}", worker_tricks.echo, i)
        assert result == {"payload": i, "pid": forked["pid"]}
