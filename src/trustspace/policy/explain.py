"""A decision in words, English or Chinese: the outcome, then each rule, constraint, actual and expected value.

Rendering happens only when asked (the decision keeps its findings as data), so deciding stays fast.
"""

from __future__ import annotations

from typing import Any, Protocol

from trustspace.policy.model import Constraint, Duty, LogicalConstraint, Permission, Prohibition
from trustspace.policy.request import DutyState, Request
from trustspace.policy.vocabulary import ACTIONS, LEFT_OPERANDS
from trustspace.policy.wording import UNSTATED, show
from trustspace.policy.wording import actual as shown_actual

Finding = tuple[Any, Any, bool, Any]


class Decided(Protocol):
    """What explaining needs of a decision (``decide.Decision``; named here so neither imports the other)."""

    @property
    def outcome(self) -> Any: ...
    @property
    def request(self) -> Request: ...
    @property
    def reason(self) -> str: ...
    @property
    def obligations(self) -> tuple[Duty, ...]: ...
    @property
    def findings(self) -> tuple[Finding, ...]: ...

_OUTCOME = {"permit": ("permit", "允许"), "permit-with-obligations": ("permit with obligations", "有条件允许"),
            "deny": ("deny", "拒绝"), "not-applicable": ("not applicable, so deny", "默认拒绝")}
_KIND = {Permission: ("permission", "许可"), Prohibition: ("prohibition", "禁止"), Duty: ("duty", "义务")}
_PREMISE = {"action": ("action", "操作行为"), "target": ("target", "数据产品"), "assignee": ("assignee", "被授权方")}
_LOGIC = {"and": ("all of", "全部满足"), "or": ("at least one of", "至少满足一项"), "xone": ("exactly one of",
          "恰好满足一项"), "andSequence": ("all of, in order", "依次全部满足")}
_STATE = {DutyState.PENDING: ("to run first", "须先执行"), DutyState.FULFILLED: ("fulfilled", "已履行"),
          DutyState.VIOLATED: ("violated", "已违反")}
_REASONS_ZH = {"prohibited": "有禁止规则适用", "constraints not satisfied": "约束条件未满足",
               "no rule covers the request": "没有规则涵盖该请求", "permitted": "许可适用",
               "permitted once the obligations have run": "义务执行后许可",
               "an obligation of the policy was violated": "策略义务已被违反",
               "prohibited (prohibitions win: conflict prohibit)": "禁止优先（冲突策略 prohibit）",
               "void: a permission and a prohibition both apply (conflict invalid)":
                   "策略无效：许可与禁止同时适用（冲突策略 invalid）"}


def _rule_name(rule: Any, zh: bool) -> str:
    if rule is None:
        return "策略义务" if zh else "policy obligation"
    kind = _KIND.get(type(rule), ("rule", "规则"))[zh]
    action = rule.action.name if rule.action else "*"
    name = ACTIONS[action].zh if zh and action in ACTIONS else action
    return f"{kind} {rule.pointer or '/'} ({name})" if not zh else f"{kind} {rule.pointer or '/'}（{name}）"


def _mark(ok: bool, zh: bool) -> str:
    return ("满足" if ok else "不满足") if zh else ("satisfied" if ok else "NOT satisfied")


def _line(finding: Finding, names: dict[int, str], zh: bool) -> str:
    rule, node, ok, actual = finding
    head = names.get(id(rule))
    if head is None:
        head = names[id(rule)] = _rule_name(rule, zh)
    sep = "：" if zh else ": "
    if isinstance(node, str):
        what = _PREMISE[node][zh]
        expected: Any = getattr(rule.action, "name", "*") if node == "action" else getattr(getattr(
            rule, node), "uid", "*")
        return _sentence(head, sep, what, show(actual, zh), f"= {expected}" if node != "action" else
                         (f"包含于 {expected}" if zh else f"within {expected}"), ok, zh)
    if isinstance(node, Constraint):
        term = LEFT_OPERANDS[node.left]
        return _sentence(head, sep, f"{term.zh if zh else term.en} {node.pointer}", shown_actual(node.left, actual, zh),
                         node.expected[zh], ok, zh)
    if isinstance(node, LogicalConstraint):
        return f"{head}{sep}{node.pointer} {_LOGIC[node.logic.value][zh]} — {_mark(ok, zh)}"
    assert isinstance(node, Duty)
    action = node.action.name if node.action else "*"
    name = ACTIONS[action].zh if zh and action in ACTIONS else action
    duty = "义务" if zh else "duty"
    return f"{head}{sep}{duty} {node.pointer} {name} — {_STATE[actual][zh]}"


def _sentence(head: str, sep: str, what: str, actual: str, expected: str, ok: bool, zh: bool) -> str:
    if zh:
        return f"{head}{sep}{what}，实际值 {actual}，期望值 {expected} —— {_mark(ok, zh)}"
    return f"{head}{sep}{what}, actual {actual}, expected {expected} — {_mark(ok, zh)}"


def summary(decision: Decided, zh: bool = False) -> str:
    outcome = _OUTCOME[decision.outcome.value][zh]
    request = decision.request
    action = ACTIONS[request.action].zh if zh and request.action in ACTIONS else request.action
    who = request.assignee or UNSTATED[zh]
    if zh:
        reason = _REASONS_ZH.get(decision.reason, decision.reason)
        line = f"决定：{outcome}（{who} 请求 {action} {request.target or '数据产品'}）：{reason}"
    else:
        line = f"decision: {outcome} ({who} asks to {action} {request.target or 'the data'}): {decision.reason}"
    if decision.obligations:
        steps = ", ".join(d.action.name for d in decision.obligations if d.action)
        line += f"；须先依次执行：{steps}" if zh else f"; run first, in this order: {steps}"
    return line


def explain(decision: Decided, language: str = "en") -> list[str]:
    zh = language.lower().startswith("zh")
    names: dict[int, str] = {}
    return [summary(decision, zh), *(_line(f, names, zh) for f in decision.findings)]
