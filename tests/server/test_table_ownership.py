"""Only its repository module in ``ionworks/server/db`` writes each of the tables of projects,
cells, measurements, uploads, studies, pipelines and project members (the scan of
:mod:`tests.server.test_repositories`, run for these tables)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.server import test_repositories as scan

ROOT = Path(__file__).resolve().parents[2]
DB = "ionworks/server/db/"
#: The only module that may write each table.
OWNERS = {
    "projects": DB + "projects.py",
    "cell_specifications": DB + "cells.py",
    "cell_instances": DB + "cells.py",
    "cell_measurements": DB + "measurements.py",
    "measurement_uploads": DB + "uploads.py",
    "studies": DB + "studies.py",
    "study_simulations": DB + "studies.py",
    "study_measurements": DB + "studies.py",
    "pipelines": DB + "pipelines.py",
    "project_members": DB + "members.py",
}


@pytest.fixture(autouse=True)
def these_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan, "OWNERS", OWNERS)


def test_only_the_repositories_write_their_tables() -> None:
    found = []
    for file in sorted((ROOT / "ionworks").rglob("*.py")):
        path = file.relative_to(ROOT).as_posix()
        found += scan.sql_writes(file.read_text(encoding="utf-8"), path)
    assert not found, "SQL writing these tables outside their repository:\n" + "\n".join(found)


def test_the_scan_finds_writes_of_these_tables() -> None:
    source = """
def f(db, table, rows):
    db.execute("INSERT OR IGNORE INTO study_measurements(study_id) "
               "VALUES (?)", ())
    db.execute(f"UPDATE pipelines SET {field} = ? WHERE id = ?", ())
    db.execute("DELETE FROM measurement_uploads WHERE token = ?", ())
    for table in ("cell_instances", "jobs"):
        db.execute(f"DELETE FROM {table} WHERE project_id = ?", ())
    db.execute("SELECT * FROM projects JOIN studies ON 1")
    db.execute("UPDATE simulations SET study_id = NULL WHERE study_id IN "
               "(SELECT id FROM studies)")
"""
    assert scan.sql_writes(source, "ionworks/x.py") == [
        "ionworks/x.py:3: writes study_measurements",
        "ionworks/x.py:5: writes pipelines",
        "ionworks/x.py:6: writes measurement_uploads",
        "ionworks/x.py:8: writes cell_instances",
    ]
    delete = 'X = "DELETE FROM projects WHERE id = ?"'
    assert scan.sql_writes(delete, OWNERS["projects"]) == []
    assert scan.sql_writes(delete, OWNERS["studies"]) == [f"{OWNERS['studies']}:1: writes projects"]
