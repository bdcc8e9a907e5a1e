"""``client.protocol``: saved protocols (``/experiment_templates``: list, get, create, update,
delete, human-readable text), parsing protocol files, checking UCP protocols (validate, input
references) and converting them to vendor files."""

from __future__ import annotations

import base64
import binascii
import builtins
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import anyio.to_thread

from ionworks.errors import APIResponseValidationError
from ionworks.models import ConvertResult, Page, ParsedProtocol, Protocol, structure
from ionworks.resources._base import AsyncResource, expect, filters_of, seg
from ionworks.ucp.samples import as_plain

__all__ = ["CONVERT_TARGETS", "AsyncProtocols"]

BASE = "/experiment_templates"
TEXT = "text/plain"


def _protocol_config(protocol: str | Mapping[str, Any]) -> dict[str, Any]:
    """The protocol as the dict the API stores: a mapping as it is, UCP YAML text loaded
    (bounded, safe); ``ValueError`` for text that is not YAML or not a mapping."""
    if isinstance(protocol, Mapping):
        return dict(protocol)
    if not isinstance(protocol, str):
        raise ValueError(f"protocol must be UCP YAML text or a dict, got {type(protocol).__name__}")
    from ionworks.ucp.parse import load

    data = load(protocol).data  # UCPError (a ValueError) when the text is not YAML
    if not isinstance(data, dict):
        raise ValueError(
            f"protocol must parse to a mapping with a 'steps' key; got {type(data).__name__}"
        )
    return data


def _text(raw: bytes) -> str:
    """A ``text/plain`` body as text (a JSON string body, as some servers send, unquoted)."""
    text = raw.decode("utf-8", errors="replace")
    if text.startswith('"') and text.endswith('"'):
        try:
            decoded = json.loads(text)
        except ValueError:
            return text
        return decoded if isinstance(decoded, str) else text
    return text


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


def _read_file(file: str | os.PathLike[str] | IO[bytes]) -> tuple[str, bytes]:
    """The file's name (no directory) and bytes (runs in a worker thread)."""
    if isinstance(file, str | os.PathLike):
        path = Path(file)
        return path.name, path.read_bytes()
    read = getattr(file, "read", None)
    if not callable(read):
        raise TypeError(f"file must be a path or a binary file object, got {type(file).__name__}")
    data = read()
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not isinstance(data, bytes | bytearray):
        raise TypeError(f"file.read() returned {type(data).__name__}, expected bytes")
    name = getattr(file, "name", None)
    return (Path(name).name if isinstance(name, str) and name else "protocol"), bytes(data)


