"""The ledger's storage and sequencer on SQLite in memory, SQLite in a file and PostgreSQL: batches give
contiguous indices, roots and proofs agree with an in-memory tree, a failed batch leaves nothing behind, and
concurrent submitters and replica sequencers never produce a gap or a duplicate."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, insert, make_url, select, text

from trustspace.core.clock import FixedClock
from trustspace.core.keys import SigningKey
from trustspace.ledger.checkpoint import NoteSigner, open_checkpoint
from trustspace.ledger.merkle import (
    MemoryTree,
    consistency_nodes,
    consistency_proof,
    inclusion_nodes,
    inclusion_proof,
    leaf_hash,
)
from trustspace.operator.ledger.frontier import Frontier
from trustspace.operator.ledger.sequencer import Sequencer
from trustspace.store.db import Database, open_database
from trustspace.store.ledger.models import LedgerEntryRow, LedgerPendingRow
from trustspace.store.ledger.records import EntryQuery, NewEntry, StoredCosignature
from trustspace.store.ledger.sql import SqlLedgerStore

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
LOG_KEY = SigningKey.from_seed(bytes(range(32)))
SIGNER = NoteSigner("ledger.test/log", LOG_KEY)


def new_entry(n: int, *, participant: str = "did:key:zA", agreement: str | None = None, seconds: int = 0) -> NewEntry:
    entry = json.dumps({"type": "agreement", "n": n, "nonce": secrets.token_hex(4)})
    return NewEntry(leaf_hash(entry.encode()), entry, participant, "agreement", participant, agreement,
                    f"urn:process:{n}", None, T0 + timedelta(seconds=seconds or n), T0)


def sequencer(store: SqlLedgerStore, batch_size: int = 7) -> Sequencer:
    return Sequencer(store, SIGNER, FixedClock(T0), batch_size=batch_size, interval=0.01)


def _pg_schema_url(request: pytest.FixtureRequest) -> Iterator[str]:
    database = request.getfixturevalue("postgres_url")
    admin = create_engine(database, isolation_level="AUTOCOMMIT")
    schema = f"ledger_{secrets.token_hex(6)}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield make_url(database).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text("SET lock_timeout = '10s'"))
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite-memory":
        yield "sqlite://"
    elif request.param == "sqlite-file":
        yield f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'operator.db'}"
    else:
        yield from _pg_schema_url(request)


_PG = pytest.param("postgresql", marks=pytest.mark.postgres)


@pytest.fixture(params=["sqlite-memory", "sqlite-file", _PG])
def ledger_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _url(request, tmp_path_factory)


@pytest.fixture(params=["sqlite-file", _PG])
def durable_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Backends where several connections see one database (in-memory SQLite is one shared connection)."""
    yield from _url(request, tmp_path_factory)


@pytest.fixture
def db(ledger_url: str) -> Iterator[Database]:
    opened = open_database("operator", ledger_url)
    yield opened
    opened.dispose()


def queue(store: SqlLedgerStore, count: int, start: int = 0) -> list[bytes]:
    hashes = []
    for n in range(start, start + count):
        entry = new_entry(n)
        assert store.add_pending(entry).created
        hashes.append(entry.leaf_hash)
    return hashes


def assert_log_is(store: SqlLedgerStore, leaves: list[bytes]) -> None:
    """Indices 0..n-1 hold exactly ``leaves`` in order; the latest checkpoint signs their root."""
    logged = [store.entry(index) for index in range(len(leaves) + 1)]
    assert [entry.leaf_hash for entry in logged[:-1] if entry is not None] == leaves
    assert logged[-1] is None
    latest = store.latest_checkpoint()
    assert latest is not None and latest.size == len(leaves)
    checkpoint = open_checkpoint(latest.note, SIGNER.verifier)
    assert checkpoint.root_hash == latest.root_hash == MemoryTree(leaves).root()


def reader(nodes: dict[tuple[int, int], bytes]) -> Callable[[int, int], bytes]:
    """A node reader that fails loudly on any node the proof did not announce it needs."""
    return lambda level, index: nodes[(level, index)]


# --- batches, roots and proofs -----------------------------------------------------------------------------


def test_batches_give_contiguous_indices_and_signed_roots(db: Database) -> None:
    store = SqlLedgerStore(db)
    leaves = queue(store, 30)
    integrated = sequencer(store, batch_size=7).drain()
    assert integrated == 30
    assert_log_is(store, leaves)
    for size in (7, 14, 21, 28):  # every batch left its own checkpoint, all kept
        kept = store.checkpoint(size)
        assert kept is not None and kept.root_hash == MemoryTree(leaves[:size]).root()
    assert store.backlog().count == 0


