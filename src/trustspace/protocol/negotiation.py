"""The DSP 2025-1 contract negotiation state machine, as one table.

Source: ``negotiation/contract.negotiation.protocol.md`` and its figure ``contract.negotiation.state.machine``.
Where they differ the normative text wins, and only in one place: the figure lets just one party terminate
from ACCEPTED (provider), AGREED (consumer) and VERIFIED (provider), while the text says the termination
message "MAY be sent at any state" by the consumer or the provider. ``tests/protocol/test_negotiation_machine``
checks this table against the figure and names exactly those three differences.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from trustspace.protocol.errors import InvalidMessage
from trustspace.protocol.machine import Machine, bare_term, vocab_term
from trustspace.protocol.roles import Role


class NegotiationState(StrEnum):
    """The spec's states; each value is also the wire form of ``ContractNegotiation.state``."""

    REQUESTED = "REQUESTED"
    OFFERED = "OFFERED"
    ACCEPTED = "ACCEPTED"
    AGREED = "AGREED"
    VERIFIED = "VERIFIED"
    FINALIZED = "FINALIZED"
    TERMINATED = "TERMINATED"


class NegotiationMessage(StrEnum):
    """The moves; values are the spec's message types, an event message qualified by its ``eventType``."""

    CONTRACT_REQUEST = "ContractRequestMessage"
    CONTRACT_OFFER = "ContractOfferMessage"
    ACCEPTED_EVENT = "ContractNegotiationEventMessage:ACCEPTED"
    AGREEMENT = "ContractAgreementMessage"
    VERIFICATION = "ContractAgreementVerificationMessage"
    FINALIZED_EVENT = "ContractNegotiationEventMessage:FINALIZED"
    TERMINATION = "ContractNegotiationTerminationMessage"


Key = tuple[NegotiationState | None, NegotiationMessage, Role]  # (state, message, role of its SENDER)

# Every state a negotiation can still leave.
_LIVE = [state for state in NegotiationState if state not in {NegotiationState.FINALIZED, NegotiationState.TERMINATED}]

_TABLE: dict[Key, NegotiationState] = {
    # Either side may open: the consumer with a request, the provider with an offer.
    (None, NegotiationMessage.CONTRACT_REQUEST, Role.CONSUMER): NegotiationState.REQUESTED,
    (None, NegotiationMessage.CONTRACT_OFFER, Role.PROVIDER): NegotiationState.OFFERED,
    # Counter-offers and counter-requests bounce between REQUESTED and OFFERED.
    (NegotiationState.REQUESTED, NegotiationMessage.CONTRACT_OFFER, Role.PROVIDER): NegotiationState.OFFERED,
    (NegotiationState.OFFERED, NegotiationMessage.CONTRACT_REQUEST, Role.CONSUMER): NegotiationState.REQUESTED,
    # The consumer accepts the provider's offer; the provider may also agree to a request without offering.
    (NegotiationState.OFFERED, NegotiationMessage.ACCEPTED_EVENT, Role.CONSUMER): NegotiationState.ACCEPTED,
    (NegotiationState.REQUESTED, NegotiationMessage.AGREEMENT, Role.PROVIDER): NegotiationState.AGREED,
    (NegotiationState.ACCEPTED, NegotiationMessage.AGREEMENT, Role.PROVIDER): NegotiationState.AGREED,
    (NegotiationState.AGREED, NegotiationMessage.VERIFICATION, Role.CONSUMER): NegotiationState.VERIFIED,
    (NegotiationState.VERIFIED, NegotiationMessage.FINALIZED_EVENT, Role.PROVIDER): NegotiationState.FINALIZED,
    # Either party may walk away from any state that is not terminal (the text, over the figure: see above).
    **{(state, NegotiationMessage.TERMINATION, role): NegotiationState.TERMINATED for state in _LIVE for role in Role},
}

TRANSITIONS: Mapping[Key, NegotiationState] = MappingProxyType(_TABLE)

_MACHINE = Machine("contract negotiation", TRANSITIONS)

_EVENT_MESSAGES = {"ACCEPTED": NegotiationMessage.ACCEPTED_EVENT, "FINALIZED": NegotiationMessage.FINALIZED_EVENT}


def next_state(state: NegotiationState | None, message: NegotiationMessage, sender: Role) -> NegotiationState:
    """Pure lookup; a move the table lacks raises ``LocalProtocolError`` (use ``receive`` for peers' moves)."""
    return _MACHINE.next_state(state, message, sender)


def send(role: Role, state: NegotiationState | None, message: NegotiationMessage) -> NegotiationState:
    """The state once we, playing ``role``, send ``message``; an illegal move raises ``LocalProtocolError``."""
    return _MACHINE.send(role, state, message)


def receive(role: Role, state: NegotiationState | None, message: NegotiationMessage) -> NegotiationState:
    """The state once we, playing ``role``, receive ``message``; an illegal one raises ``RemoteProtocolError``."""
    return _MACHINE.receive(role, state, message)


def allowed(state: NegotiationState | None, role: Role) -> frozenset[NegotiationMessage]:
    """What ``role`` may send now (``None``: before any negotiation exists)."""
    return _MACHINE.allowed(state, role)


def is_terminal(state: NegotiationState) -> bool:
    return _MACHINE.is_terminal(state)


def state_to_wire(state: NegotiationState) -> str:
    """``ContractNegotiation.state`` as 2025-1 writes it: bare, e.g. ``"REQUESTED"``."""
    return state.value


def state_from_wire(value: str) -> NegotiationState:
    """Read ``ContractNegotiation.state``; also takes ``dspace:REQUESTED`` and the expanded IRI."""
    return vocab_term(NegotiationState, value, "state")


def event_message(event_type: str) -> NegotiationMessage:
    """Which move a ``ContractNegotiationEventMessage`` is, from its ``eventType`` (bare or prefixed)."""
    message = _EVENT_MESSAGES.get(bare_term(event_type))
    if message is None:
        raise InvalidMessage(f"eventType must be ACCEPTED or FINALIZED, not {event_type!r}", field="eventType")
    return message
