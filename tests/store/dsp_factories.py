"""Records and helpers the DSP store tests share (tests/store is on sys.path, as pytest puts it there)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from trustspace.store.dsp.records import Agreement, Negotiation, NewOutboxMessage, TransferRecord
from trustspace.store.dsp.sql import SqlDspStore

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
PROVIDER = "did:web:provider.example"
CONSUMER = "did:web:consumer.example"

T = TypeVar("T")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def negotiation(pid: str = "c-1", role: str = "consumer", counter_party: str = PROVIDER, **fields: Any) -> Negotiation:
    """Ours as the consumer (id = consumer_pid), or as the provider when ``role`` says so (id = provider_pid)."""
    own = {"consumer_pid": pid, "provider_pid": None} if role == "consumer" else {"provider_pid": pid}
    values: dict[str, Any] = {
        "id": pid, "role": role, "state": "REQUESTED", "consumer_pid": "c-remote", "counter_party": counter_party,
        "counter_party_address": "https://peer.example/dsp", "offer": {"@id": "offer-1"}, "asset_id": "asset-1",
        "created_at": at(0), "updated_at": at(0), **own, **fields,
    }  # fmt: skip
    return Negotiation(**values)


def transfer(pid: str = "tc-1", role: str = "consumer", counter_party: str = PROVIDER, **fields: Any) -> TransferRecord:
    own = {"consumer_pid": pid, "provider_pid": None} if role == "consumer" else {"provider_pid": pid}
    values: dict[str, Any] = {
        "id": pid, "role": role, "state": "REQUESTED", "consumer_pid": "tc-remote", "agreement_id": "agr-1",
        "counter_party": counter_party, "counter_party_address": "https://peer.example/dsp",
        "transfer_type": "HttpData-PULL", "created_at": at(0), "updated_at": at(0), **own, **fields,
    }  # fmt: skip
    return TransferRecord(**values)


def message(process_id: str, n: int = 0, kind: str = "negotiation", body: Any = None) -> NewOutboxMessage:
    return NewOutboxMessage(kind, process_id, f"https://peer.example/dsp/{n}", PROVIDER, body or {"n": n})


def agreement(negotiation_id: str = "c-1", agreement_id: str = "agr-1") -> Agreement:
    document = {"@type": "Agreement", "@id": agreement_id, "target": "asset-1"}
    return Agreement(agreement_id, negotiation_id, "asset-1", PROVIDER, CONSUMER, document, at(5))


def written(store: SqlDspStore, process_id: str) -> tuple[Any, ...]:
    """Everything a transition of ``process_id`` could have written."""
    process = store.get_negotiation(process_id) or store.get_transfer(process_id)
    return process, store.pending_outbox(process_id), store.events(process_id=process_id), store.list_agreements()


def run_together(count: int, work: Callable[[int], T]) -> list[T | Exception]:
    """Start ``count`` threads at the same instant; each returns its result or the exception it raised."""
    barrier = threading.Barrier(count)
    results: list[T | Exception] = [RuntimeError("did not run")] * count

    def worker(n: int) -> None:
        barrier.wait()
        try:
            results[n] = work(n)
        except Exception as error:
            results[n] = error

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def start(store: SqlDspStore, pid: str, messages: int = 1, created: float = 0) -> None:
    """A consumer negotiation with ``messages`` queued messages (bodies ``{"n": 0}``, ``{"n": 1}``...)."""
    record = negotiation(pid, created_at=at(created), updated_at=at(created))
    store.create_negotiation(record, [message(pid, n) for n in range(messages)], "requested")
