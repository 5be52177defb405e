"""The usage store on every backend: keys, items, the usage log's atomic decisions, destruction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from test_repositories import run_together

from trustspace.core.errors import Conflict, NotFound
from trustspace.store.dsp.records import NewOutboxMessage
from trustspace.store.dsp.sql import SqlDspStore
from trustspace.store.usage.records import PERMIT, ProtectedItem, StoredCertificate, UsageCounts, UsageEntry
from trustspace.store.usage.sql import SqlUsageStore

if TYPE_CHECKING:
    from conftest import Backend

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def item(item_id: str, agreement: str = "agr-1", transfer: str = "tr-1", minutes: int = 0) -> ProtectedItem:
    return ProtectedItem(id=item_id, agreement_id=agreement, transfer_id=transfer, file_name="data.csv", size=10,
                         sha256="ab" * 32, nonce_info={"scheme": "aes-256-gcm-chunked/1", "chunks": 1},
                         created_at=T0 + timedelta(minutes=minutes))


def use(limit: int, decision_log: list[int] | None = None) -> Callable[[UsageCounts], UsageEntry]:
    def decide(counts: UsageCounts) -> UsageEntry:
        if decision_log is not None:
            decision_log.append(counts.of("read"))
        permit = counts.of("read") < limit
        return UsageEntry("agr-1", "read", "alice", PERMIT if permit else "deny", "counted", T0, "p", "app")
    return decide


class TestUsageStore:
    def test_first_key_of_an_agreement_wins(self, backend: Backend) -> None:
        store = SqlUsageStore(backend.open("connector"))
        first = store.add_key("agr-1", b"wrapped-1", T0)
        again = store.add_key("agr-1", b"wrapped-2", T0)
        assert first.wrapped_key == again.wrapped_key == b"wrapped-1"
        assert store.get_key("agr-2") is None

    def test_racing_first_keys_agree(self, durable_backend: Backend) -> None:
        url = durable_backend.new_url()
        durable_backend.open("connector", url)
        stores = [SqlUsageStore(durable_backend.open("connector", url)) for _ in range(4)]
        results = run_together(4, lambda n: stores[n].add_key("agr-1", f"wrapped-{n}".encode(), T0))
        assert len({r.wrapped_key for r in results if not isinstance(r, Exception)}) == 1, results

    def test_items_need_their_agreements_key(self, backend: Backend) -> None:
        store = SqlUsageStore(backend.open("connector"))
        with pytest.raises(NotFound) as missing:
            store.add_item(item("item_1"))
        assert missing.value.field == "agreementId"
        store.add_key("agr-1", b"k", T0)
        store.add_item(item("item_1"))
        store.add_item(item("item_2", minutes=1))
        with pytest.raises(Conflict):
            store.add_item(item("item_2"))
        assert [i.id for i in store.items("agr-1")] == ["item_1", "item_2"]
        assert store.item_for_transfer("tr-1").id == "item_2"  # type: ignore[union-attr]
        assert store.get_item("item_1") == item("item_1")

    def test_decisions_see_the_permitted_uses_so_far(self, backend: Backend) -> None:
        store = SqlUsageStore(backend.open("connector"))
        store.add_key("agr-1", b"k", T0)
        seen: list[int] = []
        decisions = [store.decide_use("agr-1", use(2, seen)).decision for _ in range(4)]
        assert decisions == ["permit", "permit", "deny", "deny"] and seen == [0, 1, 2, 2]
        assert [e.decision for e in store.usage_log("agr-1")] == decisions

    def test_a_decision_that_raises_logs_nothing(self, backend: Backend) -> None:
        store = SqlUsageStore(backend.open("connector"))
        store.add_key("agr-1", b"k", T0)

        def broken(counts: UsageCounts) -> UsageEntry:
            raise RuntimeError("guard crashed")

        with pytest.raises(RuntimeError):
            store.decide_use("agr-1", broken)
        assert store.usage_log("agr-1") == []

    def test_parallel_reads_never_exceed_the_count(self, durable_backend: Backend) -> None:
        url = durable_backend.new_url()
        store = SqlUsageStore(durable_backend.open("connector", url))
        store.add_key("agr-1", b"k", T0)
        stores = [SqlUsageStore(durable_backend.open("connector", url)) for _ in range(4)]
        results = run_together(20, lambda n: stores[n % 4].decide_use("agr-1", use(10)))
        assert not [r for r in results if isinstance(r, Exception)], results
        assert sum(1 for r in results if isinstance(r, UsageEntry) and r.decision == PERMIT) == 10

    def test_destroy_drops_the_key_marks_items_and_queues_the_statement(self, backend: Backend) -> None:
        db = backend.open("connector")
        store = SqlUsageStore(db)
        store.add_key("agr-1", b"k", T0)
        store.add_item(item("item_1"))
        certificate = StoredCertificate("urn:uuid:1", "agr-1", {"type": "DestructionCertificate"}, T0)
        message = NewOutboxMessage("transfer", "ledger:usage:agr-1", "http://op/v1/ledger/entries", "did:web:op",
                                   {"type": "destruction-certificate"})
        destroyed = store.destroy("agr-1", certificate, [message])
        assert [i.id for i in destroyed] == ["item_1"]
        assert store.get_key("agr-1").wrapped_key is None  # type: ignore[union-attr]
        assert store.items("agr-1") == [] and store.items("agr-1", deleted=True)[0].deleted_at == T0
        assert store.certificates("agr-1") == [certificate]
        assert store.agreements_held() == []
        assert [m.process_id for m in SqlDspStore(db).pending_outbox()] == ["ledger:usage:agr-1"]
        with pytest.raises(Conflict):
            store.destroy("agr-1", StoredCertificate("urn:uuid:2", "agr-1", {}, T0))
        with pytest.raises(Conflict):
            store.add_item(item("item_3"))
