"""Shared plumbing for resource classes (not part of the public surface)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, Final, TypeVar, overload
from urllib.parse import quote

from ionworks.errors import APIResponseValidationError, IonworksError
from ionworks.models import Page, structure
from ionworks.resources._requests import Requests

__all__ = [
    "PAGE_SIZE",
    "AsyncResource",
    "existing_id",
    "expect",
    "is_conflict",
    "parse_page",
    "seg",
]

T = TypeVar("T")
U = TypeVar("U")

#: Items asked for per request when a list is read whole (no ``limit``): the local server's
#: maximum page size (``Limits.max_page_size``).
PAGE_SIZE: Final = 1000
#: How much of a response body an "unexpected response" error quotes.
PREVIEW_CHARS: Final = 200

_JSON_NAMES: Final[dict[type, str]] = {
    dict: "a JSON object",
    list: "a JSON array",
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    type(None): "null",
}


def seg(value: str) -> str:
    """One URL path segment, percent-encoded (ids never change the path's shape)."""
    if not isinstance(value, str) or not value or value in (".", ".."):
        raise ValueError(f"expected a non-empty id string (not '.' or '..'), got {value!r}")
    return quote(value, safe="")


def _shape_name(shape: type) -> str:
    return _JSON_NAMES.get(shape, f"a {shape.__name__}")


def _kind_of(value: object) -> str:
    """What a decoded JSON value is, in the words of :data:`_JSON_NAMES`."""
    return next(
        (name for cls, name in _JSON_NAMES.items() if type(value) is cls),
        _shape_name(type(value)),
    )


def _describe(shapes: tuple[type, ...], keys: Mapping[str, type], items: type | None) -> str:
    words = []
    for shape in shapes:
        word = _shape_name(shape)
        if shape is dict and keys:
            word += " with " + ", ".join(
                repr(k) if t is object else f"{k!r} ({_shape_name(t)})" for k, t in keys.items()
            )
        if shape is list and items is not None:
            word += f" of {_shape_name(items).split(' ', 1)[1]} items"  # "of string items"
        words.append(word)
    return ", or ".join(words)


def _mismatch(
    data: object, shapes: tuple[type, ...], keys: Mapping[str, type], items: type | None
) -> str | None:
    """How ``data`` differs from the expected shape (``None``: it does not)."""
    if not isinstance(data, shapes):
        return _kind_of(data)
    if isinstance(data, dict):
        for key, kind in keys.items():
            if key not in data:
                return f"a JSON object without {key!r}"
            if not isinstance(data[key], kind):
                return f"a JSON object whose {key!r} is {_kind_of(data[key])}"
    if isinstance(data, list) and items is not None:
        for index, item in enumerate(data):
            if not isinstance(item, items):
                return f"a JSON array whose item #{index} is {_kind_of(item)}"
    return None


@overload
def expect(
    data: object,
    shape: type[T],
    *,
    what: str,
    keys: Mapping[str, type] | None = None,
    items: type | None = None,
) -> T: ...
@overload
def expect(
    data: object,
    shape: tuple[type[T], type[U]],
    *,
    what: str,
    keys: Mapping[str, type] | None = None,
    items: type | None = None,
) -> T | U: ...
def expect(
    data: object,
    shape: type[Any] | tuple[type[Any], ...],
    *,
    what: str,
    keys: Mapping[str, type] | None = None,
    items: type | None = None,
) -> Any:
    """``data`` (a decoded response body, or part of one) if it has the expected shape, else
    an :class:`~ionworks.errors.APIResponseValidationError` naming ``what``, the shape
    expected and what came (with the start of the body).

    ``shape``: a type, or a tuple of alternatives; ``keys``: keys a JSON object must have,
    each with the type of its value (``object``: any); ``items``: the type of every item of a
    JSON array.
    """
    shapes = shape if isinstance(shape, tuple) else (shape,)
    found = _mismatch(data, shapes, keys or {}, items)
    if found is None:
        return data
    preview = repr(data)
    if len(preview) > PREVIEW_CHARS:
        preview = preview[:PREVIEW_CHARS] + "…"
    raise APIResponseValidationError(
        f"Unexpected response for {what}: expected {_describe(shapes, keys or {}, items)}, "
        f"got {found}: {preview}"
    )


def parse_page(data: Any, cls: type[T] | None, *, key: str = "items", what: str) -> Page[Any]:
    """A list response: ``{key: [...], total?}`` or a bare array (legacy)."""
    body = expect(data, (list, dict), what=what, keys={key: list})
    if isinstance(body, list):
        raw_items, total = body, len(body)
    else:
        raw_items = body[key]
        total_value = body.get("total")
        total = int(total_value) if isinstance(total_value, int) else len(raw_items)
    items = [structure(item, cls, what=what) for item in raw_items] if cls else list(raw_items)
    return Page(items=items, total=total)


def existing_id(error: IonworksError, legacy_key: str | None = None) -> str | None:
    """The record a 409 ``CONFLICT`` names: ``detail.existing_id``, else the older top-level
    ``legacy_key`` if given (with a ``DeprecationWarning``, as the official client); ``None``
    if neither. The ``create_or_get`` methods use it to fetch the record a create collided with."""
    body = error.data if isinstance(error.data, dict) else {}
    detail = body.get("detail")
    found = detail.get("existing_id") if isinstance(detail, dict) else None
    if isinstance(found, str) and found:
        return found
    legacy = body.get(legacy_key) if legacy_key else None
    if isinstance(legacy, str) and legacy:
        warnings.warn(
            f"Received legacy error key {legacy_key!r}; the server should send detail.existing_id",
            DeprecationWarning,
            stacklevel=3,
        )
        return legacy
    return None


def is_conflict(error: IonworksError) -> bool:
    """A 409 / ``CONFLICT``: a create collided with an existing record of that name."""
    return error.error_code == "CONFLICT" or error.status_code == 409


def filter_params(
    *,
    name: str | None = None,
    name_exact: str | None = None,
    created_by_email: str | None = None,
    created_after: str | None = None,
    created_before: str | None = None,
    updated_after: str | None = None,
    updated_before: str | None = None,
    order_by: str | None = None,
    order: str | None = None,
) -> dict[str, Any]:
    """The official client's supabase-style filter mapping (wire.md §3)."""
    params: dict[str, Any] = {}
    if name_exact is not None:
        params["name"] = f"eq.{name_exact}"
    elif name is not None:
        params["name"] = f"ilike.%{name}%"
    if created_by_email is not None:
        params["created_by_email"] = f"ilike.%{created_by_email}%"
    params["created_at_gt"] = created_after
    params["created_at_lt"] = created_before
    params["updated_at_gt"] = updated_after
    params["updated_at_lt"] = updated_before
    if order is not None and order not in ("asc", "desc"):
        raise ValueError(f"order must be 'asc' or 'desc', got {order!r}")
    params["order_by"] = order_by
    params["order"] = order
    return {k: v for k, v in params.items() if v is not None}


#: The arguments :func:`filter_params` takes, as the official list methods name them.
FILTER_ARGUMENTS = (
    "name",
    "name_exact",
    "created_by_email",
    "created_after",
    "created_before",
    "updated_after",
    "updated_before",
    "order_by",
    "order",
)


def filters_of(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`filter_params` of the filter arguments among ``arguments`` (a list method's
    ``locals()``: the official signatures name them one by one, this maps them in one place)."""
    return filter_params(**{k: arguments[k] for k in FILTER_ARGUMENTS if k in arguments})


class AsyncResource:
    """Base of every resource: holds the client's :class:`Requests`, and nothing else of it."""

    def __init__(self, api: Requests) -> None:
        self._api = api

    async def _list(
        self,
        path: str,
        params: Mapping[str, Any],
        cls: type[T] | None,
        *,
        what: str,
        key: str = "items",
        offset_key: str = "offset",
        array: bool = False,
    ) -> Page[Any]:
        """A list endpoint: one request when ``params`` has a ``limit``; otherwise every item,
        read in pages of :data:`PAGE_SIZE` (from ``params[offset_key]``, default 0) until a
        short page, the reported ``total``, or a page that repeats the previous one (a server
        that ignores the offset). ``array``: the response must be a bare JSON array."""

        async def fetch(query: Mapping[str, Any]) -> tuple[Page[Any], Any]:
            data = await self._api.get(path, params=query)
            if array:
                expect(data, list, what=f"{what} ({path})")
            return parse_page(data, cls, key=key, what=what), data

        if params.get("limit") is not None:
            return (await fetch(params))[0]
        items: list[Any] = []
        offset = int(params.get(offset_key) or 0)
        total: int | None = None
        previous: Any = None
        while True:
            query = {**params, "limit": PAGE_SIZE, offset_key: offset or params.get(offset_key)}
            page, data = await fetch(query)
            raw = data if isinstance(data, list) else data[key]
            if raw and previous is not None and raw[0] == previous:
                break  # the same page again: the server does not page by offset
            previous = raw[0] if raw else None
            items.extend(page.items)
            offset += len(page.items)
            reported = data.get("total") if isinstance(data, Mapping) else None
            if isinstance(reported, int) and not isinstance(reported, bool):
                total = reported
            if len(page.items) != PAGE_SIZE or (total is not None and offset >= total):
                break
        return Page(items=items, total=len(items) if total is None else total)
