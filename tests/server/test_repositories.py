"""The repositories of ``jobs``, ``simulations`` and ``templates`` (``ionworks/server/db``):
only they write their tables, and their guarded state changes hold."""

from __future__ import annotations

import ast
import json
import re
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ionworks.server.db import jobs as jobs_db
from ionworks.server.db import simulations as simulations_db
from ionworks.server.db import templates as templates_db
from ionworks.server.db.store import Store, new_id, now_iso

ROOT = Path(__file__).resolve().parents[2]
#: The only module that may write each table.
OWNERS = {
    "jobs": "ionworks/server/db/jobs.py",
    "simulations": "ionworks/server/db/simulations.py",
    "templates": "ionworks/server/db/templates.py",
}
WRITE = re.compile(
    r"\b(?:INSERT(?:\s+OR\s+[A-Z]+)?\s+INTO|REPLACE\s+INTO|UPDATE(?:\s+OR\s+[A-Z]+)?|DELETE\s+FROM)"
    r"\s+\"?(\w+|\{\})"
)


def _strings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every string literal (adjacent literals are one; an f-string's fields become ``{}``)."""
    parts_of_fstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = ""
            for part in node.values:
                parts_of_fstrings.add(id(part))
                text += str(part.value) if isinstance(part, ast.Constant) else "{}"
            yield node.lineno, text
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in parts_of_fstrings:
                yield node.lineno, node.value


def sql_writes(source: str, path: str) -> list[str]:
    """``path:line: table`` of every SQL write of a guarded table outside its repository. A
    write to a computed table name counts as a write of each guarded table the module names
    as an element of a tuple or list (tables looped over, as ``("jobs", condition)``)."""
    tree = ast.parse(source)
    listed = {
        item.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Tuple | ast.List)
        for item in node.elts
        if isinstance(item, ast.Constant) and item.value in OWNERS
    }
    found = []
    for line, text in _strings(tree):
        for match in WRITE.finditer(text):
            table = match.group(1)
            for name in sorted(listed) if table == "{}" else [table]:
                if name in OWNERS and OWNERS[name] != path:
                    found.append(f"{path}:{line}: writes {name}")
    return sorted(found)


def test_only_the_repositories_write_jobs_simulations_and_templates() -> None:
    found = []
    for file in sorted((ROOT / "ionworks").rglob("*.py")):
        path = file.relative_to(ROOT).as_posix()
        found += sql_writes(file.read_text(encoding="utf-8"), path)
    assert not found, "SQL writing these tables outside their repository:\n" + "\n".join(found)


def test_the_scan_finds_writes_in_every_form() -> None:
    source = """
ROWS = (("jobs", "id = ?"), ("cells", "id = ?"))
def f(db, table):
    db.execute("UPDATE jobs SET result = ? WHERE id = ?", ())
    db.execute("INSERT INTO simulations(id) "
               "VALUES (?)", ())
    db.execute(f"DELETE FROM templates WHERE id IN ({marks})", ())
    for table, condition in ROWS:
        db.execute(f"DELETE FROM {table} WHERE {condition}", ())
    db.execute("SELECT * FROM jobs JOIN simulations s ON 1")
    db.execute("UPDATE cells SET x = 1")
"""
    assert sql_writes(source, "ionworks/x.py") == [
        "ionworks/x.py:4: writes jobs",
        "ionworks/x.py:5: writes simulations",
        "ionworks/x.py:7: writes templates",
        "ionworks/x.py:9: writes jobs",
    ]
    assert sql_writes('X = "UPDATE jobs SET status = 1"', OWNERS["jobs"]) == []


# --- the repositories ---------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path)
    yield s
    s.close()


def _job(store: Store, job_id: str) -> sqlite3.Row:
    row = jobs_db.get(store, job_id)
    assert row is not None
    return row


def test_claim_takes_a_pending_job_once(store: Store) -> None:
    first = jobs_db.enqueue(store, "org-a", "simulation", {"simulation_id": "s1"})
    second = jobs_db.enqueue(store, "org-a", "simulation", {}, priority=9)
    assert [r["id"] for r in jobs_db.pending(store, 10)] == [second, first]  # priority first
    assert [r["id"] for r in jobs_db.pending(store, 1)] == [second]
    assert jobs_db.claim(store, first) is True
    assert jobs_db.claim(store, first) is False  # already running: a second claim loses
    row = _job(store, first)
    assert (row["status"], row["attempts"]) == ("running", 1) and row["started_at"]
    assert [r["id"] for r in jobs_db.pending(store, 10)] == [second]
    assert jobs_db.cancel(store, second) and not jobs_db.claim(store, second)
    assert not jobs_db.claim(store, "no-such-job")


