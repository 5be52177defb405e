"""The consumer's push inbox: a provider PUTs a transfer's bytes, we keep them only if they match their digest.

The body is streamed to a hidden temporary file in the inbox folder while being hashed, then fsynced and
renamed over the destination. A crash, a dropped connection, an oversized body or a digest mismatch leaves
the destination untouched (the previous complete push, or nothing) and removes the temporary file, so a
file in the inbox under its final name is always complete and verified.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from anyio import to_thread

from trustspace.connector.dataplane.digest import parse_repr_digest
from trustspace.connector.dataplane.errors import DigestMismatch, InboxTooLarge
from trustspace.connector.dataplane.gate import InboxGate
from trustspace.connector.dataplane.sources import transfer_file_name
from trustspace.core.errors import ValidationFailed
from trustspace.core.files import fsync_dir
from trustspace.core.keys import VerifyingKey

WRITE_CHUNK = 256 * 1024


@dataclass(frozen=True)
class Inbox:
    """Where pushed data lands. ``key`` is the consumer's own public key: it signed the push tokens."""

    directory: Path
    key: VerifyingKey
    gate: InboxGate
    max_bytes: int | None = None
    # Called with (transfer id, file) once a push is complete and verified: the protected store takes it.
    land: Callable[[str, Path], None] | None = None

    def path_for(self, transfer_id: str) -> Path:
        return self.directory / transfer_file_name(transfer_id)


@dataclass(frozen=True)
class Received:
    path: Path
    size: int
    sha256: str
    replaced: bool


def declared_digest(header: str | None) -> str:
    """The hex SHA-256 a pusher declared in ``Repr-Digest``; required, because it is what we check against."""
    try:
        value = parse_repr_digest(header)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="Repr-Digest") from exc
    if value is None:
        raise ValidationFailed("a push must declare the body's SHA-256", field="Repr-Digest",
                               hint="send Repr-Digest: sha-256=:<base64 of the SHA-256>:")
    return value


async def receive(inbox: Inbox, transfer_id: str, body: AsyncIterator[bytes], expected_sha256: str) -> Received:
    """Stream ``body`` into the inbox; keep it under its final name only if it hashes to ``expected_sha256``."""
    target = inbox.path_for(transfer_id)
    await to_thread.run_sync(lambda: inbox.directory.mkdir(parents=True, exist_ok=True))
    partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
    handle = await to_thread.run_sync(partial.open, "xb")
    try:
        size, actual = await _copy(body, handle, inbox.max_bytes)
        await to_thread.run_sync(_flush, handle)
        handle.close()
        if actual != expected_sha256:
            raise DigestMismatch(f"the body's SHA-256 is {actual}, but Repr-Digest declared {expected_sha256}; "
                                 "nothing was kept", field="Repr-Digest")
        replaced = await to_thread.run_sync(_commit, partial, target)
    finally:
        handle.close()
        partial.unlink(missing_ok=True)
    return Received(target, size, actual, replaced)


async def _copy(body: AsyncIterator[bytes], handle: BinaryIO, max_bytes: int | None) -> tuple[int, str]:
    digest = hashlib.sha256()
    pending = bytearray()
    size = 0
    async for chunk in body:
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            raise InboxTooLarge(f"the body exceeds the inbox limit of {max_bytes} bytes", field="body")
        pending += chunk
        # ASGI servers hand over small pieces; writing (and hashing, which frees the GIL) in bigger
        # slices keeps the thread hops few without holding more than one slice.
        if len(pending) >= WRITE_CHUNK:
            await to_thread.run_sync(_write, handle, digest, bytes(pending))
            pending.clear()
    await to_thread.run_sync(_write, handle, digest, bytes(pending))
    return size, digest.hexdigest()


def _write(handle: BinaryIO, digest: hashlib._Hash, data: bytes) -> None:
    digest.update(data)
    handle.write(data)


def _flush(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def _commit(partial: Path, target: Path) -> bool:
    replaced = target.exists()
    os.chmod(partial, 0o600)  # received data is the owner's alone, whatever the umask
    os.replace(partial, target)
    fsync_dir(target.parent)  # the rename is durable only once the directory entry is on disk too
    return replaced
