"""Records of cell specifications and instances (``client.cell_spec``, ``client.cell_instance``)
and the composed view of an instance with its measurements (``cell_instance.detail``)."""

from __future__ import annotations

from typing import Any

from attrs import field, frozen

from ionworks.models._base import _Extra

__all__ = ["CellInstance", "CellInstanceDetail", "CellMeasurementDetail", "CellSpecification"]


@frozen
class CellSpecification(_Extra):
    """A cell type (manufacturer, chemistry, ratings, component slots …): every field the
    server sends is kept (``extra``); ``id`` and ``name`` are always there."""

    id: str
    name: str
    project_id: str | None = None


@frozen
class CellInstance(_Extra):
    """One physical cell of a specification. ``batch_name`` is read-only (set ``batch_id``)."""

    id: str
    name: str
    cell_specification_id: str
    batch_id: str | None = None
    batch_name: str | None = None


@frozen
class CellMeasurementDetail(_Extra):
    """A measurement's record (its fields at the top level) with the data asked for: ``steps``,
    ``time_series`` and ``cycles`` as DataFrames (``None`` when not asked for or absent)."""

    id: str
    name: str
    cell_instance_id: str
    measurement_type: str = "time_series"
    processing_status: str | None = None
    processing_error: str | None = None
    tags: list[str] | None = None
    specification_id: str | None = None
    instance_id: str | None = None
    steps: Any = field(default=None, eq=False)
    time_series: Any = field(default=None, eq=False)
    cycles: Any = field(default=None, eq=False)
    files: dict[str, bytes] | None = None


@frozen
class CellInstanceDetail:
    """``cell_instance.detail``: the instance, its specification's id and every measurement
    of it with its data (fetch the specification itself with ``cell_spec.get``)."""

    instance: CellInstance
    specification_id: str
    measurements: list[CellMeasurementDetail]
