"""Routes: who the key belongs to (``/users/me``) and the platform's discovery documents
(``/discovery/*``: capabilities, the data and UCP schemas, PyBaMM's models and options, and a
check that a model builds with given options), answered from this server's own catalog and
grammar (wire.md §13)."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any, Final

import anyio
import anyio.to_thread
from aiohttp import web

from ionworks.server.api.http import JSON, fail, json_response, owner, read_json
from ionworks.server.engine.catalog import BUILTIN_MODELS, MODEL_TYPES, PARAMETER_SETS
from ionworks.server.engine.safe_pybamm import (
    MODEL_MODULES,
    UnsafeConfig,
    check_model_config,
    model_class_of,
)
from ionworks.server.state import state
from ionworks.wire.pybamm import import_pybamm

__all__ = ["SCHEMAS", "setup"]

#: The schemas ``/discovery/schemas/{name}`` serves (the official client allows these two).
SCHEMAS: Final = ("data", "protocol")
#: Bounds of a validation request: name lengths, option count, and the error text returned.
MAX_NAME_CHARS: Final = 200
MAX_OPTIONS: Final = 100
MAX_OPTIONS_CHARS: Final = 64 * 1024
MAX_ERROR_CHARS: Final = 2000
#: Model builds run one at a time in a thread, and repeated checks come from this cache.
VALIDATION_CACHE: Final = 256
DATA_HIERARCHY: Final = (
    ("cell_specification", None, "/cell_specifications?project_id={project_id}"),
    ("cell_instance", "cell_specification", "/cell_specifications/{id}/cell_instances"),
    ("cell_measurement", "cell_instance", "/cell_instances/{id}/cell_measurements"),
    ("steps", "cell_measurement", "/cell_measurements/{id}/steps/download"),
    ("time_series", "cell_measurement", "/cell_measurements/{id}/time_series/download"),
)


class _Builds:
    """One model build at a time (created on first use, on the server's loop)."""

    def __init__(self) -> None:
        self._limiter: anyio.CapacityLimiter | None = None

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(1)
        return self._limiter


_BUILDS = web.AppKey("pybamm_builds", _Builds)


# --- /users/me -----------------------------------------------------------------------------


async def users_me(request: web.Request) -> web.Response:
    """The key's owner: a stable id (the same for a key across restarts), a display name, no
    e-mail (a local key has none), and the owner as the authorized organization."""
    owner_id = owner(request)
    organization = {"id": owner_id, "name": f"Local server ({owner_id})"}
    return json_response(
        {
            "id": owner_id,
            "name": "Local user",
            "email": None,
            "authorized_organization": organization,
            "organizations": [organization],
        }
    )


# --- /discovery/capabilities and /discovery/schemas/{name} ---------------------------------


async def capabilities(request: web.Request) -> web.Response:
    from ionworks._version import __version__
    from ionworks.server.api.results import CAPABILITIES
    from ionworks.ucp.vocab import STEP_KINDS

    return json_response(
        {
            "domain_context": {
                "summary": (
                    "Battery cell modelling: simulate cycling protocols (UCP) with PyBaMM "
                    "models, fit models to measured cell data in pipelines, and store cell "
                    "measurements under cell specifications and instances."
                ),
                "data_hierarchy": [name for name, _, _ in DATA_HIERARCHY],
                "protocol_language": "UCP (Universal Cycler Protocol); schema: protocol",
                "step_types": list(STEP_KINDS),
                "model_types": [*MODEL_TYPES, "ECM"],
                "parameter_sets": list(PARAMETER_SETS),
            },
            "schemas": {name: f"/discovery/schemas/{name}" for name in SCHEMAS},
            "openapi_spec": None,
            "authentication": {
                "headers": ["X-API-Key: <key>", "Authorization: Bearer <key>"],
                "anonymous": state(request).config.allow_anonymous,
                "whoami": "/users/me",
            },
            "server": {
                "name": "ionworks local server",
                "version": __version__,
                "extensions": list(CAPABILITIES),
            },
        }
    )


@functools.cache
def _schema_body(name: str) -> bytes:
    if name == "protocol":
        from ionworks.ucp.json_schema import protocol_schema

        return json.dumps(protocol_schema()).encode()
    return json.dumps(_data_schema()).encode()


def _data_schema() -> dict[str, Any]:
    from ionworks.wire.measurements import REQUIRED_COLUMNS

    return {
        "title": "Ionworks cell data hierarchy",
        "description": (
            "Cell specifications (a cell design, in a project) have cell instances (physical "
            "cells); each instance has measurements, whose steps and time series are tables."
        ),
        "hierarchy": [
            {"name": name, "parent": parent, "list": path} for name, parent, path in DATA_HIERARCHY
        ],
        "entities": {
            "cell_specification": _record("project_id"),
            "cell_instance": _record("cell_specification_id", "project_id"),
            "cell_measurement": _record(
                "cell_instance_id", "measurement_type", "processing_status"
            ),
        },
        "time_series": {
            "format": "parquet or CSV",
            "required_columns": list(REQUIRED_COLUMNS),
            "rules": "numeric and finite; Time [s] non-decreasing",
        },
    }


def _record(*fields: str) -> dict[str, Any]:
    names = ("id", "name", *fields, "created_at")
    return {
        "type": "object",
        "properties": {name: {"type": ["string", "null"]} for name in names},
        "required": ["id", "name"],
    }


async def schema(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in SCHEMAS:
        fail(404, f"unknown schema {_show(name)}; expected one of {', '.join(SCHEMAS)}")
    body = await anyio.to_thread.run_sync(_schema_body, name)
    return web.Response(body=body, headers={"Content-Type": JSON})


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# --- /discovery/pybamm_models[/validate] ---------------------------------------------------


@functools.cache
def _pybamm_models() -> bytes:
    """PyBaMM's model classes (exactly the names the allow-list accepts), its model options
    and our catalog."""
    pybamm = import_pybamm()
    models = {module: _accepted(module, vars(vars(pybamm)[module])) for module in MODEL_MODULES}
    possible = pybamm.BatteryModelOptions({}).possible_options
    options = {str(name): [_plain(v) for v in values] for name, values in possible.items()}
    return json.dumps(
        {
            "pybamm_models": models,
            "ionworks_models": {},
            "options": options,
            "pybamm_version": str(pybamm.__version__),
            "catalog": {
                "model_types": dict(MODEL_TYPES),
                "parameter_sets": dict(PARAMETER_SETS),
                "parameterized_models": sorted(BUILTIN_MODELS),
            },
        }
    ).encode()


def _accepted(module: str, namespace: Mapping[str, Any]) -> list[str]:
    names = []
    for name in sorted(namespace):
        try:
            model_class_of(module, name)
        except UnsafeConfig:
            continue
        names.append(name)
    return names


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | None) else str(value)


async def pybamm_models(request: web.Request) -> web.Response:
    body = await anyio.to_thread.run_sync(_pybamm_models)
    return web.Response(body=body, headers={"Content-Type": JSON})


async def validate_model(request: web.Request) -> web.Response:
    """``{pybamm_model, module, options}`` → ``{valid: true}`` or ``{valid: false, error,
    error_type}`` (200 either way); a request of the wrong shape is a 422."""
    body = await read_json(request)
    model = body.get("pybamm_model")
    module = "lithium_ion" if body.get("module") is None else body["module"]
    options = body.get("options") or {}
    for key, value in (("pybamm_model", model), ("module", module)):
        if not isinstance(value, str) or not value or len(value) > MAX_NAME_CHARS:
            fail(422, f"'{key}' must be a non-empty string of at most {MAX_NAME_CHARS} characters")
    if not isinstance(options, dict) or len(options) > MAX_OPTIONS:
        fail(422, f"'options' must be an object of at most {MAX_OPTIONS} PyBaMM model options")
    await anyio.to_thread.run_sync(import_pybamm)  # the first import takes seconds
    try:
        model_class_of(module, model)
    except UnsafeConfig as exc:
        return json_response({"valid": False, "error": str(exc), "error_type": "UnknownModelError"})
    try:
        check_model_config({"type": model, "module": module, "options": options})
    except UnsafeConfig as exc:
        fail(422, str(exc))
    key = json.dumps(options, sort_keys=True)
    if len(key) > MAX_OPTIONS_CHARS:
        fail(422, f"'options' must be at most {MAX_OPTIONS_CHARS} characters of JSON")
    limiter = request.app[_BUILDS].limiter
    result = await anyio.to_thread.run_sync(_build, module, model, key, limiter=limiter)
    return json_response(dict(result))


@functools.lru_cache(maxsize=VALIDATION_CACHE)
def _build(module: str, model: str, options_json: str) -> tuple[tuple[str, Any], ...]:
    """Build ``pybamm.<module>.<model>`` (allow-listed) with the options (in a thread)."""
    options = json.loads(options_json)
    try:
        cls = model_class_of(module, model)
        if options:
            cls(options=options)
        else:
            cls()
    except Exception as exc:
        error = str(exc).strip() or type(exc).__name__
        if len(error) > MAX_ERROR_CHARS:
            error = error[: MAX_ERROR_CHARS - 3] + "..."
        return (("valid", False), ("error", error), ("error_type", type(exc).__name__))
    return (("valid", True),)


def setup(app: web.Application) -> None:
    app[_BUILDS] = _Builds()
    r = app.router
    r.add_get("/users/me", users_me)
    r.add_get("/discovery/capabilities", capabilities)
    r.add_get("/discovery/schemas/{name}", schema)
    r.add_get("/discovery/pybamm_models", pybamm_models)
    r.add_post("/discovery/pybamm_models/validate", validate_model)
