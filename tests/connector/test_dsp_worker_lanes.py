"""The worker claims protocol messages every round and evidence at most every ``evidence_every`` seconds, so
the ledger gets a few large batches instead of a request per move; evidence never rides the protocol claim."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from trustspace.connector.dsp.worker import EVIDENCE_LANES, PROTOCOL_LANES, Worker
from trustspace.core.clock import FixedClock
from trustspace.store.dsp_interfaces import Lanes
from trustspace.store.dsp_records import OutboxMessage

T0 = datetime(2026, 11, 27, tzinfo=UTC)


class ClaimLog:
    """A store that records which lanes each claim asked for, and has nothing to give."""

    def __init__(self) -> None:
        self.claims: list[Lanes | None] = []

    def claim_outbox(self, now: datetime, lease_until: datetime, limit: int = 20, *,
                     lanes: Lanes | None = None) -> list[OutboxMessage]:
        self.claims.append(lanes)
        return []


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


def test_the_lanes_split_on_the_ledger_prefix() -> None:
    assert PROTOCOL_LANES.prefix == EVIDENCE_LANES.prefix == "ledger:"
    assert (PROTOCOL_LANES.inside, EVIDENCE_LANES.inside) == (False, True)
