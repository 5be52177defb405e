"""The evidence courier against a simulated ledger: receipts kept, order kept within a lane, evidence never
given up while it could still go in, and only what the ledger refuses for good dropped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from trustspace.client.http import Signer
from trustspace.connector.dsp.courier import MAX_WAIT, Courier, evidence_wait
from trustspace.connector.dsp.worker import _problem_text
from trustspace.core.clock import FixedClock
from trustspace.core.keys import SigningKey
from trustspace.store.db import open_database
from trustspace.store.dsp_records import NewOutboxMessage
from trustspace.store.dsp_sql import SqlDspStore

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
LEDGER = "http://ledger.test/v1/ledger/entries"
Answer = Callable[[dict[str, Any]], httpx.Response]


class Ledger:
    """Stands in for the operator's log: answers each statement with what ``answer`` says, records order."""

    def __init__(self) -> None:
        self.seen: list[int] = []
        self.answer: Answer = lambda body: httpx.Response(201, json={"receipt": body["n"]})

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = httpx.Response(200, content=request.content).json()
        self.seen.append(body["n"])
        return self.answer(body)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def store(clock: FixedClock, tmp_path: Any) -> Iterator[SqlDspStore]:
    db = open_database("connector", f"sqlite:///{tmp_path}/c.db")
    yield SqlDspStore(db, clock)
    db.dispose()


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()


@pytest.fixture
def courier(store: SqlDspStore, ledger: Ledger, clock: FixedClock) -> Iterator[Courier]:
    signer = Signer(SigningKey.generate(), "did:web:c.test", "did:web:c.test#key-1", clock)
    with httpx.Client(transport=httpx.MockTransport(ledger.handle)) as http:
        yield Courier(store, http, signer, clock, _problem_text)


def queue(store: SqlDspStore, lane: str, *numbers: int) -> None:
    store.queue_outbox([NewOutboxMessage("negotiation", lane, LEDGER, "did:web:op.test", {"n": n})
                        for n in numbers])


def round_(store: SqlDspStore, courier: Courier, clock: FixedClock) -> None:
    courier.deliver(store.claim_outbox(clock.now(), clock.now() + timedelta(seconds=30)))


def test_receipts_are_kept_under_the_process_and_the_lane_is_emptied(store: SqlDspStore, courier: Courier,
                                                                     ledger: Ledger, clock: FixedClock) -> None:
    queue(store, "ledger:n-1", 1, 2)
    queue(store, "ledger:listing:o-1", 3)
    round_(store, courier, clock)
    assert ledger.seen == [1, 2, 3]
    assert store.receipts("n-1") == [{"receipt": 1}, {"receipt": 2}]
    assert store.receipts("listing:o-1") == [{"receipt": 3}]
    assert store.pending_outbox() == []


def test_an_unavailable_ledger_holds_the_lane_in_order_and_retries(store: SqlDspStore, courier: Courier,
                                                                   ledger: Ledger, clock: FixedClock) -> None:
    queue(store, "ledger:n-1", 1, 2)
    ledger.answer = lambda body: httpx.Response(503, json={"title": "busy"})
    round_(store, courier, clock)
    assert ledger.seen == [1], "the second statement waits for the first"
    first, second = store.pending_outbox("ledger:n-1")
    assert second.attempts == 0
    assert first.attempts == 1 and "503" in (first.last_error or "")
    ledger.answer = lambda body: httpx.Response(201, json={"receipt": body["n"]})
    round_(store, courier, clock)
    assert ledger.seen == [1], "nothing goes again before the backoff"
    clock.advance(evidence_wait(1))
    round_(store, courier, clock)
    assert ledger.seen == [1, 1, 2]
    assert store.receipts("n-1") == [{"receipt": 1}, {"receipt": 2}]


@pytest.mark.parametrize("status", [401, 403, 429, 500])
def test_evidence_refused_for_now_is_never_given_up(store: SqlDspStore, courier: Courier, ledger: Ledger,
                                                    clock: FixedClock, status: int) -> None:
    queue(store, "ledger:n-1", 1)
    ledger.answer = lambda body: httpx.Response(status, json={"title": "not now"})
    for _ in range(60):
        round_(store, courier, clock)
        clock.advance(MAX_WAIT)
    (waiting,) = store.pending_outbox("ledger:n-1")
    assert waiting.attempts == 60


def test_a_statement_refused_for_good_is_dropped_alone(store: SqlDspStore, courier: Courier, ledger: Ledger,
                                                       clock: FixedClock) -> None:
    queue(store, "ledger:n-1", 1, 2, 3)
    ledger.answer = lambda body: (httpx.Response(413, json={"title": "too large"}) if body["n"] == 2
                                  else httpx.Response(201, json={"receipt": body["n"]}))
    round_(store, courier, clock)
    assert ledger.seen == [1, 2, 3]
    assert store.receipts("n-1") == [{"receipt": 1}, {"receipt": 3}]
    assert store.pending_outbox() == []


def test_an_unreadable_receipt_is_asked_for_again(store: SqlDspStore, courier: Courier, ledger: Ledger,
                                                  clock: FixedClock) -> None:
    queue(store, "ledger:n-1", 1)
    ledger.answer = lambda body: httpx.Response(201, text="ok")
    round_(store, courier, clock)
    assert store.receipts("n-1") == []
    assert len(store.pending_outbox("ledger:n-1")) == 1
