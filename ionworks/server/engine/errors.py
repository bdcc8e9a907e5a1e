"""The engine's one exception type (picklable: it crosses worker-process boundaries)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["EngineError", "UnknownModelError", "did_you_mean"]


class EngineError(Exception):
    """A simulation request cannot be run; ``str()`` is the message meant for the client.

    ``code`` says what went wrong: ``invalid_request`` (malformed input),
    ``unknown_model``, ``unknown_chemistry``, ``unknown_parameter``, ``unknown_variable``,
    ``protocol`` (UCP parse/resolve/translation errors) or ``solver`` (PyBaMM failed;
    the message carries PyBaMM's own text).
    """

    def __init__(self, message: str, *, code: str = "invalid_request") -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.message, self.code))


def _rebuild(cls: type[EngineError], message: str, code: str) -> EngineError:
    return cls(message, code=code)


class UnknownModelError(EngineError, KeyError):
    """An unknown parameterized-model id (also a :class:`KeyError`)."""

    def __init__(self, message: str, *, code: str = "unknown_model") -> None:
        super().__init__(message, code=code)


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'a' or 'b'?)`` with the close matches of ``name``, or ``""``."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
