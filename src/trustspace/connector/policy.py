"""The policy decision point the connector asks before it agrees a contract or starts a transfer.

This is the small implementation the Dataspace Protocol issue calls for; the usage-policy issue replaces it
behind the same ``PolicyDecisionPoint`` interface. It fails closed: a constraint it does not understand is a
refusal with that reason, never a silent permit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from trustspace.core.clock import from_xsd


@dataclass(frozen=True)
class DecisionContext:
    """What is known about the request being decided."""

    consumer: str
    roles: tuple[str, ...]
    space: str
    now: datetime
    purpose: str | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reasons: tuple[str, ...] = field(default=())


class PolicyDecisionPoint(Protocol):
    def decide(self, policy: dict[str, Any], context: DecisionContext) -> Decision: ...


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _compare(left: Any, operator: str, right: Any) -> bool | None:
    """None when the operator is unknown (the caller refuses)."""
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "eq": lambda a, b: a == b, "neq": lambda a, b: a != b, "lt": lambda a, b: a < b,
        "lteq": lambda a, b: a <= b, "gt": lambda a, b: a > b, "gteq": lambda a, b: a >= b,
        "isAnyOf": lambda a, b: a in _as_list(b), "isNoneOf": lambda a, b: a not in _as_list(b),
    }
    op = ops.get(operator.removeprefix("odrl:"))
    return None if op is None else op(left, right)


def _evaluate(constraint: dict[str, Any], context: DecisionContext) -> str | None:
    """None if satisfied, else the reason it is not."""
    left = str(constraint.get("leftOperand", "")).removeprefix("odrl:")
    operator = str(constraint.get("operator", ""))
    right = constraint.get("rightOperand")
    try:
        if left == "dateTime":
            outcome = _compare(context.now, operator, from_xsd(str(right)))
        elif left in {"role", "trustspace:role"}:
            outcome = any(_compare(role, operator, right) for role in context.roles) if context.roles else False
        elif left in {"space", "trustspace:space"}:
            outcome = _compare(context.space, operator, right)
        elif left == "purpose":
            outcome = context.purpose is not None and _compare(context.purpose, operator, right)
        else:
            return f"constraint on '{left}' is not supported by this connector; refusing rather than guessing"
    except (TypeError, ValueError) as exc:
        return f"constraint on '{left}' could not be evaluated: {exc}"
    if outcome is None:
        return f"operator '{operator}' is not supported"
    return None if outcome else f"constraint {left} {operator} {right} is not satisfied"


class SimplePolicyDecisionPoint:
    """Permits if some permission for ``use`` has all its constraints satisfied and no prohibition on
    ``use`` applies."""

    def decide(self, policy: dict[str, Any], context: DecisionContext) -> Decision:
        reasons: list[str] = []
        for prohibition in _as_list(policy.get("prohibition")):
            if str(prohibition.get("action", "")).removeprefix("odrl:") == "use" and not [
                r for c in _as_list(prohibition.get("constraint")) if (r := _evaluate(c, context))
            ]:
                return Decision(False, ("a prohibition on use applies",))
        for permission in _as_list(policy.get("permission")):
            if str(permission.get("action", "")).removeprefix("odrl:") not in {"use", "read"}:
                continue
            failed = [r for c in _as_list(permission.get("constraint")) if (r := _evaluate(c, context))]
            if not failed:
                return Decision(True)
            reasons.extend(failed)
        return Decision(False, tuple(reasons) or ("the policy grants no permission to use the data",))
