"""Conformance mode: a connector an independent test harness (such as the protocol's compatibility kit) can
drive down every path of both state machines from outside.

Off by default and refused unless asked for (``--conformance-mode --seed FILE``). The seed declares the
datasets, offers and agreements the harness expects, the scripts that choose our next move in each state,
and the counter-party: its participant id, the static ``Authorization`` value accepted from it in this mode
only, and its callback address. The seed format is documented in docs/conformance-mode.md.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request

from trustspace.connector.conformance_seed import (
    NEGOTIATION_MOVES,
    TRANSFER_MOVES,
    WAIT,
    CounterParty,
    Script,
    Seed,
    SeedAgreement,
    Step,
    load_seed,
    parse_seed,
)
from trustspace.connector.dsp.strategy import Move, Strategy, TransferMove
from trustspace.core.clock import Clock, to_xsd
from trustspace.identity.membership import Membership
from trustspace.protocol import negotiation as negotiation_machine
from trustspace.protocol import transfer as transfer_machine
from trustspace.protocol.negotiation import NegotiationState
from trustspace.protocol.roles import Role
from trustspace.protocol.transfer import TransferState
from trustspace.store.dsp.interfaces import StateOf
from trustspace.store.dsp.records import (
    Agreement,
    Asset,
    Change,
    Negotiation,
    OfferRecord,
    PolicyRecord,
    TransferRecord,
)
from trustspace.store.dsp.sql import SqlDspStore
from trustspace.web.auth import Authenticator, Caller, CredentialScheme, TokenScheme

__all__ = ["ConformanceAuthenticator", "ScriptedStrategy", "Seed", "apply_seed", "conformance_router", "load_seed",
           "parse_seed"]
# Where a process keeps how many steps of its script it has passed: written in the transaction of the move
# that passes one, so a restart resumes after it and a step is never made twice.
POSITION = "script"


def next_step(steps: list[Step], passed: int, state: str) -> tuple[int, Step] | None:
    """The step that applies in ``state``: the next one, if it is for this state. A wait is passed over once
    the process has left its state (a later step is for the state it is in now)."""
    for index in range(passed, len(steps)):
        step = steps[index]
        if step.state == state:
            return index, step
        if step.move != WAIT:
            return None
    return None


def _position(details: dict[str, Any]) -> int:
    value = details.get(POSITION, 0)
    return value if isinstance(value, int) else 0


class ScriptedStrategy:
    """Plays the script of the dataset (negotiations) or agreement (transfers) a process belongs to, step by
    step; a process with no script gets ``fallback``'s moves. Consulted in every state that is not terminal."""

    negotiation_states: tuple[StateOf, ...] = tuple(
        (role.value, state.value) for role in Role for state in NegotiationState
        if not negotiation_machine.is_terminal(state))
    transfer_states: tuple[StateOf, ...] = tuple(
        (None, state.value) for state in TransferState if not transfer_machine.is_terminal(state))

    def __init__(self, seed: Seed, fallback: Strategy, agreement_dataset: Callable[[str], str | None]) -> None:
        self.fallback = fallback
        self.agreement_dataset = agreement_dataset
        self.load(seed)

    def load(self, seed: Seed) -> None:
        # One assignment: a worker round sees the old scripts or the new ones, never a mix.
        self.scripts = ({d.id: d for d in seed.datasets}, {a.id: a for a in seed.agreements})

    def negotiation_move(self, negotiation: Negotiation) -> Move | None:
        dataset = self.scripts[0].get(negotiation.asset_id)
        if dataset is None:
            return self.fallback.negotiation_move(negotiation)
        if negotiation.role == Role.CONSUMER.value and negotiation.provider_pid is None:
            return None  # our request is not acknowledged yet: nobody to send a move to
        found = self._step(dataset.negotiation, negotiation.role, negotiation.state, negotiation.details)
        if found is None:
            return self.fallback.negotiation_move(negotiation) if dataset.negotiation.otherwise == "automatic" else None
        index, step = found
        if step.move == WAIT:
            return None
        return Move(NEGOTIATION_MOVES[step.move], f"scripted: {step.move}", {POSITION: index + 1})

    def transfer_move(self, transfer: TransferRecord, data_moved: bool = False) -> TransferMove | None:
        script = self._transfer_script(transfer)
        if script is None:
            return self.fallback.transfer_move(transfer, data_moved)
        if transfer.role == Role.CONSUMER.value and transfer.provider_pid is None:
            return None
        if _moves_data(transfer) and not (data_moved or transfer.details.get("moved")):
            return None  # the step in STARTED follows our pull or push: it is made once the data has moved
        found = self._step(script, transfer.role, transfer.state, transfer.details)
        if found is None:
            return self.fallback.transfer_move(transfer, data_moved) if script.otherwise == "automatic" else None
        index, step = found
        if step.move == WAIT:
            return None
        return TransferMove(TRANSFER_MOVES[step.move], f"scripted: {step.move}", {POSITION: index + 1})

    @staticmethod
    def _step(script: Script, role: str, state: str, details: dict[str, Any]) -> tuple[int, Step] | None:
        return next_step(script.steps(role), _position(details), state)

    def _transfer_script(self, transfer: TransferRecord) -> Script | None:
        datasets, agreements = self.scripts
        agreement = agreements.get(transfer.agreement_id)
        if agreement is not None:
            return agreement.transfer
        dataset = datasets.get(str(self.agreement_dataset(transfer.agreement_id) or ""))
        return dataset.transfer if dataset else None


