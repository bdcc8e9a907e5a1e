"""Client-side checks of simulation configs (wire.md §4.1): raised before any request."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from ionworks import doe as _doe

__all__ = ["expected_count", "normalize_parameterized_model", "validate_config"]

BATCH_KEYS = (
    "conditions",
    "design_parameters_doe",
    "experiment_parameters",
    "extra_variables",
    "max_backward_jumps",
    "parameterized_model",
    "project_id",
    "protocol_experiment",
    "protocol_id",
    "study_id",
)
QUICK_MODEL_KEYS = ("capacity", "chemistry", "resistance_pct", "cell_spec_id")


def normalize_parameterized_model(value: Any) -> Any:
    if isinstance(value, Mapping):
        if not any(k in value for k in ("quick_model", "model_id", "parameters")) and any(
            k in value for k in QUICK_MODEL_KEYS
        ):
            return {"quick_model": {k: value[k] for k in QUICK_MODEL_KEYS if k in value}}
        return dict(value)
    to_config = getattr(value, "to_config", None)
    if callable(to_config):  # a QuickModelConfig-like object
        return {"quick_model": to_config()}
    return value


def _check_numeric_map(name: str, value: Any) -> dict[str, float | str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"Invalid simulation config: {name} must be a dict, got {value!r}")
    out: dict[str, float | str] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise ValueError(f"Invalid simulation config: {name} keys must be strings: {key!r}")
        if isinstance(item, bool) or not isinstance(item, int | float | str):
            raise ValueError(
                f"Invalid simulation config: {name}[{key!r}] must be a number or string, "
                f"got {item!r}"
            )
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError(
                f"Invalid simulation config: {name}[{key!r}] must be a finite number, got "
                f"{item!r} (JSON has no NaN or infinity)"
            )
        out[key] = float(item) if isinstance(item, int) else item
    return out


def validate_config(config: Any, *, allowed_extra: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(config, Mapping):
        raise ValueError(f"Invalid simulation config: expected a dict, got {type(config).__name__}")
    cfg = copy.deepcopy(dict(config))
    valid = sorted((*BATCH_KEYS, *allowed_extra))
    for key in cfg:
        if key not in valid:
            raise ValueError(
                f"Unknown config key {key!r}. Valid top-level keys: {', '.join(valid)}."
            )
    if "parameterized_model" not in cfg or cfg["parameterized_model"] is None:
        raise ValueError("Invalid simulation config: 'parameterized_model' is required")
    has_inline = cfg.get("protocol_experiment") is not None
    if has_inline == (cfg.get("protocol_id") is not None):
        raise ValueError(
            "Invalid simulation config: give exactly one of 'protocol_experiment' (inline UCP "
            "YAML) or 'protocol_id' (a saved protocol)"
        )
    if has_inline:
        pe = cfg["protocol_experiment"]
        if not isinstance(pe, Mapping) or set(pe) - {"protocol", "name"}:
            raise ValueError(
                "Invalid simulation config: protocol_experiment must be a dict with keys "
                "'protocol' (UCP YAML string) and 'name'"
            )
        if not isinstance(pe.get("protocol"), str) or not isinstance(pe.get("name"), str):
            raise ValueError(
                "Invalid simulation config: protocol_experiment needs 'protocol' (str) and "
                "'name' (str)"
            )
    conditions = cfg.get("conditions")
    if conditions is not None:
        if cfg.get("design_parameters_doe") is not None:
            raise ValueError(
                "Invalid simulation config: 'conditions' and 'design_parameters_doe' are "
                "mutually exclusive"
            )
        if not isinstance(conditions, list) or not conditions:
            raise ValueError("Invalid simulation config: 'conditions' must be a non-empty list")
        for index, cond in enumerate(conditions):
            if not isinstance(cond, Mapping) or set(cond) - {
                "experiment_parameters",
                "design_parameters",
            }:
                raise ValueError(
                    f"Invalid simulation config: conditions[{index}] must be a dict with "
                    "'experiment_parameters' and/or 'design_parameters'"
                )
            conditions[index] = {
                "experiment_parameters": _check_numeric_map(
                    f"conditions[{index}].experiment_parameters",
                    cond.get("experiment_parameters"),
                ),
                "design_parameters": _check_numeric_map(
                    f"conditions[{index}].design_parameters", cond.get("design_parameters")
                ),
            }
    cfg["experiment_parameters"] = _check_numeric_map(
        "experiment_parameters", cfg.get("experiment_parameters")
    )
    doe = cfg.get("design_parameters_doe")
    if doe is not None:
        _doe.validate_doe(doe)
        cleaned = {k: v for k, v in dict(doe).items() if v is not None}
        if isinstance(cleaned.get("rows"), list):
            cleaned["rows"] = [
                {k: v for k, v in row.items() if v is not None} if isinstance(row, Mapping) else row
                for row in cleaned["rows"]
            ]
        cfg["design_parameters_doe"] = cleaned
    return cfg


def expected_count(cfg: Mapping[str, Any]) -> int:
    if cfg.get("conditions"):
        return len(cfg["conditions"])
    doe = cfg.get("design_parameters_doe")
    return _doe.count_simulations(doe) if doe is not None else 1
