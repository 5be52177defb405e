"""What the negotiation and transfer state machines share: one lookup and one wording of its errors.

A machine is nothing but its table, ``(state or None, message, sender's role) -> new state``; ``None`` stands
for "no process yet", so the initiating messages are moves like any other. A key missing from the table is an
illegal move. Whose fault it is depends only on who sent the message, so one lookup serves both directions:
``LocalProtocolError`` when we send, ``RemoteProtocolError`` when the counter-party does (h11 likewise
re-raises a local error as a remote one on its receive path).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from trustspace.protocol.errors import InvalidMessage, LocalProtocolError, ProtocolError, RemoteProtocolError
from trustspace.protocol.roles import Role

S = TypeVar("S", bound=StrEnum)
M = TypeVar("M", bound=StrEnum)
E = TypeVar("E", bound=StrEnum)

# Where 2025-1 terms live once a JSON-LD processor expands them (context/dspace.jsonld, prefix "dspace").
DSPACE = "https://w3id.org/dspace/2025/1/"


@dataclass(frozen=True)
class Machine(Generic[S, M]):
    """A named transition table and the questions both protocols ask of it."""

    process: str  # how error messages name the protocol, e.g. "contract negotiation"
    table: Mapping[tuple[S | None, M, Role], S]

    def next_state(self, state: S | None, message: M, sender: Role) -> S:
        """The state after ``sender`` sends ``message`` in ``state``; an absent move is our caller's mistake."""
        return self._step(state, message, sender, LocalProtocolError)

    def send(self, role: Role, state: S | None, message: M) -> S:
        return self._step(state, message, role, LocalProtocolError)

    def receive(self, role: Role, state: S | None, message: M) -> S:
        # The sender is the counter-party, so the fault is theirs.
        return self._step(state, message, role.other, RemoteProtocolError)

    def allowed(self, state: S | None, role: Role) -> frozenset[M]:
        return frozenset(self._moves(state, role))

    def is_terminal(self, state: S) -> bool:
        # Derived from the table rather than listed beside it, so the two can never disagree.
        return not any(source == state for source, _, _ in self.table)

    def _step(self, state: S | None, message: M, sender: Role, error: type[ProtocolError]) -> S:
        try:
            return self.table[state, message, sender]
        except KeyError:
            raise error(self._illegal(state, message, sender)) from None

    def _moves(self, state: S | None, role: Role) -> list[M]:
        # Table order, so error messages list moves in the order the protocol runs.
        return [message for source, message, sender in self.table if source == state and sender is role]

    def _illegal(self, state: S | None, message: M, sender: Role) -> str:
        where = "before any process exists" if state is None else f"in state {state}"
        return f"illegal {self.process} move: the {sender} may not send {message} {where}; {self._options(state)}"

    def _options(self, state: S | None) -> str:
        if state is not None and self.is_terminal(state):
            return f"{state} is terminal, so neither party may send anything"
        per_role = (f"the {role} may send {', '.join(self._moves(state, role)) or 'nothing'}" for role in Role)
        return "allowed here: " + "; ".join(per_role)


def bare_term(value: str) -> str:
    """A DSP vocabulary term as 2025-1 JSON writes it: bare, e.g. "REQUESTED".

    The context types such terms ``@vocab``, so a JSON-LD processor may hand us the compact ``dspace:REQUESTED``
    or the expanded IRI instead; all three mean the same term.
    """
    return value.removeprefix("dspace:").removeprefix(DSPACE)


def vocab_term(enum: type[E], value: str, field: str) -> E:
    """Read a term (any of the three forms) into ``enum``; anything else is the sender's invalid message."""
    try:
        return enum(bare_term(value))
    except ValueError:
        known = ", ".join(member.value for member in enum)
        raise InvalidMessage(f"{field} must be one of {known}, not {value!r}", field=field) from None
