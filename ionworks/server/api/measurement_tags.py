"""Routes: measurement tags (wire.md §10.4) — ``GET /cell_measurements/tags`` (a project's
tags with their usage, most used first) and ``POST /cell_measurements/tags/bulk`` (add and
remove tags on up to 1,000 measurements at once, all or nothing) — and the tag rules every
write of tags follows (upload, ``PATCH``, bulk): whitespace trimmed, duplicates dropped
case-insensitively, a tag already used in the project keeps its spelling there, at most
:data:`MAX_TAGS` tags of at most :data:`MAX_TAG_CHARS` characters (else 400 ``BAD_REQUEST``,
the official client's documented answer). Registered by :mod:`.measurements` before its
``/cell_measurements/{mid}`` routes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Final

from aiohttp import web

from ionworks.server.api import access
from ionworks.server.api.http import fail, json_response, owner, read_json
from ionworks.server.api.models import _store
from ionworks.server.db import measurements
from ionworks.server.db.store import Store

__all__ = ["MAX_TAGS", "has_tags", "normalise", "routes", "spelling"]

MAX_TAGS: Final = 50
MAX_TAG_CHARS: Final = 50
MAX_BULK_IDS: Final = 1000
DEFAULT_TAG_LIMIT: Final = 50
LIST_PARAMS: Final = frozenset({"project_id", "q", "limit"})


def spelling(store: Store, owner_id: str, project_id: str) -> dict[str, str]:
    """Lower-cased tag → its spelling in the project."""
    return {tag.lower(): tag for tag, _ in measurements.tag_usage(store, owner_id, project_id)}


def normalise(raw: Any, known: dict[str, str], *, what: str = "tags") -> list[str]:
    """The tags to store: see the module docstring (``known``: :func:`spelling`)."""
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        fail(400, f"{what!r} must be a list of strings", "BAD_REQUEST")
    out: dict[str, str] = {}
    for tag in (t.strip() for t in raw):
        if not tag:
            fail(400, f"{what!r}: a tag must not be empty", "BAD_REQUEST")
        if len(tag) > MAX_TAG_CHARS:
            fail(
                400,
                f"{what!r}: tag {access.shown(tag)} is longer than {MAX_TAG_CHARS} characters",
                "BAD_REQUEST",
            )
        out.setdefault(tag.lower(), known.get(tag.lower(), tag))
    if len(out) > MAX_TAGS:
        fail(400, f"{what!r}: at most {MAX_TAGS} tags, got {len(out)}", "BAD_REQUEST")
    return list(out.values())


def _int_param(request: web.Request, name: str, default: int, maximum: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        fail(422, f"query parameter {name!r} must be a whole number from 1 to {maximum}")
    return int(raw)


async def list_tags(request: web.Request) -> web.Response:
    """``{items: [{tag, usage_count}], count, total}`` of one project, most used first;
    ``q``: a case-insensitive substring; ``limit`` (default 50, at most 1000)."""
    unknown = sorted(set(request.query) - LIST_PARAMS)
    if unknown:
        fail(422, f"unknown query parameter(s) {', '.join(map(access.shown, unknown))}")
    pid = request.query.get("project_id")
    if not pid:
        fail(422, "query parameter 'project_id' is required")
    access.project_in(request, pid)
    limit = _int_param(request, "limit", DEFAULT_TAG_LIMIT, MAX_BULK_IDS)
    q = request.query.get("q", "").lower()
    used = measurements.tag_usage(_store(request), owner(request), pid)
    found = [{"tag": t, "usage_count": n} for t, n in used if q in t.lower()]
    return json_response({"items": found[:limit], "count": len(found[:limit]), "total": len(found)})


def _ids(body: dict[str, Any]) -> list[str]:
    ids = body.get("measurement_ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        fail(422, "'measurement_ids' must be a non-empty list of measurement ids")
    if len(ids) > MAX_BULK_IDS:
        fail(422, f"'measurement_ids': at most {MAX_BULK_IDS} ids, got {len(ids)}")
    return list(dict.fromkeys(ids))


async def bulk_tags(request: web.Request) -> web.Response:
    """Add ``add`` and remove ``remove`` (matched case-insensitively) on every measurement;
    ``{updated_count}``: how many changed. Any unknown or unwritable id (404/403) or invalid
    tag (400) changes nothing."""
    body = await read_json(request)
    ids = _ids(body)
    add_raw, remove_raw = body.get("add", []), body.get("remove", [])
    normalise(remove_raw, {}, what="remove")
    remove = {t.strip().lower() for t in remove_raw}
    store = _store(request)
    rows = [access.measurement(request, mid) for mid in ids]
    known: dict[str, dict[str, str]] = {}
    changed: dict[str, list[str]] = {}
    for row in rows:
        key = row["project_id"]
        if key not in known:
            known[key] = spelling(store, row["owner_id"], key)
        add = normalise(add_raw, known[key], what="add")
        old = _current(row)
        kept = [t for t in old if t.lower() not in remove]
        have = {t.lower() for t in kept}
        new = normalise(kept + [t for t in add if t.lower() not in have], known[key])
        if new != old:
            changed[row["id"]] = new
    measurements.set_tags(store, changed)
    return json_response({"updated_count": len(changed)})


def _current(row: Any) -> list[str]:
    tags = json.loads(row["fields"]).get("tags")
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def has_tags(tags: Iterable[str], tags_all: set[str], tags_any: set[str]) -> bool:
    """Whether ``tags`` (any case) hold every one of ``tags_all`` and, if given, one of
    ``tags_any`` (both lower-cased)."""
    mine = {t.lower() for t in tags}
    return tags_all <= mine and (not tags_any or bool(tags_any & mine))


def routes(router: web.UrlDispatcher) -> None:
    router.add_get("/cell_measurements/tags", list_tags)
    router.add_post("/cell_measurements/tags/bulk", bulk_tags)
