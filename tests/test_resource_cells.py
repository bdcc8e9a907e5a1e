"""``client.cell_spec`` and ``client.cell_instance`` on both clients: the official signatures,
CRUD against a real local server (names unique per project / per specification, 409 with
``detail.existing_id`` and ``create_or_get``, deleting a record that has children),
``related_specs``, and ``detail`` against a mocked API (every measurement with its data)."""

from __future__ import annotations

import inspect
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pybamm")

from ionworks import AsyncIonworks, Ionworks
from ionworks.errors import BadRequestError, ConflictError, NotFoundError, PermissionDeniedError
from ionworks.models import CellInstance, CellInstanceDetail, CellSpecification
from ionworks.server.db import cells
from ionworks.server.db.schema import SCHEMA
from ionworks.server.db.store import Store
from ionworks.server.hosting import EmbeddedServer
from tests.helpers import API, last_request, parquet_bytes, url_re
from tests.server.conftest import local_server, user_id

KEY_A = "cells-key-a"
KEY_B = "cells-key-b"
EMPTY = inspect.Parameter.empty
SLOTS = ("anode", "cathode", "electrolyte", "separator", "case")
POK, KO = "POSITIONAL_OR_KEYWORD", "KEYWORD_ONLY"
FILTERS = (
    "name", "name_exact", "created_by_email", "created_after", "created_before",
    "updated_after", "updated_before", "order_by", "order",
)  # fmt: skip
#: The official signatures (ionworks-api 0.38.0), as (name, kind, default).
OFFICIAL: dict[str, dict[str, list[tuple[str, str, Any]]]] = {
    "cell_spec": {
        "get": [("cell_spec_id", POK, EMPTY)],
        "list": [
            ("include_components", POK, False),
            ("limit", POK, None),
            ("offset", POK, None),
            *((n, KO, None) for n in FILTERS[:2]),
            ("form_factor", KO, None),
            *((n, KO, None) for n in FILTERS[2:]),
            ("project_id", KO, None),
            ("material_id", KO, None),
            *((f"{s}_material_id", KO, None) for s in SLOTS),
            ("exclude_cell_spec_id", KO, None),
        ],
        "related_specs": [
            ("cell_spec_id", POK, EMPTY),
            ("slots", KO, None),
            ("exclude_self", KO, True),
            ("limit", KO, 100),
            ("offset", KO, 0),
            ("include_components", KO, False),
        ],
        "create": [("data", POK, EMPTY)],
        "create_or_get": [("data", POK, EMPTY)],
        "update": [("cell_spec_id", POK, EMPTY), ("data", POK, EMPTY)],
        "delete": [("cell_spec_id", POK, EMPTY)],
    },
    "cell_instance": {
        "get": [("cell_instance_id", POK, EMPTY)],
        "list": [
            ("cell_spec_id", POK, EMPTY),
            ("limit", POK, None),
            ("offset", POK, None),
            *((n, KO, None) for n in FILTERS),
            ("batch_id", KO, None),
        ],
        "update": [("cell_instance_id", POK, EMPTY), ("data", POK, EMPTY)],
        "delete": [("cell_instance_id", POK, EMPTY)],
        "detail": [
            ("cell_instance_id", POK, EMPTY),
            ("include_steps", POK, True),
            ("include_cycles", POK, True),
            ("include_time_series", POK, True),
        ],
        "create": [("cell_spec_id", POK, EMPTY), ("data", POK, EMPTY)],
        "create_or_get": [("cell_spec_id", POK, EMPTY), ("data", POK, EMPTY)],
    },
}


def test_signatures_are_the_official_ones() -> None:
    with Ionworks(api_key="k", api_url="http://127.0.0.1:9") as sync_client:
        async_client = AsyncIonworks(api_key="k", api_url="http://127.0.0.1:9")
        for group, methods in OFFICIAL.items():
            for client in (async_client, sync_client):
                resource = getattr(client, group)
                for method, expected in methods.items():
                    params = list(inspect.signature(getattr(resource, method)).parameters.values())
                    got = [(p.name, p.kind.name, p.default) for p in params]
                    assert got == expected, (group, method)


# --------------------------------------------------------------------------- a real server


@pytest.fixture(scope="module")
def cells_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    with local_server(tmp_path_factory, "cells-data", KEY_A, KEY_B) as srv:
        yield srv


@pytest.fixture
async def live(
    cells_server: EmbeddedServer, new_client: Callable[..., AbstractAsyncContextManager[Any]]
) -> AsyncIterator[Any]:
    """Key A on the module's server, on both clients in turn."""
    async with new_client(api_key=KEY_A, api_url=cells_server.url) as client:
        yield client


