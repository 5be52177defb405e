"""Evidence the connector writes to the operator's ledger: signed statements about its protocol processes,
its product listings and its data plane's access decisions, queued in the store's outbox in the same
transaction as what they describe (or, for a data-plane decision, durably before it takes effect), so neither
the protocol nor the data path waits for the log and a crash loses no entry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Connection

from trustspace.connector.catalog import offer_document
from trustspace.connector.dataplane.decisions import AccessDecision
from trustspace.core.canonical import canonicalize
from trustspace.core.clock import Clock
from trustspace.core.keys import SigningKey
from trustspace.ledger.statements import EventType, Identifier, digest_payload, new_statement, sign_statement
from trustspace.store.db import Database
from trustspace.store.dsp import core as dsp_core
from trustspace.store.dsp.records import (
    Asset,
    Change,
    Negotiation,
    NewOutboxMessage,
    OfferRecord,
    OutboxMessage,
    PolicyRecord,
    TransferRecord,
)
from trustspace.store.dsp.sql import SqlDspStore

LEDGER_PATH = "/v1/ledger/entries"


_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)


def listing_document(offer: OfferRecord, asset: Asset, policy: PolicyRecord, provider: str) -> dict[str, Any]:
    """What a product listing's ``payloadDigest`` covers: the offer as our catalog shows it and the product's
    description. Never the data address: it may hold credentials, and a digest of a short password is as good
    as the password to anyone willing to guess."""
    return {
        "offer": offer_document(offer, policy, provider),
        "product": {"id": asset.id, "title": asset.title, "description": asset.description,
                    "properties": asset.properties},
    }


@dataclass(frozen=True)
class EvidenceRecorder:
    key: SigningKey
    did: str
    verification_method: str
    operator_url: str
    operator_did: str
    clock: Clock

    def state_change(self, kind: str, process_id: str, state: str, *, counter_party: str,
                     agreement: str | None = None, product: str | None = None) -> NewOutboxMessage:
        event = EventType.NEGOTIATION_STATE_CHANGE if kind == "negotiation" else EventType.TRANSFER_STATE_CHANGE
        statement = new_statement(event.value, self.did, self.clock.now(), participant=counter_party,
                                  agreement=agreement, process=process_id, product=product,
                                  details={"state": state})
        return self._message(kind, process_id, statement)

    def agreement(self, process_id: str, agreement: dict[str, Any], counter_party: str) -> NewOutboxMessage:
        """Our signature over the agreement: each party submits one, so the log holds both."""
        statement = new_statement(EventType.AGREEMENT.value, self.did, self.clock.now(), participant=counter_party,
                                  agreement=str(agreement.get("@id")), process=process_id,
                                  product=str(agreement.get("target")),
                                  payload_digest=digest_payload(canonicalize(agreement)))
        return self._message("negotiation", process_id, statement)

    def listing(self, offer: OfferRecord, asset: Asset, policy: PolicyRecord) -> NewOutboxMessage:
        digest = digest_payload(canonicalize(listing_document(offer, asset, policy, self.did)))
        statement = new_statement(EventType.PRODUCT_LISTING.value, self.did, offer.created_at, product=asset.id,
                                  payload_digest=digest, details={"offer": offer.id, "policy": policy.id})
        # The outbox knows two process kinds; a listing rides as "negotiation" (what it invites), and its own
        # lane id keeps it apart from every negotiation.
        return self._message("negotiation", f"listing:{offer.id}", statement)

    def access_decision(self, decision: AccessDecision) -> NewOutboxMessage:
        attempt = decision.attempt
        details: dict[str, str] = {"decision": decision.decision, "reason": decision.reason,
                                   "method": attempt.method, "scope": attempt.scope}
        if attempt.byte_range:
            details["range"] = attempt.byte_range
        if attempt.path is not None:
            details["path"] = attempt.path
        if decision.token_transfer != attempt.transfer_id:
            details["tokenTransfer"] = decision.token_transfer
        # The requested id comes from the URL: a refusal may name one no statement can carry.
        process = _identifier(attempt.transfer_id)
        statement = new_statement(EventType.ACCESS_DECISION.value, self.did, decision.at, participant=decision.caller,
                                  agreement=decision.agreement_id, process=process, details=details)
        return self._message("transfer", process or decision.token_transfer, statement)

    def _message(self, kind: str, process_id: str, statement: Any) -> NewOutboxMessage:
        signed = sign_statement(statement, self.key, self.verification_method)
        return NewOutboxMessage(kind, process_id, self.operator_url.rstrip("/") + LEDGER_PATH, self.operator_did,
                                signed)


LEDGER_PREFIX = "ledger:"


class EvidencingDspStore(SqlDspStore):
    """The connector's store, with evidence: every process creation and state change also queues a signed
    ledger statement in the same transaction (and every agreement our signature over it), as does every offer
    published; the data plane's access decisions come through ``record_access``.

    Ledger messages ride under their own outbox process id (``ledger:<pid>``; ``ledger:listing:<offer id>``
    for a listing), so a ledger that is down delays only the evidence, never the protocol messages.
    """

    def __init__(self, db: Database, recorder: EvidenceRecorder | None) -> None:
        super().__init__(db)
        self.recorder = recorder

    def add_offer(self, offer: OfferRecord, outbox: Sequence[NewOutboxMessage] = ()) -> OfferRecord:
        evidence: list[NewOutboxMessage] = []
        if self.recorder is not None:
            # Assets and policies are never changed or removed, so what is read here is what gets listed.
            asset, policy = self.get_asset(offer.asset_id), self.get_policy(offer.policy_id)
            if asset is not None and policy is not None:  # else the insert says which one is missing
                evidence.append(_under_ledger(self.recorder.listing(offer, asset, policy)))
        return super().add_offer(offer, [*outbox, *evidence])

    def record_access(self, decision: AccessDecision) -> None:
        """One durable outbox row per decision, committed before the data plane acts on it."""
        if self.recorder is not None:
            self.queue_outbox([_under_ledger(self.recorder.access_decision(decision))])

    def record_access_on(self, connection: Connection, decision: AccessDecision) -> None:
        """The same row, in the caller's transaction on this database (the usage counter's): committed with the
        use it records, or not at all."""
        if self.recorder is not None:
            message = _under_ledger(self.recorder.access_decision(decision))
            dsp_core.queue(connection, [dsp_core.outbox_values(message, self._now())])

    def create_negotiation(self, negotiation: Negotiation, outbox: list[NewOutboxMessage],
                           detail: str) -> tuple[Negotiation, bool]:
        evidence = self._state("negotiation", negotiation.id, negotiation.state, negotiation.counter_party,
                               None, negotiation.asset_id)
        return super().create_negotiation(negotiation, [*outbox, *evidence], detail)

    def state_evidence(self, before: Negotiation | TransferRecord, new_state: str,
                       change: Change) -> list[NewOutboxMessage]:
        """Called by the store inside the move's transaction, with the process as it stands under its lock."""
        if self.recorder is None:
            return []
        if isinstance(before, TransferRecord):
            return self._state("transfer", before.id, new_state, before.counter_party, before.agreement_id, None)
        agreement = change.agreement
        evidence = self._state("negotiation", before.id, new_state, before.counter_party,
                               agreement.id if agreement else before.agreement_id, before.asset_id)
        if agreement is not None:
            evidence.append(_under_ledger(self.recorder.agreement(before.id, agreement.document,
                                                                  before.counter_party)))
        return evidence

    def create_transfer(self, transfer: TransferRecord, outbox: list[NewOutboxMessage],
                        detail: str) -> tuple[TransferRecord, bool]:
        evidence = self._state("transfer", transfer.id, transfer.state, transfer.counter_party,
                               transfer.agreement_id, None)
        return super().create_transfer(transfer, [*outbox, *evidence], detail)

    def pending_evidence(self) -> list[OutboxMessage]:
        return [m for m in self.pending_outbox() if m.process_id.startswith(LEDGER_PREFIX)]

    def _state(self, kind: str, process_id: str, state: str, counter_party: str, agreement: str | None,
               product: str | None) -> list[NewOutboxMessage]:
        if self.recorder is None:
            return []
        message = self.recorder.state_change(kind, process_id, state, counter_party=counter_party,
                                             agreement=agreement, product=product)
        return [_under_ledger(message)]


def _identifier(value: str) -> str | None:
    try:
        return _IDENTIFIER.validate_python(value)
    except ValidationError:
        return None


def _under_ledger(message: NewOutboxMessage) -> NewOutboxMessage:
    return NewOutboxMessage(message.process_kind, LEDGER_PREFIX + message.process_id, message.url, message.audience,
                            message.body)
