"""``ionworks.schema`` (``import ionworks.schema as iws``): typed pipeline builders.

Construction-time validation, ``to_config()`` round trips and equality with the dict configs
of the product doc (taken from docs/python-api.md itself). The comparison with the official
``ionworks-schema`` package runs in ``nox -s official`` (tests/official/schema_compat.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import attrs
import pytest

import ionworks.schema as iws
from ionworks.resources.pipeline import split_config

DOC = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"
D_N = "Negative particle diffusivity [m2.s-1]"
LIFTED = ("project_id", "name", "description", "options")


def doc_blocks(heading: str) -> list[str]:
    for section in re.split(r"(?m)^(?=## )", DOC.read_text()):
        if section.startswith(heading + "\n"):
            return re.findall(r"```python[^\n]*\n(.*?)```", section, re.S)
    raise AssertionError(f"no section {heading!r} in {DOC}")


class Recorder:
    """Stands in for ``client``: records what ``create`` was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, dict[str, Any]]] = []
        self.pipeline = self.simple_pipeline = self

    def create(self, config: Any, **kwargs: Any) -> Any:
        self.calls.append((config, kwargs))
        return SimpleNamespace(id="p1", status="pending")


def doc_config(heading: str, index: int) -> tuple[Any, dict[str, Any]]:
    """The config a doc block passes to ``create`` (run against a recorder)."""
    client = Recorder()
    exec(doc_blocks(heading)[index], {"client": client, "print": lambda *a, **k: None})
    return client.calls[0]


def doc_pipeline() -> iws.Pipeline:
    return iws.Pipeline(
        {
            "entry": iws.DirectEntry({"model": {"type": "SPM"}, "data": "db:your-measurement-id"}),
            "data_fit": iws.DataFit(
                objectives={"voltage": {"data": "entry.data"}},
                parameters={
                    "Negative electrode diffusivity [m2.s-1]": iws.Parameter(
                        bounds=(1e-16, 1e-12), initial_value=3.3e-14
                    )
                },
            ),
        },
        name="NMC622 Parameterization",
    )


def doc_simple_pipeline(objective: Any = None) -> iws.SimplePipeline:
    return iws.SimplePipeline(
        elements={
            "initial_params": iws.DirectEntry({D_N: 2e-14}),
            "fit": iws.DataFit(
                objectives={"voltage": objective or {"data": "db:your-measurement-id"}},
                parameters={D_N: iws.Parameter(bounds=(1e-14, 1e-13), initial_value=2e-14)},
                cost=iws.costs.RMSE(),
                optimizer=iws.optimizers.DifferentialEvolution(max_iterations=10),
            ),
        }
    )


# --- equality with the doc -----------------------------------------------------------------


def test_pipeline_equals_the_docs_dict() -> None:
    config, _ = doc_config("## Running pipelines", 0)
    assert doc_pipeline().to_config() == config


def test_simple_pipeline_equals_the_docs_dict() -> None:
    config, kwargs = doc_config("## Running simple pipelines", 0)
    assert doc_simple_pipeline().to_config() == config
    assert kwargs["name"] == "NMC622 diffusivity fit"


def test_pybamm_model_entry_serialises_like_the_client() -> None:
    pybamm = pytest.importorskip("pybamm")
    from ionworks.data_refs import prepare_outbound

    config, _ = doc_config("## Running pipelines", 3)  # the PyBaMM model support block
    entry = iws.DirectEntry({"model": pybamm.lithium_ion.SPM()})
    ours = iws.Pipeline({"entry": entry}).to_config()
    assert ours == prepare_outbound(config)
    assert ours["elements"]["entry"]["values"]["model"]["type"] == "SPM"


