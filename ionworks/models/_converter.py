"""The one cattrs converter used to structure API responses into attrs models.

Unknown response keys are tolerated (kept in each model's ``extra`` dict, readable as
attributes); missing required keys or wrong types raise :class:`APIResponseValidationError`
with cattrs' per-field messages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn
from cattrs.preconf.json import make_converter

from ionworks.errors import APIResponseValidationError

__all__ = ["converter", "structure", "unstructure"]

T = TypeVar("T")

converter = make_converter(forbid_extra_keys=False)


def _strict(kind: type, accepted: tuple[type, ...]) -> Callable[[Any, type], Any]:
    """No silent coercion: ``None`` or a number must never become the string "None"/"3"."""

    def hook(value: Any, _: type) -> Any:
        if isinstance(value, bool) and kind is not bool:
            raise TypeError(f"expected {kind.__name__}, got bool {value!r}")
        if not isinstance(value, accepted):
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
        return kind(value)

    return hook


converter.register_structure_hook(str, _strict(str, (str,)))
converter.register_structure_hook(int, _strict(int, (int,)))
converter.register_structure_hook(float, _strict(float, (int, float)))
converter.register_structure_hook(bool, _strict(bool, (bool,)))


def _has_extra(cls: type) -> bool:
    return attrs.has(cls) and any(a.name == "extra" for a in attrs.fields(cls))


def _structure_factory(cls: type) -> Callable[[Any, type], Any]:
    base: Callable[[Any, type], Any] = make_dict_structure_fn(
        cls, converter, _cattrs_forbid_extra_keys=False
    )
    known = {a.alias for a in attrs.fields(cls) if a.name != "extra"}

    def structure_with_extra(data: Any, _: type) -> Any:
        if not isinstance(data, Mapping):
            raise TypeError(f"expected a JSON object for {cls.__name__}, got {type(data).__name__}")
        present = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known}
        obj = base(present, cls)
        object.__setattr__(obj, "extra", extra)
        return obj

    return structure_with_extra


def _unstructure_factory(cls: type) -> Callable[[Any], Any]:
    base: Callable[[Any], Any] = make_dict_unstructure_fn(cls, converter)

    def unstructure_with_extra(obj: Any) -> Any:
        data: dict[str, Any] = base(obj)
        extra = data.pop("extra", None) or {}
        return {**extra, **data}

    return unstructure_with_extra


converter.register_structure_hook_factory(_has_extra, _structure_factory)
converter.register_unstructure_hook_factory(_has_extra, _unstructure_factory)


def structure(data: Any, cls: type[T], *, what: str | None = None) -> T:
    """Structure ``data`` into ``cls``; a bad shape raises APIResponseValidationError."""
    try:
        return converter.structure(data, cls)
    except (cattrs.BaseValidationError, TypeError, ValueError, KeyError) as exc:
        if isinstance(exc, cattrs.BaseValidationError):
            details = "; ".join(cattrs.transform_error(exc))
        else:
            details = str(exc)
        raise APIResponseValidationError(
            f"Unexpected response for {what or cls.__name__}: {details}"
        ) from exc


def unstructure(obj: Any) -> Any:
    return converter.unstructure(obj)