@pytest.fixture
async def other(cells_server: EmbeddedServer) -> AsyncIterator[AsyncIonworks]:
    async with AsyncIonworks(api_key=KEY_B, api_url=cells_server.url) as client:
        yield client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_spec_crud_and_unique_names(live: Any) -> None:
    name = unique("NMC811 21700")
    spec = await live.cell_spec.create({"name": name, "form_factor": "cylindrical"})
    assert isinstance(spec, CellSpecification) and spec.name == name
    assert spec.form_factor == "cylindrical" and spec.project_id

    assert (await live.cell_spec.get(spec.id)).name == name
    listed = await live.cell_spec.list(name_exact=name)
    assert [s.id for s in listed] == [spec.id]
    assert [s.id for s in await live.cell_spec.list(form_factor="cylindrical", name=name)] == [
        spec.id
    ]

    with pytest.raises(ConflictError) as caught:
        await live.cell_spec.create({"name": name})
    assert caught.value.data["detail"]["existing_id"] == spec.id
    again = await live.cell_spec.create_or_get({"name": name, "form_factor": "ignored"})
    assert again.id == spec.id and again.form_factor == "cylindrical"

    renamed = await live.cell_spec.update(spec.id, {"name": name + "b", "nominal_capacity": 5})
    assert renamed.name == name + "b" and renamed.nominal_capacity == 5
    assert renamed.form_factor == "cylindrical"  # a partial update keeps the other fields
    other_spec = await live.cell_spec.create({"name": name})
    with pytest.raises(ConflictError) as caught:
        await live.cell_spec.update(other_spec.id, {"name": name + "b"})
    assert caught.value.data["detail"]["existing_id"] == spec.id

    for record in (spec, other_spec):
        await live.cell_spec.delete(record.id)
    with pytest.raises(NotFoundError):
        await live.cell_spec.get(spec.id)


async def test_instance_crud_unique_per_spec_and_delete_order(live: Any) -> None:
    spec = await live.cell_spec.create({"name": unique("spec")})
    second = await live.cell_spec.create({"name": unique("spec")})
    cell = await live.cell_instance.create(spec.id, {"name": "Cell 001", "notes": "first"})
    assert isinstance(cell, CellInstance)
    assert cell.cell_specification_id == spec.id and cell.batch_id is None
    assert cell.notes == "first"
    # unique per specification: the same name under another specification is fine
    twin = await live.cell_instance.create(second.id, {"name": "Cell 001"})
    assert twin.id != cell.id

    with pytest.raises(ConflictError) as caught:
        await live.cell_instance.create(spec.id, {"name": "Cell 001"})
    assert caught.value.data["detail"]["existing_id"] == cell.id
    assert (await live.cell_instance.create_or_get(spec.id, {"name": "Cell 001"})).id == cell.id

    with pytest.raises(ValueError, match="batch_id"):
        await live.cell_instance.create(spec.id, {"name": "x", "batch": "LOT-1"})
    with pytest.raises(BadRequestError):
        await live.cell_instance.create(spec.id, {"name": "x", "batch_id": "lot-1"})

    second_cell = await live.cell_instance.create(spec.id, {"name": "Cell 002"})
    listed = await live.cell_instance.list(spec.id, order_by="name", order="asc")
    assert [c.name for c in listed] == ["Cell 001", "Cell 002"]
    assert [c.id for c in await live.cell_instance.list(spec.id, name_exact="Cell 002")] == [
        second_cell.id
    ]
    assert (await live.cell_instance.list(spec.id, limit=1)).total == 2

    updated = await live.cell_instance.update(cell.id, {"notes": "retested"})
    assert updated.notes == "retested" and updated.name == "Cell 001"
    with pytest.raises(ConflictError):
        await live.cell_instance.update(cell.id, {"name": "Cell 002"})

    detail = await live.cell_instance.detail(cell.id)
    assert isinstance(detail, CellInstanceDetail)
    assert detail.instance.id == cell.id and detail.specification_id == spec.id
    assert detail.measurements == []

    # a specification with instances is not deleted (nothing goes in cascade)
    with pytest.raises(ConflictError) as caught:
        await live.cell_spec.delete(spec.id)
    assert caught.value.data["detail"]["instance_count"] == 2
    for record in (cell, second_cell):
        await live.cell_instance.delete(record.id)
    with pytest.raises(NotFoundError):
        await live.cell_instance.get(cell.id)
    await live.cell_spec.delete(spec.id)
    await live.cell_instance.delete(twin.id)
    await live.cell_spec.delete(second.id)


