"""Shared plumbing for resource classes (not part of the public surface)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from ionworks.errors import APIResponseValidationError
from ionworks.models import Page, structure

if TYPE_CHECKING:
    from ionworks._client import AsyncIonworks

__all__ = ["AsyncResource", "parse_page", "seg"]

T = TypeVar("T")


def seg(value: str) -> str:
    """One URL path segment, percent-encoded (ids never change the path's shape)."""
    if not isinstance(value, str) or not value or value in (".", ".."):
        raise ValueError(f"expected a non-empty id string (not '.' or '..'), got {value!r}")
    return quote(value, safe="")


def parse_page(data: Any, cls: type[T] | None, *, key: str = "items", what: str) -> Page[Any]:
    """A list response: ``{key: [...], total?}`` or a bare array (legacy)."""
    if isinstance(data, list):
        raw_items, total = data, len(data)
    elif isinstance(data, Mapping) and isinstance(data.get(key), list):
        raw_items = data[key]
        total_value = data.get("total")
        total = int(total_value) if isinstance(total_value, int) else len(raw_items)
    else:
        raise APIResponseValidationError(
            f"Unexpected response for {what}: expected a list or an object with {key!r}, "
            f"got {type(data).__name__}"
        )
    items = [structure(item, cls, what=what) for item in raw_items] if cls else list(raw_items)
    return Page(items=items, total=total)


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


class AsyncResource:
    """Base of every resource: holds the client and its transport."""

    def __init__(self, client: AsyncIonworks) -> None:
        self._client = client

    @property
    def _transport(self) -> Any:
        return self._client._transport

    async def _project_id(self, project_id: str | None = None) -> str:
        return await self._client._default_project_id(project_id)

    async def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return await self._client._transport.request("GET", path, params=params)

    async def _post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return await self._client._transport.request(
            "POST", path, json_body={} if body is None else body, **kwargs
        )

    async def _patch(self, path: str, body: Any) -> Any:
        return await self._client._transport.request("PATCH", path, json_body=body)

    async def _delete(self, path: str) -> None:
        await self._client._transport.request("DELETE", path)
