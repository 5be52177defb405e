"""Sources built from data addresses: validation naming the field, file digests and their cache, SQL
queries materialised read-only as CSV and Parquet on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import text

from trustspace.connector.dataplane import digest as digest_module
from trustspace.connector.dataplane.digest import DigestCache
from trustspace.connector.dataplane.errors import InvalidDataAddress, SourceUnavailable
from trustspace.connector.dataplane.gate import InMemoryGate
from trustspace.connector.dataplane.sources import (
    FileSource,
    HttpSource,
    PreparedFile,
    ProxyTarget,
    SqlSource,
    open_source,
)
from trustspace.store.db import make_engine

ROWS = 4321


def expected_rows(count: int = ROWS) -> list[tuple[Any, ...]]:
    return [(i, f"name-{i}", i * 1.5, None if i % 7 else f"note {i}, \"quoted\"") for i in range(count)]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    path = tmp_path / "source.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE sales (id INTEGER PRIMARY KEY, name TEXT, amount REAL, note TEXT)")
        db.executemany("INSERT INTO sales VALUES (?, ?, ?, ?)", expected_rows())
    return f"sqlite:///{path}"


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def as_csv(rows: list[tuple[Any, ...]]) -> list[list[str]]:
    return [["id", "name", "amount", "note"]] + [[str(i), n, str(a), "" if t is None else t] for i, n, a, t in rows]


# --- addresses ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("address", "field"), [
    ({"type": "ftp"}, "type"),
    ({}, "type"),
    ({"type": "file", "path": "/x", "paht": "/y"}, "paht"),
    ({"type": "file"}, "path"),
    ({"type": "file", "path": "relative.csv"}, "path"),
    ({"type": "file", "path": "/does/not/exist"}, "path"),
    ({"type": "file", "path": "/dev/null"}, "path"),
    ({"type": "file", "path": "/tmp"}, "path"),
    ({"type": "sql", "url": "sqlite:////nowhere.db", "query": "SELECT 1", "format": "csv"}, "url"),
    ({"type": "sql", "url": "sqlite://", "query": "SELECT 1", "format": "csv"}, "url"),
    ({"type": "sql", "url": "mysql://h/db", "query": "SELECT 1", "format": "csv"}, "url"),
    ({"type": "sql", "url": "not a url", "query": "SELECT 1", "format": "csv"}, "url"),
    ({"type": "sql", "url": "sqlite:////x.db", "query": "SELECT 1", "format": "xlsx"}, "format"),
    ({"type": "http", "baseUrl": "ftp://host/x"}, "baseUrl"),
    ({"type": "http", "baseUrl": "/relative"}, "baseUrl"),
    ({"type": "http", "baseUrl": "https://host/x?key=1"}, "baseUrl"),
    ({"type": "http", "baseUrl": "https://host/x", "headers": ["X-A"]}, "headers"),
    ({"type": "http", "baseUrl": "https://host/x", "headers": {"Host": "evil"}}, "headers.Host"),
    ({"type": "http", "baseUrl": "https://host/x", "headers": {"X-A": "a\r\nB: c"}}, "headers.X-A"),
])
def test_invalid_addresses_name_the_field(tmp_path: Path, address: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidDataAddress) as caught:
        open_source(address, tmp_path)
    assert caught.value.field == field and caught.value.status == 422


@pytest.mark.parametrize("query", [
    "DELETE FROM sales", "INSERT INTO sales VALUES (1, 'a', 1, NULL)", "UPDATE sales SET amount = 0",
    "DROP TABLE sales", "PRAGMA journal_mode=DELETE", "ATTACH DATABASE '/tmp/x.db' AS x",
    "SELECT 1; DROP TABLE sales", "/* SELECT */ DELETE FROM sales", "-- SELECT\nDELETE FROM sales", "",
    "SELECT $$ ' $$; DELETE FROM sales; --'", "SELECT E'\\'' ; DELETE FROM sales; --'",
])
def test_only_select_queries(sqlite_url: str, tmp_path: Path, query: str) -> None:
    with pytest.raises(InvalidDataAddress) as caught:
        open_source({"type": "sql", "url": sqlite_url, "query": query, "format": "csv"}, tmp_path)
    assert caught.value.field == "query"


def test_select_with_semicolons_in_literals_and_a_trailing_one(sqlite_url: str, tmp_path: Path) -> None:
    query = "SELECT name FROM sales WHERE name <> 'a;b' AND note IS NOT ':x;' ORDER BY id LIMIT 2;"
    source = open_source({"type": "sql", "url": sqlite_url, "query": query, "format": "csv"}, tmp_path)
    prepared = source.prepare("t1")
    assert isinstance(prepared, PreparedFile)
    assert read_csv(prepared.path) == [["name"], ["name-0"], ["name-1"]]


def test_writing_cte_is_stopped_by_the_read_only_connection(sqlite_url: str, tmp_path: Path) -> None:
    source = SqlSource(sqlite_url, "WITH gone AS (SELECT 1) DELETE FROM sales", "csv", tmp_path / "spool")
    with pytest.raises(SourceUnavailable):
        source.prepare("t1")
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as db:
        assert db.execute("SELECT count(*) FROM sales").fetchone() == (ROWS,)
    assert list((tmp_path / "spool").iterdir()) == []


# --- files -------------------------------------------------------------------------------------------------


def test_file_prepared_with_size_type_and_digest(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b"a,b\n1,2\n")
    prepared = open_source({"type": "file", "path": str(path)}, tmp_path).prepare("t1")
    assert isinstance(prepared, PreparedFile)
    assert (prepared.path, prepared.size, prepared.media_type) == (path, 8, "text/csv")
    assert prepared.sha256 == hashlib.sha256(b"a,b\n1,2\n").hexdigest() and not prepared.spooled
    typed = open_source({"type": "file", "path": str(path), "mediaType": "application/x-custom"}, tmp_path)
    assert typed.prepare("t1") == PreparedFile(path, 8, "application/x-custom", prepared.sha256, prepared.version)


def test_digest_is_computed_once_per_file_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hashed: list[Path] = []
    real = digest_module.sha256_file

    def counting(path: Path, chunk_size: int = 1 << 20) -> str:
        hashed.append(path)
        return real(path, chunk_size)

    monkeypatch.setattr(digest_module, "sha256_file", counting)
    path = tmp_path / "blob.bin"
    path.write_bytes(b"one")
    source = FileSource(path, cache=DigestCache())
    first = source.prepare("t1")
    assert source.prepare("t2").sha256 == first.sha256 and len(hashed) == 1
    path.write_bytes(b"two!")
    assert source.prepare("t1").sha256 == hashlib.sha256(b"two!").hexdigest() and len(hashed) == 2


def test_http_source_keeps_its_headers_out_of_reprs() -> None:
    source = HttpSource("https://api.example/v1/", {"X-Api-Key": "s3cret"})
    target = source.prepare("t1")
    assert target == ProxyTarget("https://api.example/v1", {"X-Api-Key": "s3cret"})
    assert "s3cret" not in repr(source) and "s3cret" not in repr(target)


# --- SQL on SQLite -----------------------------------------------------------------------------------------


def test_sqlite_query_as_csv(sqlite_url: str, tmp_path: Path) -> None:
    source = SqlSource(sqlite_url, "SELECT id, name, amount, note FROM sales ORDER BY id", "csv", tmp_path,
                       batch_rows=500)
    prepared = source.prepare("t1")
    assert prepared.media_type == "text/csv" and prepared.spooled
    assert read_csv(prepared.path) == as_csv(expected_rows())
    assert prepared.sha256 == hashlib.sha256(prepared.path.read_bytes()).hexdigest()


def test_sqlite_query_as_parquet_in_batches(sqlite_url: str, tmp_path: Path) -> None:
    address = {"type": "sql", "url": sqlite_url, "query": "SELECT * FROM sales ORDER BY id", "format": "parquet"}
    source = open_source(address, tmp_path)
    assert isinstance(source, SqlSource)
    source.batch_rows = 1000
    prepared = source.prepare("t1")
    assert prepared.media_type == "application/vnd.apache.parquet"
    parquet = pq.ParquetFile(prepared.path)
    assert parquet.metadata.num_row_groups == 5  # one per batch: rows were never all in memory at once
    table = parquet.read()
    assert table.column_names == ["id", "name", "amount", "note"]
    assert [tuple(row.values()) for row in table.to_pylist()] == expected_rows()


def test_column_null_in_the_first_batch_becomes_text(tmp_path: Path) -> None:
    path = tmp_path / "late.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (id INTEGER, late INTEGER)")
        db.executemany("INSERT INTO t VALUES (?, ?)", [(i, None if i < 10 else i) for i in range(20)])
    source = SqlSource(f"sqlite:///{path}", "SELECT * FROM t ORDER BY id", "parquet", tmp_path, batch_rows=10)
    column = pq.read_table(source.prepare("t1").path).column("late").to_pylist()
    assert column == [None] * 10 + [str(i) for i in range(10, 20)]


def test_snapshot_is_taken_once_per_transfer(sqlite_url: str, tmp_path: Path) -> None:
    source = SqlSource(sqlite_url, "SELECT id FROM sales", "csv", tmp_path / "spool")
    first = source.prepare("t1")
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as db:
        db.execute("INSERT INTO sales (id, name) VALUES (99999, 'late')")
    assert source.prepare("t1") == first
    assert source.prepare("t2").size > first.size


def test_finished_transfer_releases_its_spool(sqlite_url: str, tmp_path: Path) -> None:
    gate = InMemoryGate()
    gate.start("t1", "a1", SqlSource(sqlite_url, "SELECT id FROM sales", "csv", tmp_path / "spool"))
    prepared = gate.check("t1", "a1")
    assert isinstance(prepared, PreparedFile) and prepared.path.is_file()
    gate.complete("t1")
    assert not prepared.path.exists()


# --- SQL on PostgreSQL -------------------------------------------------------------------------------------


@pytest.fixture
def postgres_sales(postgres_url: str) -> Iterator[str]:
    engine = make_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS sales"))
        connection.execute(text("CREATE TABLE sales (id INTEGER PRIMARY KEY, name TEXT, amount DOUBLE PRECISION,"
                                " note TEXT)"))
        connection.execute(text("INSERT INTO sales VALUES (:i, :n, :a, :t)"),
                           [{"i": i, "n": n, "a": a, "t": t} for i, n, a, t in expected_rows()])
    try:
        yield postgres_url
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_postgresql_query(postgres_sales: str, tmp_path: Path, fmt: str) -> None:
    address = {"type": "sql", "url": postgres_sales, "query": "SELECT * FROM sales ORDER BY id", "format": fmt}
    prepared = open_source(address, tmp_path).prepare("t1")
    assert isinstance(prepared, PreparedFile)
    if fmt == "csv":
        assert read_csv(prepared.path) == as_csv(expected_rows())
    else:
        rows = [tuple(row.values()) for row in pq.read_table(prepared.path).to_pylist()]
        assert rows == expected_rows()


@pytest.mark.postgres
@pytest.mark.parametrize(("query", "reason"), [
    ("WITH gone AS (DELETE FROM sales RETURNING id) SELECT * FROM gone", "data-modifying"),
    ("SELECT nextval('sales_seq')", "read-only transaction"),
    ("SELECT * FROM sales FOR UPDATE", "read-only transaction"),
])
def test_postgresql_runs_queries_read_only(postgres_sales: str, tmp_path: Path, query: str, reason: str) -> None:
    engine = make_engine(postgres_sales)
    with engine.begin() as connection:
        connection.execute(text("CREATE SEQUENCE IF NOT EXISTS sales_seq"))
    with pytest.raises(SourceUnavailable) as caught:
        SqlSource(postgres_sales, query, "csv", tmp_path).prepare("t1")
    assert reason in caught.value.detail and caught.value.field == "query"
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM sales")).scalar() == ROWS
        assert connection.execute(text("SELECT is_called FROM sales_seq")).scalar() is False
    engine.dispose()


def test_a_connector_that_serves_no_parquet_never_imports_pyarrow() -> None:
    import subprocess
    import sys

    probe = "import sys, trustspace.connector.app; print('pyarrow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip() \
        == "False"
