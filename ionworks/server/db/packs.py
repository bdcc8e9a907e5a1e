"""Packs: several named blobs in one file.

A simulation's result (its two tables, each an Arrow stream or, when large, parquet) is stored
as one pack, ``blobs/simulations/<id>``: one file to create, sync and rename per result instead
of a folder of four (creating files was most of what storing a long sweep's results cost).

Layout: :data:`MAGIC` (8 bytes), the index's length (4 bytes, little-endian), the index (JSON
``{name: [offset, length]}``, offsets from the end of the index), then the blobs.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

__all__ = ["MAGIC", "PackError", "chunks", "read"]

MAGIC: Final = b"IWPACK1\n"
_LENGTH = struct.Struct("<I")
#: The largest index a reader accepts (a pack holds a handful of entries).
MAX_INDEX: Final = 64 * 1024


class PackError(ValueError):
    """The file is not a readable pack (damaged or not ours)."""


def chunks(blobs: Mapping[str, bytes]) -> list[bytes]:
    """The pieces of a pack holding ``blobs``, in order (write them one after another)."""
    offset, index = 0, {}
    for name, content in blobs.items():
        index[name] = [offset, len(content)]
        offset += len(content)
    head = json.dumps(index).encode()
    return [MAGIC, _LENGTH.pack(len(head)), head, *blobs.values()]


def read(path: Path, names: Iterable[str]) -> dict[str, bytes]:
    """The entries among ``names`` that the pack at ``path`` holds (absent ones left out).
    Raises FileNotFoundError when there is no file, :class:`PackError` when it is damaged."""
    with open(path, "rb") as fh:
        head = fh.read(len(MAGIC) + _LENGTH.size)
        if len(head) != len(MAGIC) + _LENGTH.size or not head.startswith(MAGIC):
            raise PackError(f"{path.name} is not a result pack")
        (length,) = _LENGTH.unpack(head[len(MAGIC) :])
        if length > MAX_INDEX:
            raise PackError(f"{path.name}: index of {length} bytes")
        try:
            index = json.loads(fh.read(length))
        except ValueError as exc:
            raise PackError(f"{path.name}: unreadable index") from exc
        out = {}
        for name in names:
            entry = index.get(name) if isinstance(index, dict) else None
            if entry is None:
                continue
            if not (
                isinstance(entry, list)
                and len(entry) == 2
                and all(isinstance(v, int) and v >= 0 for v in entry)
            ):
                raise PackError(f"{path.name}: bad index entry for {name!r}")
            offset, size = entry
            fh.seek(len(head) + length + offset)
            content = fh.read(size)
            if len(content) != size:
                raise PackError(f"{path.name}: entry {name!r} is cut short")
            out[name] = content
        return out
