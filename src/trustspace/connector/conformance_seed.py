"""The conformance seed: what a test harness declares before it drives the connector, and the checks that
refuse, naming the entry, anything in it that could never run (docs/conformance-mode.md).

A script is an ordered list of steps per role, ``[{"state": "REQUESTED", "move": "offer"}, ...]``; the older
form ``{"REQUESTED": "offer"}`` is read as one step per state, in the order the protocol passes the states.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from trustspace.core.errors import ValidationFailed
from trustspace.protocol import negotiation, transfer
from trustspace.protocol.errors import ProtocolError
from trustspace.protocol.negotiation import NegotiationMessage, NegotiationState
from trustspace.protocol.roles import Role
from trustspace.protocol.transfer import TransferMessage, TransferState

NEGOTIATION_MOVES = {
    "offer": NegotiationMessage.CONTRACT_OFFER,
    "agree": NegotiationMessage.AGREEMENT,
    "accept": NegotiationMessage.ACCEPTED_EVENT,
    "request": NegotiationMessage.CONTRACT_REQUEST,
    "verify": NegotiationMessage.VERIFICATION,
    "finalize": NegotiationMessage.FINALIZED_EVENT,
    "terminate": NegotiationMessage.TERMINATION,
}
TRANSFER_MOVES = {
    "start": TransferMessage.START,
    "suspend": TransferMessage.SUSPENSION,
    "complete": TransferMessage.COMPLETION,
    "terminate": TransferMessage.TERMINATION,
}
WAIT = "wait"
HINT = "see docs/conformance-mode.md for the seed format"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CounterParty(Strict):
    participant_id: str = Field(alias="participantId", min_length=1)
    authorization: str = Field(min_length=8, description="static Authorization header value, this mode only")
    callback_address: str = Field(alias="callbackAddress", min_length=1)


class Step(Strict):
    state: str = Field(min_length=1)
    move: str = Field(min_length=1)


def _steps(value: Any, order: Sequence[str]) -> Any:
    """The older ``{state: move}`` form as steps, in the order the protocol passes the states."""
    if isinstance(value, dict):
        rank = {state: position for position, state in enumerate(order)}
        ordered = sorted(value.items(), key=lambda item: rank.get(str(item[0]), len(rank)))
        return [{"state": state, "move": move} for state, move in ordered]
    return value


class Script(Strict):
    """Our moves, per role, in order. ``otherwise``: what we do in a state where no step fires (the script
    is used up, or its next step is for another state): the automatic move, or nothing."""

    provider: list[Step] = Field(default_factory=list)
    consumer: list[Step] = Field(default_factory=list)
    otherwise: Literal["automatic", "wait"] = "automatic"

    def steps(self, role: str) -> list[Step]:
        return self.provider if role == Role.PROVIDER.value else self.consumer


class NegotiationScript(Script):
    @field_validator("provider", "consumer", mode="before")
    @classmethod
    def _ordered(cls, value: Any) -> Any:
        return _steps(value, list(NegotiationState))


class TransferScript(Script):
    @field_validator("provider", "consumer", mode="before")
    @classmethod
    def _ordered(cls, value: Any) -> Any:
        return _steps(value, list(TransferState))


class SeedOffer(Strict):
    id: str = Field(min_length=1)
    policy: dict[str, Any]


class SeedDataset(Strict):
    """One of our datasets, published with its offers; or, with no offers and no data address, only the
    scripts for the harness's dataset of that id, in the negotiations and transfers where we are consumer."""

    id: str = Field(min_length=1)
    title: str = ""
    data_address: dict[str, Any] | None = Field(default=None, alias="dataAddress")
    offers: list[SeedOffer] = Field(default_factory=list)
    negotiation: NegotiationScript = Field(default_factory=NegotiationScript)
    transfer: TransferScript = Field(default_factory=TransferScript)


class SeedAgreement(Strict):
    """An agreement that exists before the harness starts. ``role`` is ours: as provider the dataset is one
    of the seed's; as consumer it is the harness's, which provides it at ``providerAddress``."""

    id: str = Field(min_length=1)
    dataset_id: str = Field(alias="datasetId", min_length=1)
    role: Literal["provider", "consumer"] = "provider"
    provider_address: str | None = Field(default=None, alias="providerAddress", min_length=1)
    policy: dict[str, Any] = Field(default_factory=lambda: {"permission": [{"action": "use"}]})
    transfer: TransferScript = Field(default_factory=TransferScript)


class Seed(Strict):
    counter_party: CounterParty = Field(alias="counterParty")
    datasets: list[SeedDataset] = Field(default_factory=list)
    agreements: list[SeedAgreement] = Field(default_factory=list)


def load_seed(path: Path) -> Seed:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValidationFailed(f"seed {path} is not readable JSON: {exc}", field="seed", hint=HINT) from None
    return parse_seed(data, f"seed {path}")