def test_typed_objective_form_and_json() -> None:
    objective = iws.objectives.CurrentDriven(
        data_input="db:m1", options=iws.objectives.CurrentDrivenOptions(model="SPM")
    )
    assert objective == iws.objectives.CurrentDriven(data="db:m1", options={"model": "SPM"})
    fit = doc_simple_pipeline(objective).to_config()["elements"]["fit"]
    assert fit["objectives"]["voltage"] == {
        "type": "CurrentDriven",
        "data": "db:m1",
        "options": {"model": "SPM"},
    }
    assert fit["optimizer"] == {"type": "DifferentialEvolution", "max_iterations": 10}
    json.dumps(doc_pipeline().to_config())


def test_every_component_has_its_type_and_element_type() -> None:
    validation = iws.Validation(
        {"v": iws.objectives.CurrentDriven(data_input="entry.data")},
        summary_stats=[iws.costs.RMSE(), "MAE", {"type": "Max"}],
    )
    pipeline = iws.Pipeline(
        {
            "entry": iws.DirectEntry({"data": "db:m", "Electrode area [m2]": 0.01}),
            "geometry": iws.calculations.AreaToSquareWidthHeight(),
            "double": iws.Calculation(expressions={"Double D": f"2 * {{{D_N}}}"}),
            "fit": iws.DataFit(
                iws.objectives.CurrentDriven(data_input="entry.data"),
                parameters={D_N: {"bounds": [1e-15, 1e-12]}},
                cost="SSE",
                optimizer={"type": "ScipyMinimize", "method": "Powell", "max_iterations": 5},
            ),
            "check": validation,
        },
        output_file="out.json",
        description="d",
    )
    elements = pipeline.to_config()["elements"]
    assert {k: v["element_type"] for k, v in elements.items()} == {
        "entry": "entry",
        "geometry": "calculation",
        "double": "calculation",
        "fit": "data_fit",
        "check": "validation",
    }
    assert elements["geometry"] == {
        "type": "AreaToSquareWidthHeight",
        "element_type": "calculation",
    }
    assert elements["double"]["expressions"] == {"Double D": f"2 * {{{D_N}}}"}
    fit = elements["fit"]
    assert list(fit["objectives"]) == ["CurrentDriven"]  # a bare objective is keyed by class
    assert fit["cost"] == {"type": "SSE"}
    assert fit["optimizer"] == {"type": "ScipyMinimize", "method": "Powell", "max_iterations": 5}
    assert fit["parameters"] == {D_N: {"bounds": [1e-15, 1e-12]}}
    assert elements["check"]["summary_stats"] == [{"type": t} for t in ("RMSE", "MAE", "Max")]
    assert pipeline.to_config()["output_file"] == "out.json"
    assert iws.optimizers is iws.parameter_estimators


def test_dataframes_are_inlined_as_columns() -> None:
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame({"Time [s]": [0.0, 1.0], "Voltage [V]": [4.0, 3.9]})
    objective = iws.objectives.CurrentDriven(data_input=frame)
    columns = {"Time [s]": [0.0, 1.0], "Voltage [V]": [4.0, 3.9]}
    assert objective.to_config()["data"] == {"data": columns}
    assert iws.DirectEntry({"data": frame}).to_config()["values"]["data"] == columns


# --- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("build", [doc_pipeline, doc_simple_pipeline])
def test_to_config_round_trips(build: Any) -> None:
    original = build()
    config = original.to_config()
    cls = type(original)
    # raw element dicts are accepted as they are
    assert cls(config["elements"], name=config.get("name")).to_config() == config
    # and every element rebuilds from its own config
    rebuilt = {}
    for key, element in config["elements"].items():
        body = {k: v for k, v in element.items() if k != "element_type"}
        if element["element_type"] == "entry":
            rebuilt[key] = iws.DirectEntry(body["values"])
        else:
            rebuilt[key] = iws.DataFit(**body)
    again = cls(rebuilt, name=config.get("name"))
    assert again.to_config() == config
    assert again == cls(rebuilt, name=config.get("name"))  # value equality


