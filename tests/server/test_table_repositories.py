"""The repositories of projects, cells, measurements, uploads, studies and pipelines
(``ionworks/server/db``): the atomic upload claim, the sweep, the project cascade."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ionworks.server.db import cells, measurements, pipelines, projects, studies, uploads
from ionworks.server.db.store import Store, now_iso

FILES = (measurements.TIME_SERIES, measurements.STEPS)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path)
    yield s
    s.close()


def _states(store: Store, mid: str) -> list[int]:
    rows = store.query(
        "SELECT received FROM measurement_uploads WHERE measurement_id = ? ORDER BY filename",
        (mid,),
    )
    return [int(r["received"]) for r in rows]


def _initiate(store: Store, owner_id: str, mid: str) -> list[str]:
    pid = projects.default_project(store, owner_id)["id"]
    instance = cells.default_instance(store, owner_id, pid)
    return uploads.create(store, owner_id, instance["id"], mid, FILES, '{"name": "m"}')


def test_claim_takes_the_uploads_of_a_measurement_once(store: Store) -> None:
    tokens = _initiate(store, "org-a", "m1")
    assert uploads.start_receiving(store, tokens[0], ttl=60)
    assert not uploads.start_receiving(store, tokens[0], ttl=60)  # single use
    with pytest.raises(uploads.AlreadyClaimed, match="still being uploaded"):
        uploads.claim(store, "org-a", "m1")
    assert sorted(_states(store, "m1")) == [uploads.WAITING, uploads.RECEIVING]  # unchanged
    assert uploads.finish_receiving(store, tokens[0])
    with pytest.raises(LookupError):
        uploads.claim(store, "org-b", "m1")  # another owner's upload is unknown to it
    claimed = uploads.claim(store, "org-a", "m1")
    assert sorted(r["token"] for r in claimed) == sorted(tokens)
    assert _states(store, "m1") == [uploads.CONFIRMING] * 2
    with pytest.raises(uploads.AlreadyClaimed, match="already being confirmed"):
        uploads.claim(store, "org-a", "m1")
    assert not uploads.finish_receiving(store, tokens[1])  # never received: stays claimed


def test_claim_after_the_record_was_written_is_a_conflict(store: Store) -> None:
    tokens = _initiate(store, "org-a", "m1")
    uploads.claim(store, "org-a", "m1")
    (instance,) = cells.list_instances(store, "org-a", only_default=True)
    measurements.create(
        store, instance, "m1", {"name": "m", "tags": ["x"]}, row_count=3, steps_count=None
    )
    uploads.discard(store, tokens)
    with pytest.raises(uploads.AlreadyClaimed, match="already confirmed"):
        uploads.claim(store, "org-a", "m1")
    with pytest.raises(LookupError, match="no pending upload"):
        uploads.claim(store, "org-a", "m2")
    row = measurements.get(store, "org-a", "m1")
    assert row is not None and row["name"] == "m" and row["row_count"] == 3
    assert measurements.get(store, "org-b", "m1") is None


def test_sweep_at_start_frees_interrupted_puts_and_spends_interrupted_confirms(
    store: Store,
) -> None:
    put = _initiate(store, "org-a", "put")
    confirm = _initiate(store, "org-a", "confirm")
    uploads.start_receiving(store, put[0], ttl=60)
    uploads.partial_path(store, put[0]).parent.mkdir(parents=True, exist_ok=True)
    uploads.partial_path(store, put[0]).write_bytes(b"half")
    uploads.claim(store, "org-a", "confirm")
    store.write_blobs(measurements.FOLDER.format("confirm"), {FILES[0]: b"moved"})
    stray = uploads.complete_path(store, "unknown-token")
    stray.write_bytes(b"x")
    uploads.sweep(store, ttl=60, at_start=True)
    assert _states(store, "put") == [uploads.WAITING] * 2
    assert not uploads.partial_path(store, put[0]).exists()
    assert _states(store, "confirm") == []
    assert not store.blob_path(measurements.FOLDER.format("confirm"), FILES[0]).exists()
    assert not stray.exists()
    uploads.sweep(store, ttl=0)  # everything has expired now
    assert _states(store, "put") == [] and confirm


def test_open_uploads_counts_measurements_of_the_owner(store: Store) -> None:
    before = time.time()
    _initiate(store, "org-a", "m1")
    _initiate(store, "org-a", "m2")
    count, oldest = uploads.open_uploads(store, "org-a")
    assert count == 2 and oldest is not None and oldest >= before
    assert uploads.open_uploads(store, "org-b") == (0, None)


def _fill(store: Store, owner_id: str, project_id: str, tag: str) -> dict[str, str]:
    """One row of every table in the project (and its files); returns their ids."""
    spec = cells.create_specification(store, owner_id, project_id, f"spec {tag}", {})
    spec_row = cells.get_specification(store, owner_id, spec)
    assert spec_row is not None
    instance = cells.create_instance(store, spec_row, f"cell {tag}", {})
    instance_row = cells.get_instance(store, owner_id, instance)
    assert instance_row is not None
    mid = f"meas-{tag}"
    measurements.create(store, instance_row, mid, {"name": tag}, row_count=1, steps_count=None)
    store.write_blobs(measurements.FOLDER.format(mid), {FILES[0]: b"ts"})
    (token, _) = uploads.create(store, owner_id, instance, f"up-{tag}", FILES, "{}")
    study = studies.create(store, owner_id, project_id, f"study {tag}", None, {})
    studies.add_member(store, "measurement", study["id"], mid)
    pipelines.create(
        store, f"pipe-{tag}", owner_id, "pipeline", project_id, name=tag, description=None,
        config={}, options={}, job_id=f"job-{tag}", created_at=now_iso(),
    )  # fmt: skip
    return {"spec": spec, "instance": instance, "measurement": mid, "token": token,
            "study": study["id"], "pipeline": f"pipe-{tag}"}  # fmt: skip


def _count(store: Store, table: str) -> int:
    row = store.one(f"SELECT COUNT(*) n FROM {table}")
    assert row is not None
    return int(row["n"])


def test_delete_rows_removes_the_project_and_only_its_rows(store: Store) -> None:
    gone = projects.create(store, "org-a", "gone", None)
    kept = projects.default_project(store, "org-a")["id"]
    other = projects.default_project(store, "org-b")["id"]
    doomed = _fill(store, "org-a", gone, "gone")
    _fill(store, "org-a", kept, "kept")
    _fill(store, "org-b", other, "other")
    folders = measurements.folders_in_project(store, "org-a", gone)
    assert folders == [measurements.FOLDER.format(doomed["measurement"])]
    tokens = uploads.tokens_in_project(store, "org-a", gone)
    assert doomed["token"] in tokens and len(tokens) == len(FILES)
    projects.delete_rows(store, "org-b", gone)  # another owner's id: nothing happens
    assert projects.get(store, "org-a", gone) is not None
    with store.transaction():
        projects.delete_rows(store, "org-a", gone)
    assert projects.get(store, "org-a", gone) is None
    assert cells.get_specification(store, "org-a", doomed["spec"]) is None
    assert cells.get_instance(store, "org-a", doomed["instance"]) is None
    assert measurements.get(store, "org-a", doomed["measurement"]) is None
    assert uploads.tokens_in_project(store, "org-a", gone) == []
    assert studies.get(store, "org-a", gone, doomed["study"]) is None
    assert pipelines.get(store, "org-a", "pipeline", doomed["pipeline"]) is None
    counts = {
        table: _count(store, table)
        for table in ("cell_specifications", "cell_instances", "cell_measurements", "studies",
                      "study_measurements", "pipelines", "projects")
    }  # fmt: skip
    assert counts == {
        "cell_specifications": 2,
        "cell_instances": 2,
        "cell_measurements": 2,
        "studies": 2,
        "study_measurements": 2,  # the memberships went with the study (ON DELETE CASCADE)
        "pipelines": 2,
        "projects": 2,
    }
    assert _count(store, "measurement_uploads") == 4
    # the rows go in the caller's transaction: a failure keeps all of them
    with pytest.raises(RuntimeError), store.transaction():
        projects.delete_rows(store, "org-a", kept)
        raise RuntimeError
    assert projects.get(store, "org-a", kept) is not None and _count(store, "pipelines") == 2


def test_default_instance_is_created_once_per_project(store: Store) -> None:
    pid = projects.default_project(store, "org-a")["id"]
    first = cells.default_instance(store, "org-a", pid)
    assert cells.default_instance(store, "org-a", pid)["id"] == first["id"]
    assert [r["id"] for r in cells.list_instances(store, "org-a", only_default=True)] == [
        first["id"]
    ]
    assert cells.list_instances(store, "org-b", project_id=pid) == []
    assert projects.default_project(store, "org-a")["id"] == pid
