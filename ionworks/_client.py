"""``AsyncIonworks``: the asyncio-first client."""

from __future__ import annotations

import importlib
import math
import time
import warnings
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

import anyio

from ionworks._client_api import ClientApi
from ionworks._config import ClientConfig, require_project_id, resolve_config
from ionworks._local import local_server
from ionworks._transport import Transport
from ionworks.errors import APIStatusError, IonworksError
from ionworks.resources._requests import Requests

if TYPE_CHECKING:
    from ionworks.resources.cell_instance import AsyncCellInstances
    from ionworks.resources.cell_measurement import AsyncCellMeasurements
    from ionworks.resources.cell_spec import AsyncCellSpecs
    from ionworks.resources.job import AsyncJobs
    from ionworks.resources.model import AsyncModels
    from ionworks.resources.parameterized_model import AsyncParameterizedModels
    from ionworks.resources.pipeline import AsyncPipelines
    from ionworks.resources.project import AsyncProjects
    from ionworks.resources.protocol import AsyncProtocols
    from ionworks.resources.raw_data import AsyncRawDataClient
    from ionworks.resources.simple_pipeline import AsyncSimplePipelines
    from ionworks.resources.simulation import AsyncSimulations
    from ionworks.resources.study import AsyncStudies
    from ionworks.resources.urls import AsyncUrls

__all__ = ["RESOURCES", "RESOURCE_ALIASES", "AsyncIonworks", "lazy_resource"]

#: The local-server capability probe (``GET /healthz``): one attempt, this read timeout,
#: asked again this many seconds after a failure.
CAPABILITY_PROBE_TIMEOUT = 5.0
CAPABILITY_RETRY_S = 30.0

NO_BACKEND_HELP = (
    "No Ionworks API is configured and the embedded local server could not start. Set "
    "IONWORKS_API_URL (and IONWORKS_API_KEY or IONWORKS_API_TOKEN), or pass api_url=/api_key= "
    "to the client."
)


#: Each resource attribute of the clients → (its module under ``resources``, its class name
#: without the ``Async`` prefix). A resource is built, and its module imported, on first use of
#: the attribute: creating a client loads no resource module and none of the libraries they
#: need (polars, pyarrow, numpy, the UCP parser), so ``ionworks.Ionworks`` is quick to reach.
RESOURCES: Final[dict[str, tuple[str, str]]] = {
    "simulation": ("simulation", "Simulations"),
    "pipeline": ("pipeline", "Pipelines"),
    "simple_pipeline": ("simple_pipeline", "SimplePipelines"),
    "study": ("study", "Studies"),
    "urls": ("urls", "Urls"),
    "protocol": ("protocol", "Protocols"),
    "job": ("job", "Jobs"),
    "cell_spec": ("cell_spec", "CellSpecs"),
    "cell_instance": ("cell_instance", "CellInstances"),
    "cell_measurement": ("cell_measurement", "CellMeasurements"),
    "parameterized_model": ("parameterized_model", "ParameterizedModels"),
    "model": ("model", "Models"),
    "project": ("project", "Projects"),
    "raw_data": ("raw_data", "RawDataClient"),
}
#: Attributes that are another resource under a second name (the official client's).
RESOURCE_ALIASES: Final = {"measurement": "cell_measurement"}


def lazy_resource(
    client: Any, name: str, package: str, prefix: str, build: Callable[[type], object]
) -> Any:
    """``client``'s resource ``name``, built once by ``build(cls)`` from the class
    ``{package}.resources.<module>.{prefix}<Name>`` (``RESOURCES``); the instance is kept in
    the client's ``__dict__``, so later look-ups are plain attribute reads. Concurrent first
    uses agree on one instance. An unknown ``name`` raises ``AttributeError``."""
    if name in RESOURCE_ALIASES:
        value = getattr(client, RESOURCE_ALIASES[name])
    elif name in RESOURCES:
        module, cls_name = RESOURCES[name]
        cls = getattr(importlib.import_module(f"{package}.resources.{module}"), prefix + cls_name)
        value = build(cls)
    else:
        raise AttributeError(f"{type(client).__name__!r} object has no attribute {name!r}")
    return vars(client).setdefault(name, value)


