"""Typed response models (attrs) shared by the async client and the sync facade.

Every model keeps response keys it does not declare in ``extra``; they are readable as
attributes (``record.some_new_field``) and included by :meth:`to_dict`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

from attrs import define, field, frozen

from ionworks.models._base import _Extra
from ionworks.models._converter import converter, structure, unstructure
from ionworks.models.cells import (
    CellInstance,
    CellInstanceDetail,
    CellMeasurementDetail,
    CellSpecification,
)
from ionworks.models.modelling import Model, ModelChemistry, ParameterizedModel, ZooImport
from ionworks.models.projects import InviteResult, ProjectRoleInfo
from ionworks.models.protocols import INCLUDABLE_FIELDS, ParsedProtocol, Protocol
from ionworks.models.raw_data import RawData

__all__ = [
    "INCLUDABLE_FIELDS",
    "CellInstance",
    "CellInstanceDetail",
    "CellMeasurementDetail",
    "CellSpecification",
    "ConvertResult",
    "InviteResult",
    "Job",
    "Measurement",
    "Model",
    "ModelChemistry",
    "Page",
    "ParameterizedModel",
    "ParsedProtocol",
    "Pipeline",
    "PipelineElement",
    "PipelineResult",
    "Project",
    "ProjectRoleInfo",
    "Protocol",
    "RawData",
    "SimplePipeline",
    "SimulationResponse",
    "SimulationResult",
    "Study",
    "ZooImport",
    "converter",
    "structure",
    "unstructure",
]

T = TypeVar("T")


@frozen
class SimulationResponse(_Extra):
    """What ``simulation.protocol`` / ``protocol_batch`` return per simulation."""

    simulation_id: str
    job_id: str
    protocol_id: str | None = None
    already_existed: bool = False


@frozen
class Job(_Extra):
    """A job record (``JobResponse`` on the wire); the server decides terminal/failed."""

    job_id: str
    status: str
    job_type: str
    priority: int
    created_at: str
    updated_at: str
    is_terminal: bool
    is_failed: bool
    error: str | None = None
    result: Any = None


@frozen
class Pipeline(_Extra):
    """A pipeline submission record."""

    id: str
    name: str
    status: str
    is_terminal: bool
    is_failed: bool
    description: str | None = None
    error: str | None = None


@frozen
class PipelineElement(_Extra):
    """One element of a pipeline (``GET /pipelines/{id}/elements``)."""

    name: str
    job_id: str | None = None
    element_type: str | None = None
    progress: dict[str, Any] | None = None


@frozen
class PipelineResult(_Extra):
    """``GET /pipelines/{id}/result``: the final result and each element's result by name."""

    result: dict[str, Any]
    element_results: dict[str, Any]


@frozen
class SimplePipeline(_Extra):
    """A simple pipeline record; ``result`` holds ``parameter_values`` once completed."""

    id: str
    project_id: str
    organization_id: str
    status: str
    created_at: str
    updated_at: str
    is_terminal: bool
    is_failed: bool
    user_id: str | None = None
    name: str | None = None
    description: str | None = None
    created_by_email: str | None = None
    job_id: str | None = None
    error: str | None = None
    error_code: str | None = None
    config_path: str | None = None
    result: dict[str, Any] | None = None


@frozen
class Study(_Extra):
    id: str
    name: str
    description: str | None = None
    project_id: str | None = None


@frozen
class Measurement(_Extra):
    """A cell measurement (``CellMeasurement`` on the wire)."""

    id: str
    name: str
    cell_instance_id: str
    measurement_type: str = "time_series"
    processing_status: str | None = None
    processing_error: str | None = None
    tags: list[str] | None = None


@frozen
class Project(_Extra):
    id: str
    name: str
    organization_id: str | None = None
    description: str | None = None
    #: The key's default project (our local server marks it; None where a server does not say).
    is_default: bool | None = None


@define
class Page(Generic[T]):
    """One page of a list: behaves like a list and has ``.items``, ``.count`` and ``.total``."""

    items: list[T]
    total: int

    @property
    def count(self) -> int:
        return len(self.items)

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        return self.items[index]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Page):
            return self.items == other.items and self.total == other.total
        if isinstance(other, list):
            return self.items == other
        return NotImplemented


@define
class SimulationResult:
    """``simulation.get_result``: time series and steps DataFrames plus scalar metrics."""

    time_series: Any
    steps: Any
    metrics: dict[str, Any]


@frozen
class ConvertResult:
    """A protocol converted to a vendor format: the primary file plus sidecar assets."""

    target: str
    primary_filename: str
    primary_bytes: bytes
    media_type: str | None = None
    assets: list[tuple[str, bytes]] = field(factory=list)

    def text(self, encoding: str = "utf-8") -> str:
        """The primary file decoded as text."""
        return self.primary_bytes.decode(encoding)

    def save(self, directory: str | Path) -> list[Path]:
        """Write the primary file and every sidecar into ``directory`` (created if needed).

        Returns the written paths, primary first. File names from the server are checked: a name
        with a directory part, ``..`` or an absolute path is refused (``ValueError``).
        """
        directory = Path(directory)
        files = [(self.primary_filename, self.primary_bytes), *self.assets]
        for name, _ in files:
            _check_filename(name)
        directory.mkdir(parents=True, exist_ok=True)
        paths: list[Path] = []
        for name, content in files:
            path = directory / name
            tmp = path.with_name(f".{name}.part")
            tmp.write_bytes(content)
            tmp.replace(path)
            paths.append(path)
        return paths


def _check_filename(name: str) -> None:
    if (
        not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\x00" in name
        or Path(name).is_absolute()
        or Path(name).name != name
    ):
        raise ValueError(f"refusing to write unsafe file name {name!r} from a conversion result")
