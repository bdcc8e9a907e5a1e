"""Login tokens and sessions of the web pages, kept in memory and only as SHA-256 hashes.

A login token (``POST /ui/login-token`` with the API key) is single use and lives
:data:`TOKEN_TTL` seconds; exchanging it (or an API key typed into the login form) opens a
session: a random id in an HttpOnly cookie, with its own CSRF token, for :data:`SESSION_TTL`
seconds. Both tables are bounded per owner (:data:`MAX_SESSIONS_PER_OWNER`,
:data:`MAX_TOKENS_PER_OWNER`: a new entry ends that owner's oldest, never another owner's) and
in all (:data:`MAX_SESSIONS`, :data:`MAX_TOKENS`: when full, new ones are refused with
:class:`Full`). The values are random 256-bit strings, so a plain hash is enough to make a
leaked table useless; a restart of the server ends every session. :class:`Throttle` counts
failed sign-ins per client address.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from typing import Final, TypeVar

import attrs

__all__ = ["SESSION_TTL", "TOKEN_TTL", "Full", "Session", "Sessions", "Throttle"]

V = TypeVar("V")

TOKEN_TTL: Final = 120.0
SESSION_TTL: Final = 12 * 3600.0
MAX_TOKENS: Final = 256
MAX_SESSIONS: Final = 1024
MAX_TOKENS_PER_OWNER: Final = 8
MAX_SESSIONS_PER_OWNER: Final = 16
#: Failed sign-ins one client address may make per :data:`FAILURE_WINDOW` seconds.
MAX_FAILURES: Final = 10
FAILURE_WINDOW: Final = 60.0
#: Client addresses the throttle remembers (the oldest are forgotten first).
MAX_ADDRESSES: Final = 4096
#: Longer presented values are not looked up (every issued value is 43 characters).
MAX_VALUE_LENGTH: Final = 128


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


class Full(Exception):
    """The server holds as many sessions (or login tokens) as it keeps: try again later."""


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
        self._prune(self._tokens, owner_id, (MAX_TOKENS_PER_OWNER, MAX_TOKENS), lambda e: e)
        self._tokens[_digest(token)] = (owner_id, self.clock() + TOKEN_TTL)
        return token

    def valid(self, token: str) -> bool:
        """Whether ``token`` is a live, unused login token (it stays unspent)."""
        if not token or len(token) > MAX_VALUE_LENGTH:
            return False
        entry = self._tokens.get(_digest(token))
        return entry is not None and entry[1] > self.clock()

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
        limits = (MAX_SESSIONS_PER_OWNER, MAX_SESSIONS)
        self._prune(self._sessions, owner_id, limits, lambda s: (s.owner_id, s.expires))
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

    def _prune(
        self,
        table: dict[str, V],
        owner_id: str,
        limits: tuple[int, int],
        parts: Callable[[V], tuple[str, float]],
    ) -> None:
        """Make room in ``table`` for one more entry of ``owner_id``: drop expired entries,
        then that owner's oldest while it has ``limits[0]``; :class:`Full` if the table still
        has ``limits[1]``."""
        now = self.clock()
        for key in [k for k, v in table.items() if parts(v)[1] <= now]:
            del table[key]
        mine = [k for k, v in table.items() if parts(v)[0] == owner_id]
        for key in mine[: max(0, len(mine) - limits[0] + 1)]:
            del table[key]
        if len(table) >= limits[1]:
            raise Full


@attrs.define
class Throttle:
    """Failed sign-ins per client address: at most :data:`MAX_FAILURES` per
    :data:`FAILURE_WINDOW` seconds (a bounded table, the oldest addresses forgotten first)."""

    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, tuple[int, float]] = attrs.field(factory=dict)

    def blocked(self, address: str) -> bool:
        """Whether ``address`` has used up its failed attempts of the current window."""
        count, until = self._failures.get(address, (0, 0.0))
        return count >= MAX_FAILURES and until > self.clock()

    def failed(self, address: str) -> None:
        """Count one failed sign-in of ``address``."""
        now = self.clock()
        count, until = self._failures.pop(address, (0, 0.0))
        if until <= now:
            count, until = 0, now + FAILURE_WINDOW
        while len(self._failures) >= MAX_ADDRESSES:
            del self._failures[next(iter(self._failures))]
        self._failures[address] = (count + 1, until)
