"""Records of saved protocols (``/experiment_templates``) and of parsed protocol files."""

from __future__ import annotations

from typing import Any, Final

from attrs import field, frozen

from ionworks.models._base import _Extra

__all__ = ["INCLUDABLE_FIELDS", "ParsedProtocol", "Protocol"]

#: Heavy columns a protocol list leaves out (``None``) unless named in ``include``.
INCLUDABLE_FIELDS: Final = (
    "protocol_config",
    "parameters_schema",
    "time_series_spec",
    "metrics_spec",
    "plot_options",
    "source_protocol",
)


@frozen
class Protocol(_Extra):
    """A saved, project-scoped protocol (an "experiment template" on the wire).

    ``protocol_config`` (the UCP as a dict), ``parameters_schema`` and ``source_protocol``
    are ``None`` on list items unless named in ``include``; ``protocol.get`` fills them.
    """

    id: str
    name: str
    organization_id: str
    project_id: str | None = None
    description: str | None = None
    protocol_config: dict[str, Any] | None = None
    parameters_schema: dict[str, Any] | None = None
    source_protocol: str | None = None
    created_by_email: str | None = None


@frozen
class ParsedProtocol(_Extra):
    """``protocol.parse_file``: the file as UCP YAML (:attr:`ucp`) and as text
    (:attr:`human_readable`), plus the drive cycles and subroutines it needs. Not saved:
    pass :attr:`ucp` to ``protocol.create``."""

    parsed_protocol_ucp: str
    parsed_protocol_human: str = ""
    raw_protocol: str = ""
    cycler_type: str | None = None
    nominal_capacity_ah: float | None = None
    required_drive_cycles: list[str] = field(factory=list)
    available_drive_cycles: list[str] = field(factory=list)
    required_subroutines: list[str] = field(factory=list)
    available_subroutines: list[str] = field(factory=list)
    #: Set when the file parsed only partially (``ucp`` may then be incomplete).
    error: str | None = None

    @property
    def ucp(self) -> str:
        """The parsed protocol as UCP YAML."""
        return self.parsed_protocol_ucp

    @property
    def human_readable(self) -> str:
        """The same protocol described in prose, one line per step."""
        return self.parsed_protocol_human
