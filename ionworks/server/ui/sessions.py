"""Login tokens and sessions of the web pages, kept in memory and only as SHA-256 hashes.

A login token (``POST /ui/login-token`` with the API key) is single use and lives
:data:`TOKEN_TTL` seconds; exchanging it (or an API key typed into the login form) opens a
session: a random id in an HttpOnly cookie, with its own CSRF token, for :data:`SESSION_TTL`
seconds. Both tables are bounded: the oldest entries go first when one is full. The values are
random 256-bit strings, so a plain hash is enough to make a leaked table useless; a restart of
the server ends every session.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from typing import Final, TypeVar

import attrs

__all__ = ["SESSION_TTL", "TOKEN_TTL", "Session", "Sessions"]

V = TypeVar("V")

TOKEN_TTL: Final = 120.0
SESSION_TTL: Final = 12 * 3600.0
MAX_TOKENS: Final = 256
MAX_SESSIONS: Final = 1024
#: Longer presented values are not looked up (every issued value is 43 characters).
MAX_VALUE_LENGTH: Final = 128


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


@attrs.frozen
class Session:
    """An open session: whose records it shows, its CSRF token and when it ends."""

    owner_id: str
    csrf: str
    expires: float


@attrs.define
class Sessions:
    """The server's login tokens and sessions (one per application)."""

    clock: Callable[[], float] = time.monotonic
    _tokens: dict[str, tuple[str, float]] = attrs.field(factory=dict)
    _sessions: dict[str, Session] = attrs.field(factory=dict)

    def issue_token(self, owner_id: str) -> str:
        """A new single-use login token for ``owner_id``."""
        token = secrets.token_urlsafe(32)
        self._prune(self._tokens, MAX_TOKENS, lambda entry: entry[1])
        self._tokens[_digest(token)] = (owner_id, self.clock() + TOKEN_TTL)
        return token

    def redeem(self, token: str) -> str | None:
        """The owner of a valid, unused token (which is spent now), else None."""
        if not token or len(token) > MAX_VALUE_LENGTH:
            return None
        entry = self._tokens.pop(_digest(token), None)
        if entry is None or entry[1] <= self.clock():
            return None
        return entry[0]

    def open(self, owner_id: str) -> tuple[str, Session]:
        """A new session of ``owner_id``: its cookie value and the session."""
        sid = secrets.token_urlsafe(32)
        session = Session(owner_id, secrets.token_urlsafe(32), self.clock() + SESSION_TTL)
        self._prune(self._sessions, MAX_SESSIONS, lambda s: s.expires)
        self._sessions[_digest(sid)] = session
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        """The live session a cookie value names, else None."""
        if not sid or len(sid) > MAX_VALUE_LENGTH:
            return None
        key = _digest(sid)
        session = self._sessions.get(key)
        if session is not None and session.expires <= self.clock():
            del self._sessions[key]
            return None
        return session

    def close(self, sid: str | None) -> None:
        if sid and len(sid) <= MAX_VALUE_LENGTH:
            self._sessions.pop(_digest(sid), None)

    def _prune(self, table: dict[str, V], cap: int, expiry: Callable[[V], float]) -> None:
        """Drop expired entries, then the oldest while ``table`` is full."""
        now = self.clock()
        for key in [k for k, v in table.items() if expiry(v) <= now]:
            del table[key]
        while len(table) >= cap:
            del table[next(iter(table))]
