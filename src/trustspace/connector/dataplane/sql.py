"""Running a provider's SELECT read-only and writing its rows, batch by batch, as CSV or Parquet.

Rows are streamed (``yield_per``: a server-side cursor on PostgreSQL, incremental ``fetchmany`` on SQLite)
and written one batch at a time, so a result of any size costs one batch of memory. One statement reads
one snapshot on both databases, which is the consistency a transfer needs.

The keyword check (one statement, starting with SELECT or WITH) gives a clear error at registration; the
guarantee that nothing is written comes from the database itself: SQLite is opened ``mode=ro`` with
``query_only``, PostgreSQL runs the query in a READ ONLY transaction (which also refuses data-modifying
CTEs, ``SELECT ... INTO`` and ``FOR UPDATE``).

SQLite sources do not go through ``store.db.make_engine``: that engine is for our own databases and would
switch the provider's file to WAL and take its write lock on every transaction.
"""

from __future__ import annotations

import csv
import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import NullPool

from trustspace.connector.dataplane.errors import InvalidDataAddress
from trustspace.connector.dataplane.values import csv_text
from trustspace.core.errors import ValidationFailed
from trustspace.store.db import make_engine

SqlFormat = Literal["csv", "parquet"]
SQL_FORMATS: dict[str, str] = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}

# Literals (PostgreSQL's E'..' and $tag$..$tag$ too), quoted identifiers and comments are blanked before
# looking for ';' or the first keyword, so neither hides nor fakes a statement boundary.
_NOT_CODE = re.compile(
    r"[Ee]'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*'|\$(\w*)\$.*?\$\1\$|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/",
    re.DOTALL,
)
_FIRST_WORD = re.compile(r"^\s*\(*\s*([A-Za-z]+)")
_READ_KEYWORDS = {"select", "with"}


def check_select(query: str) -> None:
    """Refuse anything but one SELECT (or WITH ... SELECT) statement, naming the ``query`` field."""
    code = _NOT_CODE.sub(" ", query).strip()
    if code.endswith(";"):
        code = code[:-1]
    if ";" in code:
        raise InvalidDataAddress("query must be a single statement", field="query",
                                 hint="remove the ';' between statements")
    match = _FIRST_WORD.match(code)
    if match is None or match.group(1).lower() not in _READ_KEYWORDS:
        found = match.group(1).upper() if match else "nothing"
        raise InvalidDataAddress(f"only SELECT queries can be served, this one starts with {found}",
                                 field="query")


def read_only_engine(url: str) -> Engine:
    """An engine that cannot write: SQLite opened read-only, PostgreSQL through ``make_engine``."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InvalidDataAddress("url is not a database URL", field="url") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_read_only(parsed)
    if backend == "postgresql":
        try:
            return make_engine(url)
        except ValidationFailed as exc:
            raise InvalidDataAddress(exc.detail, field="url", hint=exc.hint) from exc
    raise InvalidDataAddress(f"databases of type {backend!r} are not supported", field="url",
                             hint="use sqlite:////absolute/path.db or postgresql://user@host/db")


# Functions that reach outside the database (files, shared libraries) if a build or an extension provides them.
SQLITE_DENIED_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer",
                                     "zipfile", "sqlar_uncompress", "sqlar_compress"})


def _deny_dangerous_functions(action: int, first: str | None, second: str | None, database: str | None,
                              trigger: str | None) -> int:
    if action == sqlite3.SQLITE_FUNCTION and (second or "").lower() in SQLITE_DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def sqlite_path(url: str) -> Path | None:
    """The file a SQLite URL names, None for another database."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    return Path(parsed.database or "") if parsed.get_backend_name() == "sqlite" else None


