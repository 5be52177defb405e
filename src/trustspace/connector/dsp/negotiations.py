"""Contract negotiations, both roles. Received messages are recorded (one transaction each) and the
worker is woken; our own moves are made by ``advance``, which the worker calls for every process waiting on
us, so a restart simply resumes where the process stands."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from trustspace.connector.catalog import POLICY_KEYS
from trustspace.connector.dsp import wire
from trustspace.connector.dsp.strategy import Move, Strategy
from trustspace.core.clock import Clock, to_xsd
from trustspace.core.errors import NotFound, ValidationFailed
from trustspace.protocol import negotiation as machine
from trustspace.protocol.errors import InvalidMessage, UnknownProcess
from trustspace.protocol.negotiation import NegotiationMessage as Msg
from trustspace.protocol.negotiation import NegotiationState as State
from trustspace.protocol.roles import Role
from trustspace.protocol.schemas import validate
from trustspace.store.dsp.interfaces import CatalogStore, ProcessStore
from trustspace.store.dsp.records import Agreement, Change, Negotiation, NewOutboxMessage
from trustspace.web.auth import Caller

log = logging.getLogger("trustspace.connector.negotiation")
PROVIDER, CONSUMER = Role.PROVIDER.value, Role.CONSUMER.value


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


class Negotiations:
    def __init__(self, store: ProcessStore, catalog: CatalogStore, me: str, public_url: str, clock: Clock,
                 strategy: Strategy, wake: Callable[[], None], deadline_seconds: float) -> None:
        self.store, self.catalog, self.me, self.public_url = store, catalog, me, public_url
        self.clock, self.strategy, self.wake = clock, strategy, wake
        self.deadline = timedelta(seconds=deadline_seconds)

    # --- consumer: our owner starts one -------------------------------------------------------------------
    def start(self, provider: str, base: str, offer: dict[str, Any]) -> Negotiation:
        """Ask ``provider`` (its participant id, as its catalog or offer names it) at its DSP ``<base>``."""
        if not isinstance(offer.get("@id"), str) or not isinstance(offer.get("target"), str):
            raise ValidationFailed("offer needs an @id, and a target or datasetId (copy both from the provider's "
                                   "catalog)", field="offer")
        pid = _urn()
        body = wire.message("ContractRequestMessage", consumerPid=pid, offer=offer,
                            callbackAddress=wire.callback_base(self.public_url))
        now = self.clock.now()
        negotiation = Negotiation(
            id=pid, role=CONSUMER, state=machine.send(Role.CONSUMER, None, Msg.CONTRACT_REQUEST).value,
            consumer_pid=pid, provider_pid=None, counter_party=provider,
            counter_party_address=base.rstrip("/"), offer=offer, asset_id=offer["target"],
            created_at=now, updated_at=now, deadline_at=now + self.deadline)
        url = wire.join(negotiation.counter_party_address, "negotiations", "request")
        created, _ = self.store.create_negotiation(
            negotiation, [NewOutboxMessage("negotiation", pid, url, provider, body)], "contract request queued")
        self.wake()
        return created

    # --- provider: a consumer asks ---------------------------------------------------------------------------
    def on_request(self, caller: Caller, body: dict[str, Any]) -> tuple[Negotiation, bool]:
        validate(body, wire.SCHEMAS["ContractRequestMessage"])
        if "providerPid" in body:
            negotiation = self.for_caller(PROVIDER, str(body["providerPid"]), caller.did)
            wire.check_pids(negotiation, body)
            self._offer_matches(body["offer"])
            return self._receive(negotiation, Msg.CONTRACT_REQUEST, Change(), "counter-request received"), False
        if not body.get("callbackAddress"):
            raise InvalidMessage("an initial contract request needs a callbackAddress", field="callbackAddress")
        existing = self.store.find_negotiation(PROVIDER, consumer_pid=str(body["consumerPid"]))
        if existing is not None and existing.counter_party == caller.did:
            return existing, False  # a retried request: same process, same answer
        asset_id = self._offer_matches(body["offer"])
        pid, now = _urn(), self.clock.now()
        context = {"consumer": caller.did, "roles": list(caller.membership.roles), "space": caller.membership.space}
        negotiation = Negotiation(
            id=pid, role=PROVIDER, state=machine.receive(Role.PROVIDER, None, Msg.CONTRACT_REQUEST).value,
            consumer_pid=str(body["consumerPid"]), provider_pid=pid, counter_party=caller.did,
            counter_party_address=str(body["callbackAddress"]), offer=body["offer"], asset_id=asset_id,
            created_at=now, updated_at=now, deadline_at=now + self.deadline, details={"context": context})
        created, fresh = self.store.create_negotiation(negotiation, [], f"contract request from {caller.did}")
        self.wake()
        return created, fresh

    def _offer_matches(self, offer: dict[str, Any]) -> str:
        """The offer must be one we made, for the asset it names, with the policy we attached: a consumer
        cannot negotiate terms we never offered."""
        record = self.catalog.get_offer(str(offer.get("@id")))
        if record is None:
            raise InvalidMessage(f"no offer {offer.get('@id')} in this catalog", field="offer.@id")
        if offer.get("target") != record.asset_id:
            raise InvalidMessage(f"offer {record.id} is for dataset {record.asset_id}", field="offer.target")
        policy = self.catalog.get_policy(record.policy_id)
        terms = {k: v for k, v in (policy.policy if policy else {}).items() if k in POLICY_KEYS}
        if {k: offer[k] for k in POLICY_KEYS if k in offer} != terms:
            raise InvalidMessage("the offer's rules differ from the offer in the catalog", field="offer.permission")
        return record.asset_id

    # --- messages on an existing process --------------------------------------------------------------------
    def for_caller(self, role: str, pid: str, caller: str) -> Negotiation:
        """Our process with this pid, if the caller is its counter-party (else 404, as the binding says)."""
        negotiation = self.store.get_negotiation(pid)
        if negotiation is None or negotiation.role != role or negotiation.counter_party != caller:
            raise UnknownProcess(f"no contract negotiation {pid}", field="pid")
        return negotiation

    def on_message(self, role: str, pid: str, caller: str, message: Msg, body: dict[str, Any]) -> Negotiation:
        negotiation = self.for_caller(role, pid, caller)
        # The endpoint decides which message this is; a body claiming another type is refused, never obeyed.
        kind = message.value.partition(":")[0]
        validate(body, wire.SCHEMAS[kind])
        wire.check_pids(negotiation, body)
        change = Change()
        if role == CONSUMER and body.get("providerPid") and negotiation.provider_pid is None:
            change = Change(provider_pid=str(body["providerPid"]))
        if message is Msg.CONTRACT_OFFER and role == CONSUMER:
            # a counter-offer: the terms an agreement that follows must carry (kept beside the first offer)
            change = Change(provider_pid=str(body["providerPid"]), details={"counterOffer": body["offer"]})
        if message is Msg.AGREEMENT:
            change = Change(provider_pid=str(body["providerPid"]), agreement=self._agreement(negotiation, body))
        if message is Msg.TERMINATION:
            machine.receive(Role(role), State(negotiation.state), message)  # an illegal one must change nothing
            self.store.drop_outbox("negotiation", negotiation.id)
            change = Change(reason=_termination_reason(body), clear_deadline=True)
        return self._receive(negotiation, message, change, f"{kind} received")

    def _agreement(self, negotiation: Negotiation, body: dict[str, Any]) -> Agreement:
        document = body["agreement"]
        if document.get("target") != negotiation.asset_id:
            raise InvalidMessage("the agreement is not for the dataset negotiated", field="agreement.target")
        # The provider grants the agreement: its assigner must be the party we negotiated with (whose token
        # brought it), and its assignee us. Either differing would bind somebody else.
        if document.get("assigner") != negotiation.counter_party:
            raise InvalidMessage(f"the agreement's assigner {document.get('assigner')!r} is not the provider "
                                 f"negotiated with ({negotiation.counter_party})", field="agreement.assigner")
        if document.get("assignee") != self.me:
            raise InvalidMessage(f"the agreement's assignee {document.get('assignee')!r} is not us ({self.me})",
                                 field="agreement.assignee")
        # The terms agreed are the terms offered: an agreement that drops a prohibition or a constraint, or
        # adds a rule, is not what we negotiated (a provider, or anyone in between, rewrote it).
        last_offer = negotiation.details.get("counterOffer") or negotiation.offer
        offered = {key: last_offer[key] for key in POLICY_KEYS if key in last_offer}
        agreed = {key: document[key] for key in POLICY_KEYS if key in document}
        if agreed != offered:
            changed = sorted(key for key in POLICY_KEYS if agreed.get(key) != offered.get(key))
            raise InvalidMessage(f"the agreement's {', '.join(changed)} differ from the offer negotiated",
                                 field=f"agreement.{changed[0]}")
        return Agreement(str(document["@id"]), negotiation.id, negotiation.asset_id, negotiation.counter_party,
                         self.me, document, self.clock.now())

    def _receive(self, negotiation: Negotiation, message: Msg, change: Change, detail: str) -> Negotiation:
        role = Role(negotiation.role)
        new_state = machine.receive(role, State(negotiation.state), message)
        if machine.is_terminal(new_state):
            change = Change(**{**change.__dict__, "clear_deadline": True})
        moved = self.store.transition_negotiation(negotiation.id, negotiation.state, new_state.value, change, [],
                                                  detail)
        self.wake()
        return moved

    # --- our moves ------------------------------------------------------------------------------------------
    def advance(self, negotiation: Negotiation) -> None:
        """Make our next move on a process that waits for us, as the strategy decides."""
        move = self.strategy.negotiation_move(negotiation)
        if move is None:
            return
        if move.message is Msg.AGREEMENT:
            self._send_agreement(negotiation, move.details)
        elif move.message is Msg.TERMINATION:
            self.terminate(negotiation.id, move.reason or "declined", move.details)
        else:
            self._send(negotiation, move, Change(details=move.details))

    def _send(self, negotiation: Negotiation, move: Move, change: Change) -> Negotiation:
        role = Role(negotiation.role)
        new_state = machine.send(role, State(negotiation.state), move.message)
        body = self._body(negotiation, move)
        path = {Msg.ACCEPTED_EVENT: "events", Msg.FINALIZED_EVENT: "events", Msg.VERIFICATION:
                "agreement/verification", Msg.TERMINATION: "termination", Msg.CONTRACT_REQUEST: "request",
                Msg.CONTRACT_OFFER: "offers", Msg.AGREEMENT: "agreement"}[move.message]
        if machine.is_terminal(new_state):
            change = Change(**{**change.__dict__, "clear_deadline": True})
        return self.store.transition_negotiation(
            negotiation.id, negotiation.state, new_state.value, change,
            [wire.to_negotiation_peer(negotiation, path, body)], f"{body['@type']} queued")

    def _body(self, n: Negotiation, move: Move) -> dict[str, Any]:
        pids = {"consumerPid": n.consumer_pid, "providerPid": n.provider_pid}
        if move.message in (Msg.ACCEPTED_EVENT, Msg.FINALIZED_EVENT):
            event = "ACCEPTED" if move.message is Msg.ACCEPTED_EVENT else "FINALIZED"
            return wire.message("ContractNegotiationEventMessage", eventType=event, **pids)
        if move.message is Msg.VERIFICATION:
            return wire.message("ContractAgreementVerificationMessage", **pids)
        if move.message is Msg.TERMINATION:
            return wire.message("ContractNegotiationTerminationMessage", code="terminated",
                                reason=[move.reason or "terminated"], **pids)
        if move.message is Msg.CONTRACT_OFFER:
            return wire.message("ContractOfferMessage", offer=n.offer, **pids)
        return wire.message("ContractRequestMessage", offer=n.offer, **pids)

    def _send_agreement(self, n: Negotiation, details: dict[str, Any] | None = None) -> Negotiation:
        document = {"@id": _urn(), "@type": "Agreement", "target": n.asset_id, "timestamp": to_xsd(self.clock.now()),
                    "assigner": self.me, "assignee": n.counter_party,
                    **{k: v for k, v in n.offer.items() if k in POLICY_KEYS}}
        body = wire.message("ContractAgreementMessage", consumerPid=n.consumer_pid, providerPid=n.id,
                            agreement=document)
        agreement = Agreement(document["@id"], n.id, n.asset_id, self.me, n.counter_party, document, self.clock.now())
        new_state = machine.send(Role.PROVIDER, State(n.state), Msg.AGREEMENT)
        return self.store.transition_negotiation(
            n.id, n.state, new_state.value, Change(agreement=agreement, details=details),
            [wire.to_negotiation_peer(n, "agreement", body)], "agreement signed and queued")

    def terminate(self, negotiation_id: str, reason: str, details: dict[str, Any] | None = None) -> Negotiation:
        negotiation = self.get(negotiation_id)
        self.store.drop_outbox("negotiation", negotiation.id)
        if negotiation.role == CONSUMER and negotiation.provider_pid is None:
            # The provider never acknowledged us: nothing to tell it, end the process here.
            return self.store.transition_negotiation(
                negotiation.id, negotiation.state, State.TERMINATED.value,
                Change(reason=reason, details=details, clear_deadline=True), [], reason)
        return self._send(negotiation, Move(Msg.TERMINATION, reason), Change(reason=reason, details=details))

    def get(self, negotiation_id: str) -> Negotiation:
        negotiation = self.store.get_negotiation(negotiation_id)
        if negotiation is None:
            raise NotFound(f"no negotiation {negotiation_id}", field="negotiationId")
        return negotiation

    def expire(self, negotiation: Negotiation, now: datetime) -> None:
        reason = f"no progress before the deadline; last problem: {negotiation.reason or 'none recorded'}"
        log.warning("negotiation %s terminated: %s", negotiation.id, reason)
        self.terminate(negotiation.id, reason)


def _termination_reason(body: dict[str, Any]) -> str:
    reasons = body.get("reason") or []
    text = "; ".join(str(r) for r in reasons) if isinstance(reasons, list) else str(reasons)
    return f"terminated by counter-party ({body.get('code', 'no code')}): {text or 'no reason given'}"
