"""The one response-shape check (``expect``): what it accepts, and what its errors say."""

from __future__ import annotations

from typing import Any

import pytest

from ionworks import AsyncIonworks
from ionworks._client import RESOURCES
from ionworks._transport import Transport
from ionworks.errors import APIResponseValidationError, IonworksError
from ionworks.resources._base import PREVIEW_CHARS, AsyncResource, expect, parse_page
from ionworks.resources._requests import Requests
from tests.helpers import API, url_re


@pytest.mark.parametrize(
    ("data", "shape", "kwargs"),
    [
        ({"a": 1}, dict, {}),
        ([], list, {}),
        ("text", str, {}),
        ({"template_id": None}, dict, {"keys": {"template_id": object}}),
        ({"uploads": [], "extra": 1}, dict, {"keys": {"uploads": list}}),
        (["a", "b"], list, {"items": str}),
        ([1, 2], (list, dict), {"keys": {"items": list}}),
        ({"items": []}, (list, dict), {"keys": {"items": list}}),
    ],
)
def test_a_valid_shape_comes_back_unchanged(data: Any, shape: Any, kwargs: Any) -> None:
    assert expect(data, shape, what="thing", **kwargs) is data


@pytest.mark.parametrize(
    ("data", "shape", "kwargs", "message"),
    [
        (
            [1, 2],
            dict,
            {},
            "Unexpected response for simulation: expected a JSON object, got a JSON array: [1, 2]",
        ),
        (None, list, {}, "expected a JSON array, got null: None"),
        ("ok", dict, {}, "expected a JSON object, got a string: 'ok'"),
        (3.5, list, {}, "expected a JSON array, got a number: 3.5"),
        (True, dict, {}, "expected a JSON object, got a boolean: True"),
        (
            {"id": "T1"},
            dict,
            {"keys": {"template_id": object}},
            "expected a JSON object with 'template_id', got a JSON object without "
            "'template_id': {'id': 'T1'}",
        ),
        (
            {"measurement_id": "m", "uploads": "none"},
            dict,
            {"keys": {"measurement_id": object, "uploads": list}},
            "expected a JSON object with 'measurement_id', 'uploads' (a JSON array), got a JSON "
            "object whose 'uploads' is a string",
        ),
        (
            ["a", 1],
            list,
            {"items": str},
            "expected a JSON array of string items, got a JSON array whose item #1 is an "
            "integer: ['a', 1]",
        ),
        (
            {"items": []},
            (list, dict),
            {"keys": {"pipelines": list}},
            "expected a JSON array, or a JSON object with 'pipelines' (a JSON array), got a JSON "
            "object without 'pipelines'",
        ),
    ],
)
def test_a_bad_shape_names_what_was_expected_and_what_came(
    data: Any, shape: Any, kwargs: Any, message: str
) -> None:
    with pytest.raises(APIResponseValidationError) as caught:
        expect(data, shape, what="simulation", **kwargs)
    assert isinstance(caught.value, IonworksError)
    assert caught.value.status_code is None
    assert message in str(caught.value.message)


def test_the_quoted_body_is_bounded() -> None:
    with pytest.raises(APIResponseValidationError) as caught:
        expect("x" * 10_000, dict, what="simulation")
    text = str(caught.value.message)
    assert text.endswith("…") and len(text) < PREVIEW_CHARS + 100


def test_parse_page_reports_through_the_same_check() -> None:
    assert parse_page([{"a": 1}], None, what="thing list").items == [{"a": 1}]
    page = parse_page({"things": [1, 2], "total": 7}, None, key="things", what="thing list")
    assert (page.items, page.total) == ([1, 2], 7)
    with pytest.raises(APIResponseValidationError, match="thing list: expected a JSON array, or"):
        parse_page({"things": "no"}, None, key="things", what="thing list")


@pytest.mark.parametrize(
    ("method", "path", "payload", "call", "message"),
    [
        (
            "get",
            "/simulations/s1",
            [1, 2],
            lambda c: c.simulation.get("s1"),
            "simulation: expected a JSON object, got a JSON array",
        ),
        (
            "post",
            "/simulations/statuses",
            {"items": []},
            lambda c: c.simulation.get_statuses("s1"),
            "/simulations/statuses: expected a JSON array, got a JSON object",
        ),
        (
            "get",
            "/parameterized_models/pm/variable-names",
            "V",
            lambda c: c.parameterized_model.get_variable_names("pm"),
            "variable names: expected a JSON array, got a string",
        ),
        (
            "post",
            "/protocols/input_references",
            ["a", None],
            lambda c: c.protocol.find_input_references("steps: []"),
            "input_references: expected a JSON array of string items, got a JSON array whose "
            "item #1 is null",
        ),
        (
            "get",
            "/jobs/",
            {"jobs": []},
            lambda c: c.job.list(),
            "job (/jobs/): expected a JSON array, got a JSON object",
        ),
    ],
)
async def test_resources_report_bad_shapes_through_it(
    any_client: Any, mock_api: Any, method: str, path: str, payload: Any, call: Any, message: str
) -> None:
    getattr(mock_api, method)(url_re(path, base=API), payload=payload)
    with pytest.raises(APIResponseValidationError) as caught:
        await call(any_client)
    assert message in str(caught.value.message)


async def test_resources_hold_the_request_interface_and_nothing_else_of_the_client() -> None:
    async with AsyncIonworks(api_key="k", api_url=API, project_id="p1") as client:
        built = [getattr(client, name) for name in RESOURCES]  # resources are built on first use
        resources = [v for v in built if isinstance(v, AsyncResource)]
        assert len({id(r) for r in resources}) == len(RESOURCES)  # one instance each
        apis = {id(r._api) for r in resources}
        assert len(apis) == 1 and isinstance(resources[0]._api, Requests)
        for resource in resources:
            held = list(vars(resource).values())
            assert not any(isinstance(v, AsyncIonworks | Transport) for v in held), resource
        assert resources[0]._api.config.project_id == "p1"
        assert await resources[0]._api.default_project_id("p2") == "p2"
