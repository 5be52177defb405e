"""Backends the repository tests run on: SQLite in memory, SQLite in a file, PostgreSQL.

Every test gets empty databases: a new in-memory database, a new file, or a new PostgreSQL schema (made
and migrated in a few milliseconds, and dropped at teardown) inside the session's database.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text

from trustspace.store.db import Component, Database, open_database
from trustspace.store.membership.sql import SqlConnectorStore, SqlOperatorStore


@dataclass
class Backend:
    name: str
    new_url: Callable[[], str]
    opened: list[Database] = field(default_factory=list)

    def open(self, component: Component, url: str | None = None) -> Database:
        db = open_database(component, url or self.new_url())
        self.opened.append(db)
        return db

    def close_all(self) -> None:
        for db in self.opened:
            db.dispose()


class _FileUrls:
    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._count = 0

    def __call__(self) -> str:
        self._count += 1
        return f"sqlite:///{self._folder / f'db{self._count}.sqlite'}"


class _SchemaUrls:
    """A fresh schema per call, selected through the connection's search_path."""

    def __init__(self, database_url: str, admin: Engine) -> None:
        self._url = make_url(database_url)
        self._admin = admin
        self.schemas: list[str] = []

    def __call__(self) -> str:
        schema = f"t_{secrets.token_hex(6)}"
        with self._admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        self.schemas.append(schema)
        url = self._url.update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self._admin.connect() as connection:
            # A test that left a transaction hanging must fail its teardown, not stall the whole run.
            connection.execute(text("SET lock_timeout = '10s'"))
            for schema in self.schemas:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@pytest.fixture(scope="session")
def postgres_admin(postgres_url: str) -> Iterator[Engine]:
    engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


_MEMORY = pytest.param("sqlite-memory")
_FILE = pytest.param("sqlite-file")
_POSTGRES = pytest.param("postgresql", marks=pytest.mark.postgres)


def _backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    schemas: _SchemaUrls | None = None
    if request.param == "sqlite-memory":
        backend = Backend("sqlite-memory", lambda: "sqlite://")
    elif request.param == "sqlite-file":
        backend = Backend("sqlite-file", _FileUrls(tmp_path))
    else:
        schemas = _SchemaUrls(request.getfixturevalue("postgres_url"), request.getfixturevalue("postgres_admin"))
        backend = Backend("postgresql", schemas)
    yield backend
    backend.close_all()
    if schemas is not None:
        schemas.drop_all()


@pytest.fixture(params=[_MEMORY, _FILE, _POSTGRES])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Every backend."""
    yield from _backend(request, tmp_path)


@pytest.fixture(params=[_FILE, _POSTGRES])
def durable_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Backends with real connections: data outlives an engine, and transactions run side by side.

    (In-memory SQLite is one shared connection, so it has neither.)
    """
    yield from _backend(request, tmp_path)


@pytest.fixture(params=[_POSTGRES])
def postgres_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """PostgreSQL alone: for behaviour only it has, such as row locks that other transactions skip."""
    yield from _backend(request, tmp_path)


@pytest.fixture
def operator_store(backend: Backend) -> SqlOperatorStore:
    return SqlOperatorStore(backend.open("operator"))


@pytest.fixture
def connector_store(backend: Backend) -> SqlConnectorStore:
    return SqlConnectorStore(backend.open("connector"))
