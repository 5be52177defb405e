"""``trustspace ledger audit --database`` on a copy of a real operator's database that someone (or a disk)
corrupted: every fault is a report naming the entry, checkpoint or table, exit 1, never a traceback. Fuzzed
with random byte changes in the SQLite file, and with changes that land inside entries, which must be named."""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, make_url, text
from typer.testing import CliRunner, Result

from simulator import OperatorUnderTest, Party, operator
from trustspace.cli.main import app
from trustspace.identity.did import verification_method_id
from trustspace.ledger.statements import new_statement, sign_statement

ROUNDS, PER_ROUND = 6, 6
runner = CliRunner()


@dataclass(frozen=True)
class Ledger:
    """A pristine copy of a real operator database and what it holds."""

    path: Path
    key: str
    entries: int
    checkpoints: int


def _fill(op: OperatorUnderTest) -> None:
    member = Party("电网公司")
    op.admit(member)
    for batch in range(ROUNDS):
        statements = []
        for n in range(PER_ROUND):
            made = new_statement("transfer-state-change", member.did, op.clock.now(),
                                 process=f"urn:uuid:p{batch}-{n}", details={"state": "COMPLETED", "note": f"电{n}"})
            statements.append(sign_statement(made, member.key, verification_method_id(member.did)))
        response = op.client.post("/v1/ledger/entries/batch", json={"statements": statements},
                                  headers=member.headers(op.did, op.clock))
        assert response.status_code == 200, response.text
        _drained(op)


def _drained(op: OperatorUnderTest) -> None:
    store = op.client.app.state.ledger.store  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while store.backlog().count:
        assert time.monotonic() < deadline, "the sequencer did not integrate the batch"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Ledger:
    """Built once: an operator integrates several batches (a checkpoint each), then its database is copied
    with VACUUM INTO, one compact file holding each row once."""
    directory = tmp_path_factory.mktemp("ledger")
    with operator(directory / "operator") as op:
        _fill(op)
        key = op.client.get("/v1/ledger/key").json()["vkey"]
        pristine = directory / "pristine.db"
        with sqlite3.connect(directory / "operator" / "operator.db") as source:
            source.execute("VACUUM INTO ?", (str(pristine),))
    with sqlite3.connect(pristine) as copy:
        copy.execute("PRAGMA journal_mode=DELETE")
        entries = copy.execute("SELECT count(*) FROM ledger_entries").fetchone()[0]
        checkpoints = copy.execute("SELECT count(*) FROM ledger_checkpoints").fetchone()[0]
    assert entries >= ROUNDS * PER_ROUND and checkpoints > ROUNDS
    return Ledger(pristine, key, entries, checkpoints)


def audit(ledger: Ledger, database: Path, *, as_json: bool = True) -> Result:
    args = ["ledger", "audit", "--database", f"sqlite:///{database}", "--log-key", ledger.key]
    result = runner.invoke(app, [*args, "--json"] if as_json else args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 1), result.output
    return result


def report(result: Result) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def copy_of(ledger: Ledger, tmp_path: Path, *changes: str) -> Path:
    """A copy of the pristine database with SQL ``changes`` applied (as a corrupting hand would)."""
    target = tmp_path / "copy.db"
    target.write_bytes(ledger.path.read_bytes())
    with sqlite3.connect(target) as connection:
        for change in changes:
            connection.execute(change)
    return target


def failures(result: Result) -> list[str]:
    return list(report(result)["failures"])


# --- deterministic faults ------------------------------------------------------------------------------------


def test_pristine_copy_passes_every_checkpoint(ledger: Ledger) -> None:
    result = report(audit(ledger, ledger.path))
    assert result["ok"] and result["entries"] == ledger.entries and result["checkpoints"] == ledger.checkpoints


def test_entry_that_is_not_valid_json_is_named_and_exits_1(ledger: Ledger, tmp_path: Path) -> None:
    broken = copy_of(ledger, tmp_path, "UPDATE ledger_entries SET entry = '{\"type\": ' WHERE idx = 3")
    result = audit(ledger, broken)
    assert result.exit_code == 1
    assert any(f.startswith("entry 3 could not be read: not valid JSON") for f in failures(result))
    shown = audit(ledger, broken, as_json=False)
    assert shown.exit_code == 1 and "entry 3 could not be read" in shown.output


