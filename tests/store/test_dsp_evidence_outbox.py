"""Evidence queued with what it describes: a product listing in the offer's own transaction (both stored, or
neither), a data-plane access decision in a transaction of its own; on SQLite in memory, in a file and
PostgreSQL."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from dsp_factories import CONSUMER, PROVIDER, at, message

from trustspace.connector.dataplane.decisions import AccessDecision, Attempt
from trustspace.connector.evidence import LEDGER_PATH, EvidenceRecorder, EvidencingDspStore, listing_document
from trustspace.core.canonical import canonicalize
from trustspace.core.clock import FixedClock
from trustspace.core.errors import Conflict, NotFound, ValidationFailed
from trustspace.core.keys import SigningKey
from trustspace.ledger.statements import Statement, digest_payload, verify_statement
from trustspace.store.dsp.records import Asset, OfferRecord, OutboxMessage, PolicyRecord
from trustspace.store.dsp.sql import SqlDspStore

if TYPE_CHECKING:  # tests are not a package; pytest loads this folder's conftest for the fixtures
    from conftest import Backend

SECRET = "s3cret-password"
ASSET = Asset("a-1", "Tax records", "monthly", {"type": "sql", "url": f"postgresql://tax:{SECRET}@db/tax"},
              {"keyword": ["tax"]}, at(1))
POLICY = PolicyRecord("pol-1", {"permission": [{"action": "use"}]}, at(1))
KEY = SigningKey.generate()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(at(10))


def evidencing(backend: Backend, clock: FixedClock, *, recorder: bool = True) -> EvidencingDspStore:
    evidence = EvidenceRecorder(KEY, PROVIDER, f"{PROVIDER}#key-1", "https://operator.example",
                                "did:web:operator.example", clock)
    store = EvidencingDspStore(backend.open("connector"), evidence if recorder else None)
    store.add_asset(ASSET)
    store.add_policy(POLICY)
    return store


def verified(queued: OutboxMessage) -> Statement:
    assert queued.url.endswith(LEDGER_PATH)
    return verify_statement(queued.body, lambda _: KEY.public)


def decision(transfer: str, verdict: str = "permit", reason: str = "transfer-started",
             **attempt: Any) -> AccessDecision:
    return AccessDecision(Attempt(transfer, "data:read", "GET", **attempt), verdict, reason, CONSUMER, "agr-1",
                          "t-1", at(20))


class TestListingEvidence:
    def test_an_offer_queues_exactly_one_signed_listing(self, backend: Backend, clock: FixedClock) -> None:
        store = evidencing(backend, clock)
        offer = store.add_offer(OfferRecord("o-1", "a-1", "pol-1", at(2)))
        [queued] = store.pending_evidence()
        assert (queued.process_kind, queued.process_id) == ("negotiation", "ledger:listing:o-1")
        statement = verified(queued)
        assert statement.type == "product-listing" and statement.subjects.product == "a-1"
        assert statement.details == {"offer": "o-1", "policy": "pol-1"} and statement.at == at(2)
        expected = listing_document(offer, ASSET, POLICY, PROVIDER)
        assert statement.payload_digest == digest_payload(canonicalize(expected))
        assert SECRET not in json.dumps(expected) and SECRET not in json.dumps(queued.body)

    def test_an_offer_that_fails_queues_nothing(self, backend: Backend, clock: FixedClock) -> None:
        store = evidencing(backend, clock)
        store.add_offer(OfferRecord("o-1", "a-1", "pol-1", at(2)))
        with pytest.raises(Conflict):
            store.add_offer(OfferRecord("o-1", "a-1", "pol-1", at(3)))
        with pytest.raises(NotFound):
            store.add_offer(OfferRecord("o-2", "a-9", "pol-1", at(3)))
        assert [m.process_id for m in store.pending_evidence()] == ["ledger:listing:o-1"]
        assert [o.id for o in store.list_offers()] == ["o-1"]

    def test_without_a_recorder_nothing_is_queued(self, backend: Backend, clock: FixedClock) -> None:
        store = evidencing(backend, clock, recorder=False)
        store.add_offer(OfferRecord("o-1", "a-1", "pol-1", at(2)))
        store.record_access(decision("t-1"))
        assert store.pending_outbox() == []

    def test_the_catalog_store_queues_messages_with_the_offer_or_not_at_all(self, backend: Backend) -> None:
        store = SqlDspStore(backend.open("connector"), FixedClock(at(10)))
        store.add_asset(ASSET)
        store.add_policy(POLICY)
        store.add_offer(OfferRecord("o-1", "a-1", "pol-1", at(2)), [message("x", 1)])
        with pytest.raises(Conflict):
            store.add_offer(OfferRecord("o-1", "a-1", "pol-1", at(3)), [message("y", 2)])
        with pytest.raises(ValidationFailed):  # a message the outbox cannot hold stops the offer too
            store.add_offer(OfferRecord("o-3", "a-1", "pol-1", at(3)), [message("z", 3, kind="contract")])
        assert [m.process_id for m in store.pending_outbox()] == ["x"]
        assert [o.id for o in store.list_offers()] == ["o-1"]


class TestAccessDecisionEvidence:
    def test_a_permit_is_queued_in_its_transfers_ledger_lane(self, backend: Backend, clock: FixedClock) -> None:
        store = evidencing(backend, clock)
        store.record_access(decision("t-1", byte_range="bytes=100-"))
        [queued] = store.pending_evidence()
        assert (queued.process_kind, queued.process_id) == ("transfer", "ledger:t-1")
        statement = verified(queued)
        assert statement.type == "access-decision" and statement.at == at(20)
        assert (statement.subjects.process, statement.subjects.agreement, statement.subjects.participant) == (
            "t-1", "agr-1", CONSUMER)
        assert statement.details == {"decision": "permit", "reason": "transfer-started", "method": "GET",
                                     "scope": "data:read", "range": "bytes=100-"}

    def test_a_refusal_names_the_transfer_its_token_was_for(self, backend: Backend, clock: FixedClock) -> None:
        store = evidencing(backend, clock)
        store.record_access(decision("t-2", "deny", "data-token-foreign"))
        store.record_access(decision("no such\ttransfer", "deny", "data-token-foreign"))
        first, second = (verified(m) for m in store.pending_evidence())
        assert first.subjects.process == "t-2" and first.details is not None
        assert (first.details["decision"], first.details["tokenTransfer"]) == ("deny", "t-1")
        # An id no statement can carry is left out; the token's transfer still names the lane.
        assert second.subjects.process is None and second.subjects.agreement == "agr-1"
        assert [m.process_id for m in store.pending_evidence()] == ["ledger:t-2", "ledger:t-1"]

    def test_queue_outbox_stores_all_or_nothing(self, backend: Backend) -> None:
        store = SqlDspStore(backend.open("connector"), FixedClock(at(10)))
        store.queue_outbox([message("a", 1), message("b", 2, kind="transfer")])
        with pytest.raises(ValidationFailed):
            store.queue_outbox([message("c", 3), message("d", 4, kind="contract")])
        assert [(m.process_kind, m.process_id) for m in store.pending_outbox()] == [
            ("negotiation", "a"), ("transfer", "b")]
