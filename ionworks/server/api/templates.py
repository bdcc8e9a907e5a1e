"""Routes: saved protocols, the cloud's "experiment templates" (wire.md §9.1).

``/experiment_templates`` (list, create, get, rename, delete, ``human_readable``,
``source_protocol``) and ``POST /protocols/parse-to-template`` (what ``simulation.protocol``
sends for an inline protocol) store the same records: within a project, one protocol content
is one template, whatever its name or formatting.
"""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any, Final

import anyio.to_thread
import attrs
from aiohttp import web

from ionworks.server.api.access import find_shared, project_in
from ionworks.server.api.http import fail, json_response, owner, protocol_text, read_json
from ionworks.server.api.listing import list_window, matches
from ionworks.server.db import simulations as simulations_db
from ionworks.server.db import templates as templates_db
from ionworks.server.db.store import Store, json_column
from ionworks.server.services.protocol_files import describe_text
from ionworks.server.state import limits, state

__all__ = ["setup", "template_or_404"]

#: Columns left out of list items unless named in ``include`` (the last three are the
#: cloud's; this server has none and serves null).
HEAVY: Final = (
    "protocol_config",
    "parameters_schema",
    "source_protocol",
    "time_series_spec",
    "metrics_spec",
    "plot_options",
)
CREATE_FIELDS: Final = frozenset(
    {"name", "protocol_config", "parameters_schema", "project_id", "force_create"}
    | {"description", "source_protocol"}
)
#: Longest template name, in characters.
MAX_NAME: Final = 1000
SORTABLE: Final = ("name", "created_at", "updated_at")


def _store(request: web.Request) -> Store:
    return state(request).store


def shared_template(request: web.Request, template_id: str) -> sqlite3.Row:
    """The template, the key's own or in a project shared with it (the request then acts as
    the project's owner), or a 404."""
    store = _store(request)
    row = find_shared(
        request, lambda owner_id: templates_db.get(store, owner_id, template_id), _project_of
    )
    if row is None:
        fail(404, f"protocol (experiment template) {template_id} not found")
    return row


def _project_of(row: sqlite3.Row) -> Any:
    return row["project_id"]


def template_or_404(store: Store, owner_id: str, template_id: str) -> sqlite3.Row:
    row = templates_db.get(store, owner_id, template_id)
    if row is None:
        fail(404, f"protocol (experiment template) {template_id} not found")
    return row


def template_dict(row: sqlite3.Row, include: frozenset[str] = frozenset(HEAVY)) -> dict[str, Any]:
    """The wire record (``Protocol``); heavy columns outside ``include`` are null."""
    heavy = {
        "protocol_config": lambda: json_column(row["protocol_config"]),
        "parameters_schema": lambda: json_column(row["parameters_schema"]),
        "source_protocol": lambda: row["source_protocol"],
    }
    record = {
        "id": row["id"],
        "name": row["name"],
        "organization_id": row["owner_id"],
        "project_id": row["project_id"],
        "description": row["description"],
        "created_by_email": None,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"] or row["created_at"],
    }
    for column in HEAVY:
        read = heavy.get(column)
        record[column] = read() if read is not None and column in include else None
    return record


# --- checking protocols (in a worker thread: a large protocol takes seconds) ---------------


@attrs.frozen
class Checked:
    """A valid protocol: the UCP text jobs run, its JSON form, content digest, open inputs."""

    text: str
    config: dict[str, Any]
    digest: str
    inputs: list[str]


_SURROGATE_PAIR: Final = re.compile(r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})")


def _astral(match: re.Match[str]) -> str:
    high, low = int(match.group(1), 16), int(match.group(2), 16)
    return f"\\U{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00):08x}"


def yaml_text(config: dict[str, Any]) -> str:
    """``config`` as UCP text: JSON (a subset of YAML) in ASCII, with YAML's ``\\U…``
    escapes for characters beyond the BMP (YAML has no surrogate pairs)."""
    return _SURROGATE_PAIR.sub(_astral, json.dumps(config, indent=1))


def _check(protocol: str | dict[str, Any]) -> Checked | str:
    """Parse and validate UCP text or a UCP mapping: :class:`Checked`, or the error text."""
    from ionworks import ucp
    from ionworks.ucp.parse import load

    try:
        parsed = ucp.parse(protocol)
        config = templates_db.jsonable(load(protocol).data)
        text = protocol if isinstance(protocol, str) else yaml_text(config)
        if text is not protocol and templates_db.jsonable(load(text).data) != config:
            return "invalid protocol: it holds text that cannot be stored as UCP YAML"
        digest = templates_db.digest_of(config)
        return Checked(text, config, digest, parsed.input_references())
    except ucp.UCPError as exc:
        return f"invalid protocol: {exc}"
    except (RecursionError, ValueError):
        return "invalid protocol: it is nested too deeply or holds a non-finite number"


