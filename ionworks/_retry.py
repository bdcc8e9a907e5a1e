"""Retry policy: which failures are retried and how long to wait (pure, I/O-free)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from attrs import frozen

__all__ = ["RetryPolicy", "parse_retry_after"]

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "PUT"})
MAX_RETRY_AFTER = 60.0


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date).

    Returns ``None`` when the header is absent or unparseable.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(seconds, 0.0)


@frozen
class RetryPolicy:
    """Exponential backoff with full jitter (google-api-core style).

    Attempt ``n`` (0-based) sleeps ``uniform(0, min(initial * 2**n, maximum))`` seconds, unless the
    server sent ``Retry-After``: a delay in (0, 60] s is honoured exactly, a longer one stops
    retrying (the error is raised so the caller can decide).
    """

    max_retries: int = 5
    initial_delay: float = 0.5
    max_delay: float = 8.0

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        cap = min(self.initial_delay * (2**attempt), self.max_delay)
        return (rng or random).uniform(0, cap)

    def should_retry_status(self, status: int) -> bool:
        return status in RETRY_STATUSES

    def delay_for(
        self, attempt: int, retry_after: float | None, rng: random.Random | None = None
    ) -> float | None:
        """Seconds to sleep before the next attempt, or ``None`` to stop retrying."""
        if attempt >= self.max_retries:
            return None
        if retry_after is not None:
            if retry_after > MAX_RETRY_AFTER:
                return None
            return retry_after
        return self.backoff(attempt, rng)

    @staticmethod
    def method_is_retryable(method: str, has_idempotency_key: bool) -> bool:
        """GET/DELETE always; POST/PATCH only when they carry an ``Idempotency-Key``."""
        return method.upper() in IDEMPOTENT_METHODS or has_idempotency_key