def test_proofs_from_stored_nodes_equal_the_memory_tree(db: Database) -> None:
    store = SqlLedgerStore(db)
    leaves = queue(store, 37)
    sequencer(store, batch_size=10).drain()
    tree = MemoryTree(leaves)
    for size in (1, 2, 5, 16, 31, 37):
        for index in {0, size // 2, size - 1}:
            stored = reader(store.nodes(inclusion_nodes(index, size)))
            assert inclusion_proof(index, size, stored) == inclusion_proof(index, size, tree.node)
    for first, second in ((1, 37), (7, 8), (16, 37), (30, 37)):
        stored = reader(store.nodes(consistency_nodes(first, second)))
        assert consistency_proof(first, second, stored) == consistency_proof(first, second, tree.node)


def test_frontier_reloaded_from_storage_continues_the_same_tree(db: Database) -> None:
    store = SqlLedgerStore(db)
    leaves = queue(store, 13)
    sequencer(store).drain()
    frontier = Frontier.load(13, store.nodes)
    assert frontier.root() == MemoryTree(leaves).root()
    leaves += queue(store, 6, start=13)
    sequencer(store).drain()  # a new sequencer: loads the edge from the stored nodes
    assert_log_is(store, leaves)


# --- failures and races ------------------------------------------------------------------------------------


class Crash(Exception):
    pass


def test_failure_after_the_inserts_rolls_back_the_whole_batch(db: Database) -> None:
    store = SqlLedgerStore(db)
    leaves = queue(store, 20)
    first = sequencer(store, batch_size=8)
    first.integrate_once()

    def crash(_: int) -> None:
        raise Crash("the process dies between the writes and the commit")

    first.before_commit = crash
    with pytest.raises(Crash):
        first.integrate_once()
    assert store.tree_size() == 8, "no checkpoint of the failed batch"
    assert store.entry(8) is None and store.backlog().count == 12, "no entry moved, nothing lost"
    first.before_commit = None
    first.drain()  # the same sequencer recovers: its in-memory edge did not move with the failed batch
    assert_log_is(store, leaves)


@pytest.mark.parametrize("queued_before", [0, 2], ids=["first", "between-fresh-rows"])
def test_a_pending_leaf_already_logged_is_dropped_not_logged_twice(db: Database, queued_before: int) -> None:
    store = SqlLedgerStore(db)
    leaves = queue(store, 3)
    sequencer(store).drain()
    logged = store.entry(1)
    assert logged is not None
    leaves += queue(store, queued_before, start=3)
    # What a submission racing an integration on PostgreSQL can leave behind: a pending copy of a logged leaf.
    race = {c: getattr(logged, c) for c in ("leaf_hash", "entry", "submitter", "event_type", "participant",
                                            "agreement", "process", "product", "statement_time", "received_at")}
    with db.transaction() as session:
        session.execute(insert(LedgerPendingRow).values(**race))
    # Between fresh rows, the dropped one leaves a gap in the ids the batch moves: indices stay contiguous.
    leaves += queue(store, 2, start=3 + queued_before)
    sequencer(store).drain()
    assert_log_is(store, leaves)
    assert store.backlog().count == 0


def test_resubmission_is_idempotent_before_and_after_integration(db: Database) -> None:
    store = SqlLedgerStore(db)
    entry = new_entry(1)
    assert store.add_pending(entry).created
    later = replace(entry, received_at=T0 + timedelta(hours=1))
    again = store.add_pending(later)
    assert not again.created and again.received_at == T0 and again.index is None
    sequencer(store).drain()
    after = store.add_pending(later)
    assert not after.created and after.received_at == T0 and after.index == 0
    assert store.backlog().count == 0


def test_a_batch_queues_in_one_transaction_with_the_same_answers_as_one_by_one(db: Database) -> None:
    store = SqlLedgerStore(db)
    logged, repeated = new_entry(1), new_entry(2)
    store.add_pending(logged)
    sequencer(store).drain()
    fresh = new_entry(3)
    answers = store.add_pending_many([logged, repeated, fresh, replace(repeated, received_at=T0 + timedelta(hours=1))])
    assert [(a.created, a.index) for a in answers] == [(False, 0), (True, None), (True, None), (False, None)]
    assert answers[3].received_at == T0, "a repeat inside the batch keeps the first time"
    assert store.backlog().count == 2


def test_search_filters_by_subject_time_and_cursor(db: Database) -> None:
    store = SqlLedgerStore(db)
    for n in range(12):
        store.add_pending(new_entry(n, participant=f"did:key:z{n % 3}", agreement=f"urn:a:{n % 2}", seconds=n + 1))
    sequencer(store, batch_size=100).drain()
    of_z1 = store.search(EntryQuery(participant="did:key:z1"))
    assert [e.index for e in of_z1] == [1, 4, 7, 10]
    both = store.search(EntryQuery(participant="did:key:z1", agreement="urn:a:0"))
    assert [e.index for e in both] == [4, 10]
    window = store.search(EntryQuery(since=T0 + timedelta(seconds=3), until=T0 + timedelta(seconds=6)))
    assert [e.index for e in window] == [2, 3, 4]
    page = store.search(EntryQuery(after=5, limit=3))
    assert [e.index for e in page] == [6, 7, 8]
    assert store.search(EntryQuery(process="urn:process:9"))[0].index == 9


def test_concurrent_submissions_get_contiguous_unique_indices(durable_url: str) -> None:
    databases = [open_database("operator", durable_url) for _ in range(2)]
    stores = [SqlLedgerStore(d) for d in databases]
    running = sequencer(stores[0], batch_size=50)
    running.start()
    submitted: list[bytes] = []
    lock = threading.Lock()

    def submit(worker: int) -> None:
        for n in range(40):
            entry = new_entry(worker * 1000 + n)
            stores[worker % 2].add_pending(entry)
            stores[worker % 2].add_pending(entry)  # a retry by the same client changes nothing
            with lock:
                submitted.append(entry.leaf_hash)

    threads = [threading.Thread(target=submit, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    running.stop()
    sequencer(stores[1]).drain()  # whatever arrived after the last round
    with databases[0].transaction() as session:
        rows = session.execute(select(LedgerEntryRow.idx, LedgerEntryRow.leaf_hash).order_by(
            LedgerEntryRow.idx)).all()
    assert [idx for idx, _ in rows] == list(range(240))
    assert sorted(bytes(h) for _, h in rows) == sorted(submitted)
    assert_log_is(stores[0], [bytes(h) for _, h in rows])
    for opened in databases:
        opened.dispose()


def test_replica_sequencers_take_turns_without_a_gap(durable_url: str) -> None:
    databases = [open_database("operator", durable_url) for _ in range(2)]
    first, second = (SqlLedgerStore(d) for d in databases)
    one, two = sequencer(first, batch_size=5), sequencer(second, batch_size=5)
    leaves: list[bytes] = []
    for round_ in range(4):
        leaves += queue(first, 7, start=round_ * 7)
        (one if round_ % 2 else two).integrate_once()  # each must notice the other moved the log on
    one.drain()
    two.drain()
    assert_log_is(first, leaves)
    for opened in databases:
        opened.dispose()


def test_one_cosignature_per_checkpoint_per_witness_and_per_key(db: Database) -> None:
    store = SqlLedgerStore(db)
    queue(store, 2)
    sequencer(store).drain()

    def cosignature(witness: str, key: bytes) -> StoredCosignature:
        return StoredCosignature(2, witness, f"{witness}+00000000+key", key, f"— {witness} line", T0)

    first = cosignature("did:key:zA", b"k" * 32)
    assert store.add_cosignature(first) == (first, True)
    rotated = cosignature("did:key:zA", b"r" * 32)  # the same member after a key rotation counts once
    assert store.add_cosignature(rotated) == (first, False)
    borrowed = cosignature("did:key:zB", b"k" * 32)  # one key under two names counts once
    assert store.add_cosignature(borrowed) == (first, False)
    assert store.cosignatures(2) == [first]
    assert store.witnesses() == [("did:key:zA", "did:key:zA+00000000+key")]


def test_every_checkpoint_is_listed_by_size_in_pages(db: Database) -> None:
    store = SqlLedgerStore(db)
    leaves = queue(store, 30)
    sequencer(store, batch_size=7).drain()
    listed = store.checkpoints(None, 100)
    assert [c.size for c in listed] == [7, 14, 21, 28, 30]
    assert listed[1].root_hash == MemoryTree(leaves[:14]).root()
    assert [c.size for c in store.checkpoints(None, 2)] == [7, 14]
    assert [c.size for c in store.checkpoints(14, 2)] == [21, 28]
    assert store.checkpoints(30, 10) == []
    assert store.checkpoints(2**63 - 1, 10) == [], "the largest mark the API lets through binds on every engine"
