"""The transfer process table against the DSP 2025-1 figure and text, move by move.

Reading the figure (``transfer-process-state-machine.puml``) needs three rules from the text around it:
- Each state box names the message that drives into it ("state STARTED: TransferStartMessage"), so an arrow's
  message is its target's.
- ``[*] --> X`` is a move with no process yet (our ``None``); ``X --> [*]`` marks X terminal and is no move.
- "Transitions marked with C indicate a message sent by the Consumer, ... P ... a Provider message", so
  "P/C" (or "C/P") means either party may send it.

One place where the parts of the spec disagree, settled by the figure: the start message's table says "Sent
by: Provider", but the figure draws SUSPENDED --> STARTED "P/C" and the HTTPS binding says "The Consumer can
POST a Transfer Start Message to attempt to start a Transfer Process after it has been suspended". So the
table takes the figure as drawn, with no override; ``test_either_party_may_resume_a_suspended_transfer``
pins the reading.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
from machine_walks import Figure, check_blame_split, check_receive_mirrors_send, random_walks
from machine_walks import read_figure as read_shared_figure

from trustspace.protocol import transfer as transfer_machine
from trustspace.protocol.errors import InvalidMessage, LocalProtocolError, RemoteProtocolError
from trustspace.protocol.roles import Role
from trustspace.protocol.transfer import (
    TRANSITIONS,
    TransferMessage,
    TransferState,
    allowed,
    is_terminal,
    next_state,
    receive,
    send,
    state_from_wire,
    state_to_wire,
)

ROOT = Path(__file__).resolve().parents[2]
FIGURE = ROOT.parent / "shared/specs/dsp-2025-1/transfer/figures/transfer-process-state-machine.puml"
EXAMPLES = ROOT.parent / "shared/vectors/dsp-2025-1/transfer/example"

Key = tuple[TransferState | None, TransferMessage, Role]

LIVE = [state for state in TransferState if not is_terminal(state)]
ALL_MOVES: list[Key] = list(itertools.product([None, *TransferState], TransferMessage, Role))
ILLEGAL_MOVES = [move for move in ALL_MOVES if move not in TRANSITIONS]

# --- the figure --------------------------------------------------------------------------------------------

STATE_BOX = re.compile(r"^state\s+(\w+)\b[^:]*:.*>(\w+)\s*$")


def read_figure() -> Figure:
    return read_shared_figure(FIGURE, STATE_BOX)


def figure_table(figure: Figure) -> dict[Key, TransferState]:
    table: dict[Key, TransferState] = {}
    for source, target, roles in figure.arrows:
        if target is None:
            continue  # "X --> [*]" only says X is terminal
        start = None if source is None else TransferState(source)
        for role in roles:
            table[start, TransferMessage(figure.box_messages[target]), role] = TransferState(target)
    return table


@pytest.fixture(scope="module")
def figure() -> Figure:
    return read_figure()


def test_figure_has_exactly_our_states(figure: Figure) -> None:
    assert set(figure.box_messages) == {state.value for state in TransferState}


def test_every_arrow_into_a_state_is_labelled_with_a_sender(figure: Figure) -> None:
    assert all(roles for _, target, roles in figure.arrows if target is not None)


def test_table_is_exactly_the_figure(figure: Figure) -> None:
    assert dict(TRANSITIONS) == figure_table(figure)


def test_terminal_states_are_those_the_figure_ends(figure: Figure) -> None:
    ended = {TransferState(source) for source, target, _ in figure.arrows if target is None and source}
    assert {state for state in TransferState if is_terminal(state)} == ended


@pytest.mark.parametrize(("state", "message", "sender"), ALL_MOVES, ids=str)
def test_every_move_is_as_the_figure_says(
    figure: Figure, state: TransferState | None, message: TransferMessage, sender: Role
) -> None:
    expected = figure_table(figure).get((state, message, sender))
    if expected is None:
        assert message not in allowed(state, sender)
        with pytest.raises(LocalProtocolError):
            next_state(state, message, sender)
    else:
        assert message in allowed(state, sender)
        assert next_state(state, message, sender) is expected


# --- the rules, one test each ------------------------------------------------------------------------------


def test_only_the_consumer_requests_a_transfer() -> None:
    assert allowed(None, Role.CONSUMER) == {TransferMessage.REQUEST}
    assert allowed(None, Role.PROVIDER) == frozenset()


def test_request_is_only_the_opening_move() -> None:
    # A repeated request for the same consumerPid is the connector's idempotency, not a transition.
    for state in TransferState:
        assert TransferMessage.REQUEST not in allowed(state, Role.CONSUMER)


def test_only_the_provider_starts_a_requested_transfer() -> None:
    assert send(Role.PROVIDER, TransferState.REQUESTED, TransferMessage.START) is TransferState.STARTED
    with pytest.raises(LocalProtocolError):
        send(Role.CONSUMER, TransferState.REQUESTED, TransferMessage.START)


def test_either_party_may_resume_a_suspended_transfer() -> None:
    for role in Role:
        assert send(role, TransferState.SUSPENDED, TransferMessage.START) is TransferState.STARTED


def test_either_party_may_suspend_or_complete_a_started_transfer() -> None:
    for role in Role:
        assert send(role, TransferState.STARTED, TransferMessage.SUSPENSION) is TransferState.SUSPENDED
        assert send(role, TransferState.STARTED, TransferMessage.COMPLETION) is TransferState.COMPLETED


def test_suspended_cannot_complete_directly() -> None:
    for role in Role:
        assert TransferMessage.COMPLETION not in allowed(TransferState.SUSPENDED, role)
        with pytest.raises(LocalProtocolError):
            send(role, TransferState.SUSPENDED, TransferMessage.COMPLETION)


def test_only_started_can_be_suspended() -> None:
    suspendable = {state for state in TransferState if TransferMessage.SUSPENSION in allowed(state, Role.CONSUMER)}
    assert suspendable == {TransferState.STARTED}


def test_only_completed_and_terminated_are_terminal() -> None:
    terminal = {state for state in TransferState if is_terminal(state)}
    assert terminal == {TransferState.COMPLETED, TransferState.TERMINATED}


@pytest.mark.parametrize("state", [TransferState.COMPLETED, TransferState.TERMINATED])
def test_nothing_after_a_terminal_state(state: TransferState) -> None:
    for message, role in itertools.product(TransferMessage, Role):
        assert not allowed(state, role)
        with pytest.raises(LocalProtocolError, match=f"{state} is terminal"):
            send(role, state, message)
        with pytest.raises(RemoteProtocolError, match=f"{state} is terminal"):
            receive(role, state, message)


@pytest.mark.parametrize("state", LIVE)
def test_termination_allowed_from_every_non_terminal_state_by_both(state: TransferState) -> None:
    for role in Role:
        assert send(role, state, TransferMessage.TERMINATION) is TransferState.TERMINATED
        assert receive(role, state, TransferMessage.TERMINATION) is TransferState.TERMINATED


@pytest.mark.parametrize(("state", "message", "sender"), ILLEGAL_MOVES, ids=str)
def test_send_raises_local_and_receive_raises_remote_for_the_same_illegal_move(
    state: TransferState | None, message: TransferMessage, sender: Role
) -> None:
    check_blame_split(transfer_machine, state, message, sender)


def test_receiving_a_legal_move_gives_the_same_state_as_sending_it() -> None:
    check_receive_mirrors_send(transfer_machine)


def test_error_names_state_message_role_and_what_is_allowed() -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        receive(Role.PROVIDER, TransferState.SUSPENDED, TransferMessage.COMPLETION)
    assert str(caught.value) == (
        "illegal transfer process move: the consumer may not send TransferCompletionMessage in state SUSPENDED;"
        " allowed here: the provider may send TransferStartMessage, TransferTerminationMessage;"
        " the consumer may send TransferStartMessage, TransferTerminationMessage"
    )


def test_error_before_a_transfer_exists_says_the_provider_may_send_nothing() -> None:
    with pytest.raises(LocalProtocolError) as caught:
        send(Role.PROVIDER, None, TransferMessage.START)
    assert str(caught.value).endswith(
        "before any process exists; allowed here: the provider may send nothing;"
        " the consumer may send TransferRequestMessage"
    )


def test_a_suspended_and_resumed_transfer_keeps_both_sides_in_step() -> None:
    script = [
        (Role.CONSUMER, TransferMessage.REQUEST, TransferState.REQUESTED),
        (Role.PROVIDER, TransferMessage.START, TransferState.STARTED),
        (Role.PROVIDER, TransferMessage.SUSPENSION, TransferState.SUSPENDED),
        (Role.CONSUMER, TransferMessage.START, TransferState.STARTED),
        (Role.CONSUMER, TransferMessage.SUSPENSION, TransferState.SUSPENDED),
        (Role.PROVIDER, TransferMessage.START, TransferState.STARTED),
        (Role.CONSUMER, TransferMessage.COMPLETION, TransferState.COMPLETED),
    ]
    state: TransferState | None = None
    for sender, message, expected in script:
        state_after = send(sender, state, message)
        assert receive(sender.other, state, message) is state_after is expected
        state = state_after
    assert state is not None and is_terminal(state)


def test_table_cannot_be_changed_at_run_time() -> None:
    with pytest.raises(TypeError):
        TRANSITIONS[TransferState.SUSPENDED, TransferMessage.COMPLETION, Role.CONSUMER] = TransferState.COMPLETED  # type: ignore[index]


# --- wire forms --------------------------------------------------------------------------------------------


def test_state_wire_form_is_the_bare_name_of_the_example() -> None:
    example = json.loads((EXAMPLES / "transfer-process.json").read_text(encoding="utf-8"))
    assert state_from_wire(example["state"]) is TransferState.REQUESTED
    assert state_to_wire(TransferState.REQUESTED) == example["state"]


@pytest.mark.parametrize("state", list(TransferState))
def test_state_wire_form_round_trips_and_accepts_prefixed_terms(state: TransferState) -> None:
    assert state_from_wire(state_to_wire(state)) is state
    assert state_from_wire(f"dspace:{state}") is state
    assert state_from_wire(f"https://w3id.org/dspace/2025/1/{state}") is state


def test_unknown_state_is_an_invalid_message_naming_the_field() -> None:
    with pytest.raises(InvalidMessage, match="'PAUSED'") as caught:
        state_from_wire("PAUSED")
    assert caught.value.field == "state"


# --- property: random walks --------------------------------------------------------------------------------


def test_random_walks_never_leave_the_table() -> None:
    random_walks(transfer_machine, TransferMessage, walks=500, steps=40)