class AsyncIonworks(ClientApi):
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
    urls: AsyncUrls
    protocol: AsyncProtocols
    job: AsyncJobs
    cell_spec: AsyncCellSpecs
    cell_instance: AsyncCellInstances
    cell_measurement: AsyncCellMeasurements
    measurement: AsyncCellMeasurements
    parameterized_model: AsyncParameterizedModels
    model: AsyncModels
    project: AsyncProjects
    raw_data: AsyncRawDataClient

    def __init__(
        self,
        api_key: str | None = None,
        api_url: str | None = None,
        project_id: str | None = None,
        dataframe_backend: str | None = None,
        timeout: float | None = 10,
        max_retries: int | None = 5,
        token: str | None = None,
        organization_id: str | None = None,
    ) -> None:
        """The arguments, in the official client's order, each overriding its environment
        variable: ``api_key`` (``IONWORKS_API_KEY``; sent as ``X-API-Key``), ``api_url``
        (``IONWORKS_API_URL``), ``project_id`` (``IONWORKS_PROJECT_ID``: the default project),
        ``dataframe_backend`` (``"polars"``/``"pandas"``), ``timeout`` (seconds a request may
        wait to connect or between reads; ``None``: the default, 10 s, as the official
        client), ``max_retries`` (``None``: 5), ``token`` (``IONWORKS_API_TOKEN``; sent as a
        bearer token; an argument beats the environment, then a token beats a key) and
        ``organization_id`` (``IONWORKS_ORGANIZATION_ID``; sent as ``X-Organization-Id``).
        With no URL and no credential the client starts (or joins) the local server."""
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
        self._local_project: str | None = None
        self._local_url: str | None = None
        self._server_capabilities: frozenset[str] | None = None
        self._capabilities_retry_at = math.inf
        self._capabilities_lock = anyio.Lock()
        self._transport.retry_keyed_writes = self._is_local()
        self._transport.rediscover_local = self._config.api_url is None
        self._api = Requests(
            self._transport,
            self._config,
            default_project_id=self._default_project_id,
            capabilities=self._capabilities,
        )

    if not TYPE_CHECKING:  # the annotations above give each resource its type

        def __getattr__(self, name: str) -> Any:
            """Builds a resource on its first use (see ``RESOURCES``)."""
            return lazy_resource(self, name, "ionworks", "Async", lambda cls: cls(self._api))

        def __dir__(self) -> list[str]:
            return sorted({*super().__dir__(), *RESOURCES, *RESOURCE_ALIASES})

    async def _resolve_base_url(self) -> str:
        if self._config.api_url is not None:
            return self._config.api_url
        import anyio.to_thread

        try:
            url, key = await anyio.to_thread.run_sync(local_server)
        except RuntimeError as exc:
            raise IonworksError(f"{NO_BACKEND_HELP} ({exc})") from exc
        self._transport.set_credentials(api_key=key)
        self._local_url = url
        return url

    async def _default_project_id(self, explicit: str | None = None) -> str:
        """``explicit`` > the client's project > on a local server, the key's default project
        (``is_default``; else its only project), asked once per client; otherwise a
        ``ValueError`` naming the three ways to give one."""
        if explicit:
            return explicit
        if self._config.project_id:
            return self._config.project_id
        if self._local_project is None and self._is_local():
            # Asks for the default project only; a server that ignores the filter lists its
            # first projects, and one of them alone (or the only one) is taken.
            params = {"is_default": "true", "limit": 2}
            data = await self._transport.request("GET", "/projects", params=params)
            items = data.get("items") if isinstance(data, dict) else data
            projects = [p for p in items if isinstance(p, dict)] if isinstance(items, list) else []
            chosen = [p for p in projects if p.get("is_default") is True] or projects
            self._local_project = str(chosen[0].get("id") or "") if len(chosen) == 1 else ""
        return require_project_id(self._local_project)

    async def _capabilities(self, ask: bool = True) -> frozenset[str]:
        """What the server offers beyond the cloud's API: our local server lists it on
        ``/healthz``. Asked once per client, only of servers on this machine, with one
        short attempt shared by concurrent callers; an unreachable server is asked again
        after ``CAPABILITY_RETRY_S`` (meanwhile: none, i.e. the cloud's endpoints).
        ``ask=False``: what is known without a request (none until asked)."""
        if not self._is_local():
            return frozenset()
        if ask and self._capabilities_due():
            async with self._capabilities_lock:
                if self._capabilities_due():  # not asked meanwhile by another caller
                    await self._ask_capabilities()
        return self._server_capabilities or frozenset()

    def _capabilities_due(self) -> bool:
        return self._server_capabilities is None or time.monotonic() >= self._capabilities_retry_at

    async def _ask_capabilities(self) -> None:
        self._capabilities_retry_at = math.inf
        try:
            data = await self._transport.request(
                "GET", "/healthz", timeout=CAPABILITY_PROBE_TIMEOUT, retry=False
            )
        except APIStatusError:  # a server without /healthz: the cloud's API only
            data = None
        except IonworksError:  # unreachable or slow right now
            self._capabilities_retry_at = time.monotonic() + CAPABILITY_RETRY_S
            data = None
        listed = data.get("capabilities") if isinstance(data, dict) else None
        self._server_capabilities = frozenset(
            str(c) for c in (listed if isinstance(listed, list) else ())
        )

    def _is_local(self) -> bool:
        """The embedded server, or a server on this machine (``ionworks serve``)."""
        if self._config.api_url is None:
            return True
        from urllib.parse import urlsplit

        host = urlsplit(self._config.api_url).hostname or ""
        return host in ("localhost", "::1") or host.startswith("127.")

    @property
    def api_url(self) -> str | None:
        """The base URL (for the embedded local server: ``None`` until first used)."""
        return self._config.api_url or self._local_url

    @property
    def project_id(self) -> str | None:
        """The default project for calls that need one."""
        return self._config.project_id

    @property
    def dataframe_backend(self) -> str | None:
        """``"polars"``/``"pandas"`` if set for this client, else ``None`` (process default)."""
        return self._config.dataframe_backend

    @property
    def organization_id(self) -> str | None:
        """The organization every request is scoped to (``X-Organization-Id``), if any."""
        return self._config.organization_id

    @property
    def api_key(self) -> str | None:
        """The configured API key (``None`` when a token or the local server authenticates)."""
        return self._config.api_key

    @property
    def token(self) -> str | None:
        """The configured bearer token, if any."""
        return self._config.token

    @property
    def timeout(self) -> float:
        """Seconds a request may wait to connect or between reads."""
        return self._config.timeout

    @property
    def request_timeout(self) -> float:
        """The official client's name for :attr:`timeout`."""
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
        if transport is not None and transport.session_open:
            warnings.warn(
                "AsyncIonworks was not closed; use 'async with AsyncIonworks()' or "
                "'await client.aclose()'",
                ResourceWarning,
                stacklevel=1,
            )
