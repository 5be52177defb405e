"""The evidence courier against a simulated ledger, with and without the batch endpoint: receipts kept, order
kept, evidence never given up while it could still go in, only what the ledger refuses for good dropped."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from trustspace.client.http import Signer
from trustspace.connector.dsp.courier import MAX_BATCH, MAX_WAIT, Courier, evidence_wait
from trustspace.core.clock import FixedClock
from trustspace.core.keys import SigningKey
from trustspace.store.db import open_database
from trustspace.store.dsp.records import NewOutboxMessage
from trustspace.store.dsp.sql import SqlDspStore

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
LEDGER = "http://ledger.test/v1/ledger/entries"
Answer = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]


def receipted(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return 201, {"receipt": body["n"]}


class Ledger:
    """Stands in for the operator's log: ``answer`` judges each statement, ``refuse_batches`` the whole batch
    request; ``seen`` is every statement it was shown, in order, and ``requests`` how many requests came."""

    def __init__(self, batching: bool) -> None:
        self.batching = batching
        self.seen: list[int] = []
        self.requests = 0
        self.answer: Answer = receipted
        self.refuse_batches: int | None = None

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        body = json.loads(request.content)
        if not request.url.path.endswith("/batch"):
            self.seen.append(body["n"])
            status, answer = self.answer(body)
            return httpx.Response(status, json=answer)
        if not self.batching:
            return httpx.Response(404, json={"title": "not found"})
        if self.refuse_batches is not None:
            return httpx.Response(self.refuse_batches, json={"title": "not now"})
        results = []
        for statement in body["statements"]:
            self.seen.append(statement["n"])
            status, answer = self.answer(statement)
            results.append({"status": status, **({"receipt": answer} if status < 300
                                                 else {"problem": {"detail": answer["title"]}})})
        return httpx.Response(200, json={"results": results})


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def store(clock: FixedClock, tmp_path: Path) -> Iterator[SqlDspStore]:
    db = open_database("connector", f"sqlite:///{tmp_path}/c.db")
    yield SqlDspStore(db, clock)
    db.dispose()


@pytest.fixture(params=[True, False], ids=["batches", "one-by-one"])
def ledger(request: pytest.FixtureRequest) -> Ledger:
    return Ledger(batching=request.param)


@pytest.fixture
def courier(store: SqlDspStore, ledger: Ledger, clock: FixedClock) -> Iterator[Courier]:
    signer = Signer(SigningKey.generate(), "did:web:c.test", "did:web:c.test#key-1", clock)
    with httpx.Client(transport=httpx.MockTransport(ledger.handle)) as http:
        yield Courier(store, http, signer, clock)


def queue(store: SqlDspStore, lane: str, *numbers: int) -> None:
    store.queue_outbox([NewOutboxMessage("negotiation", lane, LEDGER, "did:web:op.test", {"n": n})
                        for n in numbers])


def round_(store: SqlDspStore, courier: Courier, clock: FixedClock) -> None:
    courier.deliver(store.claim_outbox(clock.now(), clock.now() + timedelta(seconds=30), limit=200))


def test_receipts_are_kept_under_the_process_and_the_lanes_are_emptied(store: SqlDspStore, courier: Courier,
                                                                       ledger: Ledger, clock: FixedClock) -> None:
    queue(store, "ledger:n-1", 1, 2)
    queue(store, "ledger:listing:o-1", 3)
    round_(store, courier, clock)
    assert ledger.seen == [1, 2, 3]
    assert store.receipts("n-1") == [{"receipt": 1}, {"receipt": 2}]
    assert store.receipts("listing:o-1") == [{"receipt": 3}]
    assert store.pending_outbox() == []


def test_a_round_needs_one_request_per_full_batch() -> None:
    ledger = Ledger(batching=True)
    clock = FixedClock(T0)
    db = open_database("connector", "sqlite://")
    store = SqlDspStore(db, clock)
    signer = Signer(SigningKey.generate(), "did:web:c.test", "did:web:c.test#key-1", clock)
    with httpx.Client(transport=httpx.MockTransport(ledger.handle)) as http:
        courier = Courier(store, http, signer, clock)
        for lane in range(MAX_BATCH + 10):
            queue(store, f"ledger:n-{lane}", lane)
        round_(store, courier, clock)
    assert ledger.requests == 2 and len(ledger.seen) == MAX_BATCH + 10
    assert store.pending_outbox() == []
    db.dispose()


def test_an_unavailable_ledger_is_retried_after_the_backoff_in_order(store: SqlDspStore, courier: Courier,
                                                                     ledger: Ledger, clock: FixedClock) -> None:
    queue(store, "ledger:n-1", 1, 2)
    ledger.refuse_batches = 503
    ledger.answer = lambda body: (503, {"title": "busy"})
    round_(store, courier, clock)
    first, second = store.pending_outbox("ledger:n-1")
    assert first.attempts == 1 and "503" in (first.last_error or "")
    ledger.refuse_batches, ledger.answer = None, receipted
    seen_before = list(ledger.seen)
    round_(store, courier, clock)
    assert ledger.seen == seen_before, "nothing goes again before the backoff"
    clock.advance(evidence_wait(second.attempts + 1))
    round_(store, courier, clock)
    assert ledger.seen[len(seen_before):] == [1, 2]
    assert store.receipts("n-1") == [{"receipt": 1}, {"receipt": 2}]


@pytest.mark.parametrize("status", [401, 403, 429, 500])
def test_evidence_refused_for_now_is_never_given_up(store: SqlDspStore, courier: Courier, ledger: Ledger,
                                                    clock: FixedClock, status: int) -> None:
    queue(store, "ledger:n-1", 1)
    ledger.refuse_batches = status
    ledger.answer = lambda body: (status, {"title": "not now"})
    for _ in range(60):
        round_(store, courier, clock)
        clock.advance(MAX_WAIT)
    (waiting,) = store.pending_outbox("ledger:n-1")
    assert waiting.attempts == 60


def test_a_statement_refused_for_good_is_dropped_alone(store: SqlDspStore, courier: Courier, ledger: Ledger,
                                                       clock: FixedClock) -> None:
    queue(store, "ledger:n-1", 1, 2, 3)
    ledger.answer = lambda body: (413, {"title": "too large"}) if body["n"] == 2 else receipted(body)
    round_(store, courier, clock)
    assert ledger.seen == [1, 2, 3]
    assert store.receipts("n-1") == [{"receipt": 1}, {"receipt": 3}]
    assert store.pending_outbox() == []


def test_a_refused_batch_is_sent_again_one_by_one(store: SqlDspStore, courier: Courier, ledger: Ledger,
                                                  clock: FixedClock) -> None:
    queue(store, "ledger:n-1", 1, 2)
    ledger.refuse_batches = 422
    round_(store, courier, clock)
    assert store.receipts("n-1") == [{"receipt": 1}, {"receipt": 2}]


def test_an_unreadable_receipt_is_asked_for_again() -> None:
    clock = FixedClock(T0)
    db = open_database("connector", "sqlite://")
    store = SqlDspStore(db, clock)
    signer = Signer(SigningKey.generate(), "did:web:c.test", "did:web:c.test#key-1", clock)
    transport = httpx.MockTransport(lambda request: httpx.Response(404) if request.url.path.endswith("/batch")
                                    else httpx.Response(201, text="ok"))
    with httpx.Client(transport=transport) as http:
        queue(store, "ledger:n-1", 1)
        round_(store, Courier(store, http, signer, clock), clock)
    assert store.receipts("n-1") == []
    assert len(store.pending_outbox("ledger:n-1")) == 1
    db.dispose()
