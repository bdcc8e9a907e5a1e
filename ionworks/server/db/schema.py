"""The whole SQLite schema of the server, in one place (idempotent DDL, run when a store opens).

Every record carries ``owner_id``; every query filters by it. ``seq`` orders records by
creation. The jobs table is the durable queue (see :mod:`ionworks.server.execution.jobs`).
"""

from __future__ import annotations

import sqlite3
from typing import Final

__all__ = ["ADDED_COLUMNS", "SCHEMA", "upgrade"]

SCHEMA: Final = """
-- keys, projects, templates, jobs, simulations, idempotency
CREATE TABLE IF NOT EXISTS key_owners (
  key_hash TEXT PRIMARY KEY, owner_id TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS projects (
  id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, name TEXT NOT NULL, description TEXT,
  is_default INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS templates (
  id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, project_id TEXT, name TEXT NOT NULL,
  protocol TEXT NOT NULL, digest TEXT NOT NULL, created_at TEXT NOT NULL);
-- saved protocols are found again by content within their project (digest: see
-- db/templates.py); it replaces templates_digest(owner_id, digest) of older data directories
CREATE INDEX IF NOT EXISTS templates_content ON templates(owner_id, project_id, digest);
DROP INDEX IF EXISTS templates_digest;
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, job_type TEXT NOT NULL, status TEXT NOT NULL,
  priority INTEGER NOT NULL DEFAULT 5, params TEXT NOT NULL, error TEXT, error_code TEXT,
  result TEXT, attempts INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL, started_at TEXT, finished_at TEXT, seq INTEGER NOT NULL);
-- the dispatch order of db/jobs.pending (first attempts before re-attempts); it replaces
-- jobs_queue(status, priority, seq) of older data directories
CREATE INDEX IF NOT EXISTS jobs_dispatch ON jobs(status, priority DESC, attempts > 0, seq);
DROP INDEX IF EXISTS jobs_queue;
CREATE TABLE IF NOT EXISTS simulations (
  id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, project_id TEXT, template_id TEXT NOT NULL,
  job_id TEXT NOT NULL, parameterized_model TEXT NOT NULL, experiment_parameters TEXT NOT NULL,
  design_parameters TEXT NOT NULL, extra_variables TEXT NOT NULL,
  max_backward_jumps INTEGER NOT NULL, study_id TEXT, storage_folder TEXT, metrics TEXT,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS simulations_owner ON simulations(owner_id, seq);
CREATE INDEX IF NOT EXISTS simulations_template ON simulations(template_id);
CREATE TABLE IF NOT EXISTS idempotency (
  owner_id TEXT NOT NULL, key TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL,
  status INTEGER NOT NULL, body BLOB NOT NULL, created REAL NOT NULL,
  PRIMARY KEY (owner_id, key));

-- cell specifications and instances
CREATE TABLE IF NOT EXISTS cell_specifications (
  id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, project_id TEXT NOT NULL, name TEXT NOT NULL,
  fields TEXT NOT NULL, is_default INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cell_instances (
  id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, project_id TEXT NOT NULL,
  cell_specification_id TEXT NOT NULL REFERENCES cell_specifications(id) ON DELETE CASCADE,
  name TEXT NOT NULL, fields TEXT NOT NULL, is_default INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL);

-- measurements and their uploads
CREATE TABLE IF NOT EXISTS cell_measurements (
  id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, project_id TEXT NOT NULL,
  cell_instance_id TEXT NOT NULL, name TEXT NOT NULL, fields TEXT NOT NULL,
  measurement_type TEXT NOT NULL, row_count INTEGER NOT NULL, steps_count INTEGER,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS cell_measurements_instance ON cell_measurements(cell_instance_id);
CREATE TABLE IF NOT EXISTS measurement_uploads (
  token TEXT PRIMARY KEY, measurement_id TEXT NOT NULL, owner_id TEXT NOT NULL,
  cell_instance_id TEXT NOT NULL, filename TEXT NOT NULL, meta TEXT NOT NULL,
  received INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS measurement_uploads_owner ON measurement_uploads(owner_id);
CREATE INDEX IF NOT EXISTS measurement_uploads_created ON measurement_uploads(created);
CREATE INDEX IF NOT EXISTS measurement_uploads_measurement
  ON measurement_uploads(measurement_id);

-- raw cycler files of a project (db/raw_data.py) and the measurements made from them
CREATE TABLE IF NOT EXISTS raw_data (
  id TEXT PRIMARY KEY, owner_id TEXT NOT NULL,
  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE, name TEXT NOT NULL,
  filename TEXT NOT NULL, source TEXT, content_type TEXT NOT NULL, size_bytes INTEGER NOT NULL,
  metadata TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS raw_data_project ON raw_data(owner_id, project_id, created_at);
CREATE TABLE IF NOT EXISTS raw_data_measurements (
  raw_data_id TEXT NOT NULL REFERENCES raw_data(id) ON DELETE CASCADE,
  measurement_id TEXT NOT NULL REFERENCES cell_measurements(id) ON DELETE CASCADE,
  created_at TEXT NOT NULL, PRIMARY KEY (measurement_id, raw_data_id));
CREATE INDEX IF NOT EXISTS raw_data_measurements_raw ON raw_data_measurements(raw_data_id);

-- studies and their members
CREATE TABLE IF NOT EXISTS studies (
  id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, project_id TEXT NOT NULL, name TEXT NOT NULL,
  description TEXT, fields TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS studies_project ON studies(project_id);
CREATE TABLE IF NOT EXISTS study_simulations (
  study_id TEXT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  simulation_id TEXT NOT NULL REFERENCES simulations(id) ON DELETE CASCADE,
  created_at TEXT NOT NULL, PRIMARY KEY (study_id, simulation_id));
CREATE TABLE IF NOT EXISTS study_measurements (
  study_id TEXT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  measurement_id TEXT NOT NULL REFERENCES cell_measurements(id) ON DELETE CASCADE,
  created_at TEXT NOT NULL, PRIMARY KEY (study_id, measurement_id));

-- who watches which measurement (db/watches.py; user_id: the watching key's own owner). A
-- watch goes with its measurement and ends when the test does (an end_time is set)
CREATE TABLE IF NOT EXISTS measurement_watches (
  measurement_id TEXT NOT NULL REFERENCES cell_measurements(id) ON DELETE CASCADE,
  user_id TEXT NOT NULL, project_id TEXT NOT NULL, created_at TEXT NOT NULL,
  PRIMARY KEY (user_id, measurement_id));
CREATE INDEX IF NOT EXISTS measurement_watches_measurement
  ON measurement_watches(measurement_id);
CREATE TRIGGER IF NOT EXISTS measurement_watches_end AFTER UPDATE OF fields
  ON cell_measurements WHEN json_extract(NEW.fields, '$.end_time') IS NOT NULL
  BEGIN DELETE FROM measurement_watches WHERE measurement_id = NEW.id; END;

-- pipelines and simple pipelines
CREATE TABLE IF NOT EXISTS pipelines (
  id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, kind TEXT NOT NULL, project_id TEXT NOT NULL,
  name TEXT, description TEXT, config TEXT NOT NULL, options TEXT NOT NULL,
  job_id TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
  seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS pipelines_owner ON pipelines(owner_id, kind, seq);

-- projects shared with other keys' owners (db/members.py); owner_id: the project's owner
CREATE TABLE IF NOT EXISTS project_members (
  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE, owner_id TEXT NOT NULL,
  member_id TEXT NOT NULL, role_id TEXT NOT NULL, created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL, PRIMARY KEY (project_id, member_id));
CREATE INDEX IF NOT EXISTS project_members_member ON project_members(member_id);

-- a key's models (built-in model configs and uploaded custom models) and parameterized models
CREATE TABLE IF NOT EXISTS models (
  id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, project_id TEXT NOT NULL, name TEXT NOT NULL,
  description TEXT, config TEXT NOT NULL, simulation_settings TEXT, pybamm_version TEXT,
  chemistry TEXT, is_custom INTEGER NOT NULL DEFAULT 0, custom_variables TEXT NOT NULL,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS models_project ON models(owner_id, project_id);
CREATE TABLE IF NOT EXISTS model_documents (
  model_id TEXT PRIMARY KEY REFERENCES models(id) ON DELETE CASCADE,
  owner_id TEXT NOT NULL, document BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS parameterized_models (
  id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, project_id TEXT NOT NULL, cell_spec_id TEXT,
  name TEXT NOT NULL, description TEXT, model_id TEXT NOT NULL, parameters TEXT NOT NULL,
  simulation_settings TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS parameterized_models_project
  ON parameterized_models(owner_id, project_id);
CREATE UNIQUE INDEX IF NOT EXISTS parameterized_models_spec_name
  ON parameterized_models(owner_id, cell_spec_id, name) WHERE cell_spec_id IS NOT NULL;
"""

