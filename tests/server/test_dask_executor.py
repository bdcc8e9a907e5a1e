"""The server with ``executor="dask"`` on a one-worker ``distributed.LocalCluster``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from ionworks import AsyncIonworks
from ionworks.errors import IonworksError
from ionworks.server.config import ServerConfig
from ionworks.server.hosting import EmbeddedServer
from tests.server.conftest import job_reaches
from tests.ucp.protocols import LONG_CYCLING, SEED_SINGLE

distributed = pytest.importorskip("distributed")

KEY = "dask-key"
D_N = "Negative particle diffusivity [m2.s-1]"


def config(
    protocol: str = SEED_SINGLE, model: str = "chen2020-spm", **extra: Any
) -> dict[str, Any]:
    return {
        "parameterized_model": model,
        "protocol_experiment": {"protocol": protocol, "name": "dask"},
        **extra,
    }


@pytest.fixture(scope="module")
def dask_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    cluster = distributed.LocalCluster(
        n_workers=1,
        processes=True,
        threads_per_worker=1,
        dashboard_address=":0",  # any free port: 8787 may be taken
    )
    data_dir: Path = tmp_path_factory.mktemp("dask-server")
    server = EmbeddedServer(data_dir, api_keys=[KEY], allow_anonymous=False, workers=2)
    server.config = ServerConfig(
        data_dir,
        api_keys=[KEY],
        allow_anonymous=False,
        workers=2,
        executor="dask",
        scheduler=cluster.scheduler_address,
    )
    try:
        url = server.start()
        yield url
    finally:
        server.stop()
        cluster.close()


def test_config_checks_the_executor_name() -> None:
    with pytest.raises(ValueError, match="executor must be one of"):
        ServerConfig("x", executor="threads")
    with pytest.raises(ValueError, match="scheduler"):
        ServerConfig("x", executor="dask")


async def test_simulations_run_on_the_cluster(dask_server: str) -> None:
    async with AsyncIonworks(api_key=KEY, api_url=dask_server) as api:
        doe = {
            "sampling": "grid",
            "rows": [{"type": "discrete", "name": D_N, "values": [1e-14, 3.3e-14, 1e-13]}],
        }
        responses = await api.simulation.protocol_batch(config(design_parameters_doe=doe))
        ids = [r.simulation_id for r in responses]
        await api.simulation.wait_for_completion(ids, timeout=120, poll_interval=0.1, verbose=False)
        capacities = []
        for sid in ids:
            result = await api.simulation.get_result(sid)
            assert result.time_series.height > 10
            capacities.append(result.time_series["Discharge capacity [A.h]"][-1])
        assert len(set(capacities)) == 3  # each point really used its own diffusivity
        # an engine error on the worker fails the job with the engine's message
        bad = await api.simulation.protocol(config(design_parameters={"No such thing": 1.0}))
        with pytest.raises(IonworksError, match="No such thing"):
            await api.simulation.wait_for_completion(
                bad.simulation_id, timeout=60, poll_interval=0.1, verbose=False
            )


async def test_cancel_running_and_queued_jobs(dask_server: str) -> None:
    async with AsyncIonworks(api_key=KEY, api_url=dask_server) as api:
        long = await api.simulation.protocol(config(LONG_CYCLING, model="chen2020-dfn"))
        await job_reaches(api, long.job_id, "running", within=60)
        # the cluster has one thread: this one waits in Dask's queue behind the long job
        queued = await api.simulation.protocol(config())
        await job_reaches(api, queued.job_id, "running", within=10)
        for response in (queued, long):
            start = anyio.current_time()
            await api.job.cancel(response.job_id)
            await job_reaches(api, response.job_id, "canceled", within=5)
            assert anyio.current_time() - start < 5
            with pytest.raises(IonworksError, match="canceled"):
                await api.simulation.wait_for_completion(
                    response.simulation_id, verbose=False, poll_interval=0.1
                )
