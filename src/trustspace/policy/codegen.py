"""Rules, and whole policies without duties, compiled to one generated Python function each.

A decision then costs about what a hand-written check of the same conditions does (``make bench B=policy``).
The source is built from our own vocabulary only: every value of the policy is bound as a constant in the
function's namespace (K0, K1...), never spliced into the source text, so a policy cannot inject code. What
this module does not cover (refinements, andSequence) returns None and is decided by the general path in
``decide.py``, which records the same values.

A compiled rule yields ``(active, action, target, assignee, values)``; ``values`` holds (satisfied, actual)
for each constraint, in the order of the rule's layout (children before their logical constraint).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from trustspace.policy.compile import ATTRIBUTE, PER_UNIT
from trustspace.policy.model import Constraint, Logic, LogicalConstraint
from trustspace.policy.vocabulary import ACTIONS, LEFT_OPERANDS, Kind, Operator, includes

_PY = {Operator.EQ: "==", Operator.NEQ: "!=", Operator.LT: "<", Operator.LTEQ: "<=", Operator.GT: ">",
       Operator.GTEQ: ">="}
_SCALAR_KINDS = (Kind.TEXT, Kind.REGION, Kind.CODE, Kind.MAC)
_SETS = {Operator.EQ: "a == K", Operator.NEQ: "a != K", Operator.IS_ALL_OF: "K <= a", Operator.HAS_PART: "K <= a",
         Operator.IS_ANY_OF: "not K.isdisjoint(a)", Operator.IS_NONE_OF: "K.isdisjoint(a)",
         Operator.IS_PART_OF: "a <= K"}
_SCALAR = {Operator.EQ: "a == K", Operator.NEQ: "a != K", Operator.IS_ANY_OF: "a in K",
           Operator.IS_NONE_OF: "a not in K"}


def _inline(c: Any) -> tuple[str, dict[str, Any]] | None:
    """One constraint's test as an expression over ``a`` (the actual value) and its constants (K, L, H, V)."""
    kind, o, value = LEFT_OPERANDS[c.left].kind, c.operator, c.value
    if kind in (Kind.DATETIME, Kind.INTEGER, Kind.DECIMAL) or (kind is Kind.TIME_RANGE and o in _PY):
        return f"a {_PY[o]} K", {"K": value}
    if kind is Kind.TIME_RANGE:
        return "L <= a <= H", {"L": value[0], "H": value[1]}
    if kind in _SCALAR_KINDS and o in _SCALAR:
        return _SCALAR[o], {"K": value}
    if kind is Kind.REGION and o is Operator.IS_PART_OF:
        return "(a == K or a.startswith(L) or K in c.part_of.get(a, ()))", {"K": value, "L": value + "-"}
    if kind is Kind.NETWORK and o in (Operator.EQ, Operator.IS_PART_OF, Operator.NEQ):
        # the network as a range of integers: what ``address in network`` computes (ipaddress keeps an
        # address's integer in ``_ip``), without its Python-level checks; V is the address class
        inside = "(type(a) is V and L <= a._ip <= H)"
        return ("not " + inside if o is Operator.NEQ else inside), {
            "V": type(value.network_address), "L": int(value.network_address), "H": int(value.broadcast_address)}
    if kind is Kind.TEXT_SET:
        return _SETS[o], {"K": value}
    return None


def _getter(c: Any) -> str:
    if c.left == "count":
        return "c.usage.count + 1"
    if c.left == "frequency":
        return f"c.usage.{PER_UNIT[c.unit or 'day']} + 1"
    return f"c.{ATTRIBUTE.get(c.left, c.left)}"


def _rename(test: str, constants: dict[str, str], actual: str) -> str:
    names = {"a": actual, **constants}
    return re.sub(r"\b[aKLHV]\b", lambda m: names[m.group(0)], test)


class _Unsupported(Exception):
    pass


