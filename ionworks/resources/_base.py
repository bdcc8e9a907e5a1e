"""Shared plumbing for resource classes (not part of the public surface)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, TypeVar
from urllib.parse import quote

from ionworks.errors import APIResponseValidationError
from ionworks.models import Page, structure

if TYPE_CHECKING:
    from ionworks._client import AsyncIonworks

__all__ = ["PAGE_SIZE", "AsyncResource", "parse_page", "seg"]

T = TypeVar("T")

#: Items asked for per request when a list is read whole (no ``limit``): the local server's
#: maximum page size (``Limits.max_page_size``).
PAGE_SIZE: Final = 1000


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
            data = await self._get(path, query)
            if array and not isinstance(data, list):
                raise APIResponseValidationError(
                    f"Unexpected response for {path}: expected a JSON array, "
                    f"got {type(data).__name__}"
                )
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
