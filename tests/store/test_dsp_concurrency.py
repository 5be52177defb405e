"""Several replicas of one connector at once: threads racing on SQLite in a file and on PostgreSQL.

(In-memory SQLite is one shared connection, so it cannot run transactions side by side.)
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from dsp_factories import CONSUMER, at, message, negotiation, run_together, start, transfer
from sqlalchemy import select

from trustspace.core.clock import FixedClock
from trustspace.core.errors import Conflict
from trustspace.store.dsp.models import OutboxRow
from trustspace.store.dsp.records import Change, Negotiation, OutboxMessage, TransferRecord
from trustspace.store.dsp.sql import SqlDspStore

if TYPE_CHECKING:  # tests are not a package; pytest loads this folder's conftest for the fixtures
    from conftest import Backend


def ids(messages: list[OutboxMessage]) -> list[int]:
    return [message.id for message in messages]


class TestDspConcurrency:
    def test_racing_creates_make_one_process(self, durable_backend: Backend) -> None:
        store = SqlDspStore(durable_backend.open("connector"), FixedClock(at(10)))

        def create(n: int) -> tuple[Negotiation, bool]:
            return store.create_negotiation(negotiation(f"p-{n}", "provider", CONSUMER), [message(f"p-{n}")], "in")

        results = run_together(6, create)
        assert all(isinstance(result, tuple) for result in results), results
        created = [result for result in results if isinstance(result, tuple) and result[1]]
        assert len(created) == 1
        assert {result[0].id for result in results if isinstance(result, tuple)} == {created[0][0].id}
        assert len(store.list_negotiations()) == len(store.pending_outbox()) == len(store.events()) == 1

        def create_transfer(n: int) -> tuple[TransferRecord, bool]:
            return store.create_transfer(transfer(f"tp-{n}", "provider", CONSUMER), [], "in")

        transfers = run_together(6, create_transfer)
        assert sorted(r[1] for r in transfers if isinstance(r, tuple)) == [False] * 5 + [True], transfers

    def test_racing_transitions_let_one_decide(self, durable_backend: Backend) -> None:
        store = SqlDspStore(durable_backend.open("connector"), FixedClock(at(10)))
        store.create_negotiation(negotiation(), [], "sent")
        results = run_together(
            4, lambda n: store.transition_negotiation("c-1", "REQUESTED", f"S{n}", Change(), [message("c-1")], "")
        )
        assert sum(isinstance(result, Negotiation) for result in results) == 1, results
        assert sum(isinstance(result, Conflict) for result in results) == 3, results
        assert len(store.pending_outbox()) == 1 and len(store.events()) == 2

    def test_concurrent_claimers_never_share_a_message(self, durable_backend: Backend) -> None:
        store = SqlDspStore(durable_backend.open("connector"), FixedClock(at(0)))
        for n in range(10):
            start(store, f"c-{n}", messages=4)
        barrier = threading.Barrier(5)
        claimed: list[list[int]] = [[] for _ in range(5)]

        def claimer(n: int) -> None:
            barrier.wait()
            while batch := store.claim_outbox(at(1), at(60), limit=3):
                claimed[n].extend(ids(batch))

        threads = [threading.Thread(target=claimer, args=(n,), daemon=True) for n in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        every = [message_id for batch in claimed for message_id in batch]
        assert len(every) == len(set(every)) == 40, claimed
        assert store.claim_outbox(at(2), at(60)) == []

    def test_postgresql_claimers_skip_rows_another_claimer_holds(self, postgres_backend: Backend) -> None:
        # (SQLite has no row locks: BEGIN IMMEDIATE lets one claimer in at a time.)
        db = postgres_backend.open("connector")
        store = SqlDspStore(db, FixedClock(at(0)))
        start(store, "c-1", messages=3)
        first_id = store.pending_outbox()[0].id
        # Another replica is in the middle of claiming the oldest message: its row is locked, not yet leased.
        with db.transaction() as session:
            session.scalar(select(OutboxRow).where(OutboxRow.id == first_id).with_for_update())
            others = store.claim_outbox(at(1), at(60))
        assert first_id not in ids(others) and len(others) == 2
        assert ids(store.claim_outbox(at(1), at(60))) == [first_id]