async def test_related_specs_and_components(live: Any) -> None:
    anode, cathode, other_cathode = unique("graphite"), unique("nmc"), unique("lfp")
    base = await live.cell_spec.create(
        {
            "name": unique("base"),
            "anode": {"material_id": anode},
            "cathode": {"material_id": cathode},
        }
    )
    same_anode = await live.cell_spec.create(
        {
            "name": unique("same-anode"),
            "anode": {"material_id": anode},
            "cathode": {"material_id": other_cathode},
        }
    )
    crossed = await live.cell_spec.create(
        {"name": unique("crossed"), "cathode": {"material_id": anode}}
    )
    unrelated = await live.cell_spec.create(
        {"name": unique("unrelated"), "anode": {"material_id": other_cathode}}
    )

    related = await live.cell_spec.related_specs(base.id)
    assert {s.id for s in related} == {same_anode.id, crossed.id}
    assert all(not hasattr(s, "anode") for s in related)  # metadata only by default
    per_slot = await live.cell_spec.related_specs(base.id, slots=["anode"])
    assert [s.id for s in per_slot] == [same_anode.id]
    with_self = await live.cell_spec.related_specs(
        base.id, slots=["cathode"], exclude_self=False, include_components=True
    )
    assert [s.id for s in with_self] == [base.id]
    assert with_self[0].cathode == {"material_id": cathode}
    assert await live.cell_spec.related_specs(unrelated.id, slots=["cathode"]) == []
    with pytest.raises(ValueError, match="Unknown slot"):
        await live.cell_spec.related_specs(base.id, slots=["lid"])

    full = await live.cell_spec.list(include_components=True, material_id=[anode])
    assert {s.id for s in full} == {base.id, same_anode.id, crossed.id}
    assert await live.cell_spec.list(material_id=[]) == []
    for spec in (base, same_anode, crossed, unrelated):
        await live.cell_spec.delete(spec.id)


async def test_another_key_sees_nothing(live: Any, other: AsyncIonworks) -> None:
    spec = await live.cell_spec.create({"name": unique("private")})
    cell = await live.cell_instance.create(spec.id, {"name": "mine"})
    for call in (
        lambda: other.cell_spec.get(spec.id),
        lambda: other.cell_spec.update(spec.id, {"name": "theirs"}),
        lambda: other.cell_spec.delete(spec.id),
        lambda: other.cell_instance.get(cell.id),
        lambda: other.cell_instance.update(cell.id, {"name": "theirs"}),
        lambda: other.cell_instance.delete(cell.id),
        lambda: other.cell_instance.create(spec.id, {"name": "intruder"}),
        lambda: other.cell_instance.detail(cell.id),
    ):
        with pytest.raises(NotFoundError):
            await call()
    assert (await live.cell_instance.get(cell.id)).name == "mine"
    # the same name is free for another key
    theirs = await other.cell_spec.create({"name": spec.name})
    assert theirs.id != spec.id
    await other.cell_spec.delete(theirs.id)


async def test_project_members_by_role(live: Any, other: AsyncIonworks) -> None:
    """A viewer of a shared project reads its specifications and instances; a contributor
    also writes them, under the same name rules; the owner's other projects stay hidden."""
    project = await live.project.create({"name": unique("shared cells")})
    spec = await live.cell_spec.create({"name": "team spec", "project_id": project.id})
    cell = await live.cell_instance.create(spec.id, {"name": "team cell"})
    private = await live.cell_spec.create({"name": unique("private")})
    member = await user_id(other)
    await live.project.add_member(project.id, member, "Project Viewer")
    assert (await other.cell_spec.get(spec.id)).name == "team spec"
    assert [c.id for c in await other.cell_instance.list(spec.id)] == [cell.id]
    with pytest.raises(PermissionDeniedError):
        await other.cell_spec.update(spec.id, {"notes": "x"})
    with pytest.raises(NotFoundError):
        await other.cell_spec.get(private.id)

    await live.project.update_member(project.id, member, "Project Contributor")
    theirs = await other.cell_instance.create(spec.id, {"name": "member cell"})
    assert (await live.cell_instance.get(theirs.id)).name == "member cell"
    with pytest.raises(ConflictError) as caught:
        await other.cell_spec.create({"name": "team spec", "project_id": project.id})
    assert caught.value.data["detail"]["existing_id"] == spec.id
    again = await other.cell_spec.create_or_get({"name": "team spec", "project_id": project.id})
    assert again.id == spec.id
    for record in (cell, theirs):
        await other.cell_instance.delete(record.id)
    await other.cell_spec.delete(spec.id)
    await live.cell_spec.delete(private.id)
    await live.project.delete(project.id)


