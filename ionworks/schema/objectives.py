"""Objectives (``iws.objectives``): what a data fit or validation compares against.

The local server runs ``CurrentDriven``: the model is driven by the measured current and its
voltage is compared with the measured voltage. Serialised like ionworks-schema::

    {"type": "CurrentDriven", "data": <data>, "options": {"model": ...}}

``data`` is ``"db:<measurement id>"``, ``"file:<csv>"``, ``"folder:<dir>"``, a reference to
an entry element's value (``"entry.data"``), a dict of columns or a DataFrame (sent inline,
at most 1,000 rows, as ``{"data": {<columns>}}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from ._base import DATA_PREFIXES, Schema, _frame_columns, check_mapping, fail, wire

__all__ = ["BaseObjective", "CurrentDriven", "CurrentDrivenOptions", "objective_from"]

#: Keys of the doc's short objective form ``{"data": ..., "options": {...}}``.
SHORT_FORM_KEYS: Final = ("data", "options")


def check_model(where: str, model: Any) -> Any:
    """A model: a name (``"SPM"``), a config dict (``{"type": "SPM", "options": {...}}``, or
    a serialised PyBaMM model) or a PyBaMM model object."""
    if model is None:
        return None
    if isinstance(model, str) and model:
        return model
    if isinstance(model, Mapping):
        if not model or not all(isinstance(k, str) for k in model):
            fail(where, "a model config dict with string keys", model)
        return dict(model)
    if type(model).__module__.startswith("pybamm") and callable(getattr(model, "to_config", None)):
        return model
    fail(where, 'a model: "SPM", {"type": "SPM"|"SPMe"|"DFN", ...} or a PyBaMM model', model)


@attrs.frozen(init=False)
class CurrentDrivenOptions(Schema):
    """Options of :class:`CurrentDriven`; the server uses ``model`` (else the model of the
    entry element, else SPM). Serialised without a ``"type"`` and only with what was set."""

    model: Any

    def __init__(self, model: Any = None) -> None:
        self.__attrs_init__(check_model("CurrentDrivenOptions.model", model))

    def to_config(self) -> dict[str, Any]:
        if self.model is None:
            return {}
        return {"model": wire(self.model, "CurrentDrivenOptions.model")}


def options_from(where: str, value: Any) -> CurrentDrivenOptions | None:
    if value is None or isinstance(value, CurrentDrivenOptions):
        return value
    options = check_mapping(where, value, empty=True)
    unknown = sorted(set(options) - {"model"})
    if unknown:
        fail(where, "options with the key 'model'", value, f"unsupported {unknown}")
    return CurrentDrivenOptions(model=options.get("model"))


def check_data(where: str, data: Any) -> Any:
    """Measured data (see the module docstring); DataFrames become ``{"data": columns}``."""
    if isinstance(data, str):
        if data.startswith(DATA_PREFIXES) or "." in data.strip("."):
            return data
        fail(
            where,
            "'db:<measurement id>', 'file:<path>', 'folder:<dir>' or '<element>.<key>'",
            data,
        )
    columns = _frame_columns(data)
    if columns is not None:
        return {"data": columns}
    if isinstance(data, Mapping) and data:
        return dict(data)
    fail(where, "a data reference string, a dict of columns or a DataFrame", data)


class BaseObjective(Schema):
    """Base of the objectives; construct one of the concrete classes."""

    __slots__ = ()


@attrs.frozen(init=False)
class CurrentDriven(BaseObjective):
    """Fit/validate the voltage of a model driven by the measured current.

    ``data_input`` (or ``data=``, its wire name) is the measured data; ``options`` a
    :class:`CurrentDrivenOptions` or ``{"model": ...}``.
    """

    data_input: Any
    options: CurrentDrivenOptions | None

    def __init__(
        self,
        data_input: Any = None,
        options: CurrentDrivenOptions | Mapping[str, Any] | None = None,
        *,
        data: Any = None,
    ) -> None:
        if data_input is not None and data is not None:
            fail("CurrentDriven.data_input", "either data_input or data, not both")
        value = data_input if data_input is not None else data
        if value is None:
            fail("CurrentDriven.data_input", "the measured data (data_input= or data=)")
        self.__attrs_init__(
            check_data("CurrentDriven.data_input", value),
            options_from("CurrentDriven.options", options),
        )

    def to_config(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type_name,
            "data": wire(self.data_input, "CurrentDriven.data_input"),
        }
        if self.options is not None:
            out["options"] = self.options.to_config()
        return out


OBJECTIVES: Final[dict[str, type[BaseObjective]]] = {"CurrentDriven": CurrentDriven}


def objective_from(where: str, value: Any) -> BaseObjective | dict[str, Any]:
    """An objective instance, a typed dict ``{"type": "CurrentDriven", ...}`` (built into
    :class:`CurrentDriven`) or the doc's short form ``{"data": ...}`` (kept as a dict)."""
    if isinstance(value, BaseObjective):
        if type(value).__name__ not in OBJECTIVES:
            fail(where, "an objective (iws.objectives.CurrentDriven)", value)
        return value
    if not isinstance(value, Mapping):
        fail(where, 'an objective (iws.objectives.CurrentDriven) or {"data": ...}', value)
    if "type" in value:
        if value["type"] not in OBJECTIVES:
            fail(where, f"objective type one of {', '.join(OBJECTIVES)}", value.get("type"))
        unknown = sorted(set(value) - {"type", *SHORT_FORM_KEYS})
        if unknown:
            fail(where, "keys type, data, options", value, f"unsupported {unknown}")
        return CurrentDriven(data=value.get("data"), options=value.get("options"))
    unknown = sorted(set(value) - set(SHORT_FORM_KEYS))
    if "data" not in value or unknown:
        fail(where, '{"data": <data>} (optionally "options")', value)
    out: dict[str, Any] = {"data": check_data(f"{where}['data']", value["data"])}
    if "options" in value:
        out["options"] = options_from(f"{where}['options']", value["options"])
    return out
