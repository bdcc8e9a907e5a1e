"""``client.protocol``'s saved protocols and ``parse_file``, on ``AsyncIonworks`` and
``Ionworks``, against a real local server (and a mocked API for what only the request shows)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from ionworks.errors import ConflictError, NotFoundError, ValidationError
from ionworks.models import INCLUDABLE_FIELDS, ParsedProtocol, Protocol
from ionworks.ucp.describe import duration_text
from ionworks.ucp.parse import load
from tests.helpers import API, last_request, url_re
from tests.ucp.protocols import SEED_CONVERT, SEED_INPUTS

pytest.importorskip("pybamm")

from tests.server.conftest import local_server

KEY = "protocols-key"
Factory = Callable[..., AbstractAsyncContextManager[Any]]


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with local_server(tmp_path_factory, "protocols-data", KEY) as srv:
        assert srv.url is not None
        yield srv.url


@pytest.fixture
async def client(url: str, new_client: Factory) -> AsyncIterator[Any]:
    """``AsyncIonworks`` or ``Ionworks`` (in turn) on the module's server."""
    async with new_client(api_key=KEY, api_url=url) as c:
        yield c


def variant(client_kind: str, seconds: int) -> str:
    """A protocol of its own per test and client kind (saved protocols are unique by content)."""
    offset = {"async": 0, "sync": 1000}[client_kind]
    return SEED_CONVERT + f"  - Soak:\n      - Rest: {{duration: {seconds + offset}}}\n"


async def test_create_get_list_and_find_by_name(client: Any, client_kind: str) -> None:
    text, name = variant(client_kind, 11), f"CCCV {client_kind}"
    saved = await client.protocol.create(name, text, description="seed")
    assert isinstance(saved, Protocol) and saved.name == name and saved.description == "seed"
    assert saved.protocol_config == load(text).data and saved.source_protocol == text
    assert saved.parameters_schema == {} and saved.organization_id and saved.project_id
    assert (await client.protocol.get(saved.id)) == saved
    # the same content again (a dict this time, another name): the same record
    again = await client.protocol.create_or_get("other name", load(text).data)
    assert again.id == saved.id and again.name == name
    with pytest.raises(ConflictError) as info:
        await client.protocol.create(name, text, force_create=True)
    assert info.value.error_code == "CONFLICT"
    assert info.value.data is not None and info.value.data["detail"]["existing_id"] == saved.id
    assert "already saved" in info.value.message

    page = await client.protocol.list()
    listed = next(p for p in page if p.id == saved.id)
    assert listed.protocol_config is None and listed.source_protocol is None  # light
    page = await client.protocol.list(include=["protocol_config"], name="ccc", limit=5)
    listed = next(p for p in page if p.id == saved.id)
    assert listed.protocol_config == saved.protocol_config and listed.source_protocol is None
    found = await client.protocol.find_by_name(name)
    assert found is not None and found.id == saved.id and found.protocol_config is None
    assert await client.protocol.find_by_name("no such protocol") is None


async def test_names_are_not_unique_so_find_by_name_refuses_two(
    client: Any, client_kind: str
) -> None:
    name = f"twin {client_kind}"
    await client.protocol.create(name, variant(client_kind, 21))
    await client.protocol.create(name, variant(client_kind, 22))
    with pytest.raises(ValueError, match="2 protocols in this project are named"):
        await client.protocol.find_by_name(name)
    assert len(await client.protocol.list(name_exact=name)) == 2


async def test_text_renderings_update_and_delete(client: Any, client_kind: str) -> None:
    text = variant(client_kind, 31)
    saved = await client.protocol.create("texts", text)
    human = await client.protocol.human_readable(saved.id)
    assert human.splitlines()[:3] == [
        "Initial state: SOC 100 %",
        "Initial temperature: 25 °C",
        "CC Charge:",
    ]
    seconds = 31 + {"async": 0, "sync": 1000}[client_kind]
    assert human.splitlines()[-1] == f"  4. Rest for {duration_text(seconds)}"
    assert await client.protocol.source_protocol(saved.id) == text
    from_dict = await client.protocol.create("no source", load(variant(client_kind, 32)).data)
    with pytest.raises(NotFoundError, match="no source text"):
        await client.protocol.source_protocol(from_dict.id)

    renamed = await client.protocol.update(saved.id, name="renamed")
    assert renamed.name == "renamed" and renamed.description is None
    described = await client.protocol.update(saved.id, description="now described")
    assert described.name == "renamed" and described.description == "now described"
    assert (await client.protocol.update(saved.id)).name == "renamed"  # an empty body
    await client.protocol.delete(saved.id)
    with pytest.raises(NotFoundError):
        await client.protocol.get(saved.id)


