"""Checks across a parsed policy: impossible constraints and colliding rules (the parser checks names and values).

Two rules collide when a prohibition covers what a permission grants (overlapping action, target and assignee)
and the policy keeps ODRL's default strategy ``invalid``, under which ODRL voids the whole policy whenever both
apply. That is almost never what the author meant, so it is refused when the policy is created, with the way
out in the hint: say ``"conflict": "perm"`` or ``"prohibit"``, or narrow one of the rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from trustspace.policy.errors import PolicyInvalid
from trustspace.policy.model import (
    AnyConstraint,
    Asset,
    Conflict,
    Constraint,
    Duty,
    Logic,
    LogicalConstraint,
    Party,
    Permission,
    Policy,
    PolicyType,
    Prohibition,
)
from trustspace.policy.vocabulary import Operator, includes

_UPPER = {Operator.LT, Operator.LTEQ}
_LOWER = {Operator.GT, Operator.GTEQ}


def _walk(nodes: tuple[AnyConstraint, ...]) -> Iterator[Constraint]:
    for node in nodes:
        if isinstance(node, LogicalConstraint):
            yield from _walk(node.constraints)
        else:
            yield node


def _conjunction(nodes: tuple[AnyConstraint, ...]) -> Iterator[Constraint]:
    """The constraints that must all hold: the rule's own list and the members of and / andSequence."""
    for node in nodes:
        if isinstance(node, LogicalConstraint):
            if node.logic in (Logic.AND, Logic.AND_SEQUENCE):
                yield from _conjunction(node.constraints)
        else:
            yield node


def _right(c: Constraint) -> str:
    return f"{c.pointer}/rightOperand"


def _single(c: Constraint) -> None:
    if c.left in ("count", "frequency", "dataSize", "dataRecord", "payAmount") and c.value < 0:
        raise PolicyInvalid("negative-value", _right(c), f"{c.left} cannot be negative")
    if c.left in ("count", "frequency") and (
            (c.operator in (Operator.LTEQ, Operator.EQ) and c.value < 1) or (c.operator is Operator.LT
                                                                             and c.value <= 1)):
        raise PolicyInvalid("count-below-one", _right(c), f"{c.left} {c.operator.value} {c.written!r} allows no "
                            "use at all", hint="a rule that allows nothing is a prohibition; write one")
    if c.left == "time" and c.operator is Operator.IS_PART_OF and c.value[0] >= c.value[1]:
        raise PolicyInvalid("empty-time-window", _right(c), f"the interval {c.written!r} ends before it starts")
    if c.left == "timeWindow" and any(start == end for start, end in
                                      (c.value if isinstance(c.value, tuple) and isinstance(c.value[0], tuple)
                                       else (c.value,))):
        raise PolicyInvalid("empty-time-window", _right(c), f"the daily window {c.written!r} is empty")


def _bounds(nodes: tuple[AnyConstraint, ...]) -> None:
    """A lower bound on the time after an upper bound, in constraints that must all hold, is an empty window."""
    lower: tuple[datetime, bool, Constraint] | None = None
    upper: tuple[datetime, bool, Constraint] | None = None
    for c in _conjunction(nodes):
        if c.left not in ("dateTime", "time") or not isinstance(c.value, datetime):
            continue
        if c.operator in _LOWER and (lower is None or c.value > lower[0]):
            lower = (c.value, c.operator is Operator.GT, c)
        if c.operator in _UPPER and (upper is None or c.value < upper[0]):
            upper = (c.value, c.operator is Operator.LT, c)
    if lower and upper and (lower[0] > upper[0] or (lower[0] == upper[0] and (lower[1] or upper[1]))):
        raise PolicyInvalid("empty-time-window", _right(upper[2]), f"the time must be after {lower[2].written} "
                            f"({lower[2].pointer}) and before {upper[2].written}: no moment is both")


def _constraints(nodes: tuple[AnyConstraint, ...]) -> None:
    for c in _walk(nodes):
        _single(c)
    _bounds(nodes)


def _duty(duty: Duty) -> None:
    _constraints(duty.constraints)
    if duty.action:
        _constraints(duty.action.refinements)
    for consequence in duty.consequences:
        _duty(consequence)


def _overlap(a: Asset | Party | None, b: Asset | Party | None) -> bool:
    return a is None or b is None or a.uid == b.uid


def _collide(permission: Permission, prohibition: Prohibition) -> bool:
    pa, qa = permission.action, prohibition.action
    actions = pa is None or qa is None or includes(pa.name, qa.name) or includes(qa.name, pa.name)
    return actions and _overlap(permission.target, prohibition.target) and \
        _overlap(permission.assignee, prohibition.assignee)


def validate(policy: Policy) -> None:
    if not (policy.permissions or policy.prohibitions or policy.obligations):
        raise PolicyInvalid("policy-without-rules", "/permission", "a policy needs at least one permission, "
                            "prohibition or obligation")
    if policy.type is PolicyType.AGREEMENT:
        for name in ("assigner", "assignee"):
            if getattr(policy, name) is None:
                raise PolicyInvalid("agreement-without-parties", f"/{name}", f"an Agreement names its {name}")
    rules: tuple[Permission | Prohibition, ...] = (*policy.permissions, *policy.prohibitions)
    for rule in rules:
        _constraints(rule.constraints)
        if rule.action:
            _constraints(rule.action.refinements)
    for permission in policy.permissions:
        for duty in permission.duties:
            _duty(duty)
    for prohibition in policy.prohibitions:
        for remedy in prohibition.remedies:
            _duty(remedy)
    for obligation in policy.obligations:
        _duty(obligation)
    if policy.conflict is Conflict.INVALID:
        for permission in policy.permissions:
            for prohibition in policy.prohibitions:
                if _collide(permission, prohibition):
                    raise PolicyInvalid(
                        "permission-prohibition-collision", prohibition.pointer,
                        f"the prohibition at {prohibition.pointer} forbids what the permission at "
                        f"{permission.pointer} grants, and with conflict strategy invalid ODRL voids the policy "
                        "whenever both apply", hint='set "conflict": "perm" or "prohibit", or narrow one rule')
