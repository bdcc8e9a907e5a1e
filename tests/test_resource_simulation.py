"""``client.simulation`` against a mocked API (wire.md §4)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pandas as pd
import polars as pl
import pytest
from aioresponses import CallbackResult, aioresponses

import ionworks
from ionworks import SimulationResponse
from ionworks.doe import MAX_SIMULATIONS
from ionworks.errors import APIResponseValidationError, BadRequestError, NotFoundError
from ionworks.models import Page
from tests.helpers import (
    API,
    assert_no_requests,
    last_request,
    parquet_bytes,
    requests_to,
    url_re,
)

YAML = "global:\n  initial_soc: 1\nsteps: []\n"
INLINE = {"protocol": YAML, "name": "1C"}
PARSE = f"{API}/protocols/parse-to-template"
BATCH = f"{API}/simulations/with-template/batch"
VALID_KEYS = (
    "conditions, design_parameters_doe, experiment_parameters, extra_variables, "
    "max_backward_jumps, parameterized_model, project_id, protocol_experiment, protocol_id, "
    "study_id"
)


def inline(**extra: Any) -> dict[str, Any]:
    return {"parameterized_model": "pm-1", "protocol_experiment": dict(INLINE), **extra}


def mock_submit(
    mock_api: aioresponses, items: list[dict[str, Any]] | None = None, template: str = "T1"
) -> None:
    mock_api.post(PARSE, payload={"template_id": template})
    mock_api.post(BATCH, payload=items or [{"simulation_id": "s1", "job_id": "j1"}])


def discrete(name: str, *values: float) -> dict[str, Any]:
    return {"type": "discrete", "name": name, "values": list(values)}


# --------------------------------------------------------------------------- protocol()


async def test_protocol_parses_inline_protocol_to_a_template(any_client, mock_api) -> None:
    mock_submit(mock_api)
    result = await any_client.simulation.protocol(inline(experiment_parameters={"Initial SOC": 1}))
    assert last_request(mock_api, "POST", "/protocols/parse-to-template").json == {
        "protocol_experiment": INLINE,
        "experiment_parameters": {"Initial SOC": 1.0},
        "project_id": "p1",
    }
    assert result == SimulationResponse("s1", "j1", protocol_id="T1", already_existed=False)
    batch = last_request(mock_api, "POST", "/simulations/with-template/batch").json
    assert batch == {
        "parameterized_model": "pm-1",
        "experiment_template_id": "T1",
        "experiment_parameter_sets": [{"Initial SOC": 1.0}],
        "project_id": "p1",
    }


async def test_protocol_batch_body_with_conditions(any_client, mock_api) -> None:
    items = [
        {"simulation_id": "s1", "job_id": "j1", "already_existed": True, "extra_key": 1},
        {"simulation_id": "s2", "job_id": "j2"},
    ]
    mock_submit(mock_api, items, template="T9")
    cfg = inline(
        experiment_parameters={"a": 1, "c": 3},
        conditions=[
            {"experiment_parameters": {"a": 10, "b": 2}, "design_parameters": {"x": 1}},
            {"experiment_parameters": {"b": 5}},
        ],
        max_backward_jumps=7,
        study_id="st-1",
        extra_variables=["Voltage [V]"],
        project_id="p9",
    )
    out = await any_client.simulation.protocol_batch(cfg)
    parse = last_request(mock_api, "POST", "/protocols/parse-to-template").json
    # top-level parameters win; among conditions the first one wins
    assert parse["experiment_parameters"] == {"a": 1.0, "b": 2.0, "c": 3.0}
    assert parse["project_id"] == "p9"
    assert last_request(mock_api, "POST", "/simulations/with-template/batch").json == {
        "parameterized_model": "pm-1",
        "experiment_template_id": "T9",
        "experiment_parameter_sets": [{"a": 1.0, "c": 3.0}],
        "conditions": [
            {
                "experiment_parameters": {"a": 10.0, "b": 2.0, "c": 3.0},
                "design_parameters": {"x": 1.0},
            },
            {"experiment_parameters": {"a": 1.0, "b": 5.0, "c": 3.0}, "design_parameters": {}},
        ],
        "max_backward_jumps": 7,
        "study_id": "st-1",
        "extra_variables": ["Voltage [V]"],
        "project_id": "p9",
    }
    assert [(r.simulation_id, r.job_id, r.protocol_id, r.already_existed) for r in out] == [
        ("s1", "j1", "T9", True),
        ("s2", "j2", "T9", False),
    ]
    assert cfg["experiment_parameters"] == {"a": 1, "c": 3}  # the caller's dict is untouched


async def test_batch_always_sends_parameter_sets_and_drops_none(any_client, mock_api) -> None:
    mock_submit(mock_api)
    await any_client.simulation.protocol_batch(inline(study_id=None, max_backward_jumps=None))
    body = last_request(mock_api, "POST", "/simulations/with-template/batch").json
    assert body["experiment_parameter_sets"] == [{}]
    assert set(body) == {
        "parameterized_model",
        "experiment_template_id",
        "experiment_parameter_sets",
        "project_id",
    }


@pytest.mark.parametrize(
    ("design", "expected"),
    [
        (
            {"x": 1, "Ambient temperature [K]": 300.5},
            {
                "sampling": "grid",
                "rows": [discrete("x", 1.0), discrete("Ambient temperature [K]", 300.5)],
            },
        ),
        ({}, None),
    ],
)
async def test_design_parameters_become_one_row_discrete_grid(
    any_client, mock_api, design, expected
) -> None:
    mock_submit(mock_api)
    await any_client.simulation.protocol(inline(design_parameters=design))
    body = last_request(mock_api, "POST", "/simulations/with-template/batch").json
    assert body.get("design_parameters_doe") == expected
    assert "design_parameters" not in body


@pytest.mark.parametrize(
    "doe",
    [
        {
            "sampling": "grid",
            "rows": [
                discrete("a", 1, 2, 3),
                {"type": "range", "name": "b", "min": 0, "max": 1, "count": 4},
            ],
        },
        {
            "sampling": "latin_hypercube",
            "count": 5,
            "rows": [{"type": "normal", "name": "n", "mean": 1, "std": 0.1}],
        },
    ],
)
async def test_doe_is_sent_unexpanded_without_none_keys(any_client, mock_api, doe) -> None:
    mock_submit(mock_api)
    await any_client.simulation.protocol_batch(inline(design_parameters_doe={**doe, "seed": None}))
    assert (
        last_request(mock_api, "POST", "/simulations/with-template/batch").json[
            "design_parameters_doe"
        ]
        == doe
    )


async def test_doe_row_level_none_keys_are_dropped(any_client, mock_api) -> None:
    mock_submit(mock_api)
    row = {**discrete("a", 1, 2), "min": None, "count": None}
    await any_client.simulation.protocol_batch(
        inline(design_parameters_doe={"sampling": "grid", "rows": [row]})
    )
    sent = last_request(mock_api, "POST", "/simulations/with-template/batch").json
    assert sent["design_parameters_doe"]["rows"] == [discrete("a", 1, 2)]


class QuickModelConfig:
    def to_config(self) -> dict[str, Any]:
        return {"capacity": 1.0, "chemistry": "NMC/Graphite"}


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ({"capacity": 5, "chemistry": "LFP"}, {"quick_model": {"capacity": 5, "chemistry": "LFP"}}),
        (
            {"capacity": 5, "resistance_pct": 10, "cell_spec_id": "cs", "colour": "red"},
            {"quick_model": {"capacity": 5, "resistance_pct": 10, "cell_spec_id": "cs"}},
        ),
        ({"quick_model": {"capacity": 2}}, {"quick_model": {"capacity": 2}}),
        ({"model_id": "m1", "parameters": {"a": 1}}, {"model_id": "m1", "parameters": {"a": 1}}),
        ("pm-42", "pm-42"),
        (QuickModelConfig(), {"quick_model": {"capacity": 1.0, "chemistry": "NMC/Graphite"}}),
    ],
)
async def test_parameterized_model_normalisation(any_client, mock_api, model, expected) -> None:
    mock_submit(mock_api)
    await any_client.simulation.protocol({**inline(), "parameterized_model": model})
    body = last_request(mock_api, "POST", "/simulations/with-template/batch").json
    assert body["parameterized_model"] == expected


@pytest.mark.parametrize(("extra", "project"), [({}, None), ({"project_id": "p7"}, "p7")])
async def test_protocol_id_skips_parse_to_template(any_client, mock_api, extra, project) -> None:
    mock_api.post(BATCH, payload=[{"simulation_id": "s1", "job_id": "j1"}])
    out = await any_client.simulation.protocol(
        {"parameterized_model": "pm-1", "protocol_id": "saved-1", **extra}
    )
    assert requests_to(mock_api, "POST", "/protocols/parse-to-template") == []
    body = last_request(mock_api, "POST", "/simulations/with-template/batch").json
    assert body["experiment_template_id"] == "saved-1"
    assert body.get("project_id") == project  # no client default on this path (wire.md §4.2)
    assert out.protocol_id == "saved-1"


# --------------------------------------------------------------------------- client-side errors

BIG_RANGE = {"type": "range", "name": "r", "min": 0, "max": 1, "count": MAX_SIMULATIONS + 1}
REJECTED: list[tuple[str, dict[str, Any], str]] = [
    (
        "protocol_batch",
        inline(bogus=1),
        re.escape(f"Unknown config key 'bogus'. Valid top-level keys: {VALID_KEYS}."),
    ),
    ("protocol", inline(bogus=1), "Unknown config key 'bogus'"),
    ("protocol", inline(protocol_id="saved"), "exactly one of"),
    ("protocol_batch", {"parameterized_model": "pm-1"}, "exactly one of"),
    (
        "protocol_batch",
        inline(
            conditions=[{"experiment_parameters": {"a": 1}}],
            design_parameters_doe={"sampling": "grid", "rows": [discrete("x", 1)]},
        ),
        "mutually exclusive",
    ),
    ("protocol_batch", inline(conditions=[]), "non-empty"),
    ("protocol", inline(conditions=[{"experiment_parameters": {"a": 1}}]), "conditions"),
    (
        "protocol",
        inline(
            design_parameters={"x": 1},
            design_parameters_doe={"sampling": "grid", "rows": [discrete("x", 1)]},
        ),
        "mutually exclusive",
    ),
    (
        "protocol",
        inline(design_parameters_doe={"sampling": "grid", "rows": [discrete("x", 1, 2, 3)]}),
        "single-simulation, but the supplied DOE would produce 3 simulations",
    ),
    (
        "protocol",
        inline(
            design_parameters_doe={"sampling": "random", "count": 2, "rows": [discrete("x", 1, 2)]}
        ),
        "would produce 2",
    ),
    ("protocol_batch", inline(design_parameters={"x": 1}), "design_parameters"),
    (
        "protocol_batch",
        inline(design_parameters_doe={"sampling": "grid", "rows": [BIG_RANGE]}),
        str(MAX_SIMULATIONS),
    ),
    (
        "protocol_batch",
        inline(
            design_parameters_doe={
                "sampling": "random",
                "count": MAX_SIMULATIONS + 1,
                "rows": [discrete("x", 1)],
            }
        ),
        str(MAX_SIMULATIONS),
    ),
    (
        "protocol_batch",
        inline(design_parameters_doe={"sampling": "grid", "rows": [{**BIG_RANGE, "count": None}]}),
        "count",
    ),
    ("protocol", {"protocol_experiment": dict(INLINE)}, "parameterized_model"),
]


@pytest.mark.parametrize(("method", "cfg", "match"), REJECTED)
async def test_invalid_config_raises_before_any_request(
    any_client, mock_api, method, cfg, match
) -> None:
    with pytest.raises(ValueError, match=match):
        await getattr(any_client.simulation, method)(cfg)
    assert_no_requests(mock_api)


async def test_missing_project_id_names_the_three_ways(new_client, mock_api) -> None:
    async with new_client(api_key="key-1", api_url=API) as bare:
        with pytest.raises(ValueError, match="project_id is required") as info:
            await bare.simulation.protocol(inline())
        assert_no_requests(mock_api)
        for way in ("this call", "AsyncIonworks(", "IONWORKS_PROJECT_ID"):
            assert way in str(info.value)
        # a saved protocol needs no project
        mock_api.post(BATCH, payload=[{"simulation_id": "s1", "job_id": "j1"}])
        out = await bare.simulation.protocol({"parameterized_model": "pm", "protocol_id": "t"})
        assert out.simulation_id == "s1"


async def test_project_id_from_environment_when_client_has_none(
    new_client, mock_api, monkeypatch
) -> None:
    async with new_client(api_key="key-1", api_url=API) as bare:
        monkeypatch.setenv("IONWORKS_PROJECT_ID", "p-env")
        mock_submit(mock_api)
        await bare.simulation.protocol(inline())
    assert (
        last_request(mock_api, "POST", "/protocols/parse-to-template").json["project_id"] == "p-env"
    )


@pytest.mark.parametrize("env_var", ["IONWORKS_PROJECT_ID", "PROJECT_ID"])
async def test_client_project_wins_over_environment(
    any_client, mock_api, monkeypatch, env_var
) -> None:
    monkeypatch.setenv(env_var, "p-env")
    mock_submit(mock_api)
    await any_client.simulation.protocol(inline())
    assert last_request(mock_api, "POST", "/protocols/parse-to-template").json["project_id"] == "p1"


@pytest.mark.parametrize(
    ("parse", "batch"),
    [
        ({"template_id": "T1"}, {"simulations": []}),
        ({"template_id": "T1"}, [{"simulation_id": "s1"}]),
        ({"id": "T1"}, []),
        ({"template_id": "T1"}, [{"simulation_id": "s1", "job_id": "j1"}] * 2),
    ],
)
async def test_unexpected_submit_responses(any_client, mock_api, parse, batch) -> None:
    mock_api.post(PARSE, payload=parse)
    mock_api.post(BATCH, payload=batch)
    with pytest.raises(APIResponseValidationError):
        await any_client.simulation.protocol(inline())


# --------------------------------------------------------------------------- list/get/delete


async def test_list_without_arguments_is_a_plain_list(any_client, mock_api) -> None:
    mock_api.get(
        f"{API}/simulations?project_id=p1&limit=1000",
        payload={"simulations": [{"id": "s1"}], "model_scalar_parameters": {}},
    )
    result = await any_client.simulation.list()
    assert type(result) is list and result == [{"id": "s1"}]


async def test_list_with_limit_offset_is_a_page(any_client, mock_api) -> None:
    mock_api.get(url_re("/simulations"), payload={"simulations": [{"id": "s3"}], "total": 41})
    page = await any_client.simulation.list(limit=10, offset=20)
    assert isinstance(page, Page) and page.total == 41 and page.items == [{"id": "s3"}]
    assert last_request(mock_api, "GET", "/simulations").params == [
        ("project_id", "p1"),
        ("limit", "10"),
        ("offset", "20"),
    ]


async def test_list_scoped_query(any_client, mock_api) -> None:
    mock_api.get(url_re("/simulations"), payload={"simulations": []})
    await any_client.simulation.list("pm-1", protocol_id="T1", state="completed", summary=True)
    assert last_request(mock_api, "GET", "/simulations").query == {
        "parameterized_model_id": "pm-1",
        "experiment_template_id": "T1",
        "state": "completed",
        "summary": "true",
        "limit": "1000",  # every simulation, in pages of the server's maximum
    }


async def test_list_model_and_study_together_is_rejected(any_client, mock_api) -> None:
    with pytest.raises(ValueError, match="not both"):
        await any_client.simulation.list(parameterized_model_id="pm", study_id="st")
    assert_no_requests(mock_api)


async def test_get_and_delete(any_client, mock_api) -> None:
    mock_api.get(
        f"{API}/simulations/s1", payload={"id": "s1", "job_id": "j1", "storage_folder": None}
    )
    mock_api.delete(f"{API}/simulations/s1", status=204)
    assert await any_client.simulation.get("s1") == {
        "id": "s1",
        "job_id": "j1",
        "storage_folder": None,
    }
    assert await any_client.simulation.delete("s1") is None
    assert len(requests_to(mock_api, "DELETE", "/simulations/s1")) == 1


async def test_get_non_object_is_a_validation_error(any_client, mock_api) -> None:
    mock_api.get(f"{API}/simulations/s1", payload=[1, 2])
    with pytest.raises(APIResponseValidationError):
        await any_client.simulation.get("s1")


# --------------------------------------------------------------------------- statuses


def _echo_statuses(url: Any, **kwargs: Any) -> CallbackResult:
    import json

    ids = json.loads(kwargs["data"])["simulation_ids"]
    return CallbackResult(payload=[{"simulation_id": i, "status": "completed"} for i in ids])


async def test_get_statuses_chunks_of_1000(any_client, mock_api) -> None:
    ids = [f"s{i}" for i in range(2500)]
    mock_api.post(f"{API}/simulations/statuses", callback=_echo_statuses, repeat=True)
    statuses = await any_client.simulation.get_statuses(ids)
    assert [s["simulation_id"] for s in statuses] == ids
    sent = [r.json for r in requests_to(mock_api, "POST", "/simulations/statuses")]
    assert sorted((body["limit"], len(body["simulation_ids"])) for body in sent) == [
        (500, 500),
        (1000, 1000),
        (1000, 1000),
    ]
    assert sorted(i for body in sent for i in body["simulation_ids"]) == sorted(ids)


async def test_get_statuses_of_nothing_sends_nothing(any_client, mock_api) -> None:
    assert await any_client.simulation.get_statuses([]) == []
    assert_no_requests(mock_api)


async def test_get_statuses_http_error_is_an_ionworks_error(any_client, mock_api) -> None:
    mock_api.post(f"{API}/simulations/statuses", status=400, payload={"detail": "bad ids"})
    with pytest.raises(BadRequestError, match="bad ids"):
        await any_client.simulation.get_statuses(["s1"])


# --------------------------------------------------------------------------- results

TIME_SERIES = {
    "Time [s]": [0.0, 1.0, 2.0, 3.0],
    "Voltage [V]": [4.2, 4.1, 4.0, 4.05],
    "Discharge capacity [A.h]": [0.0, 0.1, 0.0, 0.0],
    "Charge capacity [A.h]": [0.0, 0.0, 0.0, 0.05],
    "Step count": [0, 0, 1, 1],
}
STEPS = {
    "Discharge capacity [A.h]": [0.1, 0.0],
    "Charge capacity [A.h]": [0.0, 0.05],
    "Discharge energy [W.h]": [0.4, 0.0],
}
METRICS = {"Discharge capacity [A.h]": 0.1}


def mock_result(mock_api: aioresponses, *, redirect: bool = False, metrics: Any = METRICS) -> None:
    ts_url = f"{API}/simulations/s1/time_series/download"
    if redirect:
        mock_api.get(ts_url, status=307, headers={"Location": "http://storage.test/b/ts.parquet"})
        ts_url = "http://storage.test/b/ts.parquet"
    mock_api.get(ts_url, body=parquet_bytes(TIME_SERIES), content_type="application/octet-stream")
    mock_api.get(
        f"{API}/simulations/s1/steps/download",
        body=parquet_bytes(STEPS),
        content_type="application/octet-stream",
    )
    mock_api.get(f"{API}/simulations/s1", payload={"id": "s1", "metrics": metrics})


def assert_result_columns(ts: pl.DataFrame, steps: pl.DataFrame) -> None:
    assert ts["Step capacity [A.h]"].to_list() == pytest.approx([0.0, 0.1, 0.0, -0.05])
    assert ts["Capacity [A.h]"].to_list() == pytest.approx([0.0, 0.1, 0.1, 0.05])
    assert ts["Voltage [V]"].to_list() == TIME_SERIES["Voltage [V]"]
    assert steps["Delta capacity [A.h]"].to_list() == pytest.approx([0.1, -0.05])
    assert steps["Delta energy [W.h]"].to_list() == pytest.approx([0.4, 0.0])


@pytest.mark.parametrize("redirect", [False, True], ids=["direct", "307-redirect"])
async def test_get_result_polars(any_client, mock_api, redirect) -> None:
    mock_result(mock_api, redirect=redirect)
    result = await any_client.simulation.get_result("s1")
    assert isinstance(result.time_series, pl.DataFrame) and isinstance(result.steps, pl.DataFrame)
    assert_result_columns(result.time_series, result.steps)
    assert result.metrics == METRICS


async def test_get_result_null_metrics(any_client, mock_api) -> None:
    mock_result(mock_api, metrics=None)
    assert (await any_client.simulation.get_result("s1")).metrics == {}


@pytest.fixture
def pandas_default() -> Iterator[None]:
    ionworks.set_dataframe_backend("pandas")
    try:
        yield
    finally:
        ionworks.set_dataframe_backend("polars")


async def test_get_result_pandas_client_backend(new_client, mock_api) -> None:
    async with new_client(
        api_key="k", api_url=API, project_id="p1", dataframe_backend="pandas"
    ) as c:
        mock_result(mock_api)
        result = await c.simulation.get_result("s1")
    assert isinstance(result.time_series, pd.DataFrame) and isinstance(result.steps, pd.DataFrame)
    assert_result_columns(pl.from_pandas(result.time_series), pl.from_pandas(result.steps))


async def test_get_result_pandas_process_default(any_client, mock_api, pandas_default) -> None:
    mock_result(mock_api)
    result = await any_client.simulation.get_result("s1")
    assert isinstance(result.time_series, pd.DataFrame)
    assert result.time_series["Capacity [A.h]"].tolist() == pytest.approx([0.0, 0.1, 0.1, 0.05])


async def test_get_result_404_is_not_found(any_client, mock_api) -> None:
    mock_api.get(
        f"{API}/simulations/s1/time_series/download", status=404, payload={"detail": "not yet"}
    )
    mock_api.get(f"{API}/simulations/s1/steps/download", body=parquet_bytes(STEPS))
    mock_api.get(f"{API}/simulations/s1", payload={"id": "s1"})
    with pytest.raises(NotFoundError, match="not yet"):
        await any_client.simulation.get_result("s1")
