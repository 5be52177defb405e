"""Engines, transactions and migrations (store/db.py)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine, insert, make_url, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool

from trustspace.core.errors import ValidationFailed
from trustspace.store.db import Database, database_url, make_engine, migrate
from trustspace.store.membership.models import SettingRow, SpaceMemberRow

if TYPE_CHECKING:  # tests are not a package; pytest loads this folder's conftest for the fixtures
    from conftest import Backend


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://u:secret@db.example/ts", "postgresql+psycopg"),
        ("postgres://u@db.example/ts", "postgresql+psycopg"),
        ("postgresql+psycopg://u@db.example/ts", "postgresql+psycopg"),
        ("sqlite:///relative.db", "sqlite"),
    ],
)
def test_make_engine_picks_the_driver(url: str, driver: str) -> None:
    engine = make_engine(url)  # creating an engine does not connect
    assert engine.url.drivername == driver
    engine.dispose()


def test_postgresql_connections_are_checked_before_use() -> None:
    engine = make_engine("postgresql://u@db.example/ts")
    assert engine.pool._pre_ping
    engine.dispose()


@pytest.mark.parametrize("url", ["mysql://u@h/db", "postgresql+asyncpg://u:pw@h/db", "oracle://h"])
def test_unsupported_urls_are_refused_without_the_password(url: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        make_engine(url)
    assert "pw" not in caught.value.detail


def test_database_url_prefers_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TRUSTSPACE_DATABASE_URL", raising=False)
    assert database_url("operator", tmp_path) == f"sqlite:///{tmp_path}/operator.db"
    assert make_url(database_url("connector", tmp_path)).database == str(tmp_path / "connector.db")
    monkeypatch.setenv("TRUSTSPACE_DATABASE_URL", "postgresql://u@h/ts")
    assert database_url("operator", tmp_path) == "postgresql://u@h/ts"


def test_file_sqlite_pragmas_on_every_connection(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    # Two DBAPI connections open at once, so the pool must have set up each of them.
    first, second = engine.raw_connection(), engine.raw_connection()
    for connection in (first, second):
        cursor = connection.cursor()
        pragmas = [cursor.execute(f"PRAGMA {name}").fetchone()[0] for name in _PRAGMAS]
        assert pragmas == ["wal", 2, 1, 5000]
    first.close()
    second.close()
    engine.dispose()


def test_connections_racing_to_switch_a_new_file_to_wal_all_succeed(tmp_path: Path) -> None:
    """SQLite refuses one of two connections switching a fresh file to WAL at once ("database is locked",
    without waiting); services starting together must not fail on it."""
    for trial in range(40):
        url = f"sqlite:///{tmp_path}/race-{trial}.db"
        engines = [make_engine(url) for _ in range(4)]
        start = threading.Barrier(len(engines))

        def connect(engine: Engine, start: threading.Barrier = start) -> str:
            start.wait()
            with engine.connect() as connection:
                return str(connection.exec_driver_sql("PRAGMA journal_mode").scalar())

        with ThreadPoolExecutor(len(engines)) as pool:
            assert list(pool.map(connect, engines)) == ["wal"] * len(engines)
        for engine in engines:
            engine.dispose()


def test_memory_sqlite_is_one_shared_database() -> None:
    engine = make_engine("sqlite:///:memory:")
    assert isinstance(engine.pool, StaticPool)
    with engine.connect() as connection:
        pragmas = [connection.exec_driver_sql(f"PRAGMA {name}").scalar() for name in _PRAGMAS]
        assert pragmas == ["memory", 2, 1, 5000]
    migrate(engine, "connector")
    db = Database(engine)
    with db.transaction() as session:
        session.execute(insert(SettingRow).values(key="k", value="v"))
    with db.transaction() as session:
        assert session.scalar(select(SettingRow.value)) == "v"
    db.dispose()


_PRAGMAS = ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")


def test_transaction_commits_or_rolls_back(backend: Backend) -> None:
    db = backend.open("connector")
    with db.transaction() as session:
        session.execute(insert(SettingRow).values(key="kept", value="1"))
    with pytest.raises(RuntimeError), db.transaction() as session:
        session.execute(insert(SettingRow).values(key="dropped", value="2"))
        raise RuntimeError("abort")
    with db.transaction() as session:
        assert list(session.scalars(select(SettingRow.key))) == ["kept"]


def test_objects_stay_readable_after_commit(backend: Backend) -> None:
    db = backend.open("connector")
    with db.transaction() as session:
        row = SettingRow(key="k", value="v")
        session.add(row)
    assert row.value == "v"  # expire_on_commit=False: no reload outside the session


def test_foreign_keys_are_enforced(backend: Backend) -> None:
    db = backend.open("operator")
    member = {"space_id": "missing", "did": "did:web:a", "added_at": datetime(2026, 1, 1, tzinfo=UTC)}
    with pytest.raises(IntegrityError), db.transaction() as session:
        session.execute(insert(SpaceMemberRow).values(member))


def test_migrate_refuses_an_unknown_component(backend: Backend) -> None:
    db = backend.open("connector")
    with pytest.raises(ValidationFailed):
        migrate(db.engine, "broker")  # type: ignore[arg-type]


@pytest.mark.postgres
def test_plain_postgresql_url_opens(postgres_url: str) -> None:
    plain = make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
    engine = make_engine(plain)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1
    engine.dispose()