def test_finish_and_cancel_change_only_unfinished_jobs(store: Store) -> None:
    job = jobs_db.enqueue(store, "org-a", "pipeline", {})
    assert not jobs_db.finish(store, job, "completed", None)  # pending: not running
    assert jobs_db.status(store, job) == "pending"
    jobs_db.claim(store, job)
    assert jobs_db.finish(store, job, "failed", "boom")
    row = _job(store, job)
    assert (row["status"], row["error"]) == ("failed", "boom") and row["finished_at"]
    assert not jobs_db.finish(store, job, "completed", None)  # ended: stays failed
    assert not jobs_db.cancel(store, job) and jobs_db.status(store, job) == "failed"

    other = jobs_db.enqueue(store, "org-a", "pipeline", {})
    jobs_db.claim(store, other)
    assert jobs_db.cancel(store, other)  # a cancel while it runs wins over its finish
    assert not jobs_db.finish(store, other, "completed", None)
    assert jobs_db.status(store, other) == "canceled"
    assert jobs_db.status(store, "gone") is None


def test_requeue_running_and_owner_filters(store: Store) -> None:
    a = jobs_db.enqueue(store, "org-a", "simulation", {})
    b = jobs_db.enqueue(store, "org-b", "simulation", {})
    jobs_db.claim(store, a)
    jobs_db.claim(store, b)
    jobs_db.finish(store, b, "completed", None)
    assert jobs_db.requeue_running(store) == 1
    assert jobs_db.status(store, a) == "pending" and jobs_db.status(store, b) == "completed"
    assert jobs_db.get(store, a, "org-b") is None and jobs_db.get(store, a, "org-a") is not None
    assert [r["id"] for r in jobs_db.list_for_owner(store, "org-a", 10, 0)] == [a]
    assert jobs_db.with_ids(store, [a, b, "gone"]).keys() == {a, b}
    many = [jobs_db.enqueue(store, "org-a", "simulation", {}) for _ in range(3)]
    assert [r["id"] for r in jobs_db.list_for_owner(store, "org-a", 2, 1)] == many[1::-1]


def test_results_and_checkpoints_of_jobs(store: Store) -> None:
    job = jobs_db.enqueue(store, "org-a", "pipeline", {"pipeline_id": "p"})
    write = jobs_db.checkpoint_writer(str(store.data_dir / "ionworks.sqlite3"), job)
    write({"element": "fit"})
    assert _job(store, job)["result"] is None  # pending: no checkpoint
    jobs_db.claim(store, job)
    write({"element": "fit", "best": float("nan")})  # not JSON: skipped
    write({"element": "fit"})
    assert json.loads(_job(store, job)["result"]) == {"status": "running", "element": "fit"}
    jobs_db.set_result(store, job, {"value": 1.5})
    record = jobs_db.job_dict(_job(store, job))
    assert record["result"] == {"value": 1.5} and record["params"] == {"pipeline_id": "p"}
    assert (record["status"], record["is_terminal"]) == ("running", False)


def _batch(
    owner: str, template: str, n: int, seq: int, *, study: str | None = None
) -> tuple[list[jobs_db.NewJob], list[simulations_db.NewSimulation]]:
    jobs, sims = [], []
    ts = now_iso()
    for i in range(n):
        sid = new_id()
        job = jobs_db.new_job(owner, "simulation", {"simulation_id": sid}, seq + 2 * i)
        jobs.append(job)
        sims.append(
            simulations_db.NewSimulation(
                sid, owner, "proj", template, job.id, '"SPM"', "{}", "{}", "[]", 10, study,
                ts, ts, seq + 2 * i + 1,
            )
        )  # fmt: skip
    return jobs, sims


def _in_thread(
    store: Store, jobs: list[jobs_db.NewJob], sims: list[simulations_db.NewSimulation]
) -> BaseException | None:
    error: list[BaseException] = []

    def run() -> None:
        try:
            simulations_db.insert_batch(store, jobs, sims)
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return error[0] if error else None


