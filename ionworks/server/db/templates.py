"""The ``templates`` table: saved protocols (the cloud's "experiment templates").

A template belongs to its owner and a project. Its ``protocol`` column is the UCP text the
simulation jobs run; ``protocol_config`` is the same protocol as a JSON object (what
``/experiment_templates`` serves) and ``digest`` identifies that content: within one project,
one content is one template (:func:`find`), whatever its name (wire.md §9.1). Deleting a
project keeps its templates, tied to no project (:func:`detach_project`).

Rows written by versions before ``protocol_config`` existed are completed the first time
they are read (:func:`_complete`): their content digest and JSON form are computed from the
stored text, so they are found again by content like new ones.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from ionworks.server.db.store import Store, new_id, now_iso

__all__ = [
    "LIGHT_COLUMNS",
    "NewTemplate",
    "delete",
    "detach_project",
    "digest_of",
    "find",
    "get",
    "in_project",
    "insert",
    "jsonable",
    "protocol",
    "update",
    "with_ids",
]

#: The columns of a list item (the heavy ones come with ``include``: :func:`with_ids`).
LIGHT_COLUMNS: Final = "id, owner_id, project_id, name, description, created_at, updated_at"


def jsonable(data: Any) -> Any:
    """``data`` (loaded YAML: plain types) with every mapping key as text, so it is JSON."""
    if isinstance(data, Mapping):
        return {str(key): jsonable(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [jsonable(item) for item in data]
    return data


def digest_of(data: Any) -> str:
    """SHA-256 of ``data``'s canonical JSON (sorted keys, no spaces): equal content, equal
    digest, whatever the key order or formatting it was written in."""
    text = json.dumps(jsonable(data), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


@attrs.frozen
class NewTemplate:
    """A template to insert: the text jobs run, its JSON form (text) and content digest."""

    name: str
    protocol: str
    protocol_config: str
    digest: str
    parameters_schema: str = "{}"
    source_protocol: str | None = None
    description: str | None = None


def find(store: Store, owner_id: str, project_id: str | None, digest: str) -> str | None:
    """The id of the owner's template with this content in the project, if there is one."""
    _complete(store, "owner_id = ? AND project_id IS ?", (owner_id, project_id))
    row = store.one(
        "SELECT id FROM templates WHERE owner_id = ? AND project_id IS ? AND digest = ? "
        "ORDER BY created_at LIMIT 1",
        (owner_id, project_id, digest),
    )
    return None if row is None else str(row["id"])


def insert(store: Store, owner_id: str, project_id: str | None, template: NewTemplate) -> str:
    """Store a new template; returns its id."""
    tid, ts = new_id(), now_iso()
    store.execute(
        "INSERT INTO templates(id, owner_id, project_id, name, protocol, digest, created_at, "
        "description, protocol_config, parameters_schema, source_protocol, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            tid, owner_id, project_id, template.name, template.protocol, template.digest, ts,
            template.description, template.protocol_config, template.parameters_schema,
            template.source_protocol, ts,
        ),
    )  # fmt: skip
    return tid


def get(store: Store, owner_id: str, template_id: str) -> sqlite3.Row | None:
    """The owner's template (every column), or None."""
    _complete(store, "id = ? AND owner_id = ?", (template_id, owner_id))
    return store.one(
        "SELECT * FROM templates WHERE id = ? AND owner_id = ?", (template_id, owner_id)
    )


def in_project(store: Store, owner_id: str, project_id: str) -> list[sqlite3.Row]:
    """The :data:`LIGHT_COLUMNS` of the owner's templates in the project, newest first."""
    _complete(store, "owner_id = ? AND project_id = ?", (owner_id, project_id))
    return store.query(
        f"SELECT {LIGHT_COLUMNS} FROM templates WHERE owner_id = ? AND project_id = ? "
        "ORDER BY created_at DESC, rowid DESC",
        (owner_id, project_id),
    )


def with_ids(store: Store, owner_id: str, ids: Sequence[str]) -> dict[str, sqlite3.Row]:
    """Every column of the owner's templates among ``ids`` (one page: at most a thousand)."""
    marks = ",".join("?" * len(ids)) or "NULL"
    rows = store.query(
        f"SELECT * FROM templates WHERE +owner_id = ? AND id IN ({marks})",  # by id
        [owner_id, *ids],
    )
    return {str(row["id"]): row for row in rows}


def protocol(store: Store, template_id: str) -> str | None:
    """The protocol text of a template (any owner's: for a job already checked), or None."""
    row = store.one("SELECT protocol FROM templates WHERE id = ?", (template_id,))
    return None if row is None else str(row["protocol"])


def update(store: Store, owner_id: str, template_id: str, changes: Mapping[str, Any]) -> None:
    """Set ``name`` and/or ``description`` (the only editable columns) and ``updated_at``."""
    columns = [c for c in ("name", "description") if c in changes]
    assignments = "".join(f"{c} = ?, " for c in columns)
    store.execute(
        f"UPDATE templates SET {assignments}updated_at = ? WHERE id = ? AND owner_id = ?",
        (*(changes[c] for c in columns), now_iso(), template_id, owner_id),
    )


def delete(store: Store, owner_id: str, template_id: str) -> None:
    store.execute("DELETE FROM templates WHERE id = ? AND owner_id = ?", (template_id, owner_id))


def detach_project(store: Store, project_id: str, owner_id: str) -> None:
    """Tie the project's templates to no project (they are kept when it is deleted)."""
    store.execute(
        "UPDATE templates SET project_id = NULL WHERE project_id = ? AND owner_id = ?",
        (project_id, owner_id),
    )


def _complete(store: Store, where: str, args: Sequence[Any]) -> None:
    """Complete the rows (``where``) written before ``protocol_config`` existed: their JSON
    form and content digest from their text (validated when stored), the text as their
    source, no open-parameter schema. A text that no longer loads keeps an empty form."""
    from ionworks.ucp import UCPError
    from ionworks.ucp.parse import load

    rows = store.query(
        f"SELECT id, protocol, created_at FROM templates WHERE {where} AND protocol_config IS NULL",
        args,
    )
    for row in rows:
        try:
            config = jsonable(load(str(row["protocol"])).data)
        except (UCPError, RecursionError):
            config = {}
        store.execute(
            "UPDATE templates SET protocol_config = ?, digest = ?, parameters_schema = '{}', "
            "source_protocol = protocol, updated_at = COALESCE(updated_at, created_at) "
            "WHERE id = ? AND protocol_config IS NULL",
            (json.dumps(config), digest_of(config), row["id"]),
        )