def _sqlite_read_only(url: URL) -> Engine:
    database = url.database or ""
    path = Path(database)
    if database in ("", ":memory:") or not path.is_absolute():
        raise InvalidDataAddress("url must name a SQLite file by absolute path", field="url",
                                 hint="sqlite:////absolute/path.db (four slashes)")
    if not path.is_file():
        raise InvalidDataAddress(f"no SQLite database at {path}", field="url")
    uri = path.as_uri() + "?mode=ro"

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
        connection.execute("PRAGMA query_only=ON")
        connection.set_authorizer(_deny_dangerous_functions)
        return connection

    return create_engine("sqlite://", creator=connect, poolclass=NullPool)


@contextmanager
def _batches(engine: Engine, query: str, batch_rows: int) -> Iterator[tuple[list[str], Iterator[Sequence[Any]]]]:
    with engine.connect() as connection:
        options: dict[str, Any] = {"yield_per": batch_rows}
        if connection.dialect.name == "postgresql":
            options["postgresql_readonly"] = True
        # exec_driver_sql: the provider's SQL goes to the driver verbatim (text() would read ':x' as a bind).
        result = connection.execution_options(**options).exec_driver_sql(query)
        yield list(result.keys()), (list(part) for part in result.partitions(batch_rows))


# Functions of PostgreSQL that read or list the server's files, run programs or reach other servers (COPY ...
# PROGRAM is no SELECT: check_select refuses it). A provider should serve through a least-privileged role
# (docs/data-sources.md); this list refuses the obvious even then.
POSTGRES_DENIED_FUNCTIONS = ("pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "lo_import",
                             "lo_export", "dblink", "pg_execute_server_program")
_DENIED = re.compile(r"\b(" + "|".join(POSTGRES_DENIED_FUNCTIONS) + r")\b", re.IGNORECASE)


def check_functions(query: str) -> None:
    """Refuse a query calling a function that reaches outside the database (string literals don't count)."""
    match = _DENIED.search(_NOT_CODE.sub(" ", query))
    if match is not None:
        raise InvalidDataAddress(f"query calls {match.group(1)}, which reaches outside the database",
                                 field="query", hint="serve data from tables and views only")


def dry_run(engine: Engine, query: str) -> list[str]:
    """Run the query for no rows, read-only: it fails now, when the asset is added, not at transfer time. Its
    column names come back. The owner sees the database's own error; a consumer never does."""
    # The owner's own SELECT (already checked to be one statement), as it will run at transfer time.
    wrapped = f"SELECT * FROM ({query.strip().rstrip(';')}) AS trustspace_dry_run LIMIT 0"  # noqa: S608
    with _batches(engine, wrapped, 1) as (names, _):
        return names


def superuser_warnings(engine: Engine) -> list[str]:
    """What a PostgreSQL role can do beyond reading its tables: a loud warning each, empty when least-privileged."""
    if engine.dialect.name != "postgresql":
        return []
    checks = {"is a superuser": "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
              "can read server files": "SELECT pg_has_role(current_user, 'pg_read_server_files', 'MEMBER')",
              "can run server programs": "SELECT pg_has_role(current_user, 'pg_execute_server_program', 'MEMBER')"}
    found = []
    with engine.connect() as connection:
        for what, sql in checks.items():
            if connection.exec_driver_sql(sql).scalar():
                found.append(f"the database role of this source {what}: serve through a least-privileged "
                             "role that can only SELECT the tables offered (docs/data-sources.md)")
    return found


def materialise(engine: Engine, query: str, fmt: SqlFormat, target: Path, batch_rows: int) -> None:
    """Run ``query`` and write all its rows to ``target`` as ``fmt``."""
    with _batches(engine, query, batch_rows) as (names, batches):
        if fmt == "csv":
            _write_csv(names, batches, target)
        else:
            # pyarrow costs ~30 MB and 20 ms to import: only connectors that serve Parquet pay for it.
            from trustspace.connector.dataplane.parquet import write_parquet

            write_parquet(names, batches, target)


def _write_csv(names: list[str], batches: Iterator[Sequence[Any]], target: Path) -> None:
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for batch in batches:
            writer.writerows([csv_text(value) for value in row] for row in batch)


