"""Transfer processes, both roles, in the same shape as negotiations: received messages are recorded and
the worker makes our moves. Moving data (a pull or a push) runs beside the worker, never inside a request."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

from trustspace.connector.dsp import wire
from trustspace.connector.dsp.strategy import Strategy, TransferMove, decision_context
from trustspace.connector.policy import PolicyDecisionPoint
from trustspace.core.clock import Clock
from trustspace.core.errors import Conflict, NotFound, ValidationFailed
from trustspace.protocol import transfer as machine
from trustspace.protocol.errors import InvalidMessage, UnknownProcess
from trustspace.protocol.negotiation import NegotiationState
from trustspace.protocol.roles import Role
from trustspace.protocol.schemas import validate
from trustspace.protocol.transfer import TransferMessage as Msg
from trustspace.protocol.transfer import TransferState as State
from trustspace.store.dsp.interfaces import CatalogStore, ProcessStore
from trustspace.store.dsp.records import Agreement, Change, NewOutboxMessage, TransferRecord
from trustspace.web.auth import Caller

log = logging.getLogger("trustspace.connector.transfer")
PROVIDER, CONSUMER = Role.PROVIDER.value, Role.CONSUMER.value
PULL, PUSH = "HttpData-PULL", "HttpData-PUSH"
PATHS = {Msg.START: "start", Msg.SUSPENSION: "suspension", Msg.COMPLETION: "completion", Msg.TERMINATION: "termination"}
KINDS = {
    Msg.START: "TransferStartMessage",
    Msg.SUSPENSION: "TransferSuspensionMessage",
    Msg.COMPLETION: "TransferCompletionMessage",
    Msg.TERMINATION: "TransferTerminationMessage",
}


class DataPlane(Protocol):
    """What the control plane needs from the data plane."""

    def pull_address(self, transfer: TransferRecord) -> dict[str, Any]: ...

    def inbox_address(self, transfer_id: str, provider: str, agreement_id: str) -> dict[str, Any]: ...

    def push(self, transfer: TransferRecord) -> dict[str, Any]: ...

    def pull(self, transfer: TransferRecord) -> dict[str, Any]: ...

    def received(self, transfer: TransferRecord) -> dict[str, Any]: ...

    def forget(self, transfer_id: str) -> None: ...

    def prepared(self, transfer_id: str) -> bool:
        """Is the transfer's data ready to announce (materialised and digested)?"""

    def prepare(self, transfer: TransferRecord) -> None:
        """Materialise and digest the transfer's data: slow work (hashing a file, running a query)."""


