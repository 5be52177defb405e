"""Entries per second the ledger sequences durably with 10^6 entries already in the log, on SQLite then on
PostgreSQL, against batched durable inserts of the same rows into a bare table measured in the same run
(issue: ledger_append; target >= 20,000 entries/s on SQLite. Published anchor: Tessera, Trillian's successor,
reports about 10,000 entries/s on NVMe).

What is timed is integration, the sequencer's whole job: ``Sequencer.drain()`` on BENCH_APPEND (100,000)
pending statements, in batches of the operator's default size (``DEFAULT_BATCH_SIZE``, 20,000; BENCH_BATCH
overrides it, for the ledger and the baseline alike). Each batch is one committed transaction (SQLite: WAL,
``synchronous=FULL``, as ``open_database`` configures it; PostgreSQL: its defaults, ``fsync`` and
``synchronous_commit`` on) that copies the pending rows into the log at the next indices, stores the tree
nodes they complete, deletes the pending rows and stores a signed checkpoint. When it returns, every entry is
durable, has its index and is covered by a signed tree head.

Not timed: making the statements (real, signed, see ``_ledger_fill``) and queueing them as pending rows (one
bulk INSERT per chunk, not ``LedgerService.submit``'s signature check and one transaction per submission), and
the fill of the log to BENCH_LOG_SIZE (1,000,000) entries, through the same pending rows and sequencer.
The PostgreSQL log is filled with the very statements of the SQLite log, read back from it. Before each
timed part, ``os.sync()`` flushes what the untimed work left in the page cache, so the batches do not pay
for the fill's write-back.

Baseline: the same rows (index, leaf hash, entry JSON, the searched columns and timestamps) inserted with
``executemany`` into a bare table (integer primary key, no other index), one committed transaction per batch
of the same size, on the same database kind with the same settings (raw ``sqlite3`` and the ``open_database``
pragmas; psycopg for PostgreSQL). Appending to a rowid table costs the same whatever its size, so the bare
table starts empty. ratio = ledger entries/s / bare rows/s.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from _ledger_fill import BATCH, LOG_SIZE, Filled, Ledger, fill, generated, logged, open_ledger, queue
from _space import BenchSkip, cores, load_average, percentile, postgres_databases

from trustspace.store.ledger.records import NewEntry

APPEND = int(os.environ.get("BENCH_APPEND", "100000"))
TARGET = 20_000
ANCHOR = "Tessera (Trillian's successor): about 10,000 entries/s on NVMe"
BARE_COLUMNS = ("idx", "leaf_hash", "entry", "submitter", "event_type", "participant", "agreement", "process",
                "product", "statement_time", "received_at", "integrated_at")
BARE_SQLITE = """CREATE TABLE bare (idx INTEGER PRIMARY KEY, leaf_hash BLOB NOT NULL, entry TEXT NOT NULL,
    submitter TEXT NOT NULL, event_type TEXT NOT NULL, participant TEXT, agreement TEXT, process TEXT, product TEXT,
    statement_time TEXT NOT NULL, received_at TEXT NOT NULL, integrated_at TEXT NOT NULL)"""
BARE_POSTGRES = """CREATE TABLE bare (idx BIGINT PRIMARY KEY, leaf_hash BYTEA NOT NULL, entry TEXT NOT NULL,
    submitter TEXT NOT NULL, event_type TEXT NOT NULL, participant TEXT, agreement TEXT, process TEXT, product TEXT,
    statement_time TIMESTAMPTZ NOT NULL, received_at TIMESTAMPTZ NOT NULL, integrated_at TIMESTAMPTZ NOT NULL)"""
INSERT_BARE = f"INSERT INTO bare ({', '.join(BARE_COLUMNS)}) VALUES ({', '.join(['%s'] * len(BARE_COLUMNS))})"
# The pragmas of trustspace.store.db for a file database.
SQLITE_PRAGMAS = ("PRAGMA busy_timeout=5000", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON",
                  "PRAGMA journal_mode=WAL")


@dataclass(frozen=True)
class Appended:
    """One timed integration: entries, seconds, and the duration of each batch (commit included)."""

    entries: int
    seconds: float
    batches: list[float]

    @property
    def rate(self) -> float:
        return self.entries / self.seconds


@dataclass(frozen=True)
class Backend:
    name: str
    log_size: int
    fill: Filled
    appended: Appended
    bare_rate: float

    @property
    def ratio(self) -> float:
        return self.appended.rate / self.bare_rate


# --- the ledger -----------------------------------------------------------------------------------------------
def append(ledger: Ledger, entries: Sequence[NewEntry]) -> Appended:
    """Queue ``entries`` (untimed), then time the sequencer integrating all of them, batch by batch."""
    base = ledger.store.tree_size()
    for first in range(0, len(entries), 20_000):
        queue(ledger.db, entries[first : first + 20_000])
    os.sync()  # the fill's and the queue's writes reach the disk before the clock starts, not during the batches
    batches: list[float] = []
    began = time.perf_counter()
    while True:  # Sequencer.drain(), with each batch timed
        started = time.perf_counter()
        seen, _ = ledger.sequencer.integrate_once()
        batches.append(time.perf_counter() - started)
        if seen < ledger.sequencer.batch_size:
            break
    seconds = time.perf_counter() - began
    if ledger.store.tree_size() != base + len(entries):
        raise RuntimeError(f"expected a log of {base + len(entries)} entries, found {ledger.store.tree_size()}")
    return Appended(len(entries), seconds, batches)


# --- the baselines --------------------------------------------------------------------------------------------
def bare_rows(entries: Sequence[NewEntry], base: int, text_times: bool) -> list[tuple[Any, ...]]:
    """The rows the log gets, as tuples; SQLite keeps times as text, which SQLAlchemy writes this way."""
    now = datetime.now(tz=entries[0].received_at.tzinfo)

    def when(value: datetime) -> Any:
        return value.strftime("%Y-%m-%d %H:%M:%S.%f") if text_times else value

    return [(base + offset, e.leaf_hash, e.entry, e.submitter, e.event_type, e.participant, e.agreement, e.process,
             e.product, when(e.statement_time), when(e.received_at), when(now)) for offset, e in enumerate(entries)]


def bare_sqlite_rate(path: Path, rows: Sequence[tuple[Any, ...]]) -> float:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in SQLITE_PRAGMAS:
            connection.execute(pragma)
        connection.execute(BARE_SQLITE)
        os.sync()
        insert = INSERT_BARE.replace("%s", "?")
        began = time.perf_counter()
        for first in range(0, len(rows), BATCH):
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(insert, rows[first : first + BATCH])
            connection.execute("COMMIT")
        return len(rows) / (time.perf_counter() - began)
    finally:
        connection.close()


def bare_postgres_rate(url: str, rows: Sequence[tuple[Any, ...]]) -> float:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        connection.execute(BARE_POSTGRES)
        connection.commit()
        os.sync()
        began = time.perf_counter()
        for first in range(0, len(rows), BATCH):
            with connection.cursor() as cursor:
                cursor.executemany(INSERT_BARE, rows[first : first + BATCH])
            connection.commit()
        return len(rows) / (time.perf_counter() - began)


# --- the two backends -----------------------------------------------------------------------------------------
def run_sqlite(folder: Path, entries: Sequence[NewEntry]) -> Backend:
    ledger = open_ledger(f"sqlite:///{folder / 'operator.db'}")
    try:
        filled = fill(ledger, generated(0, LOG_SIZE), "SQLite")
        appended = append(ledger, entries)
    finally:
        ledger.db.dispose()
    bare = bare_sqlite_rate(folder / "bare.db", bare_rows(entries, LOG_SIZE, text_times=True))
    return Backend("SQLite", LOG_SIZE, filled, appended, bare)


def run_postgres(source: Path, entries: Sequence[NewEntry]) -> Backend:
    """The same log on PostgreSQL, filled from the SQLite one. BenchSkip when PostgreSQL is unreachable."""
    with postgres_databases(1) as (url,):
        ledger, origin = open_ledger(url), open_ledger(f"sqlite:///{source}")
        try:
            filled = fill(ledger, logged(origin.db, 0, LOG_SIZE), "PostgreSQL")
            appended = append(ledger, entries)
        finally:
            ledger.db.dispose()
            origin.db.dispose()
        bare = bare_postgres_rate(url, bare_rows(entries, LOG_SIZE, text_times=False))
    return Backend("PostgreSQL", LOG_SIZE, filled, appended, bare)


# --- report ---------------------------------------------------------------------------------------------------
def show(backend: Backend) -> None:
    batches_ms = [1000 * seconds for seconds in backend.appended.batches]
    print(f"{backend.name}: log filled to {backend.log_size:,} entries in {backend.fill.seconds:.0f} s "
          f"({backend.fill.rate:,.0f} entries/s, statement making and queueing included)")
    print(f"  ledger append at {backend.log_size:,}: {backend.appended.rate:10,.0f} entries/s  "
          f"({backend.appended.entries:,} in {backend.appended.seconds:.2f} s, {len(batches_ms)} batches; "
          f"per batch p50 {percentile(batches_ms, 50):.0f} ms, max {max(batches_ms):.0f} ms)")
    print(f"  bare table, batched durable inserts: {backend.bare_rate:10,.0f} rows/s    ratio {backend.ratio:.3f}")


def summary(sqlite: Backend, postgres: Backend | None, skipped: str | None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "bench": "ledger_append", "value": round(sqlite.appended.rate), "unit": "entries/s",
        "baseline": round(sqlite.bare_rate),
        "baseline_unit": "rows/s, batched durable inserts into a bare SQLite table",
        "ratio": round(sqlite.ratio, 3), "target": TARGET, "anchor": ANCHOR, "log_size": sqlite.log_size,
        "appended": sqlite.appended.entries, "batch_size": BATCH,
        "batch_p50_ms": round(1000 * percentile(sqlite.appended.batches, 50), 1),
        "batch_max_ms": round(1000 * max(sqlite.appended.batches), 1),
        "postgresql_value": None, "postgresql_baseline": None, "postgresql_ratio": None,
        "postgresql_log_size": None, "cores": cores(), "load_average": load_average(),
    }
    if postgres is not None:
        result.update(postgresql_value=round(postgres.appended.rate), postgresql_baseline=round(postgres.bare_rate),
                      postgresql_ratio=round(postgres.ratio, 3), postgresql_log_size=postgres.log_size)
    if skipped is not None:
        result["postgresql_skipped"] = skipped
    return result


def main() -> None:
    print(f"cores: {cores()}, log size: {LOG_SIZE:,}, appended: {APPEND:,}, batch size: {BATCH:,}, "
          f"SQLite {sqlite3.sqlite_version}")
    entries = [entry for chunk in generated(LOG_SIZE, APPEND) for entry in chunk]
    postgres: Backend | None = None
    skipped: str | None = None
    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as folder:
        sqlite = run_sqlite(Path(folder), entries)
        show(sqlite)
        try:
            postgres = run_postgres(Path(folder) / "operator.db", entries)
            show(postgres)
        except BenchSkip as exc:
            skipped = str(exc)
            print(f"PostgreSQL: skipped, {skipped}")
    print(f"target: >= {TARGET:,} entries/s on SQLite; anchor: {ANCHOR}; load average {load_average()}")
    print(json.dumps(summary(sqlite, postgres, skipped)))


if __name__ == "__main__":
    main()
