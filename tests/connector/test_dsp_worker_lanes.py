"""The worker claims protocol messages every round and evidence at most every ``evidence_every`` seconds, so
the ledger gets a few large batches instead of a request per move; evidence never rides the protocol claim."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from trustspace.connector.dsp.worker import EVIDENCE_LANES, PROTOCOL_LANES, Worker
from trustspace.core.clock import FixedClock
from trustspace.store.dsp.interfaces import Lanes
from trustspace.store.dsp.records import OutboxMessage

T0 = datetime(2026, 11, 27, tzinfo=UTC)


class ClaimLog:
    """A store that records each claim (its lanes, and the time it was made at), and gives out ``evidence``
    once for every claim of the evidence lanes."""

    def __init__(self, evidence: list[OutboxMessage] | None = None) -> None:
        self.claims: list[Lanes | None] = []
        self.times: list[datetime] = []
        self.evidence = evidence or []

    def claim_outbox(self, now: datetime, lease_until: datetime, limit: int = 20, *,
                     lanes: Lanes | None = None) -> list[OutboxMessage]:
        self.claims.append(lanes)
        self.times.append(now)
        return list(self.evidence) if lanes == EVIDENCE_LANES else []


def evidence_message(n: int) -> OutboxMessage:
    return OutboxMessage(n, "negotiation", "ledger:c-1", "http://operator/v1/ledger/entries", "did:web:op", {"n": n},
                         T0, 0, T0)


def claims_in(rounds: int, evidence_every: float) -> list[Lanes | None]:
    """The lanes claimed in ``rounds`` delivery rounds of a worker with that evidence interval."""
    store = ClaimLog()
    running = Worker(cast(Any, store), cast(Any, None), cast(Any, None), cast(Any, None), FixedClock(T0),
                     evidence_every=evidence_every)
    try:
        for _ in range(rounds):
            running.deliver()
    finally:
        running.stop()
    return store.claims


def test_evidence_is_claimed_at_most_once_per_interval_and_protocol_every_round() -> None:
    assert claims_in(3, evidence_every=3600) == [PROTOCOL_LANES, EVIDENCE_LANES, PROTOCOL_LANES, PROTOCOL_LANES]


def test_without_an_interval_evidence_goes_every_round() -> None:
    assert claims_in(2, evidence_every=0) == [PROTOCOL_LANES, EVIDENCE_LANES] * 2


def test_one_evidence_batch_at_a_time_on_its_own_thread() -> None:
    """A slow ledger: while a batch is on its way no more evidence is claimed (its statements could overtake
    the first ones if those failed), and the protocol's senders are never used for it."""
    store, release, threads = ClaimLog([evidence_message(1)]), threading.Event(), []
    running = Worker(cast(Any, store), cast(Any, None), cast(Any, None), cast(Any, None), FixedClock(T0),
                     evidence_every=0)

    def slow(messages: list[OutboxMessage]) -> None:
        threads.append(threading.current_thread().name)
        assert release.wait(10)

    running._deliver_evidence = slow  # type: ignore[method-assign]
    try:
        running.deliver()
        running.deliver()
        running.deliver()
        assert store.claims.count(EVIDENCE_LANES) == 1
        release.set()
        running._evidence_job.result(10)
        running.deliver()
        assert store.claims.count(EVIDENCE_LANES) == 2
    finally:
        release.set()
        running.stop()
    assert all(name.startswith("evidence") for name in threads)


def test_evidence_is_claimed_at_the_time_it_is_claimed_not_at_the_start_of_the_round() -> None:
    clock = FixedClock(T0)

    class SlowProtocol(ClaimLog):
        def claim_outbox(self, now: datetime, lease_until: datetime, limit: int = 20, *,
                         lanes: Lanes | None = None) -> list[OutboxMessage]:
            claimed = super().claim_outbox(now, lease_until, limit, lanes=lanes)
            clock.advance(35)  # the round's protocol deliveries took 35 s
            return claimed

    store = SlowProtocol()
    running = Worker(cast(Any, store), cast(Any, None), cast(Any, None), cast(Any, None), clock, evidence_every=0)
    try:
        running.deliver()
    finally:
        running.stop()
    assert store.times == [T0, T0 + timedelta(seconds=35)]


def test_the_lanes_split_on_the_ledger_prefix() -> None:
    assert PROTOCOL_LANES.prefix == EVIDENCE_LANES.prefix == "ledger:"
    assert (PROTOCOL_LANES.inside, EVIDENCE_LANES.inside) == (False, True)
