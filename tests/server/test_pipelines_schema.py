"""Fits built with the typed builders (``ionworks.schema``) and submitted through
``AsyncIonworks`` to the local server: recover the known D_n of the synthetic data."""

from __future__ import annotations

import pytest

import ionworks.schema as iws
from ionworks import AsyncIonworks
from ionworks.errors import IonworksError
from tests.server.test_fitting import D_N, TRUE_D_N, synthetic_data
from tests.server.test_pipelines import WAIT, close


async def test_typed_pipeline_fit_and_validation(api: AsyncIonworks) -> None:
    pipeline = iws.Pipeline(
        {
            "entry": iws.DirectEntry({"model": {"type": "SPM"}, "data": synthetic_data()}),
            "fit": iws.DataFit(
                objectives={"voltage": iws.objectives.CurrentDriven(data_input="entry.data")},
                parameters={D_N: iws.Parameter(bounds=(1e-15, 1e-12), initial_value=3 * TRUE_D_N)},
                cost=iws.costs.SSE(),
                optimizer=iws.optimizers.ScipyLeastSquares(max_iterations=30),
            ),
            "check": iws.Validation(
                {"voltage": iws.objectives.CurrentDriven("entry.data", {"model": "SPM"})},
                summary_stats=[iws.costs.RMSE(), iws.costs.MAE()],
            ),
        },
        name="typed D_n fit",
        description="built with ionworks.schema",
    )
    created = await api.pipeline.create(pipeline)  # name/description come from the builder
    assert (created.name, created.description) == ("typed D_n fit", "built with ionworks.schema")
    done = await api.pipeline.wait_for_completion(created.id, **WAIT)
    assert done.status == "completed"
    result = await api.pipeline.result(created.id)
    fit = result.element_results["fit"]
    assert close(fit["parameter_values"][D_N])
    assert (fit["cost_function"], fit["optimizer"]) == ("SSE", "ScipyLeastSquares")
    assert result.result["summary_stats"]["voltage"]["RMSE [V]"] < 2e-3
    await api.pipeline.delete(created.id)


async def test_typed_simple_pipeline_de_fit_on_a_measurement(api: AsyncIonworks) -> None:
    pl = pytest.importorskip("polars")
    m = await api.cell_measurement.upload(pl.DataFrame(synthetic_data()), name="typed synthetic")
    simple = iws.SimplePipeline(
        {
            "initial_params": iws.DirectEntry({D_N: 3 * TRUE_D_N}),
            "fit": iws.DataFit(
                objectives={"voltage": iws.objectives.CurrentDriven(data_input=f"db:{m.id}")},
                parameters={D_N: iws.Parameter(bounds=(1e-14, 1e-13), initial_value=3 * TRUE_D_N)},
                cost=iws.costs.RMSE(),
                optimizer=iws.optimizers.DifferentialEvolution(max_iterations=8, population_size=8),
            ),
        },
        name="typed diffevo fit",
    )
    sp = await api.simple_pipeline.create(simple, options={"live_progress_updates": False})
    assert sp.name == "typed diffevo fit"
    done = await api.simple_pipeline.wait_for_completion(sp.id, **WAIT)
    assert done.result is not None and close(done.result["parameter_values"][D_N])
    await api.simple_pipeline.delete(sp.id)
    await api.cell_measurement.delete(m.id)


async def test_typed_pipeline_failure_is_raised(api: AsyncIonworks) -> None:
    # valid for the builders, but the measurement does not exist: the job fails on the server
    simple = iws.SimplePipeline(
        {
            "fit": iws.DataFit(
                iws.objectives.CurrentDriven(data_input="db:no-such-measurement"),
                parameters={D_N: iws.Parameter(bounds=(1e-14, 1e-13))},
            )
        }
    )
    sp = await api.simple_pipeline.create(simple)
    with pytest.raises(IonworksError, match="measurement 'no-such-measurement' not found"):
        await api.simple_pipeline.wait_for_completion(sp.id, **WAIT)
