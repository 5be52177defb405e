"""The contract negotiation table against the DSP 2025-1 figure and text, move by move.

Reading the figure (``contract.negotiation.state.machine.puml``) needs three rules from the text around it:
- Each state box names the message that drives into it ("state OFFERED: ContractOfferMessage"), so an arrow's
  message is its target's; event messages are written ``...EventMessage:accepted``, the eventType lower-case.
- ``[*] --> X`` is a move with no process yet (our ``None``); ``X --> [*]`` marks X terminal and is no move.
- "Transitions marked with C indicate a message sent by the Consumer, ... P ... a Provider Message", so
  "C/P" (or "P/C") means either party may send it.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
from machine_walks import Figure, check_blame_split, check_receive_mirrors_send, random_walks
from machine_walks import read_figure as read_shared_figure

from trustspace.protocol import negotiation as negotiation_machine
from trustspace.protocol.errors import InvalidMessage, LocalProtocolError, RemoteProtocolError
from trustspace.protocol.negotiation import (
    TRANSITIONS,
    NegotiationMessage,
    NegotiationState,
    allowed,
    event_message,
    is_terminal,
    next_state,
    receive,
    send,
    state_from_wire,
    state_to_wire,
)
from trustspace.protocol.roles import Role

ROOT = Path(__file__).resolve().parents[2]
FIGURE = ROOT.parent / "shared/specs/dsp-2025-1/negotiation/figures/contract.negotiation.state.machine.puml"
EXAMPLES = ROOT.parent / "shared/vectors/dsp-2025-1/negotiation/example"

Key = tuple[NegotiationState | None, NegotiationMessage, Role]

# Where the text overrides the figure. The figure lets only the provider terminate from ACCEPTED and VERIFIED
# and only the consumer from AGREED, but the text says the termination message is "sent by a Consumer or
# Provider" and "MAY be sent at any state of a Contract Negotiation"; the binding gives both parties a
# termination endpoint with no state condition. Normative text over drawing: both may terminate everywhere.
TEXT_OVER_FIGURE: dict[Key, NegotiationState] = {
    (NegotiationState.ACCEPTED, NegotiationMessage.TERMINATION, Role.CONSUMER): NegotiationState.TERMINATED,
    (NegotiationState.AGREED, NegotiationMessage.TERMINATION, Role.PROVIDER): NegotiationState.TERMINATED,
    (NegotiationState.VERIFIED, NegotiationMessage.TERMINATION, Role.CONSUMER): NegotiationState.TERMINATED,
}

LIVE = [state for state in NegotiationState if not is_terminal(state)]
ALL_MOVES: list[Key] = list(itertools.product([None, *NegotiationState], NegotiationMessage, Role))
ILLEGAL_MOVES = [move for move in ALL_MOVES if move not in TRANSITIONS]

# --- the figure --------------------------------------------------------------------------------------------

STATE_BOX = re.compile(r"^state\s+(\w+)\b[^:]*:.*>([\w:]+)\s*$")


def read_figure() -> Figure:
    return read_shared_figure(FIGURE, STATE_BOX)


def _message(box_label: str) -> NegotiationMessage:
    # "ContractNegotiationEventMessage:accepted" -> our value with the wire's upper-case eventType.
    kind, _, event = box_label.partition(":")
    return NegotiationMessage(f"{kind}:{event.upper()}" if event else kind)


def figure_table(figure: Figure) -> dict[Key, NegotiationState]:
    table: dict[Key, NegotiationState] = {}
    for source, target, roles in figure.arrows:
        if target is None:
            continue  # "X --> [*]" only says X is terminal
        start = None if source is None else NegotiationState(source)
        for role in roles:
            table[start, _message(figure.box_messages[target]), role] = NegotiationState(target)
    return table


@pytest.fixture(scope="module")
def figure() -> Figure:
    return read_figure()


@pytest.fixture(scope="module")
def spec_table(figure: Figure) -> dict[Key, NegotiationState]:
    return figure_table(figure) | TEXT_OVER_FIGURE


def test_figure_has_exactly_our_states(figure: Figure) -> None:
    assert set(figure.box_messages) == {state.value for state in NegotiationState}


def test_every_arrow_into_a_state_is_labelled_with_a_sender(figure: Figure) -> None:
    assert all(roles for _, target, roles in figure.arrows if target is not None)


def test_table_is_the_figure_plus_the_texts_termination_rule(figure: Figure) -> None:
    drawn = figure_table(figure)
    # If the figure is ever redrawn with these arrows, the override above is no longer needed: drop it.
    assert not set(drawn) & set(TEXT_OVER_FIGURE)
    assert dict(TRANSITIONS) == drawn | TEXT_OVER_FIGURE


def test_terminal_states_are_those_the_figure_ends(figure: Figure) -> None:
    ended = {NegotiationState(source) for source, target, _ in figure.arrows if target is None and source}
    assert {state for state in NegotiationState if is_terminal(state)} == ended


@pytest.mark.parametrize(("state", "message", "sender"), ALL_MOVES, ids=str)
def test_every_move_is_as_the_spec_says(
    spec_table: dict[Key, NegotiationState], state: NegotiationState | None, message: NegotiationMessage, sender: Role
) -> None:
    expected = spec_table.get((state, message, sender))
    if expected is None:
        assert message not in allowed(state, sender)
        with pytest.raises(LocalProtocolError):
            next_state(state, message, sender)
    else:
        assert message in allowed(state, sender)
        assert next_state(state, message, sender) is expected


# --- the rules, one test each ------------------------------------------------------------------------------


def test_either_side_opens_and_only_with_its_own_message() -> None:
    assert allowed(None, Role.CONSUMER) == {NegotiationMessage.CONTRACT_REQUEST}
    assert allowed(None, Role.PROVIDER) == {NegotiationMessage.CONTRACT_OFFER}


def test_consumer_never_sends_finalized() -> None:
    for state in [None, *NegotiationState]:
        assert NegotiationMessage.FINALIZED_EVENT not in allowed(state, Role.CONSUMER)
        with pytest.raises(LocalProtocolError):
            send(Role.CONSUMER, state, NegotiationMessage.FINALIZED_EVENT)


def test_provider_never_sends_accepted() -> None:
    for state in [None, *NegotiationState]:
        assert NegotiationMessage.ACCEPTED_EVENT not in allowed(state, Role.PROVIDER)
        with pytest.raises(LocalProtocolError):
            send(Role.PROVIDER, state, NegotiationMessage.ACCEPTED_EVENT)


def test_provider_may_agree_straight_after_a_request_or_after_acceptance() -> None:
    agreeable = {state for state in NegotiationState if NegotiationMessage.AGREEMENT in allowed(state, Role.PROVIDER)}
    assert agreeable == {NegotiationState.REQUESTED, NegotiationState.ACCEPTED}


def test_only_finalized_and_terminated_are_terminal() -> None:
    terminal = {state for state in NegotiationState if is_terminal(state)}
    assert terminal == {NegotiationState.FINALIZED, NegotiationState.TERMINATED}


@pytest.mark.parametrize("state", [NegotiationState.FINALIZED, NegotiationState.TERMINATED])
def test_nothing_after_a_terminal_state(state: NegotiationState) -> None:
    for message, role in itertools.product(NegotiationMessage, Role):
        assert not allowed(state, role)
        with pytest.raises(LocalProtocolError, match=f"{state} is terminal"):
            send(role, state, message)
        with pytest.raises(RemoteProtocolError, match=f"{state} is terminal"):
            receive(role, state, message)


@pytest.mark.parametrize("state", LIVE)
def test_termination_allowed_from_every_non_terminal_state_by_both(state: NegotiationState) -> None:
    for role in Role:
        assert send(role, state, NegotiationMessage.TERMINATION) is NegotiationState.TERMINATED
        assert receive(role, state, NegotiationMessage.TERMINATION) is NegotiationState.TERMINATED


def test_no_termination_before_a_negotiation_exists() -> None:
    for role in Role:
        with pytest.raises(LocalProtocolError, match="before any process exists"):
            send(role, None, NegotiationMessage.TERMINATION)


@pytest.mark.parametrize(("state", "message", "sender"), ILLEGAL_MOVES, ids=str)
def test_send_raises_local_and_receive_raises_remote_for_the_same_illegal_move(
    state: NegotiationState | None, message: NegotiationMessage, sender: Role
) -> None:
    check_blame_split(negotiation_machine, state, message, sender)


def test_receiving_a_legal_move_gives_the_same_state_as_sending_it() -> None:
    check_receive_mirrors_send(negotiation_machine)


def test_error_names_state_message_role_and_what_is_allowed() -> None:
    with pytest.raises(LocalProtocolError) as caught:
        send(Role.CONSUMER, NegotiationState.VERIFIED, NegotiationMessage.FINALIZED_EVENT)
    assert str(caught.value) == (
        "illegal contract negotiation move: the consumer may not send ContractNegotiationEventMessage:FINALIZED"
        " in state VERIFIED; allowed here: the provider may send ContractNegotiationEventMessage:FINALIZED,"
        " ContractNegotiationTerminationMessage; the consumer may send ContractNegotiationTerminationMessage"
    )


def test_error_before_a_negotiation_exists_names_the_opening_messages() -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        receive(Role.CONSUMER, None, NegotiationMessage.AGREEMENT)
    assert "the provider may not send ContractAgreementMessage before any process exists" in str(caught.value)
    assert "the provider may send ContractOfferMessage; the consumer may send ContractRequestMessage" in str(
        caught.value
    )


def test_a_negotiation_with_counter_offers_keeps_both_sides_in_step() -> None:
    script = [
        (Role.CONSUMER, NegotiationMessage.CONTRACT_REQUEST, NegotiationState.REQUESTED),
        (Role.PROVIDER, NegotiationMessage.CONTRACT_OFFER, NegotiationState.OFFERED),
        (Role.CONSUMER, NegotiationMessage.CONTRACT_REQUEST, NegotiationState.REQUESTED),
        (Role.PROVIDER, NegotiationMessage.CONTRACT_OFFER, NegotiationState.OFFERED),
        (Role.CONSUMER, NegotiationMessage.ACCEPTED_EVENT, NegotiationState.ACCEPTED),
        (Role.PROVIDER, NegotiationMessage.AGREEMENT, NegotiationState.AGREED),
        (Role.CONSUMER, NegotiationMessage.VERIFICATION, NegotiationState.VERIFIED),
        (Role.PROVIDER, NegotiationMessage.FINALIZED_EVENT, NegotiationState.FINALIZED),
    ]
    state: NegotiationState | None = None
    for sender, message, expected in script:
        state_after = send(sender, state, message)
        assert receive(sender.other, state, message) is state_after is expected
        state = state_after
    assert state is not None and is_terminal(state)


def test_table_cannot_be_changed_at_run_time() -> None:
    with pytest.raises(TypeError):
        TRANSITIONS[None, NegotiationMessage.TERMINATION, Role.CONSUMER] = NegotiationState.TERMINATED  # type: ignore[index]


# --- wire forms --------------------------------------------------------------------------------------------


def test_state_wire_form_is_the_bare_name_of_the_example() -> None:
    example = json.loads((EXAMPLES / "contract-negotiation.json").read_text(encoding="utf-8"))
    assert state_from_wire(example["state"]) is NegotiationState.REQUESTED
    assert state_to_wire(NegotiationState.REQUESTED) == example["state"]


@pytest.mark.parametrize("state", list(NegotiationState))
def test_state_wire_form_round_trips_and_accepts_prefixed_terms(state: NegotiationState) -> None:
    assert state_from_wire(state_to_wire(state)) is state
    assert state_from_wire(f"dspace:{state}") is state
    assert state_from_wire(f"https://w3id.org/dspace/2025/1/{state}") is state


def test_unknown_state_is_an_invalid_message_naming_the_field() -> None:
    with pytest.raises(InvalidMessage, match="'CONSUMER_AGREED'") as caught:
        state_from_wire("CONSUMER_AGREED")
    assert caught.value.field == "state"


def test_event_message_of_the_example_event_is_accepted() -> None:
    example = json.loads((EXAMPLES / "contract-negotiation-event-message.json").read_text(encoding="utf-8"))
    assert event_message(example["eventType"]) is NegotiationMessage.ACCEPTED_EVENT
    assert event_message("dspace:FINALIZED") is NegotiationMessage.FINALIZED_EVENT
    with pytest.raises(InvalidMessage) as caught:
        event_message("TERMINATED")
    assert caught.value.field == "eventType"


# --- property: random walks --------------------------------------------------------------------------------


def test_random_walks_never_leave_the_table() -> None:
    random_walks(negotiation_machine, NegotiationMessage, walks=1000, steps=50)