#: Columns added after the first release, per table: ``upgrade`` adds those an older data
#: directory lacks (SQLite has no ``ADD COLUMN IF NOT EXISTS``). New columns are nullable.
ADDED_COLUMNS: Final = {
    "templates": (
        ("description", "TEXT"),
        ("protocol_config", "TEXT"),  # JSON; NULL on rows of older versions until first read
        ("parameters_schema", "TEXT"),
        ("source_protocol", "TEXT"),
        ("updated_at", "TEXT"),
    ),
    # hash of what makes two runs identical (services/batches.run_key); NULL on older rows
    "simulations": (("run_key", "TEXT"),),
    # set on create and update; NULL on rows of older versions until first updated
    "cell_specifications": (("updated_at", "TEXT"),),
    "cell_instances": (("updated_at", "TEXT"),),
    # set on uploads of raw data (which belong to a project, not a cell instance)
    "measurement_uploads": (("project_id", "TEXT"),),
    # an extend's stitch (api/measurement_extend.py): pending -> running -> ready, its last
    # failure, and a counter bumped on every change of the data (keys of client caches)
    "cell_measurements": (
        ("processing_status", "TEXT NOT NULL DEFAULT 'ready'"),
        ("processing_error", "TEXT"),
        ("data_version", "INTEGER NOT NULL DEFAULT 0"),
    ),
}

#: DDL that needs the added columns.
AFTER_UPGRADE: Final = """
CREATE INDEX IF NOT EXISTS simulations_run_key ON simulations(owner_id, run_key);
-- name look-ups (db/cells.py checks uniqueness in code: older data may hold duplicates)
CREATE INDEX IF NOT EXISTS cell_specifications_name
  ON cell_specifications(owner_id, project_id, name);
CREATE INDEX IF NOT EXISTS cell_instances_spec_name
  ON cell_instances(cell_specification_id, name);
"""


def upgrade(db: sqlite3.Connection) -> None:
    """Bring a data directory's schema to this version (after :data:`SCHEMA`): add the
    :data:`ADDED_COLUMNS` it lacks, then :data:`AFTER_UPGRADE`. Idempotent."""
    for table, columns in ADDED_COLUMNS.items():
        have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        for name, kind in columns:
            if name not in have:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
    db.executescript(AFTER_UPGRADE)
