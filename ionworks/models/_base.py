"""The base of every response record (one module, so each resource group's models can live in
a module of their own: ``ionworks/models/<group>.py``, re-exported by ``ionworks.models``)."""

from __future__ import annotations

from typing import Any

from attrs import field, frozen

from ionworks.models._converter import unstructure

__all__ = ["_Extra"]


@frozen
class _Extra:
    """Base of every record: response keys a model does not declare are kept in ``extra``
    (keyword-only, so subclasses order their own fields freely), readable as attributes,
    in ``to_dict()`` and through mapping-style access."""

    extra: dict[str, Any] = field(factory=dict, repr=False, eq=False, kw_only=True)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "extra":
            raise AttributeError(name)
        try:
            return self.extra[name]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {name!r}"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        """The record as a plain dict (declared fields and extra keys)."""
        result: dict[str, Any] = unstructure(self)
        return result

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_dict().get(key, default)