class _Writer:
    def __init__(self, names: dict[str, Any]) -> None:
        self.names = names
        self.lines: list[str] = []
        self.layout: list[Any] = []

    def constant(self, value: Any) -> str:
        name = f"K{len(self.names)}"
        self.names[name] = value
        return name

    def node(self, node: Any, tag: str, indent: str) -> str:
        """Emit one (logical) constraint's statements; the name of its satisfied flag."""
        if isinstance(node, LogicalConstraint):
            if node.logic is Logic.AND_SEQUENCE:
                raise _Unsupported  # it stops at the first failure: the general path keeps that order
            flags = [self.node(child, tag, indent) for child in node.constraints]
            join = {Logic.AND: " and ", Logic.OR: " or "}.get(node.logic)
            expression = join.join(flags) if join else f"({' + '.join(flags)}) == 1"
            return self._emit(node, tag, indent, f"({expression})", "None")
        assert isinstance(node, Constraint)
        inline = _inline(node)
        index = len(self.layout)
        s, a = f"{tag}s{index}", f"{tag}a{index}"
        self.layout.append(node)
        if inline is None:
            self.lines.append(f"{indent}{s}, {a} = {self.constant(node.check)}(c)")
            return s
        test, values = inline
        self.lines.append(f"{indent}{a} = {_getter(node)}")
        body = _rename(test, {k: self.constant(v) for k, v in values.items()}, a)
        # None == K and None in K are simply False; only the other tests need None kept away
        safe = node.left in ("count", "frequency") or (node.operator in (Operator.EQ, Operator.IS_ANY_OF)
                                                       and test in ("a == K", "a in K"))
        self.lines.append(f"{indent}{s} = {body}" if safe else f"{indent}{s} = {a} is not None and {body}")
        return s

    def _emit(self, node: Any, tag: str, indent: str, expression: str, actual: str) -> str:
        index = len(self.layout)
        self.layout.append(node)
        self.lines += [f"{indent}{tag}s{index} = {expression}", f"{indent}{tag}a{index} = {actual}"]
        return f"{tag}s{index}"

    def member(self, wanted: Any, asked: str, asset: bool) -> str:
        uid = self.constant(wanted.uid)
        return (f"({asset}) if r.{asked} is None else (r.{asked} == {uid} or {uid} in "
                f"c.part_of.get(r.{asked}, ()))")

    def rule(self, rule: Any, tag: str) -> None:
        """Statements leaving the rule's record in the variable ``tag``."""
        if (rule.action and rule.action.refinements) or any(
                p is not None and p.refinements for p in (rule.target, rule.assignee)):
            raise _Unsupported
        if rule.action is None:
            action = "True"
        else:
            covered = frozenset({rule.action.name} | {n for n in ACTIONS if includes(rule.action.name, n)})
            action = f"r.action in {self.constant(covered)}"
        target = "None" if rule.target is None else self.member(rule.target, "target", True)
        assignee = "None" if rule.assignee is None else self.member(rule.assignee, "assignee", False)
        self.lines += [f"    {tag}act = {action}", f"    {tag}tgt = {target}", f"    {tag}asg = {assignee}",
                       f"    if {tag}act and {tag}tgt is not False and {tag}asg is not False:"]
        flags = [self.node(node, tag, "        ") for node in rule.constraints]
        values = "".join(f"{tag}s{i}, {tag}a{i}, " for i in range(len(self.layout)))
        self.lines += [f"        {tag}ok = {' and '.join(flags) or 'True'}",
                       f"        {tag} = ({tag}ok, {tag}act, {tag}tgt, {tag}asg, ({values}))", "    else:",
                       f"        {tag}ok = False", f"        {tag} = (False, {tag}act, {tag}tgt, {tag}asg, ())"]


def _build(head: str, lines: list[str], names: dict[str, Any]) -> Callable[..., Any]:
    # the constants become keyword defaults: read as locals, the fastest lookup Python has
    bound = "".join(f", {name}={name}" for name in names)
    source = "\n".join([f"def run({head}, *{bound}):" if names else f"def run({head}):", *lines])
    namespace = dict(names)
    exec(compile(source, "<policy>", "exec"), namespace)  # noqa: S102 - values are constants, see above
    function: Callable[..., Any] = namespace["run"]
    return function


def compile_rule(rule: Any) -> tuple[Callable[..., Any], tuple[Any, ...]] | None:
    """``run(request, context) -> record`` and the layout of its values; None when the rule is not covered."""
    writer = _Writer({})
    try:
        writer.rule(rule, "x")
    except _Unsupported:
        return None
    return _build("r, c", [*writer.lines, "    return x"], writer.names), tuple(writer.layout)


def compile_policy(policy: Any, decision: Any, outcome: Any) -> Callable[..., Any] | None:
    """The whole decision for a policy without duties or obligations: ``run(request) -> Decision``."""
    rules = (*policy.permissions, *policy.prohibitions)
    if policy.obligations or any(p.duties for p in policy.permissions) or any(r.program is None for r in rules):
        return None
    writer = _Writer({"D": decision, "NEW": tuple.__new__, "PERMIT": outcome.PERMIT, "DENY": outcome.DENY,
                      "NA": outcome.NOT_APPLICABLE, "RULES": rules})
    lines = ["    c = r.context"]
    for i, rule in enumerate(rules):
        writer.layout = []
        writer.rule(rule, f"r{i}")
    lines += writer.lines
    n = len(policy.permissions)
    tags = [f"r{i}" for i in range(len(rules))]
    lines.append(f"    raw = ({''.join(t + ', ' for t in tags)})")
    granted = " else ".join(f"{i} if r{i}ok" for i in range(n)) + " else -1" if n else "-1"
    denied = " else ".join(f"{i} if r{i}ok" for i in range(n, len(rules))) + " else -1" if len(rules) > n else "-1"
    lines += [f"    g = {granted}", f"    q = {denied}", "    if q >= 0:",
              "        if g < 0:", "            return NEW(D, (DENY, r, RULES[q], (), raw, 'prohibited', (), RULES))"]
    conflict = policy.conflict.value
    if conflict == "prohibit":
        lines.append("        return NEW(D, (DENY, r, RULES[q], (), raw, "
                     "'prohibited (prohibitions win: conflict prohibit)', (), RULES))")
    elif conflict == "invalid":
        lines.append("        return NEW(D, (DENY, r, RULES[q], (), raw, "
                     "'void: a permission and a prohibition both apply (conflict invalid)', (), RULES))")
    matched = " or ".join(f"(r{i}act and r{i}tgt is not False and r{i}asg is not False)" for i in range(n))
    lines += ["    if g < 0:", f"        if {matched or 'False'}:",
              "            return NEW(D, (DENY, r, None, (), raw, 'constraints not satisfied', (), RULES))",
              "        return NEW(D, (NA, r, None, (), raw, 'no rule covers the request', (), RULES))",
              "    return NEW(D, (PERMIT, r, RULES[g], (), raw, 'permitted', (), RULES))"]
    return _build("r", lines, writer.names)
