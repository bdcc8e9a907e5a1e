"""The local cache of measurement data (``cell_measurement.time_series``, ``steps``,
``cycles``, ``steps_and_cycles``, ``detail`` and ``download_files``; ``use_cache=False``
on a call bypasses it).

The public functions are the official client's: :func:`set_cache_enabled`,
:func:`set_cache_directory`, :func:`set_cache_ttl` (and their getters) and :func:`clear_cache`.

It never serves stale data: an entry's key is a SHA-256 of the API's base URL, a SHA-256 of
the API key (never the key itself), the measurement id and the record's version (its
``updated_at`` and, from servers that have it, ``data_version``, which the local server
bumps on every change of the data, an extend included); a read asks the server for the
record first (a small request) and a changed record misses. Entries older than the TTL
(3600 s by default; ``None``: no expiry) are misses too.

Files: in ``IONWORKS_CACHE_DIR`` when set, else in a per-user cache directory of this
package (``$XDG_CACHE_HOME/ionworks/measurements``, ``~/Library/Caches/ionworks/measurements``
on macOS, ``%LOCALAPPDATA%\\ionworks\\cache\\measurements`` on Windows); never the official
client's ``~/.ionworksdata_cache``. Directories are created 0700 and files 0600; a directory
(an existing ``IONWORKS_CACHE_DIR`` say) that is not the user's own or is writable by group or
others is not used (POSIX): reads go to the server, with one logged warning. Each entry
is written to a temp file and renamed, carries a SHA-256 of its content (a corrupt or
truncated entry is ignored and removed), and the whole cache is kept under
:data:`MAX_CACHE_BYTES` (the oldest entries go first). The functions here are blocking file
I/O: the client calls them off the event loop.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Final

__all__ = [
    "MAX_CACHE_BYTES",
    "clear_cache",
    "get_cache_directory",
    "get_cache_enabled",
    "get_cache_ttl",
    "set_cache_directory",
    "set_cache_enabled",
    "set_cache_ttl",
]

#: The cache's size bound in bytes (1 GiB): past it, the oldest entries are removed.
MAX_CACHE_BYTES: int = 1 << 30
_MAGIC: Final = b"IWC1"
_SUFFIX: Final = ".iwc"
_NONE: Final = b"\x00none"  # a cached "the server has none" (e.g. no step table)

_settings: dict[str, object] = {"enabled": True, "directory": None, "ttl": 3600}
_log = logging.getLogger(__name__)
_warned: set[Path] = set()  # untrusted directories already warned about


def set_cache_enabled(enabled: bool) -> None:
    """Switch the measurement cache on or off (for every client of this process)."""
    _settings["enabled"] = bool(enabled)


def get_cache_enabled() -> bool:
    """Whether the measurement cache is on."""
    return bool(_settings["enabled"])


def set_cache_directory(directory: str | os.PathLike[str]) -> None:
    """Keep cached measurement data in ``directory`` (created 0700 on first write)."""
    _settings["directory"] = Path(directory)


def get_cache_directory() -> Path:
    """Where cached measurement data are kept (see the module's description)."""
    chosen = _settings["directory"]
    if isinstance(chosen, Path):
        return chosen
    env = os.environ.get("IONWORKS_CACHE_DIR")
    if env:
        return Path(env)
    if sys.platform == "win32":
        root = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return root / "ionworks" / "cache" / "measurements"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "ionworks" / "measurements"
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "ionworks" / "measurements"


def set_cache_ttl(ttl_seconds: int | None) -> None:
    """Seconds a cached entry is served (``None``: until the record changes)."""
    if ttl_seconds is not None and (
        isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int | float) or ttl_seconds < 0
    ):
        raise ValueError(f"ttl_seconds must be None or a number >= 0, not {ttl_seconds!r}")
    _settings["ttl"] = ttl_seconds


def get_cache_ttl() -> int | None:
    """The TTL in seconds, or ``None`` when entries do not expire."""
    ttl = _settings["ttl"]
    return None if ttl is None else int(ttl)  # type: ignore[call-overload]


