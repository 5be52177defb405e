"""Shared by the negotiation and transfer machine tests: reading the spec figure, and random walks."""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from trustspace.protocol.errors import LocalProtocolError, RemoteProtocolError
from trustspace.protocol.roles import Role


def random_walks(machine: ModuleType, messages: type[Enum], walks: int, steps: int) -> None:
    """Both sides follow random moves, legal and not; they stay in step and only ever take table moves, and
    the walks together exercise every table entry (so the step checks mean something)."""
    rng = random.Random(20250101)  # fixed: a failure must replay
    walked: set[Any] = set()
    for _ in range(walks):
        views: dict[Role, Any] = {Role.CONSUMER: None, Role.PROVIDER: None}
        for _ in range(steps):
            state = views[Role.CONSUMER]
            message, sender = _pick(rng, machine, messages, state)
            if message in machine.allowed(state, sender):
                views[sender] = machine.send(sender, views[sender], message)
                views[sender.other] = machine.receive(sender.other, views[sender.other], message)
                walked.add((state, message, sender))
                assert views[sender] is views[sender.other] is machine.TRANSITIONS[state, message, sender]
            else:
                with pytest.raises(LocalProtocolError):
                    machine.send(sender, state, message)
                with pytest.raises(RemoteProtocolError):
                    machine.receive(sender.other, state, message)
            assert views[Role.CONSUMER] in {None, *machine.TRANSITIONS.values()}
            current = views[Role.CONSUMER]
            if current is not None and machine.is_terminal(current):
                break
    assert walked == set(machine.TRANSITIONS)


def _pick(rng: random.Random, machine: ModuleType, messages: type[Enum], state: Any) -> tuple[Any, Role]:
    # Mostly legal moves so walks get somewhere, sometimes any move at all to probe the illegal ones.
    legal = [(message, role) for role in Role for message in sorted(machine.allowed(state, role))]
    if legal and rng.random() < 0.8:
        return rng.choice(legal)
    return rng.choice(list(itertools.product(messages, Role)))


def check_blame_split(machine: ModuleType, state: Any, message: Enum, sender: Role) -> None:
    """An illegal move raises "you did it" when sent and "the peer did it" when received, in the same words."""
    with pytest.raises(LocalProtocolError) as ours:
        machine.send(sender, state, message)
    with pytest.raises(RemoteProtocolError) as theirs:
        machine.receive(sender.other, state, message)
    assert not isinstance(ours.value, RemoteProtocolError)
    assert not isinstance(theirs.value, LocalProtocolError)
    assert str(ours.value) == str(theirs.value)  # same move, same words: only the blame differs
    assert ours.value.code == theirs.value.code == "illegal-transition"


def check_receive_mirrors_send(machine: ModuleType) -> None:
    for (state, message, sender), target in machine.TRANSITIONS.items():
        assert machine.send(sender, state, message) is machine.receive(sender.other, state, message) is target


ARROW = re.compile(r"^(\[\*\]|\w+)\s*-+>\s*(\[\*\]|\w+)\s*(?::\s*([CP/]+))?\s*$")
LABEL_ROLES = {"C": Role.CONSUMER, "P": Role.PROVIDER}


@dataclass(frozen=True)
class Figure:
    box_messages: dict[str, str]  # state name -> the message its box names
    arrows: list[tuple[str | None, str | None, frozenset[Role]]]  # [*] read as None


def read_figure(path: Path, state_box: re.Pattern[str]) -> Figure:
    if not path.is_file():
        pytest.fail(f"spec figure not found at {path}", pytrace=False)
    boxes: dict[str, str] = {}
    arrows: list[tuple[str | None, str | None, frozenset[Role]]] = []
    for line in (raw.strip() for raw in path.read_text(encoding="utf-8").splitlines()):
        if box := state_box.match(line):
            boxes[box[1]] = box[2]
        elif "->" in line:
            arrow = ARROW.match(line)
            assert arrow, f"figure line not understood: {line!r}"  # never skip a line we cannot read
            roles = frozenset(LABEL_ROLES[mark] for mark in (arrow[3] or "").split("/") if mark)
            arrows.append((_node(arrow[1]), _node(arrow[2]), roles))
    return Figure(boxes, arrows)


def _node(name: str) -> str | None:
    return None if name == "[*]" else name