async def test_inline_simulation_protocols_are_saved_protocols_and_pin_them(
    client: Any, client_kind: str
) -> None:
    text = SEED_INPUTS.replace("2.5", "2.6" if client_kind == "async" else "2.7")
    response = await client.simulation.protocol(
        {
            "parameterized_model": {"quick_model": {"capacity": 2}},
            "protocol_experiment": {"protocol": text, "name": "inline"},
            "experiment_parameters": {"Initial SOC": 1, "C-rate": 1},
        }
    )
    saved = await client.protocol.get(response.protocol_id)
    assert saved.name == "inline" and saved.source_protocol == text
    assert saved.parameters_schema == {
        "type": "object",
        "properties": {"Initial SOC": {"type": "number"}, "C-rate": {"type": "number"}},
        "required": ["Initial SOC", "C-rate"],
    }
    assert saved.id in {p.id for p in await client.protocol.list(name_exact="inline")}
    with pytest.raises(ConflictError, match="used by 1 simulation"):
        await client.protocol.delete(saved.id)
    await client.simulation.delete(response.simulation_id)
    await client.protocol.delete(saved.id)


async def test_parse_file_from_a_path_or_a_file_object(
    client: Any, client_kind: str, tmp_path: Path
) -> None:
    path = tmp_path / "cccv.yaml"
    path.write_text(SEED_CONVERT, encoding="utf-8")
    parsed = await client.protocol.parse_file(path)
    assert isinstance(parsed, ParsedProtocol)
    assert parsed.ucp == SEED_CONVERT == parsed.raw_protocol
    assert parsed.human_readable.splitlines()[2] == "CC Charge:"
    assert parsed.required_drive_cycles == [] and parsed.error is None
    from_str = await client.protocol.parse_file(str(path))
    assert from_str.ucp == parsed.ucp
    from_object = await client.protocol.parse_file(io.BytesIO(SEED_CONVERT.encode()))
    assert from_object.human_readable == parsed.human_readable
    with path.open("rb") as handle:
        assert (await client.protocol.parse_file(handle)).ucp == parsed.ucp
    maccor = tmp_path / "procedure.000"
    maccor.write_bytes(b"<?xml version='1.0'?><MaccorTestProcedure/>")
    with pytest.raises(ValidationError, match="Maccor protocol file"):
        await client.protocol.parse_file(maccor)
    with pytest.raises(TypeError, match="path or a binary file"):
        await client.protocol.parse_file(42)


async def test_arguments_checked_before_any_request(client: Any) -> None:
    with pytest.raises(ValueError, match="mapping"):
        await client.protocol.create("list", "- just\n- a list\n")
    with pytest.raises(ValueError, match="YAML"):
        await client.protocol.create("bad", "steps: [unclosed")
    with pytest.raises(ValueError, match="include"):
        await client.protocol.list(include="protocol_config")
    with pytest.raises(ValueError, match="order"):
        await client.protocol.list(order="sideways")


# --- what only the request shows (mocked API) -------------------------------------------------

RECORD = {"id": "t1", "name": "n", "organization_id": "o1", "project_id": "p1"}


async def test_list_and_create_requests(any_client: Any, mock_api: Any) -> None:
    mock_api.get(url_re("/experiment_templates"), payload=[RECORD])
    page = await any_client.protocol.list(
        limit=3, include=["protocol_config", "source_protocol"], name_exact="n",
        created_after="2026-01-01", order_by="name", order="desc",
    )  # fmt: skip
    assert page.total == 1 and page[0].id == "t1"  # a bare array is a page too
    sent = last_request(mock_api, "GET", "/experiment_templates")
    assert dict(sent.url.query) == {
        "project_id": "p1",
        "limit": "3",
        "include": "protocol_config,source_protocol",
        "name": "eq.n",
        "created_at_gt": "2026-01-01",
        "order_by": "name",
        "order": "desc",
    }
    mock_api.post(f"{API}/experiment_templates", payload=RECORD, repeat=True)
    await any_client.protocol.create("n", "steps: []\n", "p2", parameters_schema=None)
    assert last_request(mock_api, "POST", "/experiment_templates").json == {
        "name": "n",
        "protocol_config": {"steps": []},
        "parameters_schema": {},
        "project_id": "p2",
        "force_create": False,
        "source_protocol": "steps: []\n",
    }
    await any_client.protocol.create_or_get("n", {"steps": []}, description="d")
    body = last_request(mock_api, "POST", "/experiment_templates").json
    assert "source_protocol" not in body and body["description"] == "d"
    assert body["project_id"] == "p1" and body["force_create"] is False
    assert INCLUDABLE_FIELDS[0] == "protocol_config"


async def test_text_bodies_sent_as_json_strings_are_unquoted(
    any_client: Any, mock_api: Any
) -> None:
    mock_api.get(url_re("/experiment_templates/t1/human_readable"), body='"1. Rest for 1 s\\n"')
    assert await any_client.protocol.human_readable("t1") == "1. Rest for 1 s\n"
    mock_api.get(url_re("/experiment_templates/t1/source_protocol"), body='{"steps": []}')
    assert await any_client.protocol.source_protocol("t1") == '{"steps": []}'
