"""Records of models and parameterized models (``client.model``, ``client.parameterized_model``)."""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from attrs import frozen

from ionworks.models._base import _Extra

__all__ = ["Model", "ModelChemistry", "ParameterizedModel", "ZooImport"]

#: ``chemistry`` of an uploaded custom model: which simulation path it takes on the cloud.
ModelChemistry = Literal["lithium_ion", "lithium_sulfur", "ecm", "generic"]


@frozen
class Model(_Extra):
    """A model: a PyBaMM model config (``{"type": "SPMe", "options": {...}}``) or an uploaded
    custom model (``is_custom_model``), in a project; SPM, SPMe and DFN are built in."""

    id: str
    name: str
    #: The project it belongs to; ``None`` for the built-in (system) models.
    project_id: str | None = None
    #: The system model a project's copy came from (``None`` for a project's own models).
    source_model_id: str | None = None
    config: dict[str, Any] | None = None
    #: PyBaMM simulation keyword arguments kept with the model (``var_pts``, ``solver`` …).
    simulation_settings: dict[str, Any] | None = None


@frozen
class ParameterizedModel(_Extra):
    """A model with parameter values: what a simulation names by id."""

    id: str
    name: str
    #: PyBaMM simulation keyword arguments; they take precedence over the model's.
    simulation_settings: dict[str, Any] | None = None


class ZooImport(NamedTuple):
    """What ``model.create_from_zoo`` creates: the uploaded model and its parameterized
    model."""

    model: Model
    parameterized_model: ParameterizedModel