def parse_seed(data: Any, source: str = "seed") -> Seed:
    """The seed, checked whole: its shape, then that every entry can run. Refusals name the entry."""
    try:
        seed = Seed.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = _path(first["loc"])
        raise ValidationFailed(f"{source}: {field}: {first['msg']}", field=field, hint=HINT) from None
    problem = first_problem(seed)
    if problem is not None:
        field, message = problem
        raise ValidationFailed(f"{source}: {field}: {message}", field=field, hint=HINT)
    return seed


def _path(loc: Sequence[Any]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def first_problem(seed: Seed) -> tuple[str, str] | None:
    """The first entry of the seed that can never run, as (where, why); None if every one can."""
    problems = [*_duplicates(seed), *_dataset_problems(seed), *_agreement_problems(seed)]
    return problems[0] if problems else None


def _duplicates(seed: Seed) -> list[tuple[str, str]]:
    entries = [(f"datasets[{i}].id", d.id) for i, d in enumerate(seed.datasets)]
    entries += [(f"agreements[{i}].id", a.id) for i, a in enumerate(seed.agreements)]
    offers = [(f"datasets[{i}].offers[{j}].id", o.id) for i, d in enumerate(seed.datasets)
              for j, o in enumerate(d.offers)]
    found: list[tuple[str, str]] = []
    for group in (entries[:len(seed.datasets)], entries[len(seed.datasets):], offers):
        seen: set[str] = set()
        for where, name in group:
            if name in seen:
                found.append((where, f"{name} is declared twice; ids must be unique"))
            seen.add(name)
    return found


def _dataset_problems(seed: Seed) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for index, dataset in enumerate(seed.datasets):
        where = f"datasets[{index}]"
        if bool(dataset.offers) != (dataset.data_address is not None):
            found.append((f"{where}.dataAddress", "a dataset we publish needs both a dataAddress and offers; one "
                                                  "that only scripts our consumer side has neither"))
        if not dataset.offers and dataset.negotiation.provider:
            found.append((f"{where}.negotiation.provider", "we offer nothing on this dataset: nobody can request "
                                                           "it from us, so its provider script can never run"))
        for role in Role:
            found += script_problems(f"{where}.negotiation.{role.value}", dataset.negotiation.steps(role.value),
                                     role, negotiation_legal)
            found += script_problems(f"{where}.transfer.{role.value}", dataset.transfer.steps(role.value),
                                     role, transfer_legal)
    return found


def _agreement_problems(seed: Seed) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    datasets = {d.id for d in seed.datasets if d.offers}
    for index, agreement in enumerate(seed.agreements):
        where, ours = f"agreements[{index}]", Role(agreement.role)
        if ours is Role.PROVIDER and agreement.dataset_id not in datasets:
            found.append((f"{where}.datasetId", f"we provide no dataset {agreement.dataset_id} in this seed"))
        if ours is Role.PROVIDER and agreement.provider_address is not None:
            found.append((f"{where}.providerAddress", "we are the provider of this agreement; drop the address "
                                                      "or set \"role\": \"consumer\""))
        if ours is Role.CONSUMER and agreement.provider_address is None:
            found.append((f"{where}.providerAddress", "a consumer-side agreement needs the provider's DSP base "
                                                      "address, where our transfer requests go"))
        other = ours.other
        if agreement.transfer.steps(other.value):
            found.append((f"{where}.transfer.{other.value}", f"we are the {ours.value} of this agreement: its "
                                                             f"{other.value} script can never run"))
        found += script_problems(f"{where}.transfer.{ours.value}", agreement.transfer.steps(ours.value), ours,
                                 transfer_legal)
    return found


def negotiation_legal(role: Role, state: str, move: str) -> str | None:
    return _legal(role, state, move, NegotiationState, NEGOTIATION_MOVES, negotiation)


def transfer_legal(role: Role, state: str, move: str) -> str | None:
    return _legal(role, state, move, TransferState, TRANSFER_MOVES, transfer)


def _legal(role: Role, state: str, move: str, states: type[StrEnum], moves: dict[str, Any], machine: Any) -> str | None:
    """Why ``role`` can never make ``move`` in ``state`` (per the protocol's table), or None if it can."""
    try:
        current = states(state)
    except ValueError:
        return f"state must be one of {', '.join(states)}, not {state!r}"
    if machine.is_terminal(current):
        return f"{state} is terminal: no move is made in it"
    legal = [name for name, message in moves.items() if message in machine.allowed(current, role)] + [WAIT]
    if move not in moves and move != WAIT:
        return f"move must be one of {', '.join([*moves, WAIT])}, not {move!r}"
    if move == WAIT:
        return None
    try:
        machine.send(role, current, moves[move])
    except ProtocolError:
        return f"the {role.value} may not {move} in {state}; it may: {', '.join(legal)}"
    return None


def script_problems(where: str, steps: list[Step], role: Role, legal: Any) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for index, step in enumerate(steps):
        why = legal(role, step.state, step.move)
        if why is not None:
            found.append((f"{where}[{index}]", why))
        elif index > 0 and steps[index - 1].move == WAIT and steps[index - 1].state == step.state:
            found.append((f"{where}[{index}]", f"follows a wait in {step.state}, which holds the process in "
                                               f"{step.state} until it leaves: this step can never fire"))
    return found
