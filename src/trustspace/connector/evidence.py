"""Evidence the connector writes to the operator's ledger: signed statements about its protocol processes,
queued in the process store's outbox in the same transaction as the state change they describe, so the
protocol path never waits for the log and a crash loses no entry."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from trustspace.core.canonical import canonicalize
from trustspace.core.clock import Clock
from trustspace.core.keys import SigningKey
from trustspace.ledger.statements import EventType, digest_payload, new_statement, sign_statement
from trustspace.store.db import Database
from trustspace.store.dsp_records import Change, Negotiation, NewOutboxMessage, OutboxMessage, TransferRecord
from trustspace.store.dsp_sql import SqlDspStore
from trustspace.store.sql import SqlConnectorStore

LEDGER_PATH = "/v1/ledger/entries"


def is_ledger_message(url: str) -> bool:
    return url.endswith(LEDGER_PATH)


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

    def _message(self, kind: str, process_id: str, statement: Any) -> NewOutboxMessage:
        signed = sign_statement(statement, self.key, self.verification_method)
        return NewOutboxMessage(kind, process_id, self.operator_url.rstrip("/") + LEDGER_PATH, self.operator_did,
                                signed)


LEDGER_PREFIX = "ledger:"


class EvidencingDspStore(SqlDspStore):
    """The connector's process store, with evidence: every process creation and state change also queues a
    signed ledger statement in the same transaction (and every agreement our signature over it).

    Ledger messages ride under their own outbox process id (``ledger:<pid>``), so a ledger that is down delays
    only the evidence, never the protocol messages of the process.
    """

    def __init__(self, db: Database, recorder: EvidenceRecorder | None) -> None:
        super().__init__(db)
        self.recorder = recorder
        self._settings = SqlConnectorStore(db)
        self._receipts_lock = threading.Lock()

    def create_negotiation(self, negotiation: Negotiation, outbox: list[NewOutboxMessage],
                           detail: str) -> tuple[Negotiation, bool]:
        evidence = self._state("negotiation", negotiation.id, negotiation.state, negotiation.counter_party,
                               None, negotiation.asset_id)
        return super().create_negotiation(negotiation, [*outbox, *evidence], detail)

    def transition_negotiation(self, negotiation_id: str, expected_state: str, new_state: str, change: Change,
                               outbox: list[NewOutboxMessage], detail: str) -> Negotiation:
        evidence: list[NewOutboxMessage] = []
        current = self.get_negotiation(negotiation_id) if self.recorder and new_state != expected_state else None
        if current is not None and self.recorder is not None:
            agreement = change.agreement
            evidence = self._state("negotiation", current.id, new_state, current.counter_party,
                                   agreement.id if agreement else current.agreement_id, current.asset_id)
            if agreement is not None:
                evidence.append(_under_ledger(self.recorder.agreement(current.id, agreement.document,
                                                                      current.counter_party)))
        return super().transition_negotiation(negotiation_id, expected_state, new_state, change,
                                              [*outbox, *evidence], detail)

    def create_transfer(self, transfer: TransferRecord, outbox: list[NewOutboxMessage],
                        detail: str) -> tuple[TransferRecord, bool]:
        evidence = self._state("transfer", transfer.id, transfer.state, transfer.counter_party,
                               transfer.agreement_id, None)
        return super().create_transfer(transfer, [*outbox, *evidence], detail)

    def transition_transfer(self, transfer_id: str, expected_state: str, new_state: str, change: Change,
                            outbox: list[NewOutboxMessage], detail: str) -> TransferRecord:
        evidence: list[NewOutboxMessage] = []
        current = self.get_transfer(transfer_id) if self.recorder and new_state != expected_state else None
        if current is not None:
            evidence = self._state("transfer", current.id, new_state, current.counter_party,
                                   current.agreement_id, None)
        return super().transition_transfer(transfer_id, expected_state, new_state, change, [*outbox, *evidence],
                                           detail)

    def keep_receipt(self, outbox_process_id: str, receipt: dict[str, Any]) -> None:
        """The operator's receipt for one of our statements, kept per process for offline proof later."""
        key = f"ledger.receipts.{outbox_process_id.removeprefix(LEDGER_PREFIX)}"
        with self._receipts_lock:
            known = json.loads(self._settings.get_setting(key) or "[]")
            known.append(receipt)
            self._settings.set_setting(key, json.dumps(known))

    def receipts(self, process_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = json.loads(self._settings.get_setting(f"ledger.receipts.{process_id}") or "[]")
        return found

    def pending_evidence(self) -> list[OutboxMessage]:
        return [m for m in self.pending_outbox() if m.process_id.startswith(LEDGER_PREFIX)]

    def _state(self, kind: str, process_id: str, state: str, counter_party: str, agreement: str | None,
               product: str | None) -> list[NewOutboxMessage]:
        if self.recorder is None:
            return []
        message = self.recorder.state_change(kind, process_id, state, counter_party=counter_party,
                                             agreement=agreement, product=product)
        return [_under_ledger(message)]


def _under_ledger(message: NewOutboxMessage) -> NewOutboxMessage:
    return NewOutboxMessage(message.process_kind, LEDGER_PREFIX + message.process_id, message.url, message.audience,
                            message.body)
