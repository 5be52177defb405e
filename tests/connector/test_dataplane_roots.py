"""A provider serves files only from its data roots, never its own secrets (issue 15, finding 4), and what it
receives or keeps is readable by its owner alone."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from conftest import LiveSpace
from trustspace.connector.dataplane.errors import InvalidDataAddress
from trustspace.connector.dataplane.sources import DataRoots, open_source
from trustspace.connector.dataplane.sql import read_only_engine
from trustspace.store.db import open_database


@pytest.fixture
def connector_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "connector"
    (folder / "data").mkdir(parents=True)
    (folder / "connector.key.json").write_text('{"secret": "never served"}')
    (folder / "data" / "served.csv").write_text("a,b\n1,2\n")
    return folder


def test_file_asset_naming_the_connectors_private_key_is_refused(connector_dir: Path) -> None:
    roots = DataRoots.of_connector(connector_dir, (connector_dir.parent,))  # even a root that covers it
    with pytest.raises(InvalidDataAddress) as refused:
        open_source({"type": "file", "path": str(connector_dir / "connector.key.json")}, connector_dir / "spool",
                    roots=roots)
    assert refused.value.field == "path" and "own data folder" in refused.value.detail


def test_dot_dot_path_out_of_the_data_root_is_refused(connector_dir: Path) -> None:
    sneaky = connector_dir / "data" / ".." / "connector.key.json"
    with pytest.raises(InvalidDataAddress) as refused:
        open_source({"type": "file", "path": str(sneaky)}, connector_dir / "spool",
                    roots=DataRoots.of_connector(connector_dir))
    assert refused.value.field == "path"


def test_file_outside_every_root_is_refused_and_the_roots_named(connector_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.csv"
    elsewhere.write_text("x\n")
    with pytest.raises(InvalidDataAddress) as refused:
        open_source({"type": "file", "path": str(elsewhere)}, connector_dir / "spool",
                    roots=DataRoots.of_connector(connector_dir))
    assert "outside the data roots" in refused.value.detail and "TRUSTSPACE_DATA_ROOTS" in str(refused.value.hint)


def test_symlink_in_the_data_root_pointing_at_the_key_is_refused(connector_dir: Path) -> None:
    link = connector_dir / "data" / "innocent.csv"
    link.symlink_to(connector_dir / "connector.key.json")
    with pytest.raises(InvalidDataAddress):
        open_source({"type": "file", "path": str(link)}, connector_dir / "spool",
                    roots=DataRoots.of_connector(connector_dir))


def test_file_replaced_by_a_symlink_after_it_was_added_is_refused_when_served(connector_dir: Path) -> None:
    served = connector_dir / "data" / "served.csv"
    source = open_source({"type": "file", "path": str(served)}, connector_dir / "spool",
                         roots=DataRoots.of_connector(connector_dir))
    served.unlink()
    served.symlink_to(connector_dir / "connector.key.json")
    with pytest.raises(InvalidDataAddress):
        source.prepare("transfer-1")


def test_file_in_the_data_folder_is_served(connector_dir: Path) -> None:
    source = open_source({"type": "file", "path": str(connector_dir / "data" / "served.csv")},
                         connector_dir / "spool", roots=DataRoots.of_connector(connector_dir))
    assert source.prepare("transfer-1").size == len("a,b\n1,2\n")


def test_sql_source_reading_the_connectors_own_database_is_refused(connector_dir: Path) -> None:
    own = connector_dir / "connector.db"
    sqlite3.connect(own).close()
    with pytest.raises(InvalidDataAddress) as refused:
        open_source({"type": "sql", "url": f"sqlite:///{own}", "query": "SELECT * FROM api_keys",
                     "format": "csv"}, connector_dir / "spool", roots=DataRoots.of_connector(connector_dir))
    assert refused.value.field == "url"


@pytest.mark.parametrize("call", ["load_extension('/tmp/evil.so')", "readfile('/etc/hostname')"])
def test_sqlite_functions_that_reach_outside_the_database_are_denied(connector_dir: Path, call: str) -> None:
    database = connector_dir / "data" / "source.db"
    sqlite3.connect(database).close()
    engine = read_only_engine(f"sqlite:///{database}")
    try:
        refused = r"not authorized|prohibited|no such function"
        with engine.connect() as connection, pytest.raises(Exception, match=refused):
            connection.exec_driver_sql(f"SELECT {call}").fetchall()
    finally:
        engine.dispose()


def test_our_sqlite_databases_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        database = open_database("connector", f"sqlite:///{tmp_path / 'connector.db'}")
        database.engine.dispose()
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "connector.db").stat().st_mode) == 0o600


def test_management_api_refuses_an_asset_serving_the_key_naming_the_field(live_space: LiveSpace) -> None:
    provider = live_space.connectors["provider"]
    answer = provider.manage("POST", "/v1/management/assets", json={
        "id": "stolen-key", "title": "not a dataset",
        "dataAddress": {"type": "file", "path": str(provider.data_dir / "connector.key.json")}})
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "dataAddress.path"
    assert "stolen-key" not in provider.manage("GET", "/v1/management/assets").text



def test_a_failing_query_is_refused_when_the_asset_is_added(connector_dir: Path) -> None:
    database = connector_dir / "data" / "source.db"
    sqlite3.connect(database).close()
    source = open_source({"type": "sql", "url": f"sqlite:///{database}", "query": "SELECT * FROM missing",
                          "format": "csv"}, connector_dir / "spool", roots=DataRoots.of_connector(connector_dir))
    with pytest.raises(InvalidDataAddress) as refused:
        source.check()  # type: ignore[attr-defined]
    assert refused.value.field == "query" and "missing" in refused.value.detail


@pytest.mark.parametrize("query", ["SELECT pg_read_file('/etc/hostname')", "SELECT * FROM pg_ls_dir('/')",
                                   "SELECT lo_import('/etc/passwd')", "SELECT dblink('host=x', 'select 1')"])
def test_postgresql_functions_reaching_outside_the_database_are_refused(connector_dir: Path, query: str,
                                                                        postgres_url: str) -> None:
    with pytest.raises(InvalidDataAddress) as refused:
        open_source({"type": "sql", "url": postgres_url, "query": query, "format": "csv"}, connector_dir / "spool")
    assert refused.value.field == "query"


def test_a_string_that_merely_names_a_denied_function_is_served(connector_dir: Path, postgres_url: str) -> None:
    source = open_source({"type": "sql", "url": postgres_url, "query": "SELECT 'pg_read_file' AS word",
                          "format": "csv"}, connector_dir / "spool")
    source.check()  # type: ignore[attr-defined]


def test_a_superuser_sql_source_is_warned_about_loudly(connector_dir: Path, postgres_url: str) -> None:
    source = open_source({"type": "sql", "url": postgres_url, "query": "SELECT 1 AS one", "format": "csv"},
                         connector_dir / "spool")
    warnings = source.check()  # type: ignore[attr-defined]
    assert any("superuser" in warning for warning in warnings)  # the test server's role is postgres
