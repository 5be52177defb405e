"""A requested pull's data is prepared on the data pool, so a slow digest never holds up the worker's round:
the transfer waits (and nothing else does) until its data is ready, then advances."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

from trustspace.connector.dsp.worker import Worker
from trustspace.core.clock import FixedClock
from trustspace.store.dsp_records import TransferRecord

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


def test_a_failed_preparation_lets_the_transfer_advance_to_be_answered() -> None:
    class Broken(SlowDataPlane):
        def prepare(self, record: TransferRecord) -> None:
            raise OSError("the file is gone")

    plane, advanced = Broken(), []
    running = worker(plane, advanced)
    try:
        running.advance([], [transfer("t-1")])
        running._movers.shutdown(wait=True)
        running.advance([], [transfer("t-1")])
        assert advanced == ["t-1"], "advancing raises the failure again and answers it as before"
    finally:
        running.stop()
