"""Expired idempotency records are removed at most once per ``PRUNE_EVERY`` seconds: the
removal scans the whole table (past every stored body), so doing it on every POST made a long
sweep's status polls slower and slower (issue 21)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ionworks.server.db import store as store_module
from ionworks.server.db.store import IDEMPOTENCY_TTL, PRUNE_EVERY, Store


def _rows(store: Store) -> int:
    row = store.one("SELECT COUNT(*) AS n FROM idempotency")
    assert row is not None
    return int(row["n"])


def test_expired_records_are_pruned_once_per_period(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1_000_000.0]
    monkeypatch.setattr(store_module.time, "time", lambda: clock[0])
    store = Store(tmp_path)
    try:
        store.remember_response("o", "old", "POST", "/x", 200, b"{}")  # prunes (first call)
        clock[0] += IDEMPOTENCY_TTL + 1  # "old" has expired
        store.remember_response("o", "k1", "POST", "/x", 200, b"{}")  # prunes: a period passed
        assert _rows(store) == 1 and store.idempotent_response("o", "old") is None
        store.remember_response("o", "k2", "POST", "/x", 200, b"{}")
        clock[0] += IDEMPOTENCY_TTL + 1  # k1 and k2 expire
        store.remember_response("o", "k3", "POST", "/x", 200, b"{}")  # prunes
        assert _rows(store) == 1
        clock[0] += IDEMPOTENCY_TTL + 1
        store._pruned_at = clock[0] - PRUNE_EVERY / 2  # pruned half a period ago
        store.remember_response("o", "k4", "POST", "/x", 200, b"{}")  # no scan this time
        assert _rows(store) == 2  # k3 is expired (never served) but still there
        assert store.idempotent_response("o", "k3") is None
        clock[0] += PRUNE_EVERY
        store.remember_response("o", "k5", "POST", "/x", 200, b"{}")
        assert _rows(store) == 2  # k3 removed; k4 and k5 remain
        assert store.idempotent_response("o", "k5") is not None
    finally:
        store.close()