@pytest.mark.parametrize(("change", "expected"), [
    ("UPDATE ledger_entries SET entry = CAST(X'7B22FF' AS TEXT) WHERE idx = 4",
     "entry 4 could not be read: its JSON column is not UTF-8 text"),
    ("UPDATE ledger_entries SET entry = '[1, 2]' WHERE idx = 4", "entry 4 is not a valid statement: it is JSON list"),
    ("UPDATE ledger_entries SET entry = '{\"a\": 1e999}' WHERE idx = 4", "entry 4 is not a valid statement"),
    ("UPDATE ledger_entries SET entry = '" + "[" * 100_000 + "' WHERE idx = 4", "entry 4 could not be read"),
    ("UPDATE ledger_entries SET entry = X'00' WHERE idx = 4", "entry 4 could not be read: not valid JSON"),
    # A huge integer where 32 bytes belong: bytes(n) would have allocated n bytes.
    ("UPDATE ledger_entries SET leaf_hash = 9000000000000000000 WHERE idx = 4",
     "entry 4 has a recorded leaf hash of 0 bytes"),
    ("UPDATE ledger_entries SET leaf_hash = X'0102' WHERE idx = 4", "entry 4 has a recorded leaf hash of 2 bytes"),
    ("UPDATE ledger_checkpoints SET note = CAST(X'FF0A' AS TEXT) WHERE size = 0",
     "checkpoint stored as size 0 could not be read: its note is not UTF-8 text"),
    ("UPDATE ledger_checkpoints SET note = '[red]\x1b[2J not a note' WHERE size = 0",
     "checkpoint stored as size 0 not valid"),
    ("UPDATE ledger_checkpoints SET note = 7 WHERE size = 0", "checkpoint stored as size 0 not valid"),
    ("UPDATE ledger_checkpoints SET size = 99 WHERE size = 0",
     "checkpoint stored as size 99 holds a signed checkpoint of size 0"),
    ("DROP TABLE ledger_entries", "table ledger_entries could not be read before its first entry: no such table"),
    ("DROP TABLE ledger_checkpoints", "table ledger_checkpoints could not be read: no such table"),
])
def test_corrupt_row_or_table_is_reported_by_name(ledger: Ledger, tmp_path: Path, change: str, expected: str) -> None:
    result = audit(ledger, copy_of(ledger, tmp_path, change))
    assert result.exit_code == 1
    found = failures(result)
    assert any(f.startswith(expected) for f in found), found
    assert all("\x1b" not in f for f in found), "control characters from the database never reach the terminal"
    assert audit(ledger, copy_of(ledger, tmp_path, change), as_json=False).exit_code == 1, "and no markup error"


@pytest.mark.parametrize(("content", "expected"), [
    (b"SQLite? no, a note to self\n" * 200, "file is not a database"),
    (b"", "no such table"),
])
def test_file_that_is_no_ledger_database_is_reported(ledger: Ledger, tmp_path: Path, content: bytes,
                                                     expected: str) -> None:
    path = tmp_path / "not-a-ledger.db"
    path.write_bytes(content)
    result = audit(ledger, path)
    assert result.exit_code == 1 and expected in " ".join(failures(result))


def test_truncated_database_is_reported_not_a_crash(ledger: Ledger, tmp_path: Path) -> None:
    path = tmp_path / "truncated.db"
    data = ledger.path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    result = audit(ledger, path)
    assert result.exit_code == 1 and not report(result)["ok"]


def test_missing_database_file_is_an_error_and_is_not_created(ledger: Ledger, tmp_path: Path) -> None:
    missing = tmp_path / "no-such.db"
    result = audit(ledger, missing)
    assert result.exit_code == 1 and "no database file" in report(result)["error"]
    assert not missing.exists(), "the audit opens read-only: a mistyped path creates no empty database"


def test_the_audit_never_writes_the_copy(ledger: Ledger, tmp_path: Path) -> None:
    copy = copy_of(ledger, tmp_path)
    before = copy.read_bytes()
    audit(ledger, copy)
    assert copy.read_bytes() == before


