"""Fixtures every test folder may use: a throwaway PostgreSQL database and the shared test vectors."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

# A server the machine (or CI) provides; each run makes its own database on it.
POSTGRES_SERVER = os.environ.get("TRUSTSPACE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of an empty database created for this test session and dropped after it.

    Unreachable server: the tests fail under CI (CI=true), where PostgreSQL is part of the contract, and
    are skipped, saying why, everywhere else.
    """
    admin = create_engine(POSTGRES_SERVER, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    name = f"trustspace_test_{secrets.token_hex(6)}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as error:
        admin.dispose()
        _unavailable(request, f"PostgreSQL at {_shown(POSTGRES_SERVER)} is unreachable: {error.orig}")
    try:
        yield make_url(POSTGRES_SERVER).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _unavailable(request: pytest.FixtureRequest, reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the PostgreSQL tests must run)", pytrace=False)
    # Said once, out loud: a skip reason alone only shows with -rs.
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture is not None and reporter is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\nskipping the PostgreSQL tests: {reason}", yellow=True)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def vectors_dir() -> Path:
    """The shared test vectors next to the project (../shared/vectors)."""
    path = Path(__file__).resolve().parents[1].parent / "shared" / "vectors"
    if not path.is_dir():
        pytest.fail(f"test vectors not found at {path}", pytrace=False)
    return path


@pytest.fixture(scope="session", autouse=True)
def _data_roots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Connectors under test serve files the tests write in their temporary folders: make those the data root
    (each connector's own data folder stays refused). Tests of the roots themselves set their own."""
    previous = os.environ.get("TRUSTSPACE_DATA_ROOTS")
    os.environ["TRUSTSPACE_DATA_ROOTS"] = str(tmp_path_factory.getbasetemp())
    yield
    if previous is None:
        os.environ.pop("TRUSTSPACE_DATA_ROOTS", None)
    else:
        os.environ["TRUSTSPACE_DATA_ROOTS"] = previous


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """CLI commands under test configure the root logger for a service; put it back after each test."""
    import logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("uvicorn.access").disabled = False
