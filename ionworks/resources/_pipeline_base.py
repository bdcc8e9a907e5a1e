"""What ``client.pipeline`` and ``client.simple_pipeline`` share (not part of the public surface).

Both resources lift ``project_id``/``name``/``description``/``options`` out of a config, read,
rename, cancel and delete one record under their URL prefix, and poll records until they are
terminal. That is written once here, parametrised by the subclass's prefix and record type.
The public methods stay on the subclasses: their id arguments (``pipeline_id``,
``simple_pipeline_id``) and docstrings differ, as in the product doc and the official client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from ionworks._waiting import wait_records
from ionworks.models import Pipeline, SimplePipeline, structure
from ionworks.resources._base import AsyncResource, seg

__all__ = ["LIFTED", "AsyncPipelineBase", "check_elements", "split_config"]

#: Keys ``create`` takes from the config dict when not passed explicitly.
LIFTED = ("project_id", "name", "description", "options")

R = TypeVar("R", Pipeline, SimplePipeline)


def split_config(
    config: Any, explicit: Mapping[str, Any], lifted: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Lift ``lifted`` keys out of a config dict; explicit (non-None) arguments win."""
    to_config = getattr(config, "to_config", None)
    if callable(to_config):
        base: dict[str, Any] = dict(to_config())
        defaults = {k: getattr(config, k, None) for k in lifted}
    elif isinstance(config, Mapping):
        base = dict(config)
        defaults = {k: base.pop(k, None) for k in lifted}
    else:
        raise ValueError(
            f"config must be a dict (or a schema object with to_config()), "
            f"got {type(config).__name__}"
        )
    values = {
        k: explicit.get(k) if explicit.get(k) is not None else defaults.get(k) for k in lifted
    }
    return base, values


def check_elements(config: Mapping[str, Any]) -> None:
    elements = config.get("elements")
    if not isinstance(elements, Mapping):
        raise ValueError(
            "Pipeline elements must be a dictionary (not a list): "
            '{"<element name>": {"element_type": ..., ...}}; '
            f"got {type(elements).__name__}"
        )
    for name, element in elements.items():
        if not isinstance(element, Mapping):
            raise ValueError(
                f"Pipeline element {name!r} must be a dict, got {type(element).__name__}"
            )


class AsyncPipelineBase(AsyncResource, Generic[R]):
    """Records under ``_path``, structured as ``_record``; polled until terminal."""

    _record: type[R]
    _path: ClassVar[str]  # "/pipelines"
    _what: ClassVar[str]  # "pipeline": names the record in validation errors
    _label: ClassVar[str]  # "Pipeline": names the record in progress and wait errors
    _argument: ClassVar[str]  # "pipeline_id": names the id argument in errors
    #: Keys a config may have besides the lifted ones (``None``: the server checks them).
    _config_keys: ClassVar[tuple[str, ...] | None] = None

    def _lift(
        self,
        config: Any,
        project_id: str | None,
        name: str | None,
        description: str | None,
        options: dict[str, Any] | None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The config without the :data:`LIFTED` keys, and their values (explicit ones win);
        checked before any request."""
        explicit = {
            "project_id": project_id,
            "name": name,
            "description": description,
            "options": options,
        }
        base, lifted = split_config(config, explicit, LIFTED)
        if self._config_keys is not None:
            unknown = sorted(set(base) - set(self._config_keys))
            if unknown:
                raise ValueError(
                    f"Invalid {self._what} configuration: unknown key(s) "
                    f"{', '.join(map(repr, unknown))}; "
                    f"allowed: {', '.join(self._config_keys)}, project_id, options"
                )
        check_elements(base)
        return base, lifted

    def _structure(self, data: Any) -> R:
        return structure(data, self._record, what=self._what)

    def _item(self, record_id: str) -> str:
        return f"{self._path}/{seg(record_id)}"

    async def _get_record(self, record_id: str) -> R:
        return self._structure(await self._api.get(self._item(record_id)))

    async def _update_record(self, record_id: str, name: str | None, description: str | None) -> R:
        body = {k: v for k, v in (("name", name), ("description", description)) if v is not None}
        if not body:
            raise ValueError("update() needs at least one of name or description")
        return self._structure(await self._api.patch(self._item(record_id), body))

    async def _cancel_record(self, record_id: str) -> R:
        return self._structure(await self._api.post(f"{self._item(record_id)}/cancel", {}))

    async def _delete_record(self, record_id: str) -> None:
        await self._api.delete(self._item(record_id))

    async def _wait(
        self,
        record_id: str | Sequence[str],
        timeout: float | None,
        poll_interval: float,
        verbose: bool,
        raise_on_failure: bool,
    ) -> R | list[R]:
        result: R | list[R] = await wait_records(
            record_id,
            self._get_record,
            timeout=timeout,
            poll_interval=poll_interval,
            verbose=verbose,
            raise_on_failure=raise_on_failure,
            label=self._label,
            argument=self._argument,
        )
        return result