# --- fuzzing the file ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    """Bytes of the file that belong to one entry (its JSON text or its leaf hash), found exactly once."""

    start: int
    end: int
    index: int


def entry_regions(ledger: Ledger) -> list[Region]:
    data = ledger.path.read_bytes()
    regions = []
    with sqlite3.connect(ledger.path) as connection:
        for index, hashed, entry in connection.execute("SELECT idx, leaf_hash, entry FROM ledger_entries"):
            for needle in (entry.encode("utf-8"), bytes(hashed)):
                start = data.find(needle)
                if start >= 0 and data.find(needle, start + 1) < 0:
                    regions.append(Region(start, start + len(needle), index))
    return regions


def changed(ledger: Ledger, tmp_path: Path, changes: list[tuple[int, int]]) -> Path:
    data = bytearray(ledger.path.read_bytes())
    for offset, delta in changes:
        data[offset] ^= delta  # delta is 1..255: the byte always changes
    target = tmp_path / "fuzzed.db"
    target.write_bytes(bytes(data))
    return target


FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def page_headers(ledger: Ledger) -> st.SearchStrategy[int]:
    """Offsets in the b-tree page headers (type, cell count, pointers): what makes SQLite itself stumble."""
    data = ledger.path.read_bytes()
    page = int.from_bytes(data[16:18], "big")
    starts = [100, *range(page, len(data), page)]
    return st.tuples(st.sampled_from(starts), st.integers(0, 11)).map(sum)


@FUZZ
@given(data=st.data())
def test_random_byte_changes_anywhere_give_a_report_never_a_crash(ledger: Ledger, tmp_path: Path,
                                                                  data: st.DataObject) -> None:
    size = ledger.path.stat().st_size
    offsets = st.one_of(st.integers(0, size - 1), page_headers(ledger))
    changes = data.draw(st.lists(st.tuples(offsets, st.integers(1, 255)), min_size=1, max_size=6,
                                 unique_by=lambda change: change[0]))
    result = audit(ledger, changed(ledger, tmp_path, changes))
    parsed = report(result)
    assert parsed["ok"] is (result.exit_code == 0)


@FUZZ
@given(data=st.data())
def test_byte_changes_inside_entries_name_each_changed_entry(ledger: Ledger, tmp_path: Path,
                                                             data: st.DataObject) -> None:
    regions = entry_regions(ledger)
    assert len(regions) >= ledger.entries, "every entry's text and hash are found in the file"
    hit = data.draw(st.lists(st.sampled_from(regions), min_size=1, max_size=3, unique=True))
    changes = [(data.draw(st.integers(r.start, r.end - 1)), data.draw(st.integers(1, 255))) for r in hit]
    result = audit(ledger, changed(ledger, tmp_path, changes))
    assert result.exit_code == 1
    found = failures(result)
    for region in hit:
        assert any(re.match(rf"entry {region.index}\b", f) for f in found), (region, found)


# --- PostgreSQL --------------------------------------------------------------------------------------------------


@pytest.fixture
def pg_schema_url(postgres_url: str) -> Iterator[str]:
    """A schema of its own in the session's database, so the corruption below touches no other test's rows."""
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    schema = f"audit_{secrets.token_hex(6)}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.mark.postgres
def test_postgresql_copy_is_audited_and_a_broken_entry_named(tmp_path: Path, pg_schema_url: str) -> None:
    with operator(tmp_path / "operator", database_url=pg_schema_url) as op:
        _fill(op)
        key = op.client.get("/v1/ledger/key").json()["vkey"]
    args = ["ledger", "audit", "--database", pg_schema_url, "--log-key", key, "--json"]
    honest = runner.invoke(app, args)
    assert honest.exit_code == 0, honest.output
    assert json.loads(honest.stdout)["entries"] >= ROUNDS * PER_ROUND
    engine = create_engine(pg_schema_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE ledger_entries SET entry = '{\"type\": ' WHERE idx = 3"))
    engine.dispose()
    broken = runner.invoke(app, args)
    assert broken.exit_code == 1 and "Traceback" not in broken.output
    assert any(f.startswith("entry 3 could not be read: not valid JSON") for f in json.loads(broken.stdout)["failures"])
