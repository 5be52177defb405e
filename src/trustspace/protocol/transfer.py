"""The DSP 2025-1 transfer process state machine, as one table.

Source: ``transfer/transfer.process.protocol.md`` and its figure ``transfer-process-state-machine``, which
agree except on who may send a start message: the message table says "Sent by: Provider", but the figure
labels SUSPENDED -> STARTED "P/C" and the HTTPS binding lets "the Consumer ... POST a Transfer Start Message
... after it has been suspended". So only the provider starts a REQUESTED transfer, and either party resumes a
SUSPENDED one. ``tests/protocol/test_transfer_machine`` checks this table against the figure.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from trustspace.protocol.machine import Machine, vocab_term
from trustspace.protocol.roles import Role


class TransferState(StrEnum):
    """The spec's states; each value is also the wire form of ``TransferProcess.state``."""

    REQUESTED = "REQUESTED"
    STARTED = "STARTED"
    SUSPENDED = "SUSPENDED"
    COMPLETED = "COMPLETED"
    TERMINATED = "TERMINATED"


class TransferMessage(StrEnum):
    """The moves; values are the spec's message types."""

    REQUEST = "TransferRequestMessage"
    START = "TransferStartMessage"
    SUSPENSION = "TransferSuspensionMessage"
    COMPLETION = "TransferCompletionMessage"
    TERMINATION = "TransferTerminationMessage"


Key = tuple[TransferState | None, TransferMessage, Role]  # (state, message, role of its SENDER)

# Every state a transfer can still leave.
_LIVE = [TransferState.REQUESTED, TransferState.STARTED, TransferState.SUSPENDED]

_TABLE: dict[Key, TransferState] = {
    # Only the consumer opens a transfer, and only the provider starts it.
    (None, TransferMessage.REQUEST, Role.CONSUMER): TransferState.REQUESTED,
    (TransferState.REQUESTED, TransferMessage.START, Role.PROVIDER): TransferState.STARTED,
    # A running transfer may be paused, resumed or completed by either party; a paused one must resume before
    # it can complete (the figure has no SUSPENDED -> COMPLETED arrow).
    **{(TransferState.STARTED, TransferMessage.SUSPENSION, role): TransferState.SUSPENDED for role in Role},
    **{(TransferState.SUSPENDED, TransferMessage.START, role): TransferState.STARTED for role in Role},
    **{(TransferState.STARTED, TransferMessage.COMPLETION, role): TransferState.COMPLETED for role in Role},
    # Either party may stop a transfer that is not over.
    **{(state, TransferMessage.TERMINATION, role): TransferState.TERMINATED for state in _LIVE for role in Role},
}

TRANSITIONS: Mapping[Key, TransferState] = MappingProxyType(_TABLE)

_MACHINE = Machine("transfer process", TRANSITIONS)


def next_state(state: TransferState | None, message: TransferMessage, sender: Role) -> TransferState:
    """Pure lookup; a move the table lacks raises ``LocalProtocolError`` (use ``receive`` for peers' moves)."""
    return _MACHINE.next_state(state, message, sender)


def send(role: Role, state: TransferState | None, message: TransferMessage) -> TransferState:
    """The state once we, playing ``role``, send ``message``; an illegal move raises ``LocalProtocolError``."""
    return _MACHINE.send(role, state, message)


def receive(role: Role, state: TransferState | None, message: TransferMessage) -> TransferState:
    """The state once we, playing ``role``, receive ``message``; an illegal one raises ``RemoteProtocolError``."""
    return _MACHINE.receive(role, state, message)


def allowed(state: TransferState | None, role: Role) -> frozenset[TransferMessage]:
    """What ``role`` may send now (``None``: before any transfer exists)."""
    return _MACHINE.allowed(state, role)


def is_terminal(state: TransferState) -> bool:
    return _MACHINE.is_terminal(state)


def state_to_wire(state: TransferState) -> str:
    """``TransferProcess.state`` as 2025-1 writes it: bare, e.g. ``"STARTED"``."""
    return state.value


def state_from_wire(value: str) -> TransferState:
    """Read ``TransferProcess.state``; also takes ``dspace:STARTED`` and the expanded IRI."""
    return vocab_term(TransferState, value, "state")
