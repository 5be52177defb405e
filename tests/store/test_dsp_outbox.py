"""The DSP store's outbox and event history, on SQLite in memory, SQLite in a file and PostgreSQL.

Claiming from racing threads is in ``test_dsp_concurrency.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import pytest
from dsp_factories import at, message, start

from trustspace.core.clock import FixedClock
from trustspace.core.errors import ValidationFailed
from trustspace.store.dsp.interfaces import Lanes
from trustspace.store.dsp.records import Change, OutboxMessage
from trustspace.store.dsp.sql import SqlDspStore

if TYPE_CHECKING:  # tests are not a package; pytest loads this folder's conftest for the fixtures
    from conftest import Backend


def ids(messages: list[OutboxMessage]) -> list[int]:
    return [message.id for message in messages]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(at(0))


@pytest.fixture
def store(backend: Backend, clock: FixedClock) -> SqlDspStore:
    return SqlDspStore(backend.open("connector"), clock)


class TestDspOutbox:
    def test_claim_takes_due_messages_oldest_first_up_to_the_limit(self, store: SqlDspStore, clock: FixedClock) -> None:
        start(store, "c-1", messages=3)
        clock.set(at(100))
        start(store, "c-2", messages=2)  # due at 100
        first = store.claim_outbox(at(50), lease_until=at(200), limit=2)
        assert [(m.process_id, m.body) for m in first] == [("c-1", {"n": 0}), ("c-1", {"n": 1})]
        assert [(m.process_id, m.body) for m in store.claim_outbox(at(50), at(200))] == [("c-1", {"n": 2})]
        assert store.claim_outbox(at(50), at(200)) == []  # c-2's messages are not due yet
        assert [m.process_id for m in store.claim_outbox(at(100), at(200))] == ["c-2", "c-2"]

    def test_lanes_claim_by_process_id_prefix_and_the_prefix_is_not_a_pattern(self, store: SqlDspStore) -> None:
        start(store, "c-1", messages=1)
        store.queue_outbox([message("ledger:c-1", 1), message("ledger_c-2", 2), message("ledger:c-3", 3),
                            message("LEDGER:c-4", 4)])
        evidence = store.claim_outbox(at(0), at(30), lanes=Lanes("ledger:"))
        assert [m.process_id for m in evidence] == ["ledger:c-1", "ledger:c-3"]  # "_" is no wildcard, case counts
        protocol = store.claim_outbox(at(0), at(30), lanes=Lanes("ledger:", inside=False))
        assert [m.process_id for m in protocol] == ["c-1", "ledger_c-2", "LEDGER:c-4"]
        assert store.claim_outbox(at(0), at(30)) == []  # all leased now
        store.queue_outbox([message("50%_off", 4), message("50%", 5)])
        assert [m.process_id for m in store.claim_outbox(at(0), at(30), lanes=Lanes("50%_"))] == ["50%_off"]

    def test_leased_messages_are_claimable_again_once_the_lease_expires(self, store: SqlDspStore) -> None:
        start(store, "c-1", messages=2)
        claimed = store.claim_outbox(at(0), lease_until=at(30))
        assert len(claimed) == 2
        assert store.claim_outbox(at(29), at(60)) == []
        assert store.claim_outbox(at(30), at(60)) == []  # the lease runs until the instant itself
        again = store.claim_outbox(at(31), at(60))
        assert ids(again) == ids(claimed)
        assert [m.attempts for m in again] == [0, 0]  # a lost lease is not a failed attempt

    def test_mark_sent(self, store: SqlDspStore) -> None:
        start(store, "c-1", messages=2)
        first, second = store.claim_outbox(at(0), at(30))
        store.mark_sent(first.id, at(1))
        store.mark_sent(first.id, at(2))  # a repeat changes nothing
        assert ids(store.pending_outbox()) == [second.id]
        assert ids(store.claim_outbox(at(31), at(60))) == [second.id]  # the sent one is never claimed again

    def test_mark_delivered_learns_the_provider_pid_once_and_clears_a_problem(self, store: SqlDspStore) -> None:
        start(store, "c-1", messages=3)
        first, second, third = store.claim_outbox(at(0), at(30))
        store.note_problem("negotiation", "c-1", "provider unreachable", at(1))
        store.mark_delivered(first, at(2), provider_pid="p-9")
        learnt = store.get_negotiation("c-1")
        assert learnt is not None and (learnt.provider_pid, learnt.reason, learnt.updated_at) == ("p-9", None, at(2))
        store.mark_delivered(second, at(3), provider_pid="p-other")  # the first answer stands
        store.mark_delivered(third, at(4))  # nothing to learn: no event
        again = store.get_negotiation("c-1")
        assert again is not None and (again.provider_pid, again.updated_at) == ("p-9", at(2))
        assert store.pending_outbox() == []
        assert [(e.state, e.detail, e.at) for e in store.events(process_id="c-1")][-2:] == [
            ("REQUESTED", "provider unreachable", at(1)),
            ("REQUESTED", "counter-party acknowledged; problem cleared", at(2)),
        ]

    def test_mark_delivered_keeps_a_termination_reason_and_ignores_a_process_that_is_gone(
        self, store: SqlDspStore
    ) -> None:
        start(store, "c-1", messages=2)
        first, second = store.claim_outbox(at(0), at(30))
        store.transition_negotiation("c-1", "REQUESTED", "TERMINATED", Change(reason="declined"), [], "ended")
        store.mark_delivered(first, at(5))
        ended = store.get_negotiation("c-1")
        assert ended is not None and (ended.state, ended.reason) == ("TERMINATED", "declined")
        gone = OutboxMessage(second.id, "negotiation", "c-404", second.url, second.audience, second.body,
                             second.created_at, 0, second.next_attempt_at)
        store.mark_delivered(gone, at(6), provider_pid="p-1")  # marked sent, nothing else to update
        assert store.pending_outbox() == []

    def test_mark_failed_schedules_a_retry(self, store: SqlDspStore) -> None:
        start(store, "c-1")
        [message] = store.claim_outbox(at(0), at(30))
        store.mark_failed(message.id, "503 Service Unavailable", next_attempt_at=at(20))
        [pending] = store.pending_outbox("c-1")
        assert (pending.attempts, pending.last_error, pending.next_attempt_at) == (1, "503 Service Unavailable", at(20))
        assert store.claim_outbox(at(19), at(50)) == []  # not before its time, though the lease is released
        [retry] = store.claim_outbox(at(20), at(50))
        store.mark_failed(retry.id, "timeout", next_attempt_at=at(60))
        [pending] = store.pending_outbox("c-1")
        assert (pending.attempts, pending.last_error, pending.next_attempt_at) == (2, "timeout", at(60))

    def test_a_failure_reported_after_sending_changes_nothing(self, store: SqlDspStore) -> None:
        start(store, "c-1")
        [message] = store.claim_outbox(at(0), at(30))
        store.mark_sent(message.id, at(1))
        store.mark_failed(message.id, "late report from a worker whose lease ran out", at(5))
        assert store.pending_outbox() == []
        assert store.claim_outbox(at(10), at(40)) == []

    def test_drop_outbox_gives_up_on_one_process(self, store: SqlDspStore) -> None:
        start(store, "c-1", messages=3)
        start(store, "c-2", messages=1)
        [sent, _leased] = store.claim_outbox(at(0), at(30), limit=2)
        store.mark_sent(sent.id, at(1))
        assert store.drop_outbox("negotiation", "c-1") == 2  # the leased one too: it must not be sent now
        assert store.drop_outbox("negotiation", "c-1") == 0
        assert store.drop_outbox("transfer", "c-2") == 0  # another kind
        assert [m.process_id for m in store.pending_outbox()] == ["c-2"]
        with pytest.raises(ValidationFailed):
            store.drop_outbox("contract", "c-1")

    def test_reports_on_a_dropped_message_are_ignored(self, store: SqlDspStore) -> None:
        # The process ended while a worker was sending: its report must neither fail nor bring the message back.
        start(store, "c-1", messages=2)
        first, second = store.claim_outbox(at(0), at(30))
        assert store.drop_outbox("negotiation", "c-1") == 2
        store.mark_sent(first.id, at(1))
        store.mark_failed(second.id, "timeout", at(5))
        assert store.pending_outbox() == []
        assert store.claim_outbox(at(40), at(60)) == []

    def test_pending_outbox(self, store: SqlDspStore) -> None:
        start(store, "c-1", messages=2)
        start(store, "c-2", messages=1)
        store.claim_outbox(at(0), at(30), limit=1)  # leased messages are still pending
        assert [(m.process_id, m.body) for m in store.pending_outbox()] == [
            ("c-1", {"n": 0}), ("c-1", {"n": 1}), ("c-2", {"n": 0}),
        ]  # fmt: skip
        assert [m.process_id for m in store.pending_outbox("c-2")] == ["c-2"]
        assert store.pending_outbox("nope") == []

    def test_claim_arguments_are_checked(self, store: SqlDspStore) -> None:
        with pytest.raises(ValidationFailed):
            store.claim_outbox(at(10), lease_until=at(10))
        with pytest.raises(ValidationFailed):
            store.claim_outbox(at(10), at(20), limit=0)
        with pytest.raises(ValidationFailed):
            store.claim_outbox(datetime(2026, 1, 1), at(20))

    def test_events_page_in_ascending_order(self, store: SqlDspStore) -> None:
        for n in range(3):
            start(store, f"c-{n}", messages=0)
        store.transition_negotiation("c-1", "REQUESTED", "OFFERED", Change(), [], "offered")
        events = store.events()
        assert [(e.process_id, e.state) for e in events] == [
            ("c-0", "REQUESTED"), ("c-1", "REQUESTED"), ("c-2", "REQUESTED"), ("c-1", "OFFERED"),
        ]  # fmt: skip
        assert [e.id for e in events] == sorted(e.id for e in events)
        assert store.events(after_id=events[1].id) == events[2:]
        assert store.events(after_id=events[0].id, limit=2) == events[1:3]
        assert store.events(process_id="c-1") == [events[1], events[3]]
        assert store.events(after_id=events[1].id, process_id="c-1") == [events[3]]
        assert store.events(after_id=events[3].id) == []
        with pytest.raises(ValidationFailed):
            store.events(limit=0)


class TestReaddress:
    def test_a_moved_provider_takes_the_process_and_its_unsent_messages_along(self, store: SqlDspStore) -> None:
        start(store, "c-1", messages=2)
        start(store, "c-2", messages=1)
        sent = store.claim_outbox(at(0), at(30), limit=1)[0]
        store.mark_sent(sent.id, at(1))
        old = store.get_negotiation("c-1").counter_party_address  # type: ignore[union-attr]
        assert store.readdress("negotiation", "c-1", old, "https://peer.example/v2/dsp/") == 1
        assert store.get_negotiation("c-1").counter_party_address == "https://peer.example/v2/dsp"  # type: ignore[union-attr]
        assert [m.url for m in store.pending_outbox("c-1")] == ["https://peer.example/v2/dsp/1"]
        assert [m.url for m in store.pending_outbox("c-2")] == ["https://peer.example/dsp/0"]  # another process
        assert "moved" in store.events(process_id="c-1")[-1].detail

    def test_a_stale_old_base_changes_nothing(self, store: SqlDspStore) -> None:
        start(store, "c-1", messages=1)
        assert store.readdress("negotiation", "c-1", "https://elsewhere.example/dsp", "https://x.example") == 0
        assert store.readdress("negotiation", "nobody", "https://peer.example/dsp", "https://x.example") == 0
        assert [m.url for m in store.pending_outbox("c-1")] == ["https://peer.example/dsp/0"]