def test_builders_are_frozen_and_submit_with_name_and_description() -> None:
    pipeline = iws.Pipeline(doc_pipeline().elements, name="n", description="d")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        pipeline.name = "other"  # type: ignore[misc]
    base, lifted = split_config(pipeline, {"description": "explicit"}, LIFTED)
    assert lifted == {"project_id": None, "name": "n", "description": "explicit", "options": None}
    assert base == pipeline.to_config()
    simple = iws.SimplePipeline(doc_simple_pipeline().elements, name="sp")
    assert split_config(simple, {}, LIFTED)[1]["name"] == "sp"


# --- construction-time validation ----------------------------------------------------------

ENTRY = iws.DirectEntry({D_N: 1e-14})
FIT = doc_simple_pipeline().elements["fit"]

BAD: list[tuple[str, Any, str]] = [
    (
        "bounds order",
        lambda: iws.Parameter(bounds=(2.0, 1.0)),
        r"Parameter.bounds: .*lower < upper",
    ),
    ("bounds shape", lambda: iws.Parameter(bounds=[1.0]), r"Parameter.bounds: expected \(lower"),
    ("bounds type", lambda: iws.Parameter(bounds="1,2"), r"Parameter.bounds"),
    ("initial outside", lambda: iws.Parameter("x", 5.0, (1, 2)), r"Parameter 'x'.initial_value"),
    ("no range", lambda: iws.Parameter(initial_value=-1.0), r"bounds=\(lower, upper\) or a pos"),
    ("nan initial", lambda: iws.Parameter(initial_value=float("nan")), r"a finite number"),
    (
        "DE iterations",
        lambda: iws.optimizers.DifferentialEvolution(max_iterations=0),
        r"DifferentialEvolution.max_iterations: expected a positive integer, got 0",
    ),
    (
        "DE population",
        lambda: iws.optimizers.DifferentialEvolution(population_size=2.5),
        r"population_size",
    ),
    ("minimize method", lambda: iws.optimizers.ScipyMinimize(method=""), r"ScipyMinimize.method"),
    (
        "optimizer name",
        lambda: iws.DataFit({"v": {"data": "db:m"}}, parameters={"a": 1.0}, optimizer="CMAES"),
        r"DataFit.optimizer: expected an optimizer",
    ),
    (
        "optimizer option",
        lambda: iws.DataFit(
            {"v": {"data": "db:m"}},
            parameters={"a": 1.0},
            optimizer={"type": "ScipyMinimize", "maxiter": 3},
        ),
        r"unsupported \['maxiter'\]",
    ),
    (
        "cost name",
        lambda: iws.DataFit({"v": {"data": "db:m"}}, parameters={"a": 1.0}, cost="Huber"),
        r"DataFit.cost: expected a cost",
    ),
    (
        "base cost",
        lambda: iws.Validation({"v": {"data": "db:m"}}, [iws.costs.ErrorFunction()]),
        r"summary_stats\[0\]",
    ),
    (
        "stats not list",
        lambda: iws.Validation({"v": {"data": "db:m"}}, "RMSE"),
        r"Validation.summary_stats: expected a list",
    ),
    ("no parameters", lambda: iws.DataFit({"v": {"data": "db:m"}}), r"DataFit.parameters"),
    (
        "param key",
        lambda: iws.DataFit({"v": {"data": "db:m"}}, parameters={"a": iws.Parameter("b", 1.0)}),
        r"named 'a'",
    ),
    (
        "param dict key",
        lambda: iws.DataFit({"v": {"data": "db:m"}}, parameters={"a": {"lower": 1}}),
        r"unsupported \['lower'\]",
    ),
    (
        "objective data",
        lambda: iws.DataFit({"v": {"data": "measurement"}}, parameters={"a": 1.0}),
        r"objectives\['v'\]\['data'\]: expected 'db:",
    ),
    (
        "objective form",
        lambda: iws.DataFit({"v": {"dat": "db:m"}}, parameters={"a": 1.0}),
        r"objectives\['v'\]",
    ),
    (
        "objective type",
        lambda: iws.Validation({"v": {"type": "Pulse", "data": "db:m"}}),
        r"objective type one of CurrentDriven",
    ),
    (
        "objective options",
        lambda: iws.objectives.CurrentDriven(data="db:m", options={"solver": 1}),
        r"CurrentDriven.options: .*unsupported \['solver'\]",
    ),
    (
        "objective model",
        lambda: iws.objectives.CurrentDriven(data="db:m", options={"model": 3}),
        r"CurrentDrivenOptions.model: expected a model",
    ),
    ("objective no data", lambda: iws.objectives.CurrentDriven(), r"CurrentDriven.data_input"),
    ("entry none", lambda: iws.DirectEntry({"a": None}), r"DirectEntry.parameters\['a'\]"),
    ("entry empty", lambda: iws.DirectEntry({}), r"DirectEntry.parameters: expected a dict"),
    ("entry model", lambda: iws.DirectEntry({"model": 1}), r"DirectEntry.parameters\['model'\]"),
    ("calc empty", lambda: iws.Calculation(), r"Calculation.expressions"),
    (
        "elements list",
        lambda: iws.Pipeline([ENTRY]),
        r"Pipeline.elements: expected a dict .*not a list",
    ),
    ("elements empty", lambda: iws.Pipeline({}), r"Pipeline.elements: expected a non-empty dict"),
    (
        "element kind",
        lambda: iws.Pipeline({"x": iws.costs.RMSE()}),
        r"Pipeline.elements\['x'\]: expected iws.DirectEntry",
    ),
    (
        "element_type",
        lambda: iws.Pipeline({"x": {"element_type": "fitting"}}),
        r"\['element_type'\]: expected one of entry, data_fit",
    ),
    (
        "two fits",
        lambda: iws.SimplePipeline({"a": FIT, "b": FIT}),
        r"at most one DataFit or Validation, got \['a', 'b'\]",
    ),
    (
        "bad reference",
        lambda: iws.Pipeline(
            {"e": ENTRY, "f": iws.DataFit({"v": {"data": "entry.data"}}, parameters={"a": 1.0})}
        ),
        r"Pipeline.elements\['f'\] objective 'v': expected a reference to one of the elements \['e', 'f'\], got 'entry.data'",
    ),
    (
        "bad key",
        lambda: iws.Pipeline(
            {"entry": ENTRY, "f": iws.DataFit({"v": {"data": "entry.data"}}, parameters={"a": 1.0})}
        ),
        r"a value of element 'entry' \(its values: \['Negative",
    ),
    (
        "file without prefix",
        lambda: iws.Pipeline(
            {"f": iws.DataFit({"v": {"data": "cycle.csv"}}, parameters={"a": 1.0})}
        ),
        r"objective 'v': expected a reference .* \(for a local file use 'file:cycle.csv'\)",
    ),
    (
        "name type",
        lambda: iws.Pipeline({"e": ENTRY}, name=3),
        r"Pipeline.name: expected a non-empty string",
    ),
]


@pytest.mark.parametrize(
    ("build", "match"), [(b, m) for _, b, m in BAD], ids=[n for n, _, _ in BAD]
)
def test_invalid_values_fail_at_construction(build: Any, match: str) -> None:
    with pytest.raises(iws.SchemaError, match=match):
        build()


def test_schema_error_is_a_value_error_and_simple_pipeline_is_not_deprecated() -> None:
    assert issubclass(iws.SchemaError, ValueError)
    # filterwarnings=error: a DeprecationWarning here would fail the test
    assert iws.SimplePipeline({"entry": ENTRY, "fit": FIT}).element_types() == {
        "entry": "entry",
        "fit": "data_fit",
    }
    legacy = iws.SimplePipeline({"e": {"element_type": "Direct Entry", "values": {"a": 1}}})
    assert legacy.element_types() == {"e": "entry"}