class Transfers:
    def __init__(
        self,
        store: ProcessStore,
        catalog: CatalogStore,
        me: str,
        public_url: str,
        clock: Clock,
        strategy: Strategy,
        pdp: PolicyDecisionPoint,
        data_plane: DataPlane,
        wake: Callable[[], None],
        deadline_seconds: float,
    ) -> None:
        self.store, self.catalog, self.me, self.public_url = store, catalog, me, public_url
        self.clock, self.strategy, self.pdp, self.data_plane, self.wake = clock, strategy, pdp, data_plane, wake
        self.deadline = timedelta(seconds=deadline_seconds)

    # --- consumer: our owner asks for data under an agreement ------------------------------------------------
    def start(self, agreement_id: str, transfer_type: str) -> TransferRecord:
        agreement = self._agreement(agreement_id)
        if agreement.consumer != self.me:
            raise ValidationFailed(
                "we are the provider in this agreement; only the consumer starts transfers", field="agreementId"
            )
        if transfer_type not in (PULL, PUSH):
            raise ValidationFailed(f"transfer type must be {PULL} or {PUSH}", field="transferType")
        negotiation = self.store.get_negotiation(agreement.negotiation_id)
        if negotiation is None or negotiation.state != NegotiationState.FINALIZED.value:
            raise Conflict("the agreement's negotiation is not FINALIZED", field="agreementId")
        pid, now = f"urn:uuid:{uuid.uuid4()}", self.clock.now()
        address = (
            self.data_plane.inbox_address(pid, agreement.provider, agreement.id) if transfer_type == PUSH else None
        )
        body = wire.message(
            "TransferRequestMessage",
            consumerPid=pid,
            agreementId=agreement.id,
            format=transfer_type,
            dataAddress=address,
            callbackAddress=wire.callback_base(self.public_url),
        )
        transfer = TransferRecord(
            id=pid,
            role=CONSUMER,
            state=machine.send(Role.CONSUMER, None, Msg.REQUEST).value,
            consumer_pid=pid,
            provider_pid=None,
            agreement_id=agreement.id,
            counter_party=agreement.provider,
            counter_party_address=negotiation.counter_party_address,
            transfer_type=transfer_type,
            created_at=now,
            updated_at=now,
            deadline_at=now + self.deadline,
        )
        url = wire.join(transfer.counter_party_address, "transfers", "request")
        created, _ = self.store.create_transfer(
            transfer, [NewOutboxMessage("transfer", pid, url, agreement.provider, body)], "transfer request queued"
        )
        self.wake()
        return created

    def _agreement(self, agreement_id: str) -> Agreement:
        agreement = self.store.get_agreement(agreement_id)
        if agreement is None:
            raise NotFound(f"no agreement {agreement_id}", field="agreementId")
        return agreement

    # --- provider: a consumer asks for a transfer ------------------------------------------------------------
    def on_request(self, caller: Caller, body: dict[str, Any]) -> tuple[TransferRecord, bool]:
        validate(body, wire.SCHEMAS["TransferRequestMessage"])
        existing = self.store.find_transfer(PROVIDER, consumer_pid=str(body["consumerPid"]))
        if existing is not None and existing.counter_party == caller.did:
            return existing, False
        agreement = self.store.get_agreement(str(body["agreementId"]))
        if agreement is None or agreement.provider != self.me or agreement.consumer != caller.did:
            raise InvalidMessage(f"no agreement {body['agreementId']} between you and us", field="agreementId")
        negotiation = self.store.get_negotiation(agreement.negotiation_id)
        if negotiation is None or negotiation.state != NegotiationState.FINALIZED.value:
            raise InvalidMessage(
                "the agreement's negotiation is not FINALIZED (it may have been terminated)", field="agreementId"
            )
        transfer_type = str(body["format"])
        if transfer_type not in (PULL, PUSH) or (transfer_type == PUSH) != bool(body.get("dataAddress")):
            raise InvalidMessage(f"format must be {PULL}, or {PUSH} with a dataAddress", field="format")
        context = {"consumer": caller.did, "roles": list(caller.membership.roles), "space": caller.membership.space}
        decision = self.pdp.decide(agreement.document, decision_context({"context": context}, self.clock))
        if not decision.allowed:
            raise InvalidMessage(
                "the agreement's policy does not permit this transfer now: " + "; ".join(decision.reasons),
                field="agreementId",
            )
        pid, now = f"urn:uuid:{uuid.uuid4()}", self.clock.now()
        transfer = TransferRecord(
            id=pid,
            role=PROVIDER,
            state=machine.receive(Role.PROVIDER, None, Msg.REQUEST).value,
            consumer_pid=str(body["consumerPid"]),
            provider_pid=pid,
            agreement_id=agreement.id,
            counter_party=caller.did,
            counter_party_address=str(body["callbackAddress"]),
            transfer_type=transfer_type,
            created_at=now,
            updated_at=now,
            data_address=body.get("dataAddress"),
            deadline_at=now + self.deadline,
            # What the consumer proved here (its roles and space) is what the data plane decides each access with.
            details={"assetId": agreement.asset_id, "context": context},
        )
        created, fresh = self.store.create_transfer(transfer, [], f"transfer request from {caller.did}")
        self.wake()
        return created, fresh

    # --- messages on an existing process --------------------------------------------------------------------
    def for_caller(self, role: str, pid: str, caller: str) -> TransferRecord:
        transfer = self.store.get_transfer(pid)
        if transfer is None or transfer.role != role or transfer.counter_party != caller:
            raise UnknownProcess(f"no transfer process {pid}", field="pid")
        return transfer

    def on_message(self, role: str, pid: str, caller: str, message: Msg, body: dict[str, Any]) -> TransferRecord:
        transfer = self.for_caller(role, pid, caller)
        # The endpoint decides which message this is; a body claiming another type is refused, never obeyed.
        kind = KINDS[message]
        validate(body, wire.SCHEMAS[kind])
        wire.check_pids(transfer, body)
        new_state = machine.receive(Role(role), State(transfer.state), message)  # before anything is changed
        change = Change()
        if role == CONSUMER and transfer.provider_pid is None and body.get("providerPid"):
            change = Change(provider_pid=str(body["providerPid"]))
        if message is Msg.START and body.get("dataAddress"):
            change = Change(provider_pid=change.provider_pid, data_address=body["dataAddress"])
        if message is Msg.TERMINATION:
            self.store.drop_outbox("transfer", transfer.id)
            change = Change(reason=f"terminated by counter-party: {body.get('reason') or body.get('code')}")
        if role == CONSUMER and message is Msg.COMPLETION and transfer.transfer_type == PUSH:
            change = Change(**{**change.__dict__, "details": {**self.data_plane.received(transfer), "moved": True}})
        if machine.is_terminal(new_state):
            change = Change(**{**change.__dict__, "clear_deadline": True})
            if role == PROVIDER:
                self.data_plane.forget(transfer.id)
        moved = self.store.transition_transfer(
            transfer.id, transfer.state, new_state.value, change, [], f"{kind} received"
        )
        self.wake()
        return moved

    # --- our moves ------------------------------------------------------------------------------------------
    def advance(self, transfer: TransferRecord) -> None:
        move = self.strategy.transfer_move(transfer)
        if move is None:
            return
        self.send(transfer, move)

    def data_moved(self, transfer: TransferRecord, details: dict[str, Any]) -> TransferRecord:
        """Record that we moved the transfer's data, with the move the strategy makes next (none: the
        transfer stays STARTED, as a script that waits wants, and its data is not moved again)."""
        if transfer.state != State.STARTED.value:
            # Suspended (or ended) while the data moved: not recorded as moved, so a resumed transfer moves again.
            raise Conflict(f"transfer {transfer.id} is {transfer.state}, not STARTED", field="state")
        move = self.strategy.transfer_move(transfer, data_moved=True)
        if move is not None:
            return self.send(transfer, move, details=details)
        moved = self.store.transition_transfer(transfer.id, transfer.state, transfer.state, Change(details=details),
                                               [], "data moved; waiting for the counter-party")
        self.wake()
        return moved

    def send(
        self, transfer: TransferRecord, move: TransferMove, *, details: dict[str, Any] | None = None
    ) -> TransferRecord:
        new_state = machine.send(Role(transfer.role), State(transfer.state), move.message)
        data_address = None
        if move.message is Msg.START and transfer.role == PROVIDER and transfer.transfer_type == PULL:
            data_address = self.data_plane.pull_address(transfer)  # a fresh token on every (re)start
        pids = {"consumerPid": transfer.consumer_pid, "providerPid": transfer.provider_pid}
        extra: dict[str, Any] = {}
        if move.message is Msg.START and data_address is not None:
            extra["dataAddress"] = data_address
        if move.message in (Msg.SUSPENSION, Msg.TERMINATION):
            code = "suspended" if move.message is Msg.SUSPENSION else "terminated"
            extra = {"code": code, "reason": [move.reason or "by request"]}
        body = wire.message(KINDS[move.message], **pids, **extra)
        if move.details is not None:
            details = {**(details or {}), **move.details}
        change = Change(
            reason=move.reason if move.message is Msg.TERMINATION else None, details=details, clear_deadline=True
        )
        outbox = [wire.to_transfer_peer(transfer, PATHS[move.message], body)]
        if transfer.role == CONSUMER and transfer.provider_pid is None:
            outbox = []  # the provider never acknowledged: there is nobody to tell
        moved = self.store.transition_transfer(
            transfer.id, transfer.state, new_state.value, change, outbox, f"{body['@type']} queued"
        )
        if machine.is_terminal(new_state) and transfer.role == PROVIDER:
            self.data_plane.forget(transfer.id)
        self.wake()
        return moved

    def act(self, transfer_id: str, message: Msg, reason: str | None = None) -> TransferRecord:
        """Our owner suspends, resumes, completes or terminates a transfer."""
        transfer = self.get(transfer_id)
        if message is Msg.TERMINATION:
            self.store.drop_outbox("transfer", transfer.id)
        return self.send(transfer, TransferMove(message, reason))

    def get(self, transfer_id: str) -> TransferRecord:
        transfer = self.store.get_transfer(transfer_id)
        if transfer is None:
            raise NotFound(f"no transfer {transfer_id}", field="transferId")
        return transfer
