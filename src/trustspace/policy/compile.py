"""Constraints compiled to closures when a policy is built: a decision is then a few calls per constraint.

A check takes the request context and returns ``(satisfied, actual)``; a value the context does not state is
never satisfied (fail closed), and ``actual`` is then None.
"""

from __future__ import annotations

import operator as op
from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from trustspace.policy.vocabulary import LEFT_OPERANDS, Kind, Operator

if TYPE_CHECKING:
    from trustspace.policy.request import Context

Check = Callable[["Context"], tuple[bool, Any]]

Test = Callable[[Any, "Context"], bool]
_ORDER: dict[Operator, Callable[[Any, Any], bool]] = {
    Operator.EQ: op.eq, Operator.NEQ: op.ne, Operator.LT: op.lt, Operator.LTEQ: op.le, Operator.GT: op.gt,
    Operator.GTEQ: op.ge}
# left operand -> the Context field it reads (the others read the field of their own name)
ATTRIBUTE = {"dateTime": "time", "time": "time", "timeWindow": "time", "spatial": "region",
             "networkAddress": "network_address", "physicalAddress": "physical_address",
             "dataSize": "data_size", "dataRecord": "records", "dataField": "fields",
             "valueExpression": "value_expression", "machineLearningModels": "model", "executionEnv":
             "execution_env", "encryptMode": "encrypt_mode", "deliveryMethod": "delivery_method",
             "payAmount": "pay_amount", "role": "roles"}
PER_UNIT = {"minute": "per_minute", "hour": "per_hour", "day": "per_day"}


def _getter(left: str, unit: str | None) -> Callable[[Context], Any]:
    # count and frequency are about this use: the uses so far plus one
    if left == "count":
        return lambda ctx: ctx.usage.count + 1
    if left == "frequency":
        counter = attrgetter(PER_UNIT[unit or "day"])
        return lambda ctx: counter(ctx.usage) + 1
    return attrgetter(ATTRIBUTE.get(left, left))


def _in_window(window: tuple[int, int], minute: int) -> bool:
    start, end = window
    return start <= minute < end if start <= end else minute >= start or minute < end


def _window(operator: Operator, value: Any) -> Test:
    if operator is Operator.IS_PART_OF:
        return lambda a, ctx: _in_window(value, a.hour * 60 + a.minute)
    if operator is Operator.IS_ANY_OF:
        return lambda a, ctx: any(_in_window(w, a.hour * 60 + a.minute) for w in value)
    return lambda a, ctx: not any(_in_window(w, a.hour * 60 + a.minute) for w in value)


def _network(operator: Operator, value: Any) -> Test:
    if operator in (Operator.EQ, Operator.IS_PART_OF):
        return lambda a, ctx: a in value
    if operator is Operator.NEQ:
        return lambda a, ctx: a not in value
    if operator is Operator.IS_ANY_OF:
        return lambda a, ctx: any(a in net for net in value)
    return lambda a, ctx: not any(a in net for net in value)


def _sets(operator: Operator, value: frozenset[Any]) -> Test:
    tests: dict[Operator, Test] = {
        Operator.EQ: lambda a, ctx: a == value, Operator.NEQ: lambda a, ctx: a != value,
        Operator.IS_ALL_OF: lambda a, ctx: value <= a, Operator.HAS_PART: lambda a, ctx: value <= a,
        Operator.IS_ANY_OF: lambda a, ctx: not value.isdisjoint(a),
        Operator.IS_NONE_OF: lambda a, ctx: value.isdisjoint(a), Operator.IS_PART_OF: lambda a, ctx: a <= value}
    return tests[operator]


def _within(kind: Kind, a: str, whole: str, ctx: Context) -> bool:
    """``a`` is ``whole`` or part of it: by the code's hierarchy (CN-31 in CN) or as the context says."""
    if a == whole or whole in ctx.part_of.get(a, ()):
        return True
    return kind is Kind.REGION and a.startswith(whole + "-")


def _text(kind: Kind, operator: Operator, value: Any) -> Test:
    if operator is Operator.EQ:
        return lambda a, ctx: a == value
    if operator is Operator.NEQ:
        return lambda a, ctx: a != value
    if operator is Operator.IS_ANY_OF:
        return lambda a, ctx: a in value
    if operator is Operator.IS_NONE_OF:
        return lambda a, ctx: a not in value
    if operator is Operator.IS_PART_OF:
        return lambda a, ctx: _within(kind, a, value, ctx)
    if operator is Operator.HAS_PART:
        return lambda a, ctx: _within(kind, value, a, ctx)
    return lambda a, ctx: a == value or value in ctx.types.get(a, ())  # isA


def _test(kind: Kind, operator: Operator, value: Any) -> Test:
    if kind is Kind.WINDOW:
        return _window(operator, value)
    if kind is Kind.NETWORK:
        return _network(operator, value)
    if kind is Kind.TEXT_SET:
        return _sets(operator, value)
    if kind is Kind.TIME_RANGE and operator is Operator.IS_PART_OF:
        start, end = value
        return lambda a, ctx: start <= a <= end
    if operator in _ORDER and kind in (Kind.DATETIME, Kind.TIME_RANGE, Kind.INTEGER, Kind.DECIMAL):
        compare = _ORDER[operator]
        return lambda a, ctx: compare(a, value)
    return _text(kind, operator, value)


def compile_constraint(left: str, operator: Operator, value: Any, unit: str | None) -> Check:
    operand = LEFT_OPERANDS[left]
    get = _getter(left, unit)
    test = _test(operand.kind, operator, value)

    def check(ctx: Context) -> tuple[bool, Any]:
        actual = get(ctx)
        if actual is None:
            return False, None
        return test(actual, ctx), actual

    return check

