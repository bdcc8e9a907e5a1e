"""``client.protocol``: validate UCP protocols, find input references, convert to vendor files."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

from ionworks.errors import APIResponseValidationError
from ionworks.models import ConvertResult
from ionworks.resources._base import AsyncResource, expect
from ionworks.ucp.samples import as_plain

__all__ = ["CONVERT_TARGETS", "AsyncProtocols"]

CONVERT_TARGETS = ("maccor", "arbin", "arbin_sdx", "neware", "biologic_bttest", "novonix")


def _b64(value: Any, what: str) -> bytes:
    value = expect(value, str, what=f"convert ({what} content_base64)")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise APIResponseValidationError(f"Unexpected convert response: {what}: {exc}") from exc


def _check_protocol(protocol: Any) -> None:
    if not isinstance(protocol, str):
        raise ValueError(f"protocol must be a UCP YAML string, got {type(protocol).__name__}")


class AsyncProtocols(AsyncResource):
    """Work with Universal Cycler Protocol (UCP) documents."""

    async def validate(self, protocol: str) -> dict[str, Any]:
        """``{"valid": bool, "error": str | None}`` for a UCP YAML string."""
        _check_protocol(protocol)
        data = await self._api.post("/protocols/validate", {"protocol": protocol})
        data = expect(data, dict, what="validate", keys={"valid": object})
        data.setdefault("error", None)
        return data

    async def find_input_references(self, protocol: str) -> list[str]:
        """Names of the ``input["..."]`` placeholders, in order of first appearance."""
        _check_protocol(protocol)
        data = await self._api.post("/protocols/input_references", {"protocol": protocol})
        return expect(data, list, what="input_references", items=str)

    async def convert(
        self,
        protocol: str | Mapping[str, Any],
        target: str,
        drive_cycles: Mapping[str, Any] | None = None,
        filename_stem: str = "protocol",
        nominal_capacity_ah: float | None = None,
        verify: bool = False,
    ) -> ConvertResult:
        """Convert a UCP protocol to a commercial cycler file.

        ``target`` is one of maccor, arbin, arbin_sdx, neware, biologic_bttest, novonix.
        ``drive_cycles`` maps each referenced drive-cycle name to its samples; neware and
        biologic_bttest need ``nominal_capacity_ah`` for C-rate steps. Use
        :meth:`ConvertResult.save` to write the primary file and every sidecar.
        """
        if not isinstance(protocol, str | Mapping):
            raise ValueError(
                f"protocol must be a UCP YAML string or dict, got {type(protocol).__name__}"
            )
        if target not in CONVERT_TARGETS:
            raise ValueError(
                f"unknown target {target!r}; expected one of {', '.join(CONVERT_TARGETS)}"
            )
        if nominal_capacity_ah is not None and not nominal_capacity_ah > 0:
            raise ValueError(f"nominal_capacity_ah must be > 0, got {nominal_capacity_ah!r}")
        body: dict[str, Any] = {
            "protocol": protocol if isinstance(protocol, str) else dict(protocol),
            "target": target,
            "filename_stem": filename_stem,
        }
        if drive_cycles is not None:
            body["drive_cycles"] = _drive_cycles_json(drive_cycles)
        if nominal_capacity_ah is not None:
            body["nominal_capacity_ah"] = float(nominal_capacity_ah)
        if verify:
            body["verify"] = True
        data = await self._api.post("/protocols/convert", body)
        data = expect(data, dict, what="convert", keys={"primary": dict})
        primary = expect(data["primary"], dict, what="convert (primary)", keys={"filename": str})
        assets = []
        for index, asset in enumerate(data.get("assets") or []):
            asset = expect(asset, dict, what=f"convert (asset #{index})", keys={"filename": str})
            assets.append((asset["filename"], _b64(asset.get("content_base64"), "asset")))
        return ConvertResult(
            target=str(data.get("target", target)),
            primary_filename=primary["filename"],
            primary_bytes=_b64(primary.get("content_base64"), "primary"),
            media_type=primary.get("media_type"),
            assets=assets,
        )


def _drive_cycles_json(drive_cycles: Mapping[str, Any]) -> dict[str, Any]:
    """Drive-cycle samples as JSON: DataFrames → column dicts, arrays → nested lists."""
    out: dict[str, Any] = {}
    for name, samples in drive_cycles.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"drive cycle names must be non-empty strings, got {name!r}")
        plain = as_plain(samples)
        if isinstance(plain, Mapping | Sequence | str):
            out[name] = plain
        else:
            raise ValueError(
                f"drive cycle {name!r}: expected a DataFrame, an array, a dict or CSV text"
            )
    return out
