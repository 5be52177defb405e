"""What a provider can serve, built from the plain-dict data address stored with an asset.

Three kinds::

    {"type": "file", "path": "/abs/path.csv", "mediaType": "text/csv"}            # mediaType optional
    {"type": "sql", "url": "sqlite:///abs/db.sqlite" | "postgresql://user@host/db",
     "query": "SELECT ...", "format": "csv" | "parquet"}
    {"type": "http", "baseUrl": "https://api.example/v1", "headers": {"X-Api-Key": "..."}}  # headers optional

``prepare(transfer_id)`` turns a source into what the data plane serves: a ``PreparedFile`` (path, size,
media type, SHA-256) or a ``ProxyTarget``. A SQL source is materialised once per transfer into a spool file,
so every request of that transfer, including a resumed Range request, sees the same snapshot and the digest
the consumer verifies is stable. A proxied HTTP API has no digest: its answers are not one finite
representation, so integrity there rests on TLS to the upstream and on the token in front of it.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re
import secrets
import stat
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

import httpx
from sqlalchemy.exc import SQLAlchemyError

from trustspace.connector.dataplane.digest import DEFAULT_CACHE, DigestCache, FileVersion
from trustspace.connector.dataplane.errors import InvalidDataAddress, SourceChanged, SourceUnavailable
from trustspace.connector.dataplane.sql import (
    SQL_FORMATS,
    SqlFormat,
    check_functions,
    check_select,
    dry_run,
    materialise,
    read_only_engine,
    sqlite_path,
    superuser_warnings,
)
from trustspace.core.errors import ValidationFailed

OCTET_STREAM = "application/octet-stream"
# The folder inside a connector's data folder that holds what its owner puts there to serve: the default root.
SERVED_FOLDER = "data"
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# Hop-by-hop and routing headers belong to each connection, never to a stored address.
_RESERVED_HEADERS = {"host", "connection", "content-length", "transfer-encoding", "te", "upgrade", "keep-alive"}


@dataclass(frozen=True)
class PreparedFile:
    """A file ready to serve. ``version`` lets the server notice the file changed under the transfer."""

    path: Path
    size: int
    media_type: str
    sha256: str
    version: FileVersion
    spooled: bool = False


@dataclass(frozen=True)
class ProxyTarget:
    """An upstream API; ``headers`` (often credentials) are added to every forwarded request."""

    base_url: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)


Prepared = PreparedFile | ProxyTarget


class Source(Protocol):
    @property
    def kind(self) -> str: ...

    def prepare(self, transfer_id: str) -> Prepared: ...


def prepare_file(
    path: Path, media_type: str, cache: DigestCache = DEFAULT_CACHE, *, spooled: bool = False
) -> PreparedFile:
    """Size and SHA-256 of a regular file, the digest taken from ``cache`` when this version was seen."""
    before = _regular_file_version(path)
    digest = cache.digest(path, before)
    if _regular_file_version(path) != before:
        raise SourceChanged(f"{path.name} changed while its digest was computed", hint="retry once it is written")
    return PreparedFile(path, before.size, media_type, digest, before, spooled)


def transfer_file_name(transfer_id: str) -> str:
    """A file name for a transfer's data. Transfer ids are URNs or UUIDs chosen by peers; hashing keeps
    any of them a safe, fixed-length name."""
    return hashlib.sha256(transfer_id.encode()).hexdigest()[:32]


def release(prepared: Prepared) -> None:
    """Free what a finished transfer held: its spool file. Open downloads keep reading (POSIX unlink)."""
    if isinstance(prepared, PreparedFile) and prepared.spooled:
        prepared.path.unlink(missing_ok=True)


def open_prepared(prepared: PreparedFile) -> BinaryIO:
    """Open a prepared file for reading, refusing it if it is no longer the version that was digested."""
    try:
        handle = prepared.path.open("rb")
    except OSError as exc:
        raise SourceUnavailable(f"the prepared file cannot be read: {exc.strerror}") from exc
    # fstat on the open handle: what gets read is exactly the version compared here.
    if FileVersion.of(os.fstat(handle.fileno())) != prepared.version:
        handle.close()
        raise SourceChanged("the file changed after the transfer started; its digest no longer holds",
                            hint="the provider must restart the transfer")
    return handle


def _regular_file_version(path: Path) -> FileVersion:
    try:
        info = path.stat()
    except OSError as exc:
        raise SourceUnavailable(f"cannot read {path.name}: {exc.strerror}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise SourceUnavailable(f"{path.name} is not a regular file")
    return FileVersion.of(info)


@dataclass(frozen=True)
class DataRoots:
    """Where file sources may live: under one of ``roots``, never in ``private`` (the connector's own folder:
    its keystore, database, API keys, spool, inbox and received data) except its ``data/`` subfolder, the
    default root. Paths are judged after every symlink and ``..`` is resolved, so neither a link nor a
    relative step leads out of a root."""

    roots: tuple[Path, ...]
    private: Path | None = None

    @classmethod
    def of_connector(cls, data_dir: Path, configured: tuple[Path, ...] = ()) -> DataRoots:
        return cls(configured or (data_dir / SERVED_FOLDER,), data_dir)

    def _is_private(self, real: Path) -> bool:
        if self.private is None:
            return False
        private = self.private.resolve()
        return real.is_relative_to(private) and not real.is_relative_to(private / SERVED_FOLDER)

    def refuse_private(self, path: Path, field: str) -> None:
        """A database file of the connector's own (its keys' settings, API key hashes) is never a source."""
        try:
            real = path.resolve()
        except (OSError, RuntimeError):
            return  # unreadable paths are refused by the source itself, naming the field
        if self._is_private(real):
            raise InvalidDataAddress("url names a database in the connector's own data folder, which is never "
                                     "served", field=field, hint="serve a copy under a data root")

    def check(self, path: Path) -> Path:
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            raise InvalidDataAddress(f"path cannot be read: {getattr(exc, 'strerror', None) or exc}",
                                     field="path") from exc
        if self._is_private(real):
            raise InvalidDataAddress("path lies in the connector's own data folder, whose files are never served",
                                     field="path", hint="copy the file to serve into a data root")
        if not any(real.is_relative_to(root.resolve()) for root in self.roots):
            shown = ", ".join(str(root) for root in self.roots) or "none configured"
            raise InvalidDataAddress(f"path is outside the data roots ({shown})", field="path",
                                     hint="put the file under a data root, or add its folder to "
                                          "TRUSTSPACE_DATA_ROOTS (see docs/data-sources.md)")
        return real


class FileSource:
    kind = "file"

    def __init__(self, path: Path, media_type: str | None = None, cache: DigestCache = DEFAULT_CACHE,
                 roots: DataRoots | None = None) -> None:
        if not path.is_absolute():
            raise InvalidDataAddress("path must be absolute", field="path")
        self._roots = roots
        if roots is not None:
            roots.check(path)
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            raise InvalidDataAddress(f"path cannot be read: {exc.strerror}", field="path") from exc
        # Devices, FIFOs and directories have no fixed size or digest (and /dev/zero never ends).
        if not stat.S_ISREG(mode):
            raise InvalidDataAddress("path must name a regular file", field="path")
        self.path = path
        self.media_type = media_type or mimetypes.guess_type(path.name)[0] or OCTET_STREAM
        self._cache = cache

    def prepare(self, transfer_id: str) -> PreparedFile:
        # Judged again when served: the file may have been replaced by a link since the asset was added.
        path = self._roots.check(self.path) if self._roots is not None else self.path
        return prepare_file(path, self.media_type, self._cache)


# Striped: a fixed set of locks, so the table does not grow with every transfer ever served.
_SPOOL_LOCKS = tuple(threading.Lock() for _ in range(64))


@contextmanager
def _spool_lock(path: Path) -> Iterator[None]:
    # Two requests preparing one transfer at once must not run the query twice: the second snapshot
    # could differ from the one the first request already announced.
    with _SPOOL_LOCKS[hash(path) % len(_SPOOL_LOCKS)]:
        yield


class SqlSource:
    kind = "sql"

    def __init__(
        self, url: str, query: str, fmt: SqlFormat, spool_dir: Path, *, batch_rows: int = 5000,
        cache: DigestCache = DEFAULT_CACHE, roots: DataRoots | None = None,
    ) -> None:
        if fmt not in SQL_FORMATS:
            raise InvalidDataAddress(f"format must be one of {sorted(SQL_FORMATS)}, got {fmt!r}", field="format")
        if batch_rows < 1:
            raise ValidationFailed("batch_rows must be at least 1", field="batch_rows")
        check_select(query)
        check_functions(query)
        database = sqlite_path(url)
        if roots is not None and database is not None:
            roots.refuse_private(database, "url")
        read_only_engine(url).dispose()  # validates the URL now, when the asset is registered
        self.url, self.query, self.format, self.spool_dir = url, query, fmt, spool_dir
        self.batch_rows = batch_rows
        self._cache = cache

    def check(self) -> list[str]:
        """Dry-run the query (no rows) and say what the role may do beyond reading: the warnings to show."""
        engine = read_only_engine(self.url)
        try:
            dry_run(engine, self.query)
            return superuser_warnings(engine)
        except SQLAlchemyError as exc:
            raise InvalidDataAddress(f"the query fails: {_first_line(exc)}", field="query") from exc
        finally:
            engine.dispose()

    def spool_path(self, transfer_id: str) -> Path:
        return self.spool_dir / f"{transfer_file_name(transfer_id)}.{self.format}"

    def prepare(self, transfer_id: str) -> PreparedFile:
        target = self.spool_path(transfer_id)
        media_type = SQL_FORMATS[self.format]
        with _spool_lock(target):
            if not target.is_file():
                self._materialise(target)
            return prepare_file(target, media_type, self._cache, spooled=True)

    def _materialise(self, target: Path) -> None:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{target.name}.{secrets.token_hex(4)}.tmp")
        engine = read_only_engine(self.url)
        try:
            materialise(engine, self.query, self.format, partial, self.batch_rows)
            _fsync(partial)
            os.replace(partial, target)
        except SQLAlchemyError as exc:
            raise SourceUnavailable(f"the query failed: {exc.__class__.__name__}: {_first_line(exc)}",
                                    field="query") from exc
        except OSError as exc:
            raise SourceUnavailable(f"the spool file could not be written: {exc.strerror}") from exc
        finally:
            engine.dispose()
            partial.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _first_line(exc: SQLAlchemyError) -> str:
    # The driver's own message, without SQLAlchemy's appended SQL text and documentation link.
    return (str(getattr(exc, "orig", None) or exc).splitlines() or [""])[0]


class HttpSource:
    kind = "http"

    def __init__(self, base_url: str, headers: Mapping[str, str] | None = None) -> None:
        self.base_url = _check_base_url(base_url)
        self.headers = _check_headers(headers or {})

    def prepare(self, transfer_id: str) -> ProxyTarget:
        return ProxyTarget(self.base_url, dict(self.headers))

    def __repr__(self) -> str:
        # The headers usually carry the upstream's credentials.
        return f"HttpSource({self.base_url!r}, headers=<{len(self.headers)} hidden>)"


def _check_base_url(value: str) -> str:
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError) as exc:
        raise InvalidDataAddress(f"baseUrl is not a URL: {exc}", field="baseUrl") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidDataAddress("baseUrl must be an absolute http(s) URL", field="baseUrl")
    if url.query or url.fragment:
        raise InvalidDataAddress("baseUrl must not have a query or fragment; the consumer's query is forwarded",
                                 field="baseUrl")
    return str(url).rstrip("/")


def _check_headers(headers: Mapping[str, Any]) -> dict[str, str]:
    checked: dict[str, str] = {}
    for name, value in headers.items():
        where = f"headers.{name}"
        if not isinstance(name, str) or not _HEADER_NAME.match(name) or name.lower() in _RESERVED_HEADERS:
            raise InvalidDataAddress(f"{name!r} is not a header that may be set", field=where)
        if not isinstance(value, str) or "\r" in value or "\n" in value:
            raise InvalidDataAddress("header values must be single-line strings", field=where)
        checked[name] = value
    return checked


_FIELDS: dict[str, set[str]] = {
    "file": {"type", "path", "mediaType"},
    "sql": {"type", "url", "query", "format"},
    "http": {"type", "baseUrl", "headers"},
}


def open_source(address: Mapping[str, Any], spool_dir: Path, *, cache: DigestCache = DEFAULT_CACHE,
                roots: DataRoots | None = None) -> Source:
    """Build the source a data address describes; errors name the offending field. With ``roots``, a file
    source must lie under one of them (every connector passes its own)."""
    kind = address.get("type")
    if kind not in _FIELDS:
        raise InvalidDataAddress(f"type must be one of {sorted(_FIELDS)}, got {kind!r}", field="type")
    unknown = sorted(set(address) - _FIELDS[kind])
    if unknown:
        raise InvalidDataAddress(f"unknown field {unknown[0]!r} in a {kind} address", field=unknown[0])
    if kind == "file":
        media_type = _text(address, "mediaType", required=False)
        return FileSource(Path(_text(address, "path")), media_type or None, cache, roots)
    if kind == "sql":
        fmt = cast(SqlFormat, _text(address, "format"))  # SqlSource refuses other values, naming "format"
        return SqlSource(_text(address, "url"), _text(address, "query"), fmt, spool_dir, cache=cache, roots=roots)
    headers = address.get("headers", {})
    if not isinstance(headers, Mapping):
        raise InvalidDataAddress("headers must be an object of header names to values", field="headers")
    return HttpSource(_text(address, "baseUrl"), headers)


def _text(address: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    value = address.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise InvalidDataAddress(f"{name} must be a non-empty string", field=name)
    return value

