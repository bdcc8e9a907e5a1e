"""``client.urls``: links to the pages of a record in a browser.

The method names and arguments are the official client's ``urls`` sub-client's. On this
package's local server (one that lists capabilities on ``/healthz``) the links point at its
own web pages (``<server>/ui/…``; sign in once with ``ionworks ui``); records that have no
page of their own there (models, materials, cell specifications, protocols) link to their
project's page. On any other server the links are the Ionworks web app's: its host is derived
from the API URL (``api.ionworks.com`` → ``app.ionworks.com``, ``<env>-api.ionworks.com`` →
``<env>.ionworks.com``, anything else → ``app.ionworks.com``); ``IONWORKS_APP_URL``
overrides it.
"""

from __future__ import annotations

import os
import re
from typing import Final
from urllib.parse import urlsplit

from ionworks.resources._base import AsyncResource, seg

__all__ = ["AsyncUrls", "app_base_url"]

CLOUD_APP: Final = "https://app.ionworks.com"
_ENV_API: Final = re.compile(r"([a-z0-9-]+)-api\.ionworks\.com")


def app_base_url(api_url: str | None) -> str:
    """The Ionworks web app's base URL for an API URL (``IONWORKS_APP_URL`` wins)."""
    override = os.environ.get("IONWORKS_APP_URL")
    if override:
        return override.rstrip("/")
    host = (urlsplit(api_url or "").hostname or "").lower()
    match = _ENV_API.fullmatch(host)
    return f"https://{match.group(1)}.ionworks.com" if match else CLOUD_APP


class AsyncUrls(AsyncResource):
    """Links to records' pages: the local server's ``/ui`` pages, or the Ionworks web app's.
    ``project_id`` defaults to the client's project."""

    async def _local_base(self) -> str | None:
        """``<server>/ui`` when the client talks to this package's local server."""
        if not await self._api.capabilities():
            return None
        base, _ = await self._api.identity()
        return base.rstrip("/") + "/ui"

    async def _link(self, project_id: str | None, cloud: str, local: str | None = None) -> str:
        """The app's ``/projects/{p}{cloud}``, or on the local server ``/ui{local}`` (default:
        the project's page)."""
        pid = await self._api.default_project_id(project_id)
        ui = await self._local_base()
        if ui is not None:
            return ui + (local or f"/projects/{seg(pid)}/simulations")
        base, _ = await self._api.identity()
        return f"{app_base_url(base)}/projects/{seg(pid)}{cloud}"

    async def project(self, project_id: str | None = None) -> str:
        """A project's page (in the web app: its studies)."""
        return await self._link(project_id, "/studies")

    async def model(self, model_id: str, project_id: str | None = None) -> str:
        """A model's page."""
        return await self._link(project_id, f"/models/{seg(model_id)}")

    async def parameterized_model(
        self, parameterized_model_id: str, project_id: str | None = None
    ) -> str:
        """A parameterized model's page."""
        return await self._link(project_id, f"/parameterized-models/{seg(parameterized_model_id)}")

    async def optimization(self, optimization_id: str, project_id: str | None = None) -> str:
        """An optimization's page (locally: the project's pipelines)."""
        pid = await self._api.default_project_id(project_id)
        return await self._link(
            pid, f"/optimizations/{seg(optimization_id)}", f"/projects/{seg(pid)}/pipelines"
        )

    async def pipeline(self, pipeline_id: str, project_id: str | None = None) -> str:
        """A pipeline's page."""
        path = f"/pipelines/{seg(pipeline_id)}"
        return await self._link(project_id, path, path)

    async def study(self, study_id: str, project_id: str | None = None) -> str:
        """A study's page."""
        pid = await self._api.default_project_id(project_id)
        path = f"/studies/{seg(study_id)}"
        return await self._link(pid, path, f"/projects/{seg(pid)}{path}")

    async def simulation(
        self,
        simulation_id: str,
        parameterized_model_id: str | None = None,
        project_id: str | None = None,
    ) -> str:
        """A simulation's page. The web app's link runs through the simulation's
        parameterized model: without ``parameterized_model_id`` it is read from the simulation
        (one request; a ``ValueError`` if the simulation has none)."""
        local = f"/simulations/{seg(simulation_id)}"
        if await self._local_base() is None and parameterized_model_id is None:
            record = await self._api.get(f"/simulations/{seg(simulation_id)}")
            found = record.get("parameterized_model_id") if isinstance(record, dict) else None
            if not found:
                raise ValueError(
                    f"simulation {simulation_id} has no parameterized_model_id; "
                    "pass parameterized_model_id explicitly"
                )
            parameterized_model_id = str(found)
        cloud = f"/parameterized-models/{seg(parameterized_model_id or '-')}{local}"
        return await self._link(project_id, cloud, local)

    async def protocol(self, protocol_id: str, project_id: str | None = None) -> str:
        """A protocol's page."""
        return await self._link(project_id, f"/protocols/{seg(protocol_id)}")

    async def material(self, material_id: str, project_id: str | None = None) -> str:
        """A material's page."""
        return await self._link(project_id, f"/materials/{seg(material_id)}")

    async def cell_specs(self, project_id: str | None = None) -> str:
        """The list of cell specifications."""
        return await self._link(project_id, "/data/specs")

    async def cell_instances(self, spec_id: str, project_id: str | None = None) -> str:
        """The cell instances of a specification."""
        return await self._link(project_id, f"/data/specs/{seg(spec_id)}/instances")

    async def measurement(self, measurement_id: str, project_id: str | None = None) -> str:
        """A cell measurement's page."""
        return await self._link(
            project_id,
            f"/data/measurements/{seg(measurement_id)}",
            f"/measurements/{seg(measurement_id)}",
        )
