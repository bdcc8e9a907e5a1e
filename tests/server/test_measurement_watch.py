"""Integration: ``cell_measurement.watch`` / ``unwatch`` / ``list_watched`` on the real local
server, through the async and the sync client (``clients``: key A owns, key B is the other
key): idempotent both ways, 404 for an unknown or unreadable measurement, ended by an
``end_time``, gone with the measurement, personal inside a shared project."""

from __future__ import annotations

from typing import Any

import pytest

from ionworks.errors import NotFoundError
from ionworks.server.db.store import Store
from ionworks.server.hosting import EmbeddedServer
from tests.server.conftest import all_not_found

pl = pytest.importorskip("polars")


def frame() -> Any:
    return pl.DataFrame(
        {"Time [s]": [0.0, 1.0, 2.0], "Current [A]": [1.0] * 3, "Voltage [V]": [4.0, 3.9, 3.8]}
    )


async def measurement(api: Any, name: str, project_id: str | None = None) -> Any:
    return await api.cell_measurement.upload(frame(), name=name, project_id=project_id)


def watch_rows(server: EmbeddedServer, measurement_id: str) -> int:
    """How many watches of the measurement the database holds (any user)."""
    store = Store(server.config.data_dir, exclusive=False)
    try:
        rows = store.query(
            "SELECT user_id FROM measurement_watches WHERE measurement_id = ?", (measurement_id,)
        )
        return len(rows)
    finally:
        store.close()


async def test_watch_and_unwatch_are_idempotent(owner_api: Any, server: EmbeddedServer) -> None:
    m = await measurement(owner_api, "watched run")
    other = await measurement(owner_api, "other run")
    assert await owner_api.cell_measurement.watch(m.id) is None
    await owner_api.cell_measurement.watch(m.id)
    await owner_api.cell_measurement.watch(other.id)
    assert await owner_api.cell_measurement.list_watched() == [m.id, other.id]
    assert watch_rows(server, m.id) == 1
    assert await owner_api.cell_measurement.unwatch(m.id) is None
    await owner_api.cell_measurement.unwatch(m.id)
    assert await owner_api.cell_measurement.list_watched(m.project_id) == [other.id]
    assert watch_rows(server, m.id) == 0
    for done in (m, other):
        await owner_api.cell_measurement.delete(done.id)


async def test_unknown_or_unreadable_measurement_is_404(
    owner_api: Any, member_api: Any, server: EmbeddedServer
) -> None:
    mine = await measurement(owner_api, "private run")
    api = owner_api.cell_measurement
    other = member_api.cell_measurement
    await all_not_found(
        lambda: api.watch("no-such-measurement"),
        lambda: api.unwatch("no-such-measurement"),
        lambda: other.watch(mine.id),  # key B is no member of key A's project
        lambda: other.unwatch(mine.id),
        lambda: other.list_watched(mine.project_id),
    )
    assert watch_rows(server, mine.id) == 0
    await api.delete(mine.id)


async def test_an_end_time_ends_the_watch(owner_api: Any, server: EmbeddedServer) -> None:
    m = await measurement(owner_api, "finishing run")
    api = owner_api.cell_measurement
    await api.watch(m.id)
    await api.update(m.id, {"notes": "still running"})
    assert await api.list_watched() == [m.id]
    await api.update(m.id, {"end_time": "2026-01-02T03:04:05Z"})
    assert await api.list_watched() == []
    assert watch_rows(server, m.id) == 0
    # watching a finished test is accepted and leaves nothing behind
    await api.watch(m.id)
    assert watch_rows(server, m.id) == 0
    await api.unwatch(m.id)
    await api.delete(m.id)


async def test_a_test_finished_at_creation_takes_no_watch(
    owner_api: Any, server: EmbeddedServer
) -> None:
    anchor = await owner_api.cell_measurement.upload(frame(), name="anchor")
    done = await owner_api.cell_measurement.create(
        anchor.cell_instance_id,
        {
            "measurement": {"name": "finished run", "end_time": "2026-01-02T00:00:00Z"},
            "time_series": frame(),
        },
    )
    await owner_api.cell_measurement.watch(done.id)
    assert watch_rows(server, done.id) == 0
    assert done.id not in await owner_api.cell_measurement.list_watched()
    for made in (done, anchor):
        await owner_api.cell_measurement.delete(made.id)


async def test_the_watch_goes_with_its_measurement(owner_api: Any, server: EmbeddedServer) -> None:
    m = await measurement(owner_api, "deleted run")
    await owner_api.cell_measurement.watch(m.id)
    await owner_api.cell_measurement.delete(m.id)
    assert watch_rows(server, m.id) == 0
    with pytest.raises(NotFoundError):
        await owner_api.cell_measurement.watch(m.id)


async def test_watches_are_personal_in_a_shared_project(
    owner_api: Any, member_api: Any, shared: tuple[str, str, str], server: EmbeddedServer
) -> None:
    pid, other_pid, member = shared
    await owner_api.project.add_member(pid, member, "Project Viewer")
    m = await measurement(owner_api, "team run", project_id=pid)
    await member_api.cell_measurement.watch(m.id)  # a viewer may watch: it writes nothing shared
    assert await member_api.cell_measurement.list_watched(pid) == [m.id]
    assert await owner_api.cell_measurement.list_watched(pid) == []
    await owner_api.cell_measurement.watch(m.id)
    assert watch_rows(server, m.id) == 2
    await member_api.cell_measurement.unwatch(m.id)
    assert await owner_api.cell_measurement.list_watched(pid) == [m.id]
    assert await member_api.cell_measurement.list_watched(pid) == []
    private = await measurement(owner_api, "private team run", project_id=other_pid)
    await all_not_found(lambda: member_api.cell_measurement.watch(private.id))
    await owner_api.cell_measurement.delete(m.id)
    assert watch_rows(server, m.id) == 0


async def test_deleting_a_project_deletes_its_watches(
    owner_api: Any, server: EmbeddedServer
) -> None:
    project = await owner_api.project.create({"name": "short-lived"})
    m = await measurement(owner_api, "run", project_id=project.id)
    await owner_api.cell_measurement.watch(m.id)
    assert watch_rows(server, m.id) == 1
    await owner_api.project.delete(project.id)
    assert watch_rows(server, m.id) == 0
