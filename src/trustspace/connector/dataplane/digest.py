"""SHA-256 of files, computed by streaming and remembered, and its two HTTP spellings: the RFC 9530
``Repr-Digest`` field (``sha-256=:<base64>:``) and a strong ``ETag`` (the hex digest, quoted).

The digest is remembered per file *version*: device, inode, size and modification time in nanoseconds. A
file rewritten in place gets a new mtime and so a new entry; a file replaced by rename gets a new inode.
Someone who rewrites a file and then forges its mtime defeats this, which is why the pull client checks
the digest of what it received instead of trusting the header.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

READ_CHUNK = 1024 * 1024
_DICT_MEMBER = re.compile(r"^\s*([a-z][a-z0-9_.*-]*)\s*=\s*:([A-Za-z0-9+/=]*):\s*(?:;.*)?$")


@dataclass(frozen=True)
class FileVersion:
    """What identifies one version of a file for caching and for noticing change under a transfer."""

    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, stat: os.stat_result) -> FileVersion:
        return cls(stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def sha256_file(path: Path, chunk_size: int = READ_CHUNK) -> str:
    """Hex SHA-256 read in fixed-size chunks, so a file of any size costs one chunk of memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


class DigestCache:
    """Digests of file versions, least recently used evicted first. Safe to share between threads."""

    def __init__(self, capacity: int = 1024) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[tuple[str, FileVersion], str] = OrderedDict()
        self._lock = threading.Lock()

    def digest(self, path: Path, version: FileVersion) -> str:
        key = (str(path), version)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        # Hashed outside the lock: a large file must not stall every other lookup.
        value = sha256_file(path)
        with self._lock:
            self._entries[key] = value
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._entries)


DEFAULT_CACHE = DigestCache()


def repr_digest(sha256_hex: str) -> str:
    """The ``Repr-Digest`` field value for a hex SHA-256 (RFC 9530 §3, structured-field byte sequence)."""
    return "sha-256=:" + base64.b64encode(bytes.fromhex(sha256_hex)).decode("ascii") + ":"


def parse_repr_digest(value: str | None) -> str | None:
    """The hex SHA-256 named in a ``Repr-Digest`` value, or None when absent or without sha-256.

    Other algorithms in the dictionary are skipped, not refused: a sender may offer several.
    Raises ValueError when the sha-256 member is there but is not 32 bytes of base64.
    """
    if not value:
        return None
    for member in value.split(","):
        match = _DICT_MEMBER.match(member)
        if match is None or match.group(1) != "sha-256":
            continue
        try:
            raw = base64.b64decode(match.group(2), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("sha-256 member of Repr-Digest is not base64") from exc
        if len(raw) != 32:
            raise ValueError(f"sha-256 member of Repr-Digest has {len(raw)} bytes, not 32")
        return raw.hex()
    return None


def etag(sha256_hex: str) -> str:
    """A strong validator: equal ETags mean byte-identical representations, which Range resumption needs."""
    return f'"{sha256_hex}"'
