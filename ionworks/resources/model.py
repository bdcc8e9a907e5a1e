"""``client.model``: models (``/models``) — a model type and options, or an uploaded custom
model, without parameter values."""

from __future__ import annotations

import os
from typing import Any

import anyio.to_thread

from ionworks.errors import IonworksError
from ionworks.models import Model, ModelChemistry, Page, ZooImport, structure
from ionworks.resources._base import AsyncResource, expect, filters_of, seg
from ionworks.resources._model_files import load_serialised, model_file
from ionworks.resources._model_payloads import model_config, normalized, parameters_json
from ionworks.resources.parameterized_model import AsyncParameterizedModels
from ionworks.wire.pybamm import import_pybamm

__all__ = ["AsyncModels", "model_config"]

SERIALIZE = "/discovery/ionworks_models/serialize"


def _record(data: Any) -> Model:
    return structure(data, Model, what="model")


class AsyncModels(AsyncResource):
    """Models of a project; SPM, SPMe and DFN are built in."""

    async def get(self, model_id: str) -> Model:
        """One model, with its ``config``."""
        return _record(await self._api.get(f"/models/{seg(model_id)}"))

    async def get_simulation_settings(self, model_id: str) -> dict[str, Any]:
        """The model's ``simulation_settings`` (``var_pts``, ``submesh_types``,
        ``spatial_methods``, ``solver``), or ``{}`` if it has none."""
        return (await self.get(model_id)).simulation_settings or {}

    async def list(
        self,
        limit: int | None = None,
        offset: int | None = None,
        *,
        project_id: str | None = None,
        name: str | None = None,
        name_exact: str | None = None,
        created_by_email: str | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
        updated_after: str | None = None,
        updated_before: str | None = None,
        order_by: str | None = None,
        order: str | None = None,
    ) -> Page[Model]:
        """Models of the project (default: the client's), the built-in ones included
        (without ``limit``: all of them). ``name``: a case-insensitive part of the name;
        ``name_exact``: the whole name; ``created_*``/``updated_*``: ISO timestamps."""
        filters = filters_of(locals())
        params = {
            "project_id": await self._api.default_project_id(project_id),
            "limit": limit,
            "offset": offset,
            **filters,
        }
        return await self._list("/models", params, Model, what="model list")

    async def create(self, data: dict[str, Any] | None = None) -> Model:
        """Create from ``{name, config, project_id?, description?, pybamm_version?,
        simulation_settings?}``. ``config`` is ``{"type": "SPMe", "options": {...}}`` or a
        built-in PyBaMM model object (a custom one is a ``TypeError``: use
        :meth:`upload_custom`); ``simulation_settings`` a ``SimulationSettings`` object or
        its config dict. ``project_id`` defaults to the client's project."""
        body = normalized(data, config=True)
        body["project_id"] = await self._api.default_project_id(body.get("project_id"))
        return _record(await self._api.post("/models", body))

    async def upload_custom(
        self,
        model: Any,
        *,
        name: str,
        chemistry: ModelChemistry = "lithium_ion",
        description: str | None = None,
        project_id: str | None = None,
    ) -> Model:
        """Upload a custom PyBaMM model: a ``pybamm.BaseModel`` (serialised with
        ``Serialise().save_custom_model``), a path to such a JSON file, or an open binary
        file of one. The server accepts only PyBaMM's own classes in it (a 422 names the
        path of anything else). The local server stores custom models but simulates SPM,
        SPMe and DFN only."""
        fields = {
            "name": name,
            "chemistry": chemistry,
            "project_id": await self._api.default_project_id(project_id),
        }
        if description is not None:
            fields["description"] = description
        filename, content = await anyio.to_thread.run_sync(model_file, model)
        data = await self._api.post_form(
            "/models/upload-custom",
            fields=fields,
            files={"file": (filename, content, "application/json")},
        )
        if not isinstance(data, dict):
            raise IonworksError("Unexpected non-JSON response from /models/upload-custom")
        return _record(data)

    async def create_from_zoo(
        self,
        name: str,
        *,
        cell_spec_id: str | None = None,
        options: dict[str, Any] | None = None,
        model_kwargs: dict[str, Any] | None = None,
        parameter_values: Any = None,
        model_name: str | None = None,
        parameterized_model_name: str | None = None,
        description: str | None = None,
        chemistry: ModelChemistry = "lithium_ion",
        project_id: str | None = None,
    ) -> ZooImport:
        """Build ``name`` from the PyBaMM model zoo (``pip install pybamm-model-zoo``) here,
        upload it (:meth:`upload_custom`) and create its parameterized model, under
        ``cell_spec_id`` or in the project. ``parameter_values``: a ``ParameterValues``, a
        set name or a serialised dict (default: the zoo model's own). If the server refuses
        the parameterized model (a 4xx), the uploaded model is deleted again."""
        try:
            import pybamm_model_zoo  # type: ignore[import-not-found]
        except ImportError as error:
            raise ImportError(
                "create_from_zoo needs the PyBaMM model zoo: pip install pybamm-model-zoo"
            ) from error
        project_id = await self._api.default_project_id(project_id)
        entry = pybamm_model_zoo.info(name)
        built = entry.load()(options=options, **(model_kwargs or {}))
        parameters = await anyio.to_thread.run_sync(_zoo_parameters, built, parameter_values)
        model_name = model_name or entry.name
        description = description if description is not None else entry.summary
        model = await self.upload_custom(
            built, name=model_name, chemistry=chemistry, description=description,
            project_id=project_id,
        )  # fmt: skip
        data = {
            "name": parameterized_model_name or model_name,
            "model_id": model.id,
            "description": description,
            "parameters": parameters,
            "project_id": project_id,
        }
        try:
            created = await AsyncParameterizedModels(self._api).create(cell_spec_id, data)
        except IonworksError as error:
            if error.status_code is not None and 400 <= error.status_code < 500:
                await self.delete(model.id)  # refused: nothing of this import is kept
            else:
                error.add_note(
                    f"Model '{model_name}' was uploaded as {model.id}; the parameterized model "
                    "may or may not have been created."
                )
            raise
        return ZooImport(model=model, parameterized_model=created)

    async def serialize(
        self, name: str, *, options: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The server builds the Ionworks model ``name`` (``"ECM"``, ``"LumpedSPMR"`` …) and
        returns its PyBaMM ``Serialise`` JSON. The local server has no Ionworks models (they
        come from the licensed ionworkspipeline package): it answers 404."""
        data = await self._api.post(SERIALIZE, {"name": name, "options": options or {}})
        if not isinstance(data, dict):
            raise IonworksError(f"Unexpected non-JSON response from {SERIALIZE}")
        return data

    async def download(
        self,
        name: str,
        *,
        options: dict[str, Any] | None = None,
        path: str | os.PathLike[str] | None = None,
    ) -> Any:
        """:meth:`serialize`, loaded as a PyBaMM model here; the JSON is also written to
        ``path`` (if given) once it loaded."""
        document = await self.serialize(name, options=options)
        return await anyio.to_thread.run_sync(load_serialised, document, path)

    async def update(self, model_id: str, data: dict[str, Any] | None = None) -> Model:
        """Change ``name``, ``description``, ``pybamm_version`` or ``simulation_settings``
        (``None`` clears the settings)."""
        body = normalized(data, config=True)
        return _record(await self._api.patch(f"/models/{seg(model_id)}", body))

    async def delete(self, model_id: str) -> None:
        """Delete a model (and its parameterized models)."""
        await self._api.delete(f"/models/{seg(model_id)}")

    async def add_custom_variable(self, model_id: str, data: dict[str, Any] | None = None) -> Model:
        """Add ``{name, expression}`` to the model (one of the same name is replaced). The
        expression reads the model's variables in braces, ``{Voltage [V]} * {Current [A]}``,
        with ``+ - * / **``, numbers and ``sqrt exp log log10 abs min max``."""
        body = normalized(data)
        path = f"/models/{seg(model_id)}/custom-variables"
        return _record(expect(await self._api.post(path, body), dict, what="model"))


def _zoo_parameters(model: Any, parameter_values: Any) -> Any:
    """The serialised parameter values of a zoo import (a stock set goes through the model's
    ``apply_stack_scaling`` if it has one, to add the model's own parameters)."""
    if parameter_values is None:
        parameter_values = model.default_parameter_values
    elif not isinstance(parameter_values, dict):
        if isinstance(parameter_values, str):
            parameter_values = import_pybamm().ParameterValues(parameter_values)
        prepare = getattr(model, "apply_stack_scaling", None)
        if prepare is not None:
            parameter_values = prepare(parameter_values.copy())
    return parameters_json(parameter_values)