def clear_cache() -> int:
    """Delete every cached entry; returns how many were deleted."""
    directory = get_cache_directory()
    if not directory.is_dir():
        return 0
    count = 0
    for path in directory.iterdir():
        if path.suffix == _SUFFIX or path.name.startswith(".iwc-"):
            path.unlink(missing_ok=True)
            count += path.suffix == _SUFFIX
    return count


# --- entries (used by the client; blocking) ---------------------------------------------------


def entry_key(base_url: str, api_key: str | None, measurement_id: str, version: str) -> str:
    """The key of a measurement's entries: nothing of it can be read back from the name."""
    key_digest = hashlib.sha256((api_key or "").encode()).hexdigest()
    parts = "\x00".join((base_url.rstrip("/"), key_digest, measurement_id, version))
    return hashlib.sha256(parts.encode()).hexdigest()


def _path(key: str, kind: str) -> Path:
    name = hashlib.sha256(f"{key}\x00{kind}".encode()).hexdigest()
    return get_cache_directory() / f"{name}{_SUFFIX}"


def _trusted(directory: Path) -> bool:
    """Whether the existing ``directory`` is safe to cache in: on POSIX, owned by this user
    and not writable by group or others (else another user could plant, swap or read
    entries). Logs one warning per untrusted directory; ``OSError`` if it cannot be read."""
    getuid = getattr(os, "getuid", None)
    if getuid is None:  # Windows: the per-user directory's ACLs
        return True
    info = directory.stat()
    if info.st_uid == getuid() and not info.st_mode & 0o022:
        return True
    if directory not in _warned:
        _warned.add(directory)
        _log.warning(
            "ionworks: not using the cache directory %s (owner uid %d, mode %o): it must be "
            "owned by this user and not writable by group or others (chmod 700, or set "
            "IONWORKS_CACHE_DIR elsewhere); measurement data are read without the cache",
            directory, info.st_uid, info.st_mode & 0o777,
        )  # fmt: skip
    return False


def load(key: str, kind: str) -> bytes | None:
    """The cached bytes of ``kind`` (``b""``: "the server has none"), or None on a miss (off,
    absent, expired, corrupt: then removed, or in an untrusted directory)."""
    if not get_cache_enabled():
        return None
    path = _path(key, kind)
    try:
        if not _trusted(path.parent):
            return None
        ttl = get_cache_ttl()
        if ttl is not None and time.time() - path.stat().st_mtime > ttl:
            return None
        raw = path.read_bytes()
    except OSError:
        return None
    body = raw[len(_MAGIC) + 32 :]
    if raw[: len(_MAGIC)] != _MAGIC or hashlib.sha256(body).digest() != raw[len(_MAGIC) : 36]:
        path.unlink(missing_ok=True)
        return None
    return b"" if body == _NONE else body


def save(key: str, kind: str, data: bytes | None) -> None:
    """Cache ``data`` (None: "the server has none") atomically, then keep the cache within
    :data:`MAX_CACHE_BYTES`. Failures (a read-only disk, a full one, an untrusted directory)
    are ignored."""
    if not get_cache_enabled():
        return
    body = _NONE if data is None else data
    directory = get_cache_directory()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _trusted(directory):
            return
        fd, tmp = tempfile.mkstemp(prefix=".iwc-", dir=directory)  # mode 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(_MAGIC + hashlib.sha256(body).digest() + body)
            os.replace(tmp, _path(key, kind))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _bound(directory)
    except OSError:
        return


def _bound(directory: Path) -> None:
    """Remove the oldest entries while the cache holds more than :data:`MAX_CACHE_BYTES`."""
    entries = []
    for path in directory.glob(f"*{_SUFFIX}"):
        try:
            stat = path.stat()
        except OSError:
            continue
        entries.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries):
        if total <= MAX_CACHE_BYTES:
            break
        path.unlink(missing_ok=True)
        total -= size
