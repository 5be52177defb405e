"""Encryption at rest for the protected store: AES-256-GCM in chunks, one data key per agreement, data keys
wrapped by a key-encryption key derived from the connector's own key.

Key hierarchy: the connector's Ed25519 seed (its keystore) --HKDF-SHA256--> the key-encryption key (KEK)
and, with another ``info``, the watermark key. A data key is 32 random bytes per agreement, stored only
wrapped: ``nonce || AES-GCM(KEK, data key, aad = "…/key/v1\\n" + agreement id)``, so a wrapped key moved
to another agreement does not unwrap. Neither key is ever logged, returned or written unwrapped.

File format (one file per item)::

    header  "TSPS" | version 0x01 | chunk size (uint32, big-endian)
    chunk*  nonce (12 random bytes) | AES-GCM ciphertext of the chunk | tag (16)

Every chunk is ``chunk size`` bytes of plaintext except the last (which may be empty). Its associated data
is ``"…/chunk/v1\\n" | item id | "\\n" | index (uint64) | final (1 byte)``: a chunk moved to another
position or another item, a dropped tail, or an appended chunk fails authentication.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from trustspace.core.errors import Conflict
from trustspace.core.keys import SigningKey

CHUNK_SIZE = 1 << 20
SCHEME = "aes-256-gcm-chunked/1"
MAGIC = b"TSPS\x01"
_HEADER = struct.Struct(">5sI")
_NONCE, _TAG = 12, 16
_KEY_AAD = b"trustspace.usage/key/v1\n"
_CHUNK_AAD = b"trustspace.usage/chunk/v1\n"
_SALT = b"trustspace.usage"


class ProtectedDataCorrupt(Conflict):
    """The ciphertext (or its wrapped key) does not authenticate: changed, truncated, reordered or foreign."""

    slug = "protected-data-corrupt"
    title = "Protected data failed authentication"


def _derive(key: SigningKey, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=info).derive(key.export_seed())


class KeyWrapper:
    """Wraps and unwraps data keys with the KEK derived from ``key``. Holds the KEK, never prints it."""

    __slots__ = ("_kek", "_mark")

    def __init__(self, key: SigningKey) -> None:
        self._kek = AESGCM(_derive(key, b"key-encryption-key/v1"))
        self._mark = _derive(key, b"watermark/v1")

    @staticmethod
    def new_data_key() -> bytes:
        return AESGCM.generate_key(bit_length=256)

    def wrap(self, agreement_id: str, data_key: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        return nonce + self._kek.encrypt(nonce, data_key, _KEY_AAD + agreement_id.encode())

    def unwrap(self, agreement_id: str, wrapped: bytes) -> bytes:
        try:
            return self._kek.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], _KEY_AAD + agreement_id.encode())
        except (InvalidTag, ValueError):
            raise ProtectedDataCorrupt(f"the data key of agreement {agreement_id} does not unwrap with this "
                                       "connector's key", field="agreementId") from None

    @property
    def watermark_key(self) -> bytes:
        """The HMAC key of export watermarks (``watermark.py``)."""
        return self._mark

    def __repr__(self) -> str:
        return "KeyWrapper(<keys hidden>)"


def _aad(item_id: str, index: int, final: bool) -> bytes:
    return _CHUNK_AAD + item_id.encode() + b"\n" + struct.pack(">QB", index, 1 if final else 0)


@dataclass(frozen=True)
class Sealed:
    size: int
    sha256: str
    chunks: int
    chunk_size: int

    def nonce_info(self) -> dict[str, object]:
        return {"scheme": SCHEME, "chunkSize": self.chunk_size, "chunks": self.chunks, "nonce": "random-96-per-chunk"}


def seal_file(source: Path, target: Path, data_key: bytes, item_id: str, chunk_size: int = CHUNK_SIZE) -> Sealed:
    """Encrypt ``source`` into a new file ``target`` (mode 0600), chunk by chunk, hashing the plaintext."""
    cipher = AESGCM(data_key)
    digest = hashlib.sha256()
    size = index = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with source.open("rb") as reading, os.fdopen(fd, "wb") as writing:
        writing.write(_HEADER.pack(MAGIC, chunk_size))
        chunk = reading.read(chunk_size)
        while True:
            following = reading.read(chunk_size) if len(chunk) == chunk_size else b""
            final = not following
            digest.update(chunk)
            size += len(chunk)
            nonce = secrets.token_bytes(_NONCE)
            writing.write(nonce + cipher.encrypt(nonce, chunk, _aad(item_id, index, final)))
            index += 1
            if final:
                break
            chunk = following
        writing.flush()
        os.fsync(writing.fileno())
    return Sealed(size, digest.hexdigest(), index, chunk_size)


def open_sealed(path: Path, data_key: bytes, item_id: str) -> Iterator[bytes]:
    """The plaintext chunks of a sealed file, each authenticated before it is yielded."""
    handle = path.open("rb")
    return _chunks(handle, AESGCM(data_key), item_id)


def _chunks(handle: BinaryIO, cipher: AESGCM, item_id: str) -> Iterator[bytes]:
    with handle:
        header = handle.read(_HEADER.size)
        if len(header) != _HEADER.size or _HEADER.unpack(header)[0] != MAGIC:
            raise ProtectedDataCorrupt(f"protected item {item_id} is not a sealed file", field="itemId")
        chunk_size = int(_HEADER.unpack(header)[1])
        record = chunk_size + _NONCE + _TAG
        current = handle.read(record)
        index = 0
        while True:
            following = handle.read(record) if len(current) == record else b""
            yield _open(cipher, current, item_id, index, not following)
            if not following:
                return
            current, index = following, index + 1


def _open(cipher: AESGCM, record: bytes, item_id: str, index: int, final: bool) -> bytes:
    try:
        return cipher.decrypt(record[:_NONCE], record[_NONCE:], _aad(item_id, index, final))
    except (InvalidTag, ValueError):
        raise ProtectedDataCorrupt(f"chunk {index} of protected item {item_id} failed authentication: the stored "
                                   "ciphertext was changed, truncated or reordered", field="itemId") from None
