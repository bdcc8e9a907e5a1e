"""A key's stored models and parameterized models, as the catalog simulates them.

A request may name a stored parameterized model by its id wherever it names a built-in one
(``simulation.protocol``'s ``parameterized_model``, a pipeline element's
``parameterized_model``). :func:`resolve` replaces such an id of the owner's by its inline
spec, ``{"model_id": <built-in type or id>, "options": …, "parameters": …}`` (see
:mod:`.catalog`), before the request is checked and again when its job is dispatched, so
workers never read the store. A parameterized model on an uploaded custom model, or on a
PyBaMM model other than SPM, SPMe and DFN, cannot be simulated here: :func:`resolve` says so
(an :class:`EngineError`, a 422 at submit).

Runs in the server process only (it reads the store); the workers get resolved specs.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

import attrs

from ionworks.server.db import models as models_db
from ionworks.server.db import parameterized_models as pm_db
from ionworks.server.db.store import Store

from .catalog import BUILTIN_MODELS, MODEL_TYPES
from .errors import EngineError
from .parameter_check import Base, check_parameters

__all__ = [
    "base_of",
    "check_new",
    "inline_spec",
    "resolve",
    "resolve_tree",
    "unpacked",
]

_SIMULATED = ", ".join(MODEL_TYPES)


def _model_type(name: str) -> str | None:
    return next((t for t in MODEL_TYPES if t.lower() == name.strip().lower()), None)


def _base_of_row(store: Store, row: sqlite3.Row, with_document: bool) -> Base:
    config = json.loads(row["config"])
    if row["is_custom"]:
        packed = models_db.document(store, row["owner_id"], row["id"]) if with_document else None
        return Base(config, document=packed or b"")
    kind = _model_type(str(config.get("type", "")))
    simulated = kind is not None and config.get("module", "lithium_ion") == "lithium_ion"
    return Base(config, catalog_id=kind if simulated else None)


def base_of(
    store: Store, owner_id: str, model_id: Any, *, with_document: bool = False
) -> tuple[Base, str] | None:
    """The base and display name of ``model_id``: a built-in model type (``"SPMe"``), a
    built-in parameterized model id (``"chen2020-spme"``) or one of the owner's models; None
    if it is none of them. An uploaded model's ``document`` is its stored (packed) form if
    ``with_document``, else empty."""
    if not isinstance(model_id, str) or not model_id:
        return None
    builtin = BUILTIN_MODELS.get(model_id.strip().lower())
    if builtin is not None:
        return Base({"type": builtin.model_type}, catalog_id=builtin.id), builtin.name
    kind = _model_type(model_id)
    if kind is not None:
        return Base({"type": kind}, catalog_id=kind), kind
    row = models_db.get(store, owner_id, model_id)
    return None if row is None else (_base_of_row(store, row, with_document), str(row["name"]))


def unpacked(base: Base) -> Base:
    """``base`` (from :func:`base_of` ``with_document``) with its document unpacked: call it
    off the event loop."""
    if base.document:
        return attrs.evolve(base, document=models_db.unpack(base.document))
    return base


def check_new(base: Base, parameters: Any) -> Any:
    """:func:`~.parameter_check.check_parameters` for a base from :func:`base_of` (with its
    packed document): slow, call it off the event loop."""
    return check_parameters(unpacked(base), parameters)


def _not_simulated(row: sqlite3.Row, base: Base) -> EngineError:
    what = (
        f"the uploaded custom model {row['model_id']}"
        if base.document is not None
        else f"a {base.config.get('type')!r} model"
    )
    return EngineError(
        f"parameterized model {row['name']!r} ({row['id']}) is built on {what}; the local "
        f"server simulates PyBaMM's {_SIMULATED} (built-in types, or models of those types)",
        code="unknown_model",
    )


def inline_spec(store: Store, row: sqlite3.Row) -> dict[str, Any]:
    """The catalog spec of a stored parameterized model (an :class:`EngineError` if the
    local server cannot simulate it)."""
    found = base_of(store, row["owner_id"], row["model_id"])
    if found is None:  # the model was deleted (its parameterized models go with it)
        raise EngineError(
            f"the model {row['model_id']} of parameterized model {row['id']} was deleted",
            code="unknown_model",
        )
    base = found[0]
    if base.catalog_id is None:
        raise _not_simulated(row, base)
    return base.inline(json.loads(row["parameters"]))


def resolve(store: Store, owner_id: str, value: Any) -> Any:
    """``value`` (a request's ``parameterized_model``) with an id of one of the owner's
    parameterized models replaced by its :func:`inline_spec`; anything else unchanged."""
    if not isinstance(value, str) or value.strip().lower() in BUILTIN_MODELS:
        return value
    row = pm_db.get(store, owner_id, value)
    return value if row is None else inline_spec(store, row)


def resolve_tree(store: Store, owner_id: str, tree: Any) -> Any:
    """A copy of ``tree`` (e.g. a pipeline's elements) whose every ``parameterized_model``
    value went through :func:`resolve`."""
    if isinstance(tree, Mapping):
        return {
            key: resolve(store, owner_id, value)
            if key == "parameterized_model"
            else resolve_tree(store, owner_id, value)
            for key, value in tree.items()
        }
    if isinstance(tree, list):
        return [resolve_tree(store, owner_id, item) for item in tree]
    return tree
