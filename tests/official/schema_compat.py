"""Compare OUR builders' configs with the official ``ionworks-schema`` package's.

Runs in the official client's venv (``ionworks-api`` pulls ``ionworks-schema``; this
repository's package is NOT installed there)::

    python tests/official/schema_compat.py CONFIGS.json

``CONFIGS.json`` comes from ``tests/official/dump_schema_configs.py`` (run with our package):
per case a recipe and our ``to_config()``. Each recipe is rebuilt here with the official
classes and the two configs must be equal, after one normalisation of the official side:
fields the recipe did not set that the official ``to_config()`` still writes at their class
default (``"objective_parallelism": "auto"`` on ``DataFit``, the ask/tell stopping defaults
of ``DifferentialEvolution`` such as ``"min_iterations": 1``) are dropped, since ours writes
only what was set. The ``"type"`` discriminators are always compared. Prints ``PASS``/``FAIL``
per case; exit status 1 if any failed.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any

from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dump_schema_configs import build


def strip_defaults(config: Any, obj: Any, ours: Any, dropped: list[str], path: str = "") -> Any:
    """``config`` (the official ``obj.to_config()``) without the fields it writes at their class
    default where ours (the same place in our config) has no such key."""
    if isinstance(config, dict):
        mine = ours if isinstance(ours, dict) else {}
        if isinstance(obj, BaseModel):
            out = dict(config)
            for name, field in type(obj).model_fields.items():
                key = field.serialization_alias or field.alias or name
                if key not in out or key == "type":
                    continue
                value = getattr(obj, name)
                if key not in mine and value == field.default:
                    dropped.append(f"{path}.{key}={out.pop(key)!r}")
                else:
                    out[key] = strip_defaults(
                        out[key], value, mine.get(key), dropped, f"{path}.{key}"
                    )
            return out
        if isinstance(obj, dict):
            return {
                k: strip_defaults(v, obj[k], mine.get(k), dropped, f"{path}.{k}") if k in obj else v
                for k, v in config.items()
            }
    if isinstance(obj, list | tuple) and isinstance(config, list) and len(obj) == len(config):
        mine_list = (
            ours if isinstance(ours, list) and len(ours) == len(config) else [None] * len(config)
        )
        return [
            strip_defaults(c, o, m, dropped, f"{path}[{i}]")
            for i, (c, o, m) in enumerate(zip(config, obj, mine_list, strict=True))
        ]
    return config


def diff(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            if key not in a:
                out.append(f"{path}.{key}: only in official ({b[key]!r})")
            elif key not in b:
                out.append(f"{path}.{key}: only in ours ({a[key]!r})")
            else:
                out += diff(a[key], b[key], f"{path}.{key}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in diff(x, y, f"{path}[{i}]")]  # fmt: skip
    return [] if a == b else [f"{path}: ours {a!r} != official {b!r}"]


def main(path: str) -> int:
    import ionworks_schema

    cases = json.loads(Path(path).read_text())
    failed = 0
    print(f"ionworks-schema {ionworks_schema.__version__}")
    for case in cases:
        try:
            with warnings.catch_warnings():  # official SimplePipeline is deprecated upstream
                warnings.simplefilter("ignore", DeprecationWarning)
                official_obj = build(case["recipe"], ionworks_schema)
            official = json.loads(json.dumps(official_obj.to_config()))
            dropped: list[str] = []
            normalised = strip_defaults(official, official_obj, case["ours"], dropped)
            problems = diff(case["ours"], normalised)
        except Exception as exc:  # report and go on with the other cases
            problems = [f"{type(exc).__name__}: {exc}"]
            dropped = []
        if problems:
            failed += 1
            print(f"FAIL {case['name']}:\n  " + "\n  ".join(problems))
        else:
            print(
                f"PASS {case['name']} (official defaults dropped: {', '.join(dropped) or 'none'})"
            )
    print(f"{len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(f"usage: {sys.argv[0]} CONFIGS.json")
    sys.exit(main(sys.argv[1]))
