"""``run --drive-cycle NAME=CSV``: drive-cycle samples for a simulation.

A simulation request carries the protocol's text and its experiment parameters, but no
drive-cycle samples (only ``convert`` takes them, wire.md §9.3). So the CLI writes them into
the protocol it submits: each ``Drive`` step naming a drive cycle becomes a ``Waveform`` step
with the same fields and the samples inline, which PyBaMM runs as the same experiment step
(ucp.md §5.3; ``ionworks.ucp._builder``). The YAML file itself is not changed.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ionworks.cli._common import (
    UsageError,
    assignments,
    did_you_mean,
    quoted,
    read_drive_cycles,
)

if TYPE_CHECKING:
    from ionworks.ucp import Protocol

__all__ = ["with_drive_cycles"]

_NAME_KEYS = ("drive_cycle", "file")  # ``file`` is an alias (ucp.md §5.3)


def with_drive_cycles(text: str, protocol: Protocol, items: Sequence[str], source: str) -> str:
    """``text`` with the samples of ``--drive-cycle`` ``items`` inline (``text`` itself when
    the protocol has no Drive step). A :class:`UsageError` names a drive cycle the protocol
    does not use, one it uses without samples, or samples that are not a valid CSV."""
    from ionworks.ucp.samples import parse_samples

    needed = list(dict.fromkeys(s.drive_cycle for s in protocol.steps() if s.drive_cycle))
    given = [name for name, _ in assignments(items, "--drive-cycle", "NAME=CSV")]
    for name in given:
        if name not in needed:
            uses = f"it uses {quoted(needed)}" if needed else "it has no Drive step"
            raise UsageError(
                f"--drive-cycle {name!r}: {source} has no drive cycle {name!r}"
                f"{did_you_mean(name, needed)} ({uses})"
            )
    missing = [name for name in needed if name not in given]
    if missing:
        raise UsageError(
            f"{source} needs samples for its drive cycle(s) {quoted(missing)}: give "
            f"--drive-cycle {missing[0]}=CSV (a CSV of time [s] and value)"
        )
    if not needed:
        return text
    samples: dict[str, dict[str, list[float]]] = {}
    for name, csv in read_drive_cycles(items).items():
        try:
            rows = parse_samples(csv)
        except ValueError as exc:
            raise UsageError(f"--drive-cycle {name}: {exc}") from None
        samples[name] = {"time": [t for t, _ in rows], "value": [v for _, v in rows]}
    return _dump(_inline(text, samples))


def _inline(text: str, samples: Mapping[str, dict[str, list[float]]]) -> dict[str, Any]:
    from ionworks.ucp.parse import load

    data = load(text).data
    assert isinstance(data, dict)  # the protocol parsed
    return {**data, "steps": _rewrite(data.get("steps"), samples)}


def _rewrite(node: Any, samples: Mapping[str, dict[str, list[float]]]) -> Any:
    """A copy of the ``steps`` tree with Drive steps (flat or keyed, in blocks at any depth;
    ucp/parse.py) turned into Waveform steps."""
    if isinstance(node, list):
        return [_rewrite(item, samples) for item in node]
    if not isinstance(node, dict):
        return node
    direction = node.get("direction")
    if isinstance(direction, str) and " ".join(direction.lower().split()) == "drive":
        return {"direction": "Waveform", **_waveform(node, samples, skip="direction")}
    body = node.get("Drive")
    if len(node) == 1 and isinstance(body, dict) and "steps" not in body:
        return {"Waveform": _waveform(body, samples)}
    return {key: _rewrite(value, samples) for key, value in node.items()}


def _waveform(
    params: Mapping[str, Any], samples: Mapping[str, dict[str, list[float]]], skip: str = ""
) -> dict[str, Any]:
    name = next(params[key] for key in _NAME_KEYS if key in params)
    kept = {k: v for k, v in params.items() if k not in (*_NAME_KEYS, skip)}
    return {**kept, "waveform": samples[name]}


def _dump(data: Mapping[str, Any]) -> str:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = None  # lists of numbers on a line, mappings as blocks
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]  # keep key order
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()
