"""The decision point (TC609-6-2025-15 §7.1.2.3): permit, permit with obligations, deny, or not applicable.

Not applicable is a deny: no rule of the policy covers the request. Every premise and constraint checked is
kept as a finding, so the decision explains itself (``explain.py``) in English and Chinese.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

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
    Prohibition,
)
from trustspace.policy.request import Context, DutyState, Request
from trustspace.policy.vocabulary import includes


class Outcome(StrEnum):
    PERMIT = "permit"
    PERMIT_WITH_OBLIGATIONS = "permit-with-obligations"
    DENY = "deny"
    NOT_APPLICABLE = "not-applicable"


# (rule, what was checked, satisfied, actual value): what is "a Constraint", "a LogicalConstraint", a Duty,
# or one of the premises "action", "target", "assignee".
Finding = tuple[Any, Any, bool, Any]


@dataclass(frozen=True, slots=True)
class RuleResult:
    rule: Permission | Prohibition
    action: bool
    target: bool | None
    assignee: bool | None
    active: bool


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    request: Request
    rule: Permission | Prohibition | None
    obligations: tuple[Duty, ...]
    findings: tuple[Finding, ...]
    results: tuple[RuleResult, ...]
    reason: str

    @property
    def allowed(self) -> bool:
        return self.outcome in (Outcome.PERMIT, Outcome.PERMIT_WITH_OBLIGATIONS)

    def explain(self, language: str = "en") -> list[str]:
        from trustspace.policy.explain import explain

        return explain(self, language)


def _constraint(node: AnyConstraint, ctx: Context, rule: Any, findings: list[Finding]) -> bool:
    if type(node) is Constraint:
        ok, actual = node.check(ctx)
        findings.append((rule, node, ok, actual))
        return ok
    assert isinstance(node, LogicalConstraint)
    if node.logic is Logic.AND_SEQUENCE:
        # in order, and nothing after the first that fails is attempted
        ok = all(_constraint(child, ctx, rule, findings) for child in node.constraints)
    else:
        oks = [_constraint(child, ctx, rule, findings) for child in node.constraints]
        ok = all(oks) if node.logic is Logic.AND else any(oks) if node.logic is Logic.OR else oks.count(True) == 1
    findings.append((rule, node, ok, None))
    return ok


def _all(nodes: tuple[AnyConstraint, ...], ctx: Context, rule: Any, findings: list[Finding]) -> bool:
    ok = True
    for node in nodes:
        # every constraint is checked, not only up to the first failure: the explanation names all of them
        if not _constraint(node, ctx, rule, findings):
            ok = False
    return ok


def _member(wanted: Asset | Party | None, asked: str | None, ctx: Context) -> bool | None:
    if wanted is None:
        return None
    if asked is None:
        return isinstance(wanted, Asset)  # the policy's own target; an unnamed assignee matches nobody
    return (asked == wanted.uid or wanted.uid in ctx.part_of.get(asked, ())) and all(
        _constraint(r, ctx, wanted, []) for r in wanted.refinements)


def _premises(rule: Permission | Prohibition, request: Request, findings: list[Finding]) -> RuleResult:
    ctx = request.context
    action = rule.action is None or (includes(rule.action.name, request.action)
                                     and _all(rule.action.refinements, ctx, rule, findings))
    target = _member(rule.target, request.target, ctx)
    assignee = _member(rule.assignee, request.assignee, ctx)
    findings.append((rule, "action", action, request.action))
    if target is not None:
        findings.append((rule, "target", target, request.target))
    if assignee is not None:
        findings.append((rule, "assignee", assignee, request.assignee))
    matched = action and target is not False and assignee is not False
    return RuleResult(rule, action, target, assignee, matched)


def _duties(duties: tuple[Duty, ...], rule: Any, ctx: Context, findings: list[Finding],
            due: list[Duty]) -> bool:
    """Collect the duties still to run; False when one is violated with no consequence to make up for it."""
    for duty in duties:
        if duty.constraints and not _all(duty.constraints, ctx, duty, []):
            continue  # not due yet
        state = ctx.duties.get(duty.uid or "", DutyState.PENDING)
        findings.append((rule, duty, state is not DutyState.VIOLATED or bool(duty.consequences), state))
        if state is DutyState.PENDING:
            due.append(duty)
        elif state is DutyState.VIOLATED:
            if not duty.consequences:
                return False
            due.extend(duty.consequences)
    return True


def _rule(rule: Permission | Prohibition, request: Request, findings: list[Finding]) -> RuleResult:
    result = _premises(rule, request, findings)
    if not result.active:
        return result
    active = _all(rule.constraints, request.context, rule, findings)
    return result if active else RuleResult(rule, result.action, result.target, result.assignee, False)


def evaluate(policy: Policy, request: Request) -> Decision:
    findings: list[Finding] = []
    results: list[RuleResult] = []
    granted: list[tuple[Permission, list[Duty]]] = []
    matched = False
    for permission in policy.permissions:
        result = _rule(permission, request, findings)
        matched = matched or (result.action and result.target is not False and result.assignee is not False)
        due: list[Duty] = []
        if result.active and not _duties(permission.duties, permission, request.context, findings, due):
            result = RuleResult(permission, result.action, result.target, result.assignee, False)
        results.append(result)
        if result.active:
            granted.append((permission, due))
    denied: list[Prohibition] = []
    for prohibition in policy.prohibitions:
        result = _rule(prohibition, request, findings)
        results.append(result)
        if result.active:
            denied.append(prohibition)
    return _combine(policy, request, granted, denied, matched, findings, results)


def _combine(policy: Policy, request: Request, granted: list[tuple[Permission, list[Duty]]],
             denied: list[Prohibition], matched: bool, findings: list[Finding], results: list[RuleResult]) -> Decision:
    def decide(outcome: Outcome, rule: Any, reason: str, due: tuple[Duty, ...] = ()) -> Decision:
        return Decision(outcome, request, rule, due, tuple(findings), tuple(results), reason)

    if granted and denied:
        if policy.conflict is Conflict.PERM:
            denied = []
        elif policy.conflict is Conflict.PROHIBIT:
            return decide(Outcome.DENY, denied[0], "prohibited (prohibitions win: conflict prohibit)")
        else:
            return decide(Outcome.DENY, denied[0], "void: a permission and a prohibition both apply "
                                                   "(conflict invalid)")
    if denied:
        return decide(Outcome.DENY, denied[0], "prohibited")
    if not granted:
        if matched:
            return decide(Outcome.DENY, None, "constraints not satisfied")
        return decide(Outcome.NOT_APPLICABLE, None, "no rule covers the request")
    permission, due = min(granted, key=lambda pair: len(pair[1]))
    obligations: list[Duty] = list(due)
    if not _duties(policy.obligations, None, request.context, findings, obligations):
        return decide(Outcome.DENY, permission, "an obligation of the policy was violated")
    if obligations:
        return decide(Outcome.PERMIT_WITH_OBLIGATIONS, permission, "permitted once the obligations have run",
                      tuple(obligations))
    return decide(Outcome.PERMIT, permission, "permitted")
