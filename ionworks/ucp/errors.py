"""Error types of the UCP engine.

Every problem found in a protocol is an :class:`Issue` with a stable ``code`` word (see
``ucp.md`` §10), a path such as ``steps[2].Charge.ends[0]`` and, when the protocol came
from YAML text, the 1-based line and column of the offending node. :class:`UCPError`
carries one or more issues; ``str(error)`` lists them one per line, e.g.::

    steps[0] 'Charge' (line 4, column 7): mode: unknown mode 'Magic'; expected one of ...
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs
from attrs import define

__all__ = ["MAX_REPORTED_ISSUES", "Issue", "Origin", "UCPError"]

#: At most this many issues are spelled out in ``str(UCPError)``.
MAX_REPORTED_ISSUES = 20


@define(frozen=True)
class Origin:
    """Where something sits in the protocol, used to build error messages.

    ``subject`` names the step, block or section (``steps[0] 'Charge'``, ``global``);
    ``field`` is the part inside it (``mode``, ``ends[1]``); ``path`` is the full dotted
    path (``steps[0].Charge.mode``).
    """

    path: str
    subject: str
    field: str = ""
    line: int | None = None
    column: int | None = None

    def issue(self, code: str, message: str) -> Issue:
        """An :class:`Issue` located here."""
        return Issue(
            path=self.path,
            code=code,
            message=message,
            line=self.line,
            column=self.column,
            subject=self.subject,
            field=self.field,
        )


@define(frozen=True)
class Issue:
    """One problem found in a protocol."""

    path: str
    code: str
    message: str
    line: int | None = None
    column: int | None = None
    subject: str | None = attrs.field(default=None, eq=False)
    field: str | None = attrs.field(default=None, eq=False)

    def __str__(self) -> str:
        head = self.subject or self.path or "protocol"
        where = ""
        if self.line is not None:
            where = f" (line {self.line}, column {self.column})"
        part = f"{self.field}: " if self.field else ""
        return f"{head}{where}: {part}{self.message}"


class UCPError(ValueError):
    """A protocol is invalid, cannot be resolved, or cannot be simulated."""

    def __init__(self, issues: Iterable[Issue]) -> None:
        self.issues: list[Issue] = list(issues)
        super().__init__(self._render())

    @classmethod
    def single(cls, origin: Origin, code: str, message: str) -> UCPError:
        """An error with one issue located at ``origin``."""
        return cls([origin.issue(code, message)])

    @property
    def codes(self) -> list[str]:
        """The code words of the issues, in order."""
        return [issue.code for issue in self.issues]

    def _render(self) -> str:
        lines = [str(issue) for issue in self.issues[:MAX_REPORTED_ISSUES]]
        hidden = len(self.issues) - MAX_REPORTED_ISSUES
        if hidden > 0:
            lines.append(f"... and {hidden} more issue{'s' if hidden > 1 else ''}")
        return "\n".join(lines) if lines else "invalid protocol"

    def __str__(self) -> str:
        return self._render()

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.issues,))
