"""Who decides our next move in a process. The default strategy agrees when the policy decision point
permits and otherwise terminates with its reasons; conformance mode swaps in a scripted strategy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from trustspace.connector.policy import DecisionContext, PolicyDecisionPoint
from trustspace.core.clock import Clock
from trustspace.protocol.negotiation import NegotiationMessage, NegotiationState
from trustspace.protocol.roles import Role
from trustspace.protocol.transfer import TransferMessage, TransferState
from trustspace.store.dsp.interfaces import StateOf
from trustspace.store.dsp.records import Negotiation, TransferRecord

# The (role, state) pairs in which the automatic strategy may move: the worker's waiting query, a hot path,
# looks at these and no more. Started and suspended transfers wait on nobody here, but started ones may have
# data to move.
AUTOMATIC_NEGOTIATION_STATES: tuple[StateOf, ...] = (
    ("provider", "REQUESTED"), ("provider", "ACCEPTED"), ("provider", "VERIFIED"), ("consumer", "AGREED"),
    ("consumer", "OFFERED"))
AUTOMATIC_TRANSFER_STATES: tuple[StateOf, ...] = (("provider", "REQUESTED"), (None, "STARTED"), (None, "SUSPENDED"))


@dataclass(frozen=True)
class Move:
    message: NegotiationMessage
    reason: str | None = None
    # What the move records on the process besides its state, in the same transaction (a script's position).
    details: dict[str, Any] | None = None


@dataclass(frozen=True)
class TransferMove:
    message: TransferMessage
    reason: str | None = None
    details: dict[str, Any] | None = None


class Strategy(Protocol):
    @property
    def negotiation_states(self) -> Sequence[StateOf]:
        """The (role, state) pairs in which the strategy may ever move; the worker consults it in no others."""

    @property
    def transfer_states(self) -> Sequence[StateOf]: ...

    def negotiation_move(self, negotiation: Negotiation) -> Move | None: ...

    def transfer_move(self, transfer: TransferRecord, data_moved: bool = False) -> TransferMove | None:
        """Our move in ``transfer``; ``data_moved``: asked right after we moved its data (a pull or a push)."""


def decision_context(details: dict[str, object], clock: Clock) -> DecisionContext:
    context = details.get("context")
    context = context if isinstance(context, dict) else {}
    roles = context.get("roles", [])
    return DecisionContext(consumer=str(context.get("consumer", "")),
                           roles=tuple(str(r) for r in roles) if isinstance(roles, list) else (),
                           space=str(context.get("space", "")), now=clock.now())


class AutomaticStrategy:
    """Moves every process forward as far as the policy allows, without a person in the loop."""

    negotiation_states = AUTOMATIC_NEGOTIATION_STATES
    transfer_states = AUTOMATIC_TRANSFER_STATES

    def __init__(self, pdp: PolicyDecisionPoint, clock: Clock) -> None:
        self.pdp = pdp
        self.clock = clock

    def negotiation_move(self, negotiation: Negotiation) -> Move | None:
        state, provider = NegotiationState(negotiation.state), negotiation.role == Role.PROVIDER.value
        if provider and state in (NegotiationState.REQUESTED, NegotiationState.ACCEPTED):
            decision = self.pdp.decide(negotiation.offer, decision_context(negotiation.details, self.clock))
            if decision.allowed:
                return Move(NegotiationMessage.AGREEMENT)
            return Move(NegotiationMessage.TERMINATION, "policy not satisfied: " + "; ".join(decision.reasons))
        if provider and state is NegotiationState.VERIFIED:
            return Move(NegotiationMessage.FINALIZED_EVENT)
        if not provider and state is NegotiationState.AGREED:
            return Move(NegotiationMessage.VERIFICATION)
        if not provider and state is NegotiationState.OFFERED:
            return Move(NegotiationMessage.ACCEPTED_EVENT)
        return None

    def transfer_move(self, transfer: TransferRecord, data_moved: bool = False) -> TransferMove | None:
        if data_moved and TransferState(transfer.state) is TransferState.STARTED:
            return TransferMove(TransferMessage.COMPLETION)  # the data is there: nothing more to wait for
        if transfer.role == Role.PROVIDER.value and TransferState(transfer.state) is TransferState.REQUESTED:
            return TransferMove(TransferMessage.START)
        return None
