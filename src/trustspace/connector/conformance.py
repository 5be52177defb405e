"""Conformance mode: a connector an independent test harness (such as the protocol's compatibility kit) can
drive down every path of both state machines from outside.

Off by default and refused unless asked for (``--conformance-mode --seed FILE``). The seed declares the
datasets, offers and agreements the harness expects, the scripts that choose our next move in each state,
and the counter-party: its participant id, the static ``Authorization`` value accepted from it in this mode
only, and its callback address. The seed format is documented in docs/conformance-mode.md.
"""

from __future__ import annotations

import hmac
import json
import uuid
from pathlib import Path
from typing import Any, Literal

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from trustspace.connector.dsp.strategy import Move, TransferMove
from trustspace.core.clock import Clock, to_xsd
from trustspace.core.errors import ValidationFailed
from trustspace.identity.membership import Membership
from trustspace.protocol.negotiation import NegotiationMessage
from trustspace.protocol.transfer import TransferMessage
from trustspace.store.dsp_records import (
    Agreement,
    Asset,
    Change,
    Negotiation,
    OfferRecord,
    PolicyRecord,
    TransferRecord,
)
from trustspace.store.dsp_sql import SqlDspStore
from trustspace.web.auth import Authenticator, Caller

NegotiationStep = Literal["offer", "agree", "accept", "request", "verify", "finalize", "terminate", "wait"]
TransferStep = Literal["start", "suspend", "complete", "terminate", "wait"]
NEGOTIATION_MOVES = {
    "offer": NegotiationMessage.CONTRACT_OFFER,
    "agree": NegotiationMessage.AGREEMENT,
    "accept": NegotiationMessage.ACCEPTED_EVENT,
    "request": NegotiationMessage.CONTRACT_REQUEST,
    "verify": NegotiationMessage.VERIFICATION,
    "finalize": NegotiationMessage.FINALIZED_EVENT,
    "terminate": NegotiationMessage.TERMINATION,
}
TRANSFER_MOVES = {
    "start": TransferMessage.START,
    "suspend": TransferMessage.SUSPENSION,
    "complete": TransferMessage.COMPLETION,
    "terminate": TransferMessage.TERMINATION,
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CounterParty(Strict):
    participant_id: str = Field(alias="participantId", min_length=1)
    authorization: str = Field(min_length=8, description="static Authorization header value, this mode only")
    callback_address: str = Field(alias="callbackAddress", min_length=1)


class NegotiationScript(Strict):
    """Our move in each state that waits for us; a state not listed gets the default automatic move."""

    provider: dict[str, NegotiationStep] = Field(default_factory=dict)
    consumer: dict[str, NegotiationStep] = Field(default_factory=dict)


class TransferScript(Strict):
    provider: dict[str, TransferStep] = Field(default_factory=dict)
    consumer: dict[str, TransferStep] = Field(default_factory=dict)


class SeedOffer(Strict):
    id: str
    policy: dict[str, Any]


class SeedDataset(Strict):
    id: str
    title: str = ""
    data_address: dict[str, Any] = Field(alias="dataAddress")
    offers: list[SeedOffer] = Field(min_length=1)
    negotiation: NegotiationScript = Field(default_factory=NegotiationScript)
    transfer: TransferScript = Field(default_factory=TransferScript)


class SeedAgreement(Strict):
    id: str
    dataset_id: str = Field(alias="datasetId")
    policy: dict[str, Any] = Field(default_factory=lambda: {"permission": [{"action": "use"}]})
    transfer: TransferScript = Field(default_factory=TransferScript)


class Seed(Strict):
    counter_party: CounterParty = Field(alias="counterParty")
    datasets: list[SeedDataset] = Field(default_factory=list)
    agreements: list[SeedAgreement] = Field(default_factory=list)


def load_seed(path: Path) -> Seed:
    try:
        return Seed.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise ValidationFailed(
                f"seed {path}: {field}: {first['msg']}",
                field=field,
                hint="see docs/conformance-mode.md for the seed format",
            ) from None
        raise ValidationFailed(f"seed {path} is not readable JSON: {exc}", field="seed") from None


class ScriptedStrategy:
    """Looks up the script of the dataset (negotiations) or agreement (transfers) a process belongs to;
    falls back to ``fallback`` for anything the seed does not script."""

    def __init__(self, seed: Seed, fallback: Any, agreement_dataset: Any) -> None:
        self.datasets = {d.id: d for d in seed.datasets}
        self.agreements = {a.id: a for a in seed.agreements}
        self.fallback = fallback
        self.agreement_dataset = agreement_dataset

    def negotiation_move(self, negotiation: Negotiation) -> Move | None:
        dataset = self.datasets.get(negotiation.asset_id)
        script = getattr(dataset.negotiation, negotiation.role) if dataset else {}
        step = script.get(negotiation.state)
        if step is None:
            move: Move | None = self.fallback.negotiation_move(negotiation)
            return move
        return None if step == "wait" else Move(NEGOTIATION_MOVES[step], f"scripted: {step}")

    def transfer_move(self, transfer: TransferRecord) -> TransferMove | None:
        script = self._transfer_script(transfer)
        step = script.get(transfer.state)
        if step is None:
            move: TransferMove | None = self.fallback.transfer_move(transfer)
            return move
        return None if step == "wait" else TransferMove(TRANSFER_MOVES[step], f"scripted: {step}")

    def _transfer_script(self, transfer: TransferRecord) -> dict[str, TransferStep]:
        agreement = self.agreements.get(transfer.agreement_id)
        if agreement is not None:
            return dict(getattr(agreement.transfer, transfer.role))
        dataset = self.datasets.get(str(self.agreement_dataset(transfer.agreement_id) or ""))
        return dict(getattr(dataset.transfer, transfer.role)) if dataset else {}


class ConformanceAuthenticator(Authenticator):
    """Accepts, besides normal service tokens, the seed's static Authorization value as the seed's
    counter-party. Exists only in conformance mode; a normal connector never constructs it."""

    def __init__(self, inner: Authenticator, counter_party: CounterParty) -> None:
        super().__init__(inner.verifier, inner.rules, inner.api_keys, inner.metrics)
        self.counter_party = counter_party

    def member(self, request: Request) -> Caller:
        presented = request.headers.get("authorization", "")
        if presented and hmac.compare_digest(presented.encode(), self.counter_party.authorization.encode()):
            did = self.counter_party.participant_id
            return Caller(
                did, Membership(did, "conformance-seed", "conformance", ("provider", "consumer"), None, None, None)
            )
        return super().member(request)


def apply_seed(seed: Seed, store: SqlDspStore, me: str, clock: Clock) -> None:
    """Create the seed's datasets, offers and agreements (idempotent across restarts)."""
    now = clock.now()
    for dataset in seed.datasets:
        if store.get_asset(dataset.id) is None:
            store.add_asset(Asset(dataset.id, dataset.title, "", dataset.data_address, {}, now))
        for offer in dataset.offers:
            if store.get_offer(offer.id) is None:
                store.add_policy(PolicyRecord(f"{offer.id}-policy", offer.policy, now))
                store.add_offer(OfferRecord(offer.id, dataset.id, f"{offer.id}-policy", now))
    peer = seed.counter_party
    for agreement in seed.agreements:
        if store.get_agreement(agreement.id) is not None:
            continue
        pid = f"urn:uuid:{uuid.uuid4()}"
        document = {
            "@id": agreement.id,
            "@type": "Agreement",
            "target": agreement.dataset_id,
            "assigner": me,
            "assignee": peer.participant_id,
            "timestamp": to_xsd(now),
            **agreement.policy,
        }
        negotiation = Negotiation(
            pid,
            "provider",
            "VERIFIED",
            f"seed:{agreement.id}",
            pid,
            peer.participant_id,
            peer.callback_address,
            document,
            agreement.dataset_id,
            now,
            now,
        )
        store.create_negotiation(negotiation, [], "seeded for conformance testing")
        record = Agreement(agreement.id, pid, agreement.dataset_id, me, peer.participant_id, document, now)
        store.transition_negotiation(pid, "VERIFIED", "FINALIZED", Change(agreement=record), [], "seeded agreement")