class AsyncProtocols(AsyncResource):
    """Universal Cycler Protocol (UCP) documents: saved in a project, parsed from files,
    checked, and converted to vendor files.

    Saved protocols (``/experiment_templates``) are what simulations and measurements refer
    to by id. Within a project they are unique by content: saving the same protocol again
    returns the one already saved, whatever its name. Their body is immutable; only the name
    and description change. Methods that need a project use the client's when none is given.
    """

    async def list(
        self,
        project_id: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        *,
        include: builtins.list[str] | None = None,
        name: str | None = None,
        name_exact: str | None = None,
        created_by_email: str | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
        updated_after: str | None = None,
        updated_before: str | None = None,
        order_by: str | None = None,
        order: str | None = None,
    ) -> Page[Protocol]:
        """A project's saved protocols (without ``limit``: all of them), newest first.

        The heavy columns (``protocol_config``, ``parameters_schema``, ``source_protocol`` …;
        :data:`~ionworks.models.INCLUDABLE_FIELDS`) are ``None`` unless named in ``include``.
        ``name`` matches part of the name (any case), ``name_exact`` all of it; ``order_by``
        is ``name``, ``created_at`` or ``updated_at``.
        """
        if include is not None and (
            isinstance(include, str) or not all(isinstance(i, str) for i in include)
        ):
            raise ValueError(f"include must be a list of column names, got {include!r}")
        filters = filters_of(locals())
        params = {
            "project_id": await self._api.default_project_id(project_id),
            "limit": limit,
            "offset": offset,
            "include": ",".join(include) if include else None,
            **filters,
        }
        return await self._list(BASE, params, Protocol, what="protocol list")

    async def get(self, protocol_id: str) -> Protocol:
        """One saved protocol, with its body (``protocol_config``) and other heavy columns."""
        data = await self._api.get(f"{BASE}/{seg(protocol_id)}")
        return structure(data, Protocol, what="protocol")

    async def find_by_name(self, name: str, project_id: str | None = None) -> Protocol | None:
        """The project's saved protocol with exactly this name, or ``None``.

        Names are not unique (protocols are unique by content), so more than one match is a
        ``ValueError``: list them with ``list(name_exact=...)`` and pick one by id.
        """
        matches = await self.list(project_id, 2, name_exact=name)
        if matches.total > 1:
            raise ValueError(
                f"{matches.total} protocols in this project are named {name!r}. Protocol "
                "names are not unique; use list(name_exact=...) and pick the one you want by id."
            )
        return matches[0] if matches.items else None

    async def human_readable(self, protocol_id: str) -> str:
        """The saved protocol described as text, one line per step."""
        raw = await self._api.download(f"{BASE}/{seg(protocol_id)}/human_readable", accept=TEXT)
        return _text(raw)

    async def source_protocol(self, protocol_id: str) -> str:
        """The text the protocol was saved from (a 404 ``NotFoundError`` when it was saved from
        a dict and no source text was given)."""
        raw = await self._api.download(f"{BASE}/{seg(protocol_id)}/source_protocol", accept=TEXT)
        return _text(raw)

    async def create(
        self,
        name: str,
        protocol: str | Mapping[str, Any],
        project_id: str | None = None,
        *,
        description: str | None = None,
        parameters_schema: dict[str, Any] | None = None,
        source_protocol: str | None = None,
        force_create: bool = False,
    ) -> Protocol:
        """Save a protocol (UCP YAML text or a dict) in a project.

        Saving a protocol whose content the project already has returns that one (re-running
        a script is safe); with ``force_create=True`` it is a 409 ``ConflictError`` instead.
        YAML text is also recorded as ``source_protocol`` unless one is given;
        ``parameters_schema`` (the open ``input[...]`` parameters) defaults to ``{}``.
        """
        config = _protocol_config(protocol)
        if source_protocol is None and isinstance(protocol, str):
            source_protocol = protocol
        body: dict[str, Any] = {
            "name": name,
            "protocol_config": config,
            "parameters_schema": parameters_schema or {},
            "project_id": await self._api.default_project_id(project_id),
            "force_create": force_create,
        }
        if description is not None:
            body["description"] = description
        if source_protocol is not None:
            body["source_protocol"] = source_protocol
        return structure(await self._api.post(BASE, body), Protocol, what="protocol")

    async def create_or_get(
        self,
        name: str,
        protocol: str | Mapping[str, Any],
        project_id: str | None = None,
        **kwargs: Any,
    ) -> Protocol:
        """:meth:`create` without ``force_create``: the saved protocol of this content, new or
        already there (matched on content, not on ``name``). ``kwargs`` go to :meth:`create`."""
        return await self.create(name, protocol, project_id, force_create=False, **kwargs)

    async def update(
        self,
        protocol_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
    ) -> Protocol:
        """Rename a saved protocol or change its description (its body cannot change: save a
        new protocol instead)."""
        changes = {"name": name, "description": description}
        body = {key: value for key, value in changes.items() if value is not None}
        data = await self._api.patch(f"{BASE}/{seg(protocol_id)}", body)
        return structure(data, Protocol, what="protocol")

    async def delete(self, protocol_id: str) -> None:
        """Delete a saved protocol. While simulations use it this is a 409 ``ConflictError``
        (delete the simulations first)."""
        await self._api.delete(f"{BASE}/{seg(protocol_id)}")

    async def parse_file(self, file: str | Path | IO[bytes]) -> ParsedProtocol:
        """Parse a protocol file (a path or an open binary file) into UCP; nothing is saved
        (pass the result's ``ucp`` to :meth:`create`). The local server reads UCP files
        (YAML or JSON) and refuses vendor cycler files with a 422 that says so."""
        name, data = await anyio.to_thread.run_sync(_read_file, file)
        result = await self._api.post_form(
            "/protocols/parse", files={"file": (name, data, "application/octet-stream")}
        )
        return structure(result, ParsedProtocol, what="parsed protocol")

    async def validate(self, protocol: str) -> dict[str, Any]:
        """``{"valid": bool, "error": str | None}`` for a UCP YAML string."""
        _check_protocol(protocol)
        data = await self._api.post("/protocols/validate", {"protocol": protocol})
        data = expect(data, dict, what="validate", keys={"valid": object})
        data.setdefault("error", None)
        return data

    async def find_input_references(self, protocol: str) -> builtins.list[str]:
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
