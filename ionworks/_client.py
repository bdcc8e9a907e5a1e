"""``AsyncIonworks``: the asyncio-first client."""

from __future__ import annotations

import warnings
from types import TracebackType
from typing import Any

from ionworks._config import ClientConfig, resolve_config
from ionworks._transport import Transport
from ionworks.errors import IonworksError
from ionworks.resources.cell_measurement import AsyncCellMeasurements
from ionworks.resources.job import AsyncJobs
from ionworks.resources.model import AsyncModels
from ionworks.resources.parameterized_model import AsyncParameterizedModels
from ionworks.resources.pipeline import AsyncPipelines
from ionworks.resources.project import AsyncProjects
from ionworks.resources.protocol import AsyncProtocols
from ionworks.resources.simple_pipeline import AsyncSimplePipelines
from ionworks.resources.simulation import AsyncSimulations
from ionworks.resources.study import AsyncStudies

__all__ = ["AsyncIonworks"]

NO_BACKEND_HELP = (
    "No Ionworks API is configured. Set IONWORKS_API_URL (and IONWORKS_API_KEY or "
    "IONWORKS_API_TOKEN), or pass api_url=/api_key= to the client. The embedded local server "
    "is not available in this version of ionworks."
)


class AsyncIonworks:
    """Client for the Ionworks API.

    Settings resolve as arguments > environment (``IONWORKS_API_KEY``, ``IONWORKS_API_URL``,
    ``IONWORKS_API_TOKEN``, ``IONWORKS_PROJECT_ID``, ``IONWORKS_DATAFRAME_BACKEND``) >
    defaults. Use it as an async context manager, or call :meth:`aclose`::

        async with AsyncIonworks() as client:
            sim = await client.simulation.protocol({...})
            await client.simulation.wait_for_completion(sim.simulation_id)
    """

    simulation: AsyncSimulations
    pipeline: AsyncPipelines
    simple_pipeline: AsyncSimplePipelines
    study: AsyncStudies
    protocol: AsyncProtocols
    job: AsyncJobs
    cell_measurement: AsyncCellMeasurements
    measurement: AsyncCellMeasurements
    parameterized_model: AsyncParameterizedModels
    model: AsyncModels
    project: AsyncProjects

    def __init__(
        self,
        api_key: str | None = None,
        api_url: str | None = None,
        token: str | None = None,
        project_id: str | None = None,
        organization_id: str | None = None,
        dataframe_backend: str | None = None,
        timeout: float | None = 10,
        max_retries: int = 5,
    ) -> None:
        self._config: ClientConfig = resolve_config(
            api_key=api_key,
            api_url=api_url,
            token=token,
            project_id=project_id,
            organization_id=organization_id,
            dataframe_backend=dataframe_backend,
            timeout=timeout,
            max_retries=max_retries,
        )
        self._transport = Transport(self._config, self._resolve_base_url)
        self.simulation = AsyncSimulations(self)
        self.pipeline = AsyncPipelines(self)
        self.simple_pipeline = AsyncSimplePipelines(self)
        self.study = AsyncStudies(self)
        self.protocol = AsyncProtocols(self)
        self.job = AsyncJobs(self)
        self.cell_measurement = AsyncCellMeasurements(self)
        self.measurement = self.cell_measurement
        self.parameterized_model = AsyncParameterizedModels(self)
        self.model = AsyncModels(self)
        self.project = AsyncProjects(self)

    async def _resolve_base_url(self) -> str:
        if self._config.api_url is None:
            raise IonworksError(NO_BACKEND_HELP)
        return self._config.api_url

    @property
    def api_url(self) -> str | None:
        """The base URL (``None`` until resolved when the local server is used)."""
        return self._config.api_url

    @property
    def project_id(self) -> str | None:
        """The default project for calls that need one."""
        return self._config.project_id

    @property
    def dataframe_backend(self) -> str | None:
        """``"polars"``/``"pandas"`` if set for this client, else ``None`` (process default)."""
        return self._config.dataframe_backend

    @property
    def timeout(self) -> float | None:
        return self._config.timeout

    @property
    def max_retries(self) -> int:
        return self._config.max_retries

    async def health_check(self) -> dict[str, Any]:
        """``GET /healthz``."""
        data = await self._transport.request("GET", "/healthz")
        return data if isinstance(data, dict) else {"status": data}

    async def aclose(self) -> None:
        """Close the HTTP session. Idempotent."""
        await self._transport.aclose()

    async def __aenter__(self) -> AsyncIonworks:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        transport = getattr(self, "_transport", None)
        if transport is not None and transport._session is not None and not transport.closed:
            warnings.warn(
                "AsyncIonworks was not closed; use 'async with AsyncIonworks()' or "
                "'await client.aclose()'",
                ResourceWarning,
                stacklevel=1,
            )
