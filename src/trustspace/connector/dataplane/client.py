"""Moving a transfer's bytes over HTTP: the consumer's resumable pull and the provider's push.

Pull writes to ``<destination>.part`` and renames it into place only once every byte hashed to the digest
the provider announced (``Repr-Digest``) and, if given, the digest the consumer expected. Beside the partial
file ``<destination>.part.validator`` records the ``ETag`` and digest of the representation being fetched;
a later pull resumes with ``Range`` and ``If-Range`` and refuses to splice bytes of a changed
representation onto old ones. A partial file without a validator (or of unknown origin) is resumed too,
and if the result fails its digest it is fetched once more from zero.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx

from trustspace.connector.dataplane.digest import parse_repr_digest, repr_digest
from trustspace.connector.dataplane.errors import (
    BadDataResponse,
    DownloadCorrupt,
    TransferInterrupted,
    TransferRefused,
)
from trustspace.connector.dataplane.sources import Prepared, PreparedFile, open_prepared
from trustspace.core.errors import ValidationFailed
from trustspace.core.files import fsync_dir

CHUNK_SIZE = 256 * 1024
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
_MAX_PROBLEM_BYTES = 64 * 1024

# No digest to check against: neither announced (Repr-Digest) nor expected.
UNVERIFIED = ""


@dataclass(frozen=True)
class PullResult:
    path: Path
    size: int
    sha256: str
    resumed_from: int = 0
    # False when the provider announced no digest and none was expected: the bytes are as they arrived. A
    # foreign data plane owes us no Repr-Digest (the DSP binds none); ours always sends one.
    verified: bool = True


@dataclass(frozen=True)
class PushResult:
    status: int
    size: int
    sha256: str


@dataclass(frozen=True)
class _Partial:
    """The partial download next to a destination, and what it was a part of."""

    part: Path
    validator: Path

    @classmethod
    def of(cls, destination: Path) -> _Partial:
        return cls(destination.with_name(destination.name + ".part"),
                   destination.with_name(destination.name + ".part.validator"))

    def size(self) -> int:
        return self.part.stat().st_size if self.part.is_file() else 0

    def remembered(self) -> dict[str, str]:
        try:
            value = json.loads(self.validator.read_text())
        except (OSError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    def remember(self, etag: str | None, sha256: str) -> None:
        self.validator.write_text(json.dumps({"etag": etag, "sha256": sha256}))

    def discard(self) -> None:
        self.part.unlink(missing_ok=True)
        self.validator.unlink(missing_ok=True)


class _StartOver(Exception):
    """The server refused the resume range (416): drop the partial file and download from zero."""


def pull(
    url: str,
    token: str,
    destination: Path,
    expected_sha256: str | None = None,
    *,
    client: httpx.Client | None = None,
    attempts: int = 3,
    chunk_size: int = CHUNK_SIZE,
    timeout: float = 30.0,
    unverified_ok: bool = False,
) -> PullResult:
    """Download ``url`` to ``destination``, resuming a partial download, verifying the SHA-256.

    A broken connection is resumed up to ``attempts`` times; if all fail, ``TransferInterrupted`` is raised
    and the partial file stays for the next call.
    """
    if attempts < 1:
        raise ValidationFailed("attempts must be at least 1", field="attempts")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = _Partial.of(destination)
    http = client or httpx.Client(timeout=timeout)
    try:
        for attempt in range(1, attempts + 1):
            resuming = partial.size() > 0
            try:
                return _attempt(http, url, token, destination, partial, expected_sha256, chunk_size, unverified_ok)
            except TransferInterrupted:
                if attempt == attempts:
                    raise
            except DownloadCorrupt:
                # Bytes of unknown origin spoiled a resume; _attempt dropped them, so one more try is clean.
                if not resuming or attempt == attempts:
                    raise
        raise AssertionError("unreachable: the last attempt returns or raises")
    finally:
        if client is None:
            http.close()


def _attempt(
    http: httpx.Client, url: str, token: str, destination: Path, partial: _Partial, expected: str | None,
    chunk_size: int, unverified_ok: bool = False,
) -> PullResult:
    offset = partial.size()
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        etag = partial.remembered().get("etag")
        if etag:
            headers["If-Range"] = etag
    try:
        with http.stream("GET", url, headers=headers) as response:
            if response.status_code == 416 and offset:
                raise _StartOver
            _raise_for_problem(response, (200, 206))
            announced = _announced(response, expected, partial, unverified_ok)
            start, total = _span(response, offset, partial, announced)
            digest = _hash_prefix(partial.part, start)
            size = _receive(response, partial.part, start, digest, chunk_size)
    except _StartOver:
        # The partial file is as long as (or longer than) the whole: nothing is left to resume from.
        partial.discard()
        return _attempt(http, url, token, destination, partial, expected, chunk_size, unverified_ok)
    except httpx.TransportError as exc:
        raise TransferInterrupted(f"the download broke off ({exc.__class__.__name__}); pull again to resume",
                                  hint="the partial file is kept") from exc
    if total is not None and size != total:
        raise TransferInterrupted(f"received {size} of {total} bytes; pull again to resume")
    return _commit(destination, partial, digest.hexdigest(), announced, size, start)


def _announced(response: httpx.Response, expected: str | None, partial: _Partial, unverified_ok: bool) -> str:
    """The SHA-256 the body must hash to; UNVERIFIED if nobody names one and the caller accepts that."""
    try:
        announced = parse_repr_digest(response.headers.get("repr-digest"))
    except ValueError as exc:
        raise BadDataResponse(f"the provider sent a malformed Repr-Digest: {exc}", field="Repr-Digest") from exc
    if announced is None and expected is None and unverified_ok:
        return UNVERIFIED
    if announced is None and expected is None:
        raise BadDataResponse("the provider sent no Repr-Digest and none was expected: the data cannot be verified",
                              field="Repr-Digest", hint="pass expected_sha256 from the contract or catalog")
    if announced is not None and expected is not None and announced != expected:
        partial.discard()
        raise DownloadCorrupt(f"the provider serves SHA-256 {announced}, the contract expects {expected}")
    return announced or str(expected)


def _span(response: httpx.Response, offset: int, partial: _Partial, announced: str) -> tuple[int, int | None]:
    """Where the body starts in the file and how long the file is (None when the server did not say)."""
    etag = response.headers.get("etag")
    if response.status_code == 200:
        partial.remember(etag, announced)
        length = response.headers.get("content-length")
        return 0, int(length) if length and length.isdigit() else None
    match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
    if match is None or int(match.group(1)) != offset:
        raise BadDataResponse(f"the provider answered a resume from byte {offset} with Content-Range "
                              f"{response.headers.get('content-range')!r}")
    remembered = partial.remembered()
    if remembered and (remembered.get("sha256") != announced or (etag and remembered.get("etag") != etag)):
        # The server ignored If-Range; splicing would mix two versions. Start over on the next attempt.
        partial.discard()
        raise TransferInterrupted("the representation changed since the partial download; starting over")
    if not remembered:
        partial.remember(etag, announced)
    return offset, int(match.group(3))


def _hash_prefix(part: Path, start: int) -> hashlib._Hash:
    digest = hashlib.sha256()
    if start:
        with part.open("rb") as handle:
            while chunk := handle.read(CHUNK_SIZE):
                digest.update(chunk)
    return digest


def _receive(response: httpx.Response, part: Path, start: int, digest: hashlib._Hash, chunk_size: int) -> int:
    size = start
    with part.open("ab" if start else "wb") as handle:
        for chunk in response.iter_raw(chunk_size):
            digest.update(chunk)
            handle.write(chunk)
            size += len(chunk)
        handle.flush()
        os.fsync(handle.fileno())
    return size


OWNER_ONLY = 0o600


def _commit(destination: Path, partial: _Partial, actual: str, announced: str, size: int, start: int) -> PullResult:
    if announced != UNVERIFIED and actual != announced:
        partial.discard()
        raise DownloadCorrupt(f"the downloaded bytes hash to {actual}, not the announced {announced}; "
                              "the partial download was removed")
    os.chmod(partial.part, OWNER_ONLY)  # received data is the owner's alone, whatever the umask
    os.replace(partial.part, destination)
    partial.validator.unlink(missing_ok=True)
    fsync_dir(destination.parent)
    return PullResult(destination, size, actual, start, verified=announced != UNVERIFIED)




def _raise_for_problem(response: httpx.Response, accepted: tuple[int, ...]) -> None:
    if response.status_code in accepted:
        return
    body = b""
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > _MAX_PROBLEM_BYTES:
            break
    try:
        document = json.loads(body)
    except ValueError:
        document = {}
    problem = document if isinstance(document, dict) else {}
    detail = str(problem.get("detail") or f"HTTP {response.status_code}")
    raise TransferRefused(f"the data plane answered {response.status_code}: {detail}",
                          remote_status=response.status_code, remote_type=problem.get("type"))


def _file_chunks(handle: BinaryIO, chunk_size: int) -> Generator[bytes, None, None]:
    with handle:
        while chunk := handle.read(chunk_size):
            yield chunk


def push(
    source: Prepared,
    url: str,
    token: str,
    *,
    client: httpx.Client | None = None,
    chunk_size: int = CHUNK_SIZE,
    timeout: float = 30.0,
) -> PushResult:
    """PUT a prepared file to a consumer's inbox as a streamed body, declaring its ``Repr-Digest``."""
    if not isinstance(source, PreparedFile):
        raise ValidationFailed("only files can be pushed; a proxied API has no end to push", field="source")
    headers = {"Authorization": f"Bearer {token}", "Repr-Digest": repr_digest(source.sha256),
               "Content-Type": source.media_type, "Content-Length": str(source.size)}
    http = client or httpx.Client(timeout=timeout)
    try:
        body = _file_chunks(open_prepared(source), chunk_size)
        try:
            with http.stream("PUT", url, content=body, headers=headers) as response:
                _raise_for_problem(response, (200, 201, 204))
                status = response.status_code
        except httpx.TransportError as exc:
            raise TransferInterrupted(f"the push broke off ({exc.__class__.__name__}); push again") from exc
        finally:
            body.close()
    finally:
        if client is None:
            http.close()
    return PushResult(status, source.size, source.sha256)