# --------------------------------------------------------------------------- older data


def test_older_data_with_duplicate_names_stays_readable(tmp_path: Path) -> None:
    """A data directory of an older version: cell tables without ``updated_at`` and duplicate
    names. Opening it adds the column; the duplicates stay, and new records are checked."""
    db = sqlite3.connect(tmp_path / "ionworks.sqlite3")
    old_tables = SCHEMA.split("-- cell specifications and instances")[1].split("-- measurements")[0]
    db.executescript(old_tables)
    for sid in ("s1", "s2"):
        db.execute(
            "INSERT INTO cell_specifications(id, owner_id, project_id, name, fields, created_at)"
            " VALUES (?, 'o', 'p', 'dup', '{}', ?)",
            (sid, f"2020-01-0{sid[1]}T00:00:00Z"),
        )
    db.commit()
    db.close()
    store = Store(tmp_path)
    try:
        assert [r["id"] for r in cells.list_specifications(store, "o", project_id="p")] == [
            "s2",
            "s1",
        ]
        with pytest.raises(cells.NameTaken) as caught:
            cells.create_specification(store, "o", "p", "dup", {}, unique=True)
        assert caught.value.existing_id == "s1"  # the oldest
        sid = cells.create_specification(store, "o", "p", "fresh", {}, unique=True)
        row = cells.get_specification(store, "o", sid)
        assert row is not None and row["updated_at"]
    finally:
        store.close()


# --------------------------------------------------------------------------- detail, mocked


async def test_detail_fetches_every_measurement(any_client: Any, mock_api: Any) -> None:
    instance = {"id": "ci-1", "name": "Cell 1", "cell_specification_id": "cs-1"}
    mock_api.get(url_re("/cell_instances/ci-1"), payload=instance, repeat=True)
    listed = {"items": [{"id": "m1", "name": "run 1", "cell_instance_id": "ci-1"}], "total": 1}
    mock_api.get(url_re("/cell_instances/ci-1/cell_measurements"), payload=listed)
    record = {"id": "m1", "name": "run 1", "cell_instance_id": "ci-1", "notes": "n"}
    mock_api.get(url_re("/cell_measurements/m1"), payload=record)
    mock_api.get(url_re("/cell_measurements/m1/steps/download"), status=404, payload={})
    cycles = {"cycles": {"Cycle count": [0, 1], "Discharge capacity [A.h]": [5.0, 4.9]}}
    mock_api.get(url_re("/cell_measurements/m1/steps_and_cycles"), payload=cycles)
    body = parquet_bytes({"Time [s]": [0.0, 1.0], "Voltage [V]": [4.2, 4.1]})
    mock_api.get(url_re("/cell_measurements/m1/time_series/download"), body=body)

    detail = await any_client.cell_instance.detail("ci-1")
    assert detail.specification_id == "cs-1" and detail.instance.name == "Cell 1"
    (measurement,) = detail.measurements
    assert measurement.id == "m1" and measurement.notes == "n"
    assert measurement.instance_id == "ci-1" and measurement.specification_id == "cs-1"
    assert measurement.steps is None  # no step table: not an error
    assert measurement.cycles["Cycle count"].to_list() == [0, 1]
    assert measurement.time_series["Voltage [V]"].to_list() == [4.2, 4.1]


async def test_detail_flags_skip_requests(any_client: Any, mock_api: Any) -> None:
    instance = {"id": "ci-1", "name": "Cell 1", "cell_specification_id": "cs-1"}
    mock_api.get(url_re("/cell_instances/ci-1"), payload=instance)
    listed = [{"id": "m1", "name": "run 1", "cell_instance_id": "ci-1"}]
    mock_api.get(url_re("/cell_instances/ci-1/cell_measurements"), payload=listed)
    mock_api.get(url_re("/cell_measurements/m1"), payload=listed[0])
    detail = await any_client.cell_instance.detail(
        "ci-1", include_steps=False, include_cycles=False, include_time_series=False
    )
    (measurement,) = detail.measurements
    assert (measurement.steps, measurement.cycles, measurement.time_series) == (None, None, None)
    assert API  # every request above was mocked; an unmocked one would fail the call


async def test_spec_create_sends_the_default_project(any_client: Any, mock_api: Any) -> None:
    mock_api.post(url_re("/cell_specifications"), payload={"id": "cs-1", "name": "n"})
    await any_client.cell_spec.create({"name": "n"})
    assert last_request(mock_api, "POST", "/cell_specifications").json == {
        "name": "n",
        "project_id": "p1",
    }
