"""The ODRL test suite's Turtle mapped to our model: policy, request, state of the world, expected report.

rdflib is a test dependency only (docs/decisions/0015): the vectors are Turtle, our policies JSON.
The mapping builds the model's dataclasses directly, without ``parse_policy``'s creation checks: two of the
suite's policies have rules without an action, which those checks refuse (see docs/usage-control.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rdflib import RDF, Graph, Namespace
from rdflib.term import Node

from trustspace.policy.model import (
    Action,
    AnyConstraint,
    Asset,
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
from trustspace.policy.request import Context, DutyState, Request
from trustspace.policy.values import parse_datetime, parse_right
from trustspace.policy.vocabulary import LEFT_OPERANDS, Operator, split_name

SUITE = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors" / "odrl-test-suite"
ODRL = Namespace("http://www.w3.org/ns/odrl/2/")
EX = Namespace("http://example.org/")
REPORT = Namespace("https://w3id.org/force/compliance-report#")
DCT = Namespace("http://purl.org/dc/terms/")
TEMP = Namespace("http://example.com/request/")
_STATES = {"Fulfilled": DutyState.FULFILLED, "Violated": DutyState.VIOLATED, "NonSet": DutyState.PENDING}


@dataclass
class Expected:
    rule: str
    active: bool
    premises: dict[str, bool] = field(default_factory=dict)   # Party / Action / Target -> satisfied
    constraints: dict[str, bool] = field(default_factory=dict)  # constraint uid -> satisfied


@dataclass
class Case:
    name: str
    title: str
    policy: Policy
    request: Request
    expected: list[Expected]


def _local(url: str) -> Path:
    return SUITE / url.split("/data/", 1)[1]


def _graph(path: Path) -> Graph:
    return Graph().parse(path, format="turtle")


def _name(node: Node) -> str:
    text = split_name(str(node))[1]
    return text.rsplit("#", 1)[-1] if "#" in text else text


def _constraint(g: Graph, node: Node) -> AnyConstraint:
    for logic in Logic:
        members = sorted(g.objects(node, ODRL[logic.value]), key=str)
        if members:
            return LogicalConstraint(logic, tuple(_constraint(g, m) for m in members), str(node), str(node))
    left = _name(g.value(node, ODRL.leftOperand))
    operator = Operator(_name(g.value(node, ODRL.operator)))
    written = str(g.value(node, ODRL.rightOperand))
    value = parse_right(LEFT_OPERANDS[left], operator, written, str(node))
    return Constraint(left, operator, value, written, str(node), uid=str(node))


def _party(g: Graph, node: Node | None) -> Party | None:
    if node is None:
        return None
    return Party(str(node), (node, RDF.type, ODRL.PartyCollection) in g)


def _asset(g: Graph, node: Node | None) -> Asset | None:
    if node is None:
        return None
    return Asset(str(node), (node, RDF.type, ODRL.AssetCollection) in g)


def _common(g: Graph, rule: Node) -> dict[str, Any]:
    action = g.value(rule, ODRL.action)
    return {"action": Action(_name(action)) if action is not None else None, "pointer": str(rule),
            "uid": str(rule), "target": _asset(g, g.value(rule, ODRL.target)),
            "assignee": _party(g, g.value(rule, ODRL.assignee)),
            "constraints": tuple(_constraint(g, c) for c in g.objects(rule, ODRL.constraint))}


def policy(g: Graph) -> Policy:
    root = next(iter(g.subjects(RDF.type, ODRL.Set)))
    return Policy(
        uid=str(root), type=PolicyType.SET,
        permissions=tuple(Permission(**_common(g, r), duties=tuple(Duty(**_common(g, d)) for d in
                                                                  g.objects(r, ODRL.duty)))
                          for r in g.objects(root, ODRL.permission)),
        prohibitions=tuple(Prohibition(**_common(g, r)) for r in g.objects(root, ODRL.prohibition)))


def request(g: Graph, sotw: Graph) -> Request:
    root = next(iter(g.subjects(RDF.type, ODRL.Request)))
    rule = g.value(root, ODRL.permission)
    part_of: dict[str, frozenset[str]] = {}
    for member, collection in sotw.subject_objects(ODRL.partOf):
        part_of[str(member)] = part_of.get(str(member), frozenset()) | {str(collection)}
    duties = {str(sotw.value(r, REPORT.rule)): _STATES[_name(sotw.value(r, REPORT.deonticState))]
              for r in sotw.subjects(RDF.type, REPORT.DutyReport)}
    context = Context(time=parse_datetime(str(sotw.value(TEMP.currentTime, DCT.issued))), part_of=part_of,
                      duties=duties)
    return Request(_name(g.value(rule, ODRL.action)), str(g.value(rule, ODRL.assignee)),
                   str(g.value(rule, ODRL.target)), context)


def _satisfied(g: Graph, node: Node) -> bool:
    return _name(g.value(node, REPORT.satisfactionState)) == "Satisfied"


def expected(g: Graph) -> list[Expected]:
    out = []
    for kind in (REPORT.PermissionReport, REPORT.ProhibitionReport):
        for report in g.subjects(RDF.type, kind):
            item = Expected(str(g.value(report, REPORT.rule)),
                            _name(g.value(report, REPORT.activationState)) == "Active")
            for premise in g.objects(report, REPORT.premiseReport):
                kind_name = _name(g.value(premise, RDF.type)).removesuffix("Report")
                # the suite's 065 names premise reports it never describes: only typed ones count
                if kind_name in ("Party", "Action", "Target"):
                    item.premises[kind_name] = _satisfied(g, premise)
            for c in g.subjects(RDF.type, REPORT.ConstraintReport):
                item.constraints[str(g.value(c, REPORT.constraint))] = _satisfied(g, c)
            out.append(item)
    return out


def cases() -> list[Case]:
    """Every case of index.ttl, in order; a missing file raises (the test fails, it does not skip)."""
    index = _graph(SUITE / "index.ttl")
    found = []
    for case in sorted(index.subjects(EX.expectedReportSource, None), key=lambda c: str(
            index.value(c, EX.expectedReportSource))):
        source = {k: _local(str(index.value(case, EX[k + "Source"]))) for k in
                  ("policy", "request", "sotw", "expectedReport")}
        sotw = _graph(source["sotw"])
        found.append(Case(source["expectedReport"].stem, str(index.value(case, DCT.title)),
                          policy(_graph(source["policy"])), request(_graph(source["request"]), sotw),
                          expected(_graph(source["expectedReport"]))))
    return found


__all__ = ["SUITE", "Case", "Expected", "cases"]
