"""The usage guard: may this local application use this agreement's data, for this purpose, now?

The interface is one call, ``decide(agreement, request) -> (permit, obligations, explanation)``, so the ODRL
evaluator of ``trustspace.policy`` can replace ``AgreementGuard`` without the usage service changing:

- ``agreement`` is the stored agreement (None if there is none: the guard must deny);
- ``request`` says what is asked (action ``read`` or ``export``), by whom (reader, application), for what
  (purpose), when, and how often the agreement's data was used so far (permitted uses per action, counted
  from the usage log in the same transaction that logs this decision);
- the answer is a ``GuardDecision`` (a named tuple): permit or not, the obligations the service must run
  first, in order (``watermark``, ``notify``; ``delete`` runs after the use), and a sentence a person can
  read. A guard must fail closed: what it cannot read, it refuses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from trustspace.connector.policy import DecisionContext, PolicyDecisionPoint, SimplePolicyDecisionPoint
from trustspace.core.clock import from_xsd, to_xsd
from trustspace.store.dsp.records import Agreement
from trustspace.store.usage.records import UsageCounts

READ, EXPORT = "read", "export"
WATERMARK, NOTIFY, DELETE = "watermark", "notify", "delete"
OBLIGATION_ORDER = (WATERMARK, NOTIFY, DELETE)
# Constraints on the consumer's membership were the provider's to check, against our credential, at
# negotiation; the guard cannot re-check them without that credential's verifier, and does not pretend to.
_CHECKED_AT_NEGOTIATION = {"role", "trustspace:role", "space", "trustspace:space"}
_COUNT = {"count", "odrl:count"}
_COPYING = {"reproduce", "odrl:reproduce", "distribute", "odrl:distribute"}


@dataclass(frozen=True)
class UsageRequest:
    action: str
    purpose: str
    application: str
    reader: str
    at: datetime
    counts: UsageCounts
    recipient: str | None = None  # an export for another party (ODRL distribute)


class GuardDecision(NamedTuple):
    permit: bool
    obligations: tuple[str, ...]
    explanation: str


class UsageGuard(Protocol):
    def decide(self, agreement: Agreement | None, request: UsageRequest) -> GuardDecision: ...


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _left(constraint: Any) -> str:
    return str(constraint.get("leftOperand", "")) if isinstance(constraint, dict) else ""


def _bare(term: Any) -> str:
    return str(term).removeprefix("odrl:")


def agreement_expiry(document: dict[str, Any]) -> datetime | None:
    """The earliest instant a ``dateTime lt|lteq`` constraint of the agreement's permissions ends use."""
    ends: list[datetime] = []
    for permission in _as_list(document.get("permission")):
        for constraint in _as_list(permission.get("constraint") if isinstance(permission, dict) else None):
            if _bare(_left(constraint)) == "dateTime" and _bare(constraint.get("operator")) in {"lt", "lteq"}:
                try:
                    ends.append(from_xsd(str(constraint.get("rightOperand"))))
                except ValueError:
                    continue  # the decision point refuses it on every use
    return min(ends) if ends else None


def _count_limit(permission: dict[str, Any], action: str, counts: UsageCounts) -> str | None:
    """None if every ``count`` constraint allows one more use; else why not."""
    used = counts.of(action)
    for constraint in _as_list(permission.get("constraint")):
        if _left(constraint) not in _COUNT:
            continue
        operator, right = _bare(constraint.get("operator")), constraint.get("rightOperand")
        try:
            limit = int(right)
        except (TypeError, ValueError):
            return f"count constraint has a right operand {right!r} that is not a whole number"
        allowed = {"lteq": used + 1 <= limit, "lt": used + 1 < limit, "eq": used + 1 <= limit}.get(operator)
        if allowed is None:
            return f"count constraint with operator {operator!r} is not supported; refusing rather than guessing"
        if not allowed:
            return f"count: {used} of at most {limit} uses for {action} are spent"
    return None


def _without(permission: dict[str, Any], operands: set[str]) -> dict[str, Any]:
    kept = [c for c in _as_list(permission.get("constraint")) if _left(c) not in operands]
    return {**permission, "constraint": kept}


def _obligations(document: dict[str, Any], action: str) -> tuple[str, ...]:
    wanted = {NOTIFY}
    if action == EXPORT:
        wanted.add(WATERMARK)
    duties = [*_as_list(document.get("obligation"))]
    for permission in _as_list(document.get("permission")):
        duties.extend(_as_list(permission.get("duty")) if isinstance(permission, dict) else [])
    if any(isinstance(duty, dict) and _bare(duty.get("action")) == "delete" for duty in duties):
        wanted.add(DELETE)
    return tuple(name for name in OBLIGATION_ORDER if name in wanted)


class AgreementGuard:
    """The default guard: the agreement exists and is not terminated or expired, its ``count`` constraints
    leave a use, a copy (export) is not prohibited, and the connector's policy decision point permits use
    with the stated purpose at this time."""

    def __init__(self, terminated: Callable[[str], bool], pdp: PolicyDecisionPoint | None = None) -> None:
        self.terminated = terminated
        self.pdp = pdp or SimplePolicyDecisionPoint()

    def decide(self, agreement: Agreement | None, request: UsageRequest) -> GuardDecision:
        if agreement is None:
            return GuardDecision(False, (), "no such agreement: data is used only under an agreement")
        if self.terminated(agreement.id):
            return GuardDecision(False, (), f"agreement {agreement.id} was terminated and its data destroyed")
        document = agreement.document
        expiry = agreement_expiry(document)
        if expiry is not None and request.at >= expiry:
            return GuardDecision(False, (DELETE,), f"agreement {agreement.id} expired at {to_xsd(expiry)}")
        if request.action == EXPORT and any(
            isinstance(p, dict) and str(p.get("action", "")) in _COPYING and not p.get("constraint")
            for p in _as_list(document.get("prohibition"))
        ):
            return GuardDecision(False, (), "the agreement prohibits copying its data out (reproduce/distribute)")
        return self._policy(agreement, document, request)

    def _policy(self, agreement: Agreement, document: dict[str, Any], request: UsageRequest) -> GuardDecision:
        permissions: list[Any] = []
        for permission in _as_list(document.get("permission")):
            if not isinstance(permission, dict):
                continue
            spent = _count_limit(permission, request.action, request.counts)
            if spent is not None:
                return GuardDecision(False, (), spent)
            permissions.append(_without(permission, _COUNT | _CHECKED_AT_NEGOTIATION))
        policy = {**document, "permission": permissions}
        context = DecisionContext(consumer=agreement.consumer, roles=(), space="", now=request.at,
                                  purpose=request.purpose)
        decision = self.pdp.decide(policy, context)
        if not decision.allowed:
            return GuardDecision(False, (), "; ".join(decision.reasons))
        return GuardDecision(True, _obligations(document, request.action),
                             f"{request.action} permitted under agreement {agreement.id} for purpose "
                             f"{request.purpose!r}")
