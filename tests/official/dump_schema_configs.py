"""Build pipelines with OUR typed builders (``ionworks.schema``) and dump their configs.

Run with this repository's package installed (``nox -s official`` uses the server venv
``.nox/official-server``)::

    python tests/official/dump_schema_configs.py OUT.json

``OUT.json`` holds, per case, the *recipe* (which classes with which arguments) and OUR
``to_config()``; ``tests/official/schema_compat.py`` rebuilds every recipe with the official
``ionworks-schema`` classes in the official client's venv and compares the two configs.

A recipe node is ``{"$": "<attribute path under the package>", "args": [...], "kwargs": {...}}``
(e.g. ``"costs.RMSE"``); any other dict, list or scalar is an argument value as it is.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

D_N = "Negative particle diffusivity [m2.s-1]"
MEASUREMENT = "db:0c4e3f5a-measurement"


def node(path: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return {"$": path, "args": list(args), "kwargs": kwargs}


def current_driven(data: str = MEASUREMENT, model: Any = "SPM") -> dict[str, Any]:
    return node("objectives.CurrentDriven", data_input=data, options={"model": model})


def d_n(initial: float = 2e-14, bounds: tuple[float, float] = (1e-14, 1e-13)) -> dict[str, Any]:
    return node("Parameter", D_N, initial_value=initial, bounds=list(bounds))


CASES: dict[str, dict[str, Any]] = {
    # python-api.md "Submitting a simple pipeline", typed
    "simple pipeline: DE fit (doc)": node(
        "SimplePipeline",
        elements={
            "initial_params": node("direct_entries.DirectEntry", {D_N: 2e-14}),
            "fit": node(
                "DataFit",
                objectives={"voltage": current_driven()},
                parameters={D_N: d_n()},
                cost=node("costs.RMSE"),
                optimizer=node(
                    "optimizers.DifferentialEvolution", max_iterations=10, population_size=8
                ),
            ),
        },
        name="NMC622 diffusivity fit",
        description="Single-parameter fit on the May 14 dataset",
    ),
    "pipeline: entry, minimize fit, calculation, validation": node(
        "Pipeline",
        elements={
            "entry": node(
                "direct_entries.DirectEntry",
                {"model": {"type": "SPMe"}, "parameter_set": "Chen2020", D_N: 3e-14},
                source="datasheet",
            ),
            "fit": node(
                "DataFit",
                objectives={"discharge": current_driven(model={"type": "SPMe"})},
                parameters={D_N: d_n(3e-14, (1e-15, 1e-12))},
                cost=node("costs.SSE"),
                optimizer=node(
                    "parameter_estimators.ScipyMinimize", method="L-BFGS-B", max_iterations=20
                ),
            ),
            "geometry": node("calculations.AreaToSquareWidthHeight"),
            "check": node(
                "Validation",
                objectives={"held out": current_driven("db:held-out")},
                summary_stats=[node("costs.RMSE"), node("costs.MAE"), node("costs.Max")],
            ),
        },
        output_file="params.json",
        name="NMC622 Parameterization",
        description="fit + validation",
    ),
    "pipeline: least squares, scipy DE, coin geometry": node(
        "Pipeline",
        {
            "fit ls": node(
                "DataFit",
                {"v": current_driven("folder:runs/1C")},
                parameters={D_N: d_n(5e-14)},
                cost=node("costs.MAE"),
                optimizer=node("optimizers.ScipyLeastSquares", max_iterations=5),
            ),
            "fit de": node(
                "DataFit",
                {"v": current_driven("file:discharge.csv", "DFN")},
                parameters={D_N: node("Parameter", D_N, bounds=[1e-14, 1e-13])},
                cost=node("costs.MSE"),
                optimizer=node(
                    "optimizers.ScipyDifferentialEvolution",
                    max_iterations=3,
                    population_size=6,
                    seed=1,
                ),
            ),
            "coin": node("calculations.DiameterToSquareWidthHeight", source="coin cell"),
        },
    ),
    "single objective, default cost and optimizer": node(
        "Pipeline",
        {
            "fit": node(
                "DataFit",
                current_driven(),
                parameters={
                    "Positive particle diffusivity [m2.s-1]": node(
                        "Parameter", "Positive particle diffusivity [m2.s-1]", initial_value=4e-15
                    )
                },
            )
        },
    ),
}


def build(recipe: Any, package: Any) -> Any:
    """Construct ``recipe`` with the classes of ``package`` (ours or ionworks_schema)."""
    if isinstance(recipe, list):
        return [build(item, package) for item in recipe]
    if isinstance(recipe, dict) and "$" in recipe:
        target = package
        for part in recipe["$"].split("."):
            target = getattr(target, part)
        args = [build(a, package) for a in recipe["args"]]
        kwargs = {k: build(v, package) for k, v in recipe["kwargs"].items()}
        return target(*args, **kwargs)
    if isinstance(recipe, dict):
        return {k: build(v, package) for k, v in recipe.items()}
    return recipe


def main(out: str) -> None:
    import ionworks.schema as iws

    cases = [
        {"name": name, "recipe": recipe, "ours": build(recipe, iws).to_config()}
        for name, recipe in CASES.items()
    ]
    Path(out).write_text(json.dumps(cases, indent=1))
    print(f"wrote {len(cases)} configs built with ionworks.schema to {out}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(f"usage: {sys.argv[0]} OUT.json")
    main(sys.argv[1])
