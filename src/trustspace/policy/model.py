"""The ODRL 2.2 information model as frozen dataclasses: policies, rules, duties, constraints, refinements.

Every node remembers the JSON pointer it was read from, so a refusal or an explanation can name the field.
Constraints are compiled to a closure when they are built (``compile.py``): the decision point never
interprets the policy text again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Union

from trustspace.policy.compile import Check, compile_constraint
from trustspace.policy.vocabulary import Operator
from trustspace.policy.wording import expected


class PolicyType(StrEnum):
    SET = "Set"
    OFFER = "Offer"
    AGREEMENT = "Agreement"


class Conflict(StrEnum):
    """ODRL 2.2 §2.10: what wins when a permission and a prohibition both apply."""

    PERM = "perm"
    PROHIBIT = "prohibit"
    INVALID = "invalid"


class Logic(StrEnum):
    AND = "and"
    OR = "or"
    XONE = "xone"
    AND_SEQUENCE = "andSequence"


# A rule compiled whole (codegen.compile_rule): run(request, context) and the layout of its recorded values.
Program = tuple[Callable[..., tuple[bool, bool, "bool | None", "bool | None", tuple[Any, ...]]], tuple[Any, ...]]


@dataclass(frozen=True)
class Constraint:
    """``leftOperand operator rightOperand`` (with an optional ``unit``); ``value`` is the parsed right operand."""

    left: str
    operator: Operator
    value: Any
    written: Any
    pointer: str
    unit: str | None = None
    uid: str | None = None
    check: Check = field(init=False, compare=False, repr=False)
    # the expected value as the explanation shows it, in English and Chinese, written once
    expected: tuple[str, str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "check", compile_constraint(self.left, self.operator, self.value, self.unit))
        object.__setattr__(self, "expected", tuple(expected(self.left, self.operator, self.value, self.written,
                                                            self.unit, zh) for zh in (False, True)))


@dataclass(frozen=True)
class LogicalConstraint:
    logic: Logic
    constraints: tuple[AnyConstraint, ...]
    pointer: str
    uid: str | None = None


AnyConstraint = Union[Constraint, LogicalConstraint]  # noqa: UP007 - a runtime alias, read before 3.12


@dataclass(frozen=True)
class Action:
    name: str
    refinements: tuple[AnyConstraint, ...] = ()
    pointer: str = ""


@dataclass(frozen=True)
class Party:
    """An assignee or assigner; a ``PartyCollection`` matches its members (``Context.part_of``)."""

    uid: str
    collection: bool = False
    refinements: tuple[AnyConstraint, ...] = ()


@dataclass(frozen=True)
class Asset:
    """A target; an ``AssetCollection`` matches the assets that are part of it."""

    uid: str
    collection: bool = False
    refinements: tuple[AnyConstraint, ...] = ()


@dataclass(frozen=True)
class Duty:
    """A duty of a permission, an obligation of the policy, a consequence or a remedy."""

    action: Action | None
    pointer: str
    uid: str | None = None
    target: Asset | None = None
    assignee: Party | None = None
    assigner: Party | None = None
    constraints: tuple[AnyConstraint, ...] = ()
    consequences: tuple[Duty, ...] = ()


@dataclass(frozen=True)
class Permission:
    action: Action | None
    pointer: str
    uid: str | None = None
    target: Asset | None = None
    assignee: Party | None = None
    assigner: Party | None = None
    constraints: tuple[AnyConstraint, ...] = ()
    duties: tuple[Duty, ...] = ()
    # set by decide.prepare the first time the policy is decided (codegen.compile_rule)
    program: Program | None = field(default=None, init=False, compare=False, repr=False)


@dataclass(frozen=True)
class Prohibition:
    action: Action | None
    pointer: str
    uid: str | None = None
    target: Asset | None = None
    assignee: Party | None = None
    assigner: Party | None = None
    constraints: tuple[AnyConstraint, ...] = ()
    remedies: tuple[Duty, ...] = ()
    # set by decide.prepare the first time the policy is decided (codegen.compile_rule)
    program: Program | None = field(default=None, init=False, compare=False, repr=False)


Rule = Union[Permission, Prohibition, Duty]  # noqa: UP007


@dataclass(frozen=True)
class Policy:
    uid: str | None
    type: PolicyType = PolicyType.SET
    permissions: tuple[Permission, ...] = ()
    prohibitions: tuple[Prohibition, ...] = ()
    obligations: tuple[Duty, ...] = ()
    # ODRL 2.2 §2.10: "If the conflict property is not explicitly set, the default of invalid will be used."
    conflict: Conflict = Conflict.INVALID
    profiles: tuple[str, ...] = ()
    assigner: Party | None = None
    assignee: Party | None = None
    target: Asset | None = None
    # set by decide.prepare the first time the policy is decided (codegen.compile_policy)
    program: Callable[..., Any] | None = field(default=None, init=False, compare=False, repr=False)
    prepared: bool = field(default=False, init=False, compare=False, repr=False)