def _moves_data(transfer: TransferRecord) -> bool:
    """Is this a STARTED transfer whose data we move (the consumer of a pull, the provider of a push)?"""
    if transfer.state != TransferState.STARTED.value:
        return False
    if transfer.role == Role.CONSUMER.value:
        return transfer.transfer_type == "HttpData-PULL"
    return transfer.transfer_type == "HttpData-PUSH"


class ConformanceAuthenticator(Authenticator):
    """Accepts, besides normal service tokens, the seed's static Authorization value as the seed's
    counter-party. Exists only in conformance mode; a normal connector never constructs it."""

    def __init__(self, inner: Authenticator, counter_party: CounterParty) -> None:
        super().__init__(inner.verifier, inner.rules, inner.api_keys, inner.metrics, inner.key_name)
        self.counter_party = counter_party

    def member(self, request: Request, _token: TokenScheme = None, _credential: CredentialScheme = None) -> Caller:
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
        if dataset.data_address is None:
            continue  # the harness's dataset: only its scripts are ours
        if store.get_asset(dataset.id) is None:
            store.add_asset(Asset(dataset.id, dataset.title, "", dataset.data_address, {}, now))
        for offer in dataset.offers:
            if store.get_offer(offer.id) is None:
                store.add_policy(PolicyRecord(f"{offer.id}-policy", offer.policy, now))
                store.add_offer(OfferRecord(offer.id, dataset.id, f"{offer.id}-policy", now))
    for agreement in seed.agreements:
        if store.get_agreement(agreement.id) is None:
            _seed_agreement(agreement, seed.counter_party, store, me, clock)


def _seed_agreement(agreement: SeedAgreement, peer: CounterParty, store: SqlDspStore, me: str, clock: Clock) -> None:
    """A FINALIZED negotiation holding the agreement: with us as provider the harness may request a transfer
    at once; with us as consumer ``POST /v1/management/transfers`` asks the harness for one."""
    now, pid = clock.now(), f"urn:uuid:{uuid.uuid4()}"
    provider, consumer = (me, peer.participant_id) if agreement.role == "provider" else (peer.participant_id, me)
    document = {"@id": agreement.id, "@type": "Agreement", "target": agreement.dataset_id, "assigner": provider,
                "assignee": consumer, "timestamp": to_xsd(now), **agreement.policy}
    pids: tuple[str, str | None]
    if agreement.role == "provider":
        pids, address = (f"seed:{agreement.id}", pid), peer.callback_address
    else:
        pids, address = (pid, None), str(agreement.provider_address).rstrip("/")
    negotiation = Negotiation(pid, agreement.role, NegotiationState.VERIFIED.value, pids[0], pids[1],
                              peer.participant_id, address, document, agreement.dataset_id, now, now)
    store.create_negotiation(negotiation, [], "seeded for conformance testing")
    record = Agreement(agreement.id, pid, agreement.dataset_id, provider, consumer, document, now)
    store.transition_negotiation(pid, "VERIFIED", "FINALIZED", Change(agreement=record), [], "seeded agreement")


JsonBody = Annotated[Any, Body()]


def conformance_router(auth: Authenticator, load: Callable[[Seed], None]) -> APIRouter:
    """``PUT /v1/management/conformance/seed``: a harness loads its seed (its participant id, authorization,
    callback, datasets, agreements) without a restart. Only conformance mode installs it."""
    router = APIRouter(prefix="/v1/management/conformance", tags=["conformance"], dependencies=[Depends(auth.admin)])

    @router.put("/seed")
    def put_seed(body: JsonBody) -> dict[str, Any]:
        seed = parse_seed(body)
        load(seed)
        return {"participantId": seed.counter_party.participant_id,
                "callbackAddress": seed.counter_party.callback_address,
                "datasets": [d.id for d in seed.datasets], "agreements": [a.id for a in seed.agreements]}

    return router
