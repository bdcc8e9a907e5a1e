"""The files behind ``model.upload_custom`` and ``model.download`` (blocking: run them in a
worker thread)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ionworks.resources.protocol import _read_file

__all__ = ["is_pybamm_model", "load_serialised", "model_file"]


def is_pybamm_model(model: Any) -> bool:
    """A live PyBaMM model (as the official client tells one: ``rhs`` and ``variables``)."""
    return hasattr(model, "rhs") and hasattr(model, "variables")


def _serialised(model: Any) -> tuple[str, bytes]:
    """PyBaMM's ``Serialise().save_custom_model`` of ``model`` (through a temporary file: the
    saver converts what plain JSON cannot hold) and the upload's name, ``<model name>.json``."""
    from pybamm.expression_tree.operations.serialise import Serialise

    handle, path = tempfile.mkstemp(suffix=".json")
    os.close(handle)
    try:
        Serialise().save_custom_model(model, filename=path)
        data = Path(path).read_bytes()
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
    return f"{getattr(model, 'name', None) or 'model'}.json", data


def model_file(model: Any) -> tuple[str, bytes]:
    """The upload of ``model``: a PyBaMM model (serialised), a path to a serialised model
    (sent under its own name) or a binary file object (sent as ``model.json``)."""
    if is_pybamm_model(model):
        return _serialised(model)
    if isinstance(model, str | os.PathLike):
        return _read_file(model)
    if callable(getattr(model, "read", None)):
        return "model.json", _read_file(model)[1]
    raise TypeError(
        f"Unsupported model type {type(model).__name__!r}: expected a pybamm.BaseModel, a "
        "filesystem path, or an open binary file."
    )


def load_serialised(document: dict[str, Any], path: str | os.PathLike[str] | None) -> Any:
    """A PyBaMM model from its serialised JSON; the JSON is written to ``path`` (if given)
    only once it loaded."""
    from pybamm.expression_tree.operations.serialise import Serialise

    model = Serialise.load_custom_model(document)
    if path is not None:
        Path(path).write_text(json.dumps(document), encoding="utf-8")
    return model