async def checked(protocol: str | dict[str, Any], field: str) -> Checked:
    result = await anyio.to_thread.run_sync(_check, protocol)
    if isinstance(result, str):
        fail(422, f"'{field}': {result}")
    return result


def _schema(inputs: list[str]) -> dict[str, Any]:
    """The open parameters (``input["…"]``) of a protocol as a JSON schema ({} for none)."""
    if not inputs:
        return {}
    properties = {name: {"type": "number"} for name in inputs}
    return {"type": "object", "properties": properties, "required": inputs}


# --- routes ---------------------------------------------------------------------------------


def _include(request: web.Request) -> frozenset[str]:
    """``include=a,b`` (or repeated): the heavy columns asked for; unknown names ignored."""
    names = {n.strip() for value in request.query.getall("include", []) for n in value.split(",")}
    return frozenset(names & set(HEAVY))


async def list_templates(request: web.Request) -> web.Response:
    """``GET /experiment_templates?project_id=…``: a page of the project's templates, newest
    first; filters ``name`` (``eq.``/``ilike.``…), ``created_by_email``, ``created_at_gt``…,
    ``order_by`` (name, created_at, updated_at), ``order``; heavy columns with ``include``."""
    store, owner_id = _store(request), owner(request)
    pid = request.query.get("project_id")
    if not pid:
        fail(422, "query parameter 'project_id' is required")
    project_in(request, pid)  # the key's project, or one shared with it
    owner_id = owner(request)
    items = [
        template_dict(row, frozenset()) for row in templates_db.in_project(store, owner_id, pid)
    ]
    try:
        email = request.query.get("created_by_email")
        if email:
            items = [i for i in items if matches(i["created_by_email"], email)]
        window = list_window(request, items, SORTABLE)
    except ValueError as exc:  # a LIKE pattern ending with its escape character
        fail(422, f"invalid filter: {exc}")
    include = _include(request)
    if include and window["items"]:
        rows = templates_db.with_ids(store, owner_id, [i["id"] for i in window["items"]])
        window["items"] = [template_dict(rows[i["id"]], include) for i in window["items"]]
    return json_response(window)


def _text_field(body: dict[str, Any], key: str, limit: int, *, required: bool = False) -> Any:
    """``body[key]``: a string (non-empty if required) of at most ``limit`` characters, or
    None when it may be absent."""
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        fail(422, f"'{key}' must be a {'non-empty ' if required else ''}string")
    if len(value) > limit:
        fail(413 if key == "source_protocol" else 422, f"'{key}' is longer than {limit} characters")
    return value


def _json_size(value: Any, key: str, limit: int) -> None:
    size = len(json.dumps(value).encode())
    if size > limit:
        fail(413, f"'{key}' has {size} bytes as JSON; the limit is {limit} (max_protocol_bytes)")


async def create_template(request: web.Request) -> web.Response:
    """``POST /experiment_templates``: save a protocol. The same content in the project gives
    the existing template (200; with ``force_create``, 409 ``CONFLICT`` naming it)."""
    store, owner_id = _store(request), owner(request)
    body = await read_json(request)
    unknown = sorted(set(body) - CREATE_FIELDS)
    if unknown:
        fail(
            422,
            f"unknown field(s): {', '.join(unknown)}; expected {', '.join(sorted(CREATE_FIELDS))}",
        )
    limit = limits(request).max_protocol_bytes
    name = _text_field(body, "name", MAX_NAME, required=True)
    description = _text_field(body, "description", limit)
    source = _text_field(body, "source_protocol", limit)
    config, schema = body.get("protocol_config"), body.get("parameters_schema")
    if not isinstance(config, dict):
        fail(422, "'protocol_config' must be a UCP protocol object (with 'steps')")
    if schema is not None and not isinstance(schema, dict):
        fail(422, "'parameters_schema' must be an object")
    force = body.get("force_create", False)
    if not isinstance(force, bool):
        fail(422, "'force_create' must be a boolean")
    _json_size(config, "protocol_config", limit)
    _json_size(schema, "parameters_schema", limit)
    pid = body.get("project_id")
    if pid is not None and not isinstance(pid, str):
        fail(422, "'project_id' must be a string")
    pid = pid or store.default_project(owner_id)["id"]
    project_in(request, pid)  # the key's project, or one shared with it
    owner_id = owner(request)
    result = await checked(config, "protocol_config")
    existing = templates_db.find(store, owner_id, pid, result.digest)
    if existing is not None:
        if force:
            message = (
                f"an identical protocol is already saved in this project ({existing}); "
                "saved protocols are unique by content"
            )
            fail(409, {"message": message, "existing_id": existing}, "CONFLICT")
        return json_response(template_dict(template_or_404(store, owner_id, existing)))
    template = templates_db.NewTemplate(
        name=name,
        protocol=result.text,
        protocol_config=json.dumps(result.config),
        digest=result.digest,
        parameters_schema=json.dumps({} if schema is None else schema),
        source_protocol=source,
        description=description,
    )
    tid = templates_db.insert(store, owner_id, pid, template)
    return json_response(template_dict(template_or_404(store, owner_id, tid)), status=201)


