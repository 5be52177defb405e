"""A requested pull's data is prepared on the data pool, so a slow digest never holds up the worker's round:
the transfer waits (and nothing else does) until its data is ready, then advances."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

from trustspace.connector.dsp.worker import MAX_DATA_ATTEMPTS, Worker
from trustspace.core.clock import FixedClock
from trustspace.store.dsp.records import TransferRecord

T0 = datetime(2026, 11, 27, tzinfo=UTC)


def transfer(pid: str, *, role: str = "provider", state: str = "REQUESTED",
             kind: str = "HttpData-PULL") -> TransferRecord:
    return TransferRecord(pid, role, state, "c-" + pid, pid, "agr-1", "did:web:c", "http://c", kind, T0, T0)


class SlowDataPlane:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.ready: set[str] = set()
        self.calls: list[str] = []

    def prepared(self, transfer_id: str) -> bool:
        return transfer_id in self.ready

    def prepare(self, record: TransferRecord) -> None:
        self.calls.append(record.id)
        assert self.release.wait(10)
        self.ready.add(record.id)


def worker(plane: SlowDataPlane, advanced: list[str]) -> Worker:
    transfers = SimpleNamespace(data_plane=plane, advance=lambda t: advanced.append(t.id))
    negotiations = SimpleNamespace(advance=lambda n: None)
    return Worker(cast(Any, object()), cast(Any, negotiations), cast(Any, transfers), cast(Any, None),
                  FixedClock(T0))


def test_a_slow_preparation_holds_up_only_its_own_transfer() -> None:
    plane, advanced = SlowDataPlane(), []
    running = worker(plane, advanced)
    try:
        slow, push, started = transfer("t-1"), transfer("t-2", kind="HttpData-PUSH"), transfer("t-3", state="STARTED")
        running.advance([], [slow, push, started])
        running.advance([], [slow, push, started])  # a second round does not prepare twice
        assert advanced == ["t-2", "t-3", "t-2", "t-3"]
        plane.release.set()
        running._movers.shutdown(wait=True)
        assert plane.calls == ["t-1"]
        running.advance([], [slow])
        assert advanced[-1] == "t-1"
    finally:
        running.stop()


class Broken(SlowDataPlane):
    def prepare(self, record: TransferRecord) -> None:
        self.calls.append(record.id)
        raise OSError("SELECT secret FROM t: no such table")


def failing_worker(clock: FixedClock) -> tuple[Worker, Broken, list[str], list[tuple[str, str]], list[str]]:
    plane, advanced, ended, problems = Broken(), [], [], []
    transfers = SimpleNamespace(data_plane=plane, advance=lambda t: advanced.append(t.id),
                                act=lambda pid, message, reason: ended.append((pid, reason)))
    store = SimpleNamespace(note_problem=lambda kind, pid, problem, at: problems.append(problem))
    negotiations = SimpleNamespace(advance=lambda n: None)
    return (Worker(cast(Any, store), cast(Any, negotiations), cast(Any, transfers), cast(Any, None), clock),
            plane, advanced, ended, problems)


def settle(running: Worker) -> None:
    deadline = time.monotonic() + 10
    while running._moving and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_failing_source_is_retried_with_growing_waits_not_in_a_spin() -> None:
    clock = FixedClock(T0)
    running, plane, advanced, ended, problems = failing_worker(clock)
    try:
        for _ in range(50):  # fifty worker rounds in the same second: one attempt
            running.advance([], [transfer("t-1")])
            settle(running)
        assert plane.calls == ["t-1"] and advanced == [] and ended == []
        clock.advance(1.5)
        running.advance([], [transfer("t-1")])
        settle(running)
        assert plane.calls == ["t-1", "t-1"]
        assert "attempt 2 of" in problems[-1] and "next in 2 s" in problems[-1]
    finally:
        running.stop()


def test_a_source_that_keeps_failing_ends_the_transfer_telling_the_consumer_nothing_internal() -> None:
    clock = FixedClock(T0)
    running, plane, advanced, ended, _ = failing_worker(clock)
    try:
        for _ in range(MAX_DATA_ATTEMPTS):
            running.advance([], [transfer("t-1")])
            settle(running)
            clock.advance(120)
        assert ended == [("t-1", "data source failed")]
        assert len(plane.calls) == MAX_DATA_ATTEMPTS and advanced == []
    finally:
        running.stop()
