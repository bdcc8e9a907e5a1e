"""Persistence: the SQLite store (WAL) and the result files under the data directory."""