async def parse_to_template(request: web.Request) -> web.Response:
    """``POST /protocols/parse-to-template`` (``simulation.protocol`` with an inline protocol):
    the template of this content in the project (``project_id``, else the key's default
    project), created under ``protocol_experiment.name`` if there is none yet."""
    store, owner_id = _store(request), owner(request)
    body = await read_json(request)
    pe = body.get("protocol_experiment")
    if not isinstance(pe, dict):
        fail(422, "'protocol_experiment' must be an object with 'protocol' and 'name'")
    text = protocol_text(request, pe)
    name = pe.get("name") or "Protocol"
    if not isinstance(name, str) or len(name) > MAX_NAME:
        fail(422, f"'protocol_experiment.name' must be a string of at most {MAX_NAME} characters")
    pid = body.get("project_id")
    if pid is not None and not isinstance(pid, str):
        fail(422, "'project_id' must be a string")
    result = await checked(text, "protocol_experiment.protocol")
    pid = pid or store.default_project(owner_id)["id"]
    project_in(request, pid)  # the key's project, or one shared with it
    owner_id = owner(request)
    existing = templates_db.find(store, owner_id, pid, result.digest)
    if existing is not None:
        return json_response({"template_id": existing, "already_existed": True})
    template = templates_db.NewTemplate(
        name=name,
        protocol=text,
        protocol_config=json.dumps(result.config),
        digest=result.digest,
        parameters_schema=json.dumps(_schema(result.inputs)),
        source_protocol=text,
    )
    return json_response({"template_id": templates_db.insert(store, owner_id, pid, template)})


async def get_template(request: web.Request) -> web.Response:
    return json_response(template_dict(shared_template(request, request.match_info["id"])))


async def update_template(request: web.Request) -> web.Response:
    """``PATCH``: ``name`` and ``description`` only (a saved protocol's body is immutable)."""
    store, tid = _store(request), request.match_info["id"]
    owner_id = shared_template(request, tid)["owner_id"]
    body = await read_json(request)
    fixed = sorted(set(body) & (CREATE_FIELDS - {"name", "description"}))
    if fixed:
        fail(
            422,
            f"{', '.join(fixed)} cannot be changed: a saved protocol is immutable (simulations "
            "refer to it); save a new protocol instead",
        )
    unknown = sorted(set(body) - {"name", "description"})
    if unknown:
        fail(
            422, f"unknown field(s): {', '.join(unknown)}; only 'name' and 'description' can change"
        )
    if "name" in body:
        _text_field(body, "name", MAX_NAME, required=True)
    _text_field(body, "description", limits(request).max_protocol_bytes)
    templates_db.update(store, owner_id, tid, body)
    return json_response(template_dict(template_or_404(store, owner_id, tid)))


async def delete_template(request: web.Request) -> web.Response:
    """``DELETE``: 204; 409 ``CONFLICT`` while simulations refer to the template."""
    store, tid = _store(request), request.match_info["id"]
    owner_id = shared_template(request, tid)["owner_id"]
    used = simulations_db.count_with_template(store, owner_id, tid)
    if used:
        message = (
            f"protocol {tid} is used by {used} simulation(s); delete them first "
            "(simulation.delete), then the protocol"
        )
        fail(409, {"message": message, "simulation_count": used}, "CONFLICT")
    templates_db.delete(store, owner_id, tid)
    return web.Response(status=204)


def _text(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


async def human_readable(request: web.Request) -> web.Response:
    """``GET …/human_readable``: the protocol as text, one line per step (text/plain)."""
    from ionworks.ucp import UCPError

    row = shared_template(request, request.match_info["id"])
    try:
        text = await anyio.to_thread.run_sync(describe_text, str(row["protocol"]))
    except UCPError as exc:
        fail(422, f"the saved protocol does not validate with this version: {exc}")
    return _text(text)


async def source_protocol(request: web.Request) -> web.Response:
    """``GET …/source_protocol``: the text the protocol was saved from (404 without one)."""
    tid = request.match_info["id"]
    row = shared_template(request, tid)
    if row["source_protocol"] is None:
        fail(404, f"protocol {tid} has no source text (it was saved from a UCP object)")
    return _text(str(row["source_protocol"]))


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/protocols/parse-to-template", parse_to_template)
    r.add_get("/experiment_templates", list_templates)
    r.add_post("/experiment_templates", create_template)
    r.add_get("/experiment_templates/{id}", get_template)
    r.add_patch("/experiment_templates/{id}", update_template)
    r.add_delete("/experiment_templates/{id}", delete_template)
    r.add_get("/experiment_templates/{id}/human_readable", human_readable)
    r.add_get("/experiment_templates/{id}/source_protocol", source_protocol)
