"""The public method surface of a client, as JSON: shared by both sides of the parity walk.

``python tests/official/surface.py dump OUT.json`` (in a venv with OUR package) writes the
surface of ``ionworks.AsyncIonworks`` and ``ionworks.Ionworks``; ``python
tests/official/surface.py compare OURS.json`` (in the official client's venv) reads the
official ``ionworks.Ionworks`` and checks, for every group in :data:`GROUPS`, that each official
public method exists in both of ours with the same parameters (names, order, kinds, defaults),
unless :data:`DIFFERENCES` lists it with its reason. Both sides import a package called
``ionworks``, hence two venvs (``nox -s official``).
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Any

#: The groups the parity issues have closed so far: ``client`` is the client object itself,
#: the others its sub-clients by attribute name.
GROUPS = (
    "client",
    "job",
    "protocol",
    "model",
    "parameterized_model",
    "project",
    "pipeline",
    "simulation",
    "study",
    "simple_pipeline",
    "cell_spec",
    "cell_instance",
    "cell_measurement",
    "raw_data",
)

#: Deliberate differences, ``"group.method"`` → why (README "Switching from ionworks-api"
#: repeats them). A listed method may be missing or differ in signature.
DIFFERENCES: dict[str, str] = {}

Param = list[Any]  # [name, kind, default repr or None when there is none]


def _params(func: Any) -> list[Param]:
    signature = inspect.signature(func)
    out: list[Param] = []
    for name, param in signature.parameters.items():
        if name == "self":
            continue
        default = None if param.default is inspect.Parameter.empty else repr(param.default)
        out.append([name, param.kind.name, default])
    return out


def _methods(obj: Any) -> dict[str, list[Param]]:
    cls = obj if isinstance(obj, type) else type(obj)
    return {
        name: _params(member)
        for name, member in inspect.getmembers(cls, callable)
        if not name.startswith("_") and not isinstance(member, type)
    }


def surface(client: Any) -> dict[str, dict[str, list[Param]]]:
    """``{group: {method: params}}`` of a constructed client."""
    result = {"client": _methods(client)}
    for group in GROUPS[1:]:
        sub = getattr(client, group, None)
        if sub is not None:
            result[group] = _methods(sub)
    for group in GROUPS[1:]:  # sub-clients are attributes, not methods of the client
        result["client"].pop(group, None)
    return result


def dump(out: Path) -> None:
    import ionworks

    url = "http://127.0.0.1:9"  # never contacted: construction makes no request
    with ionworks.Ionworks(api_key="k", api_url=url) as sync_client:
        data = {"Ionworks": surface(sync_client)}
    data["AsyncIonworks"] = surface(ionworks.AsyncIonworks(api_key="k", api_url=url))
    out.write_text(json.dumps(data, indent=1, sort_keys=True))


def compare(ours_path: Path) -> int:
    import ionworks  # the official client, in its own venv

    official = surface(ionworks.Ionworks(api_key="k", api_url="http://127.0.0.1:9"))
    ours = json.loads(ours_path.read_text())
    problems: list[str] = []
    checked = 0
    for group in GROUPS:
        for method, params in sorted(official.get(group, {}).items()):
            key = f"{group}.{method}"
            if key in DIFFERENCES:
                continue
            checked += 1
            for side in ("AsyncIonworks", "Ionworks"):
                mine = ours[side].get(group, {}).get(method)
                if mine is None:
                    problems.append(f"{side}: {key} is missing")
                elif _official_calls_fit(mine, params) != params:
                    problems.append(f"{side}: {key}{_show(mine)} != official {key}{_show(params)}")
    for line in problems:
        print(f"FAIL {line}")
    stale = [k for k in DIFFERENCES if k.split(".")[0] not in GROUPS]
    for key in stale:
        print(f"FAIL DIFFERENCES lists {key}, outside the groups walked")
    print(
        f"{checked} official methods in {len(GROUPS)} groups, {len(DIFFERENCES)} listed "
        f"differences: {len(problems) + len(stale)} problem(s)"
    )
    return 1 if problems or stale else 0


def _official_calls_fit(mine: list[Param], official: list[Param]) -> list[Param]:
    """Our parameters without the extra ones that have defaults (our extensions, which no
    official call can notice): equal to the official list when every official call fits."""
    names = {name for name, _, _ in official}
    return [p for p in mine if p[0] in names or (p[2] is None and p[1] not in _VARIADIC)]


_VARIADIC = ("VAR_POSITIONAL", "VAR_KEYWORD")


def _show(params: list[Param]) -> str:
    parts = []
    for name, kind, default in params:
        text = {"VAR_POSITIONAL": f"*{name}", "VAR_KEYWORD": f"**{name}"}.get(kind, name)
        if kind == "KEYWORD_ONLY":
            text = f"kw:{text}"
        parts.append(text if default is None else f"{text}={default}")
    return f"({', '.join(parts)})"


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[1] == "dump":
        dump(Path(argv[2]))
        return 0
    if len(argv) == 3 and argv[1] == "compare":
        return compare(Path(argv[2]))
    print(f"usage: {argv[0]} dump OUT.json | compare OURS.json", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
