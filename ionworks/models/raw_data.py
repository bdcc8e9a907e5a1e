"""Raw-data records (``client.raw_data``): original cycler files of a project, stored as
uploaded."""

from __future__ import annotations

from typing import Any

from attrs import frozen

from ionworks.models._base import _Extra

__all__ = ["RawData"]


@frozen
class RawData(_Extra):
    """A raw file of a project: its label (``name``), the uploaded file's name, where it came
    from (``source``) and, as the server sends them, ``content_type``, ``size_bytes``,
    ``metadata``, ``created_at`` … (kept in ``extra`` when not declared)."""

    id: str
    project_id: str
    name: str
    filename: str
    source: str | None = None
    content_type: str | None = None
    size_bytes: int | None = None
    metadata: dict[str, Any] | None = None
