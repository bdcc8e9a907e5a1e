"""A data directory of an older version keeps working: its ``templates`` and ``simulations``
tables get the new columns, and its templates are found again by content (db/schema.upgrade,
db/templates)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from ionworks.server.db import simulations as simulations_db
from ionworks.server.db import templates as templates_db
from ionworks.server.db.schema import ADDED_COLUMNS
from ionworks.server.db.store import Store
from ionworks.ucp.parse import load

OLD_TEMPLATES = """
CREATE TABLE templates (
  id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, project_id TEXT, name TEXT NOT NULL,
  protocol TEXT NOT NULL, digest TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX templates_digest ON templates(owner_id, digest);
CREATE TABLE simulations (
  id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, project_id TEXT, template_id TEXT NOT NULL,
  job_id TEXT NOT NULL, parameterized_model TEXT NOT NULL, experiment_parameters TEXT NOT NULL,
  design_parameters TEXT NOT NULL, extra_variables TEXT NOT NULL,
  max_backward_jumps INTEGER NOT NULL, study_id TEXT, storage_folder TEXT, metrics TEXT,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, seq INTEGER NOT NULL);
"""
TEXT = "steps:\n  - Rest: {duration: 60}\n"


def _old_data_dir(path: Path) -> None:
    db = sqlite3.connect(path / "ionworks.sqlite3")
    db.executescript(OLD_TEMPLATES)
    db.execute(
        "INSERT INTO templates VALUES ('t-old', 'org-a', 'proj', 'Old', ?, 'name-digest', "
        "'2025-01-01T00:00:00.000000Z')",
        (TEXT,),
    )
    db.commit()
    db.close()


def _columns(store: Store, table: str) -> set[str]:
    return {row["name"] for row in store.query(f"PRAGMA table_info({table})")}


def test_an_old_data_directory_is_upgraded_and_its_templates_found_by_content(
    tmp_path: Path,
) -> None:
    _old_data_dir(tmp_path)
    store = Store(tmp_path)
    try:
        for table, columns in ADDED_COLUMNS.items():
            assert {name for name, _ in columns} <= _columns(store, table)
        config = load(TEXT).data
        # found by the digest of its content, computed from the old row's text on first read
        assert templates_db.find(store, "org-a", "proj", templates_db.digest_of(config)) == "t-old"
        row = templates_db.get(store, "org-a", "t-old")
        assert row is not None
        assert json.loads(row["protocol_config"]) == config
        assert row["source_protocol"] == TEXT and row["updated_at"] == row["created_at"]
        assert row["protocol"] == TEXT  # what the jobs run is unchanged
    finally:
        store.close()
    Store(tmp_path).close()  # and opening it again changes nothing


def test_content_digests_ignore_key_order_and_number_spelling_of_keys() -> None:
    first = {"steps": [{"Rest": {"duration": 60}}], "global": {"initial_soc": 1}}
    second = {"global": {"initial_soc": 1}, "steps": [{"Rest": {"duration": 60}}]}
    assert templates_db.digest_of(first) == templates_db.digest_of(second)
    assert templates_db.digest_of(first) != templates_db.digest_of({**first, "global": {}})
    assert templates_db.jsonable({1: [{True: None}]}) == {"1": [{"True": None}]}


def test_identical_runs_are_found_only_while_reusable(tmp_path: Path) -> None:
    from tests.server.test_repositories import _batch

    store = Store(tmp_path)
    try:
        jobs, sims = _batch("org-a", "t1", 1, store.reserve_seq(2))
        sims = [sims[0]._replace(run_key="k1")]
        assert simulations_db.insert_batch(store, jobs, sims) == {}
        again, copies = _batch("org-a", "t1", 1, store.reserve_seq(2))
        copy = copies[0]._replace(run_key="k1")
        found = simulations_db.insert_batch(store, again, [copy])
        assert found == {"k1": simulations_db.Run(sims[0].id, jobs[0].id)}
        assert not simulations_db.exists(store, copy.id)  # nothing inserted
        other, theirs = _batch("org-b", "t1", 1, store.reserve_seq(2))  # another owner
        assert simulations_db.insert_batch(store, other, [theirs[0]._replace(run_key="k1")]) == {}
        store.execute("UPDATE jobs SET status = 'failed' WHERE id = ?", (jobs[0].id,))
        assert simulations_db.insert_batch(store, again, [copy]) == {}  # failed: runs again
        assert simulations_db.exists(store, copy.id)
        assert simulations_db.count_with_template(store, "org-a", "t1") == 2
        assert simulations_db.count_with_template(store, "org-b", "t1") == 1
    finally:
        store.close()