def test_a_batch_is_inserted_whole_from_a_thread_or_not_at_all(store: Store) -> None:
    jobs, sims = _batch("org-a", "t1", 3, store.reserve_seq(6))
    assert _in_thread(store, jobs, sims) is None
    total, rows = simulations_db.page(store, "org-a", simulations_db.SimulationFilter(), 10, 0)
    assert total == 3 and [r["id"] for r in rows] == [s.id for s in reversed(sims)]
    assert all(jobs_db.status(store, j.id) == "pending" for j in jobs)

    jobs, sims = _batch("org-a", "t1", 2, store.reserve_seq(4))
    sims[1] = sims[1]._replace(id=sims[0].id)  # a duplicate: the whole batch rolls back
    assert isinstance(_in_thread(store, jobs, sims), sqlite3.IntegrityError)
    assert jobs_db.with_ids(store, [j.id for j in jobs]) == {}
    assert simulations_db.by_id(store, sims[0].id) is None


def test_simulation_filters_and_study_membership(store: Store) -> None:
    jobs, sims = _batch("org-a", "t1", 3, store.reserve_seq(6), study="st1")
    simulations_db.insert_batch(store, jobs, sims)
    jobs_db.claim(store, jobs[0].id)
    running = simulations_db.SimulationFilter(job_statuses=("running",))
    assert simulations_db.page(store, "org-a", running, 10, 0)[0] == 1
    assert simulations_db.page(store, "org-b", simulations_db.SimulationFilter(), 10, 0)[0] == 0
    in_study = simulations_db.SimulationFilter(study_id="st1", parameterized_model_id="SPM")
    assert simulations_db.page(store, "org-a", in_study, 10, 0)[0] == 3
    assert simulations_db.count_in_study(store, "org-a", "st1") == 3
    assert simulations_db.remove_from_study(store, "org-b", "st1", sims[0].id) == 0
    assert simulations_db.remove_from_study(store, "org-a", "st1", sims[0].id) == 1
    assert simulations_db.count_in_study(store, "org-a", "st1") == 2
    simulations_db.leave_study(store, "st1")
    assert simulations_db.count_in_study(store, "org-a", "st1") == 0
    statuses = simulations_db.with_job_status(store, "org-a", [sims[0].id, "gone"])
    assert [(r["id"], r["status"]) for r in statuses] == [(sims[0].id, "running")]


def test_a_result_is_recorded_only_while_the_job_runs(store: Store) -> None:
    jobs, sims = _batch("org-a", "t1", 2, store.reserve_seq(4))
    simulations_db.insert_batch(store, jobs, sims)
    assert not simulations_db.set_result(store, sims[0].id, "f", "{}")  # pending
    jobs_db.claim(store, jobs[0].id)
    assert simulations_db.set_result(store, sims[0].id, "simulations/x", '{"m": 1}')
    row = simulations_db.get(store, "org-a", sims[0].id, "storage_folder, metrics")
    assert row is not None and tuple(row) == ("simulations/x", '{"m": 1}')
    assert simulations_db.get(store, "org-b", sims[0].id) is None
    jobs_db.claim(store, jobs[1].id)
    jobs_db.cancel(store, jobs[1].id)
    assert not simulations_db.set_result(store, sims[1].id, "f", "{}")  # canceled meanwhile


def test_project_rows_and_templates(store: Store) -> None:
    jobs, sims = _batch("org-a", "t1", 2, store.reserve_seq(4))
    simulations_db.insert_batch(store, jobs, sims)
    jobs_db.claim(store, jobs[0].id)
    assert jobs_db.running_of_project(store, "proj", "org-a") == [jobs[0].id]
    assert jobs_db.running_of_project(store, "proj", "org-b") == []
    assert sorted(simulations_db.ids_of_project(store, "proj", "org-a")) == sorted(
        s.id for s in sims
    )
    jobs_db.delete_of_project(store, "proj", "org-a")
    simulations_db.delete_of_project(store, "proj", "org-a")
    assert jobs_db.with_ids(store, [j.id for j in jobs]) == {}
    assert not simulations_db.exists(store, sims[0].id)

    template = templates_db.NewTemplate("CC", "Rest for 1 s", "{}", "d1")
    tid = templates_db.insert(store, "org-a", "proj", template)
    assert templates_db.find(store, "org-a", "proj", "d1") == tid
    assert templates_db.find(store, "org-a", "other", "d1") is None  # per project
    assert templates_db.find(store, "org-b", "proj", "d1") is None
    assert templates_db.get(store, "org-b", tid) is None
    assert templates_db.protocol(store, tid) == "Rest for 1 s"
    templates_db.detach_project(store, "proj", "org-b")  # not the owner: kept
    row = templates_db.get(store, "org-a", tid)
    assert row is not None and row["project_id"] == "proj"
    templates_db.detach_project(store, "proj", "org-a")
    row = templates_db.get(store, "org-a", tid)
    assert row is not None and row["project_id"] is None
