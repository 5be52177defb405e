"""The decision point (TC609-6-2025-15 §7.1.2.3): permit, permit with obligations, deny, or not applicable.

Not applicable is a deny: no rule of the policy covers the request. Every premise and constraint checked is
kept (as the values a compiled rule recorded, or as findings), so the decision explains itself
(``explain.py``) in English and Chinese; the findings are put together only when asked for.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NamedTuple

from trustspace.policy.codegen import compile_policy, compile_rule
from trustspace.policy.explain import explain
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


# (rule, what was checked, satisfied, actual value): what is a Constraint, a LogicalConstraint, a Duty,
# or one of the premises "action", "target", "assignee".
Finding = tuple[Any, Any, bool, Any]


class RuleResult(NamedTuple):
    rule: Permission | Prohibition
    action: bool
    target: bool | None
    assignee: bool | None
    active: bool
    # a compiled rule's (satisfied, actual) pairs in its layout's order, else the findings themselves
    values: tuple[Any, ...] = ()
    duties: tuple[Finding, ...] = ()

    def findings(self, request: Request) -> list[Finding]:
        rule = self.rule
        if rule.program is None:
            return [*self.values, *self.duties]
        found: list[Finding] = [(rule, "action", self.action, request.action)]
        if self.target is not None:
            found.append((rule, "target", self.target, request.target))
        if self.assignee is not None:
            found.append((rule, "assignee", self.assignee, request.assignee))
        values = self.values
        found.extend((rule, node, values[2 * i], values[2 * i + 1]) for i, node in enumerate(rule.program[1])
                     if 2 * i < len(values))
        found.extend(self.duties)
        return found


class Decision(NamedTuple):
    outcome: Outcome
    request: Request
    rule: Permission | Prohibition | None
    obligations: tuple[Duty, ...]
    # RuleResults; or, from a compiled policy, the rules' raw records with the rules beside them
    raw: tuple[Any, ...]
    reason: str
    policy_duties: tuple[Finding, ...] = ()
    rules: tuple[Permission | Prohibition, ...] | None = None

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.PERMIT or self.outcome is Outcome.PERMIT_WITH_OBLIGATIONS

    @property
    def results(self) -> tuple[RuleResult, ...]:
        if self.rules is None:
            return self.raw
        return tuple(RuleResult(rule, x[1], x[2], x[3], x[0], x[4]) for rule, x in zip(self.rules, self.raw,
                                                                                          strict=True))

    @property
    def findings(self) -> tuple[Finding, ...]:
        found = [f for result in self.results for f in result.findings(self.request)]
        return (*found, *self.policy_duties)

    def explain(self, language: str = "en") -> list[str]:
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


def _general(rule: Permission | Prohibition, request: Request) -> RuleResult:
    """The rule read node by node: what a compiled rule does, for the rules compile_rule leaves alone."""
    ctx = request.context
    findings: list[Finding] = []
    action = rule.action is None or (includes(rule.action.name, request.action)
                                     and _all(rule.action.refinements, ctx, rule, findings))
    target = _member(rule.target, request.target, ctx)
    assignee = _member(rule.assignee, request.assignee, ctx)
    findings.append((rule, "action", action, request.action))
    if target is not None:
        findings.append((rule, "target", target, request.target))
    if assignee is not None:
        findings.append((rule, "assignee", assignee, request.assignee))
    active = action and target is not False and assignee is not False
    if active:
        active = _all(rule.constraints, ctx, rule, findings)
    return RuleResult(rule, action, target, assignee, active, tuple(findings))


def _rule(rule: Permission | Prohibition, request: Request) -> RuleResult:
    program = rule.program
    if program is None:
        return _general(rule, request)
    active, action, target, assignee, values = program[0](request, request.context)
    return RuleResult(rule, action, target, assignee, active, values)


def _duties(duties: tuple[Duty, ...], rule: Any, ctx: Context, due: list[Duty]) -> tuple[bool, list[Finding]]:
    """Collect the duties still to run; False when one is violated with no consequence to make up for it."""
    findings: list[Finding] = []
    for duty in duties:
        if duty.constraints and not _all(duty.constraints, ctx, duty, []):
            continue  # not due yet
        state = ctx.duties.get(duty.uid or "", DutyState.PENDING)
        findings.append((rule, duty, state is not DutyState.VIOLATED or bool(duty.consequences), state))
        if state is DutyState.PENDING:
            due.append(duty)
        elif state is DutyState.VIOLATED:
            if not duty.consequences:
                return False, findings
            due.extend(duty.consequences)
    return True, findings


def prepare(policy: Policy) -> Policy:
    """Compile the policy's rules, and the policy itself when it has no duties (once; the result is kept on the
    frozen objects, which is safe because it is a pure function of them)."""
    if not policy.prepared:
        for rule in (*policy.permissions, *policy.prohibitions):
            object.__setattr__(rule, "program", compile_rule(rule))
        object.__setattr__(policy, "program", compile_policy(policy, Decision, Outcome))
        object.__setattr__(policy, "prepared", True)
    return policy


def evaluate(policy: Policy, request: Request) -> Decision:
    if not policy.prepared:
        prepare(policy)
    run = policy.program
    if run is not None:
        decision: Decision = run(request)
        return decision
    results: list[RuleResult] = []
    granted: list[tuple[Permission, list[Duty]]] = []
    matched = False
    for permission in policy.permissions:
        result = _rule(permission, request)
        matched = matched or (result.action and result.target is not False and result.assignee is not False)
        due: list[Duty] = []
        if result.active and permission.duties:
            kept, found = _duties(permission.duties, permission, request.context, due)
            result = result._replace(active=kept, duties=tuple(found))
        results.append(result)
        if result.active:
            granted.append((permission, due))
    denied: Prohibition | None = None
    for prohibition in policy.prohibitions:
        result = _rule(prohibition, request)
        results.append(result)
        if result.active and denied is None:
            denied = prohibition
    return _combine(policy, request, granted, denied, matched, tuple(results))


def _combine(policy: Policy, request: Request, granted: list[tuple[Permission, list[Duty]]],
             denied: Prohibition | None, matched: bool, results: tuple[RuleResult, ...]) -> Decision:
    if denied is not None:
        if not granted:
            return Decision(Outcome.DENY, request, denied, (), results, "prohibited")
        if policy.conflict is Conflict.PROHIBIT:
            return Decision(Outcome.DENY, request, denied, (), results,
                            "prohibited (prohibitions win: conflict prohibit)")
        if policy.conflict is Conflict.INVALID:
            return Decision(Outcome.DENY, request, denied, (), results,
                            "void: a permission and a prohibition both apply (conflict invalid)")
    if not granted:
        if matched:
            return Decision(Outcome.DENY, request, None, (), results, "constraints not satisfied")
        return Decision(Outcome.NOT_APPLICABLE, request, None, (), results, "no rule covers the request")
    # the permission with the least left to run first
    permission, due = granted[0] if not granted[0][1] else min(granted, key=lambda pair: len(pair[1]))
    if not policy.obligations and not due:
        return Decision(Outcome.PERMIT, request, permission, (), results, "permitted")
    obligations = list(due)
    kept, found = _duties(policy.obligations, None, request.context, obligations)
    if not kept:
        return Decision(Outcome.DENY, request, permission, (), results, "an obligation of the policy was violated",
                        tuple(found))
    if obligations:
        return Decision(Outcome.PERMIT_WITH_OBLIGATIONS, request, permission, tuple(obligations), results,
                        "permitted once the obligations have run", tuple(found))
    return Decision(Outcome.PERMIT, request, permission, (), results, "permitted", tuple(found))
