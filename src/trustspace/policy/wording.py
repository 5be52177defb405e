"""Values as a person reads them, in English or Chinese: what the explanation of a decision is made of.

Shared by the model (a constraint writes its expected value once, when it is built) and ``explain.py``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from trustspace.policy.vocabulary import SYMBOL, SYMBOL_ZH, Operator

UNSTATED = ("not stated", "未提供")


def _minutes(value: int) -> str:
    return f"{value // 60:02d}:{value % 60:02d}"


def show(value: Any, zh: bool = False) -> str:
    """One value as a person reads it: times in UTC, sets sorted, windows as HH:MM-HH:MM."""
    if value is None:
        return UNSTATED[zh]
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, frozenset | set):
        return "[" + ", ".join(sorted(show(v, zh) for v in value)) + "]"
    if isinstance(value, tuple):
        if len(value) == 2 and all(isinstance(v, int) for v in value):
            return f"{_minutes(value[0])}-{_minutes(value[1])}"
        if len(value) == 2 and all(isinstance(v, datetime) for v in value):
            return f"{show(value[0])}/{show(value[1])}"
        return "[" + ", ".join(show(v, zh) for v in value) + "]"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def actual(left: str, value: Any, zh: bool) -> str:
    """What the request showed for a left operand."""
    if value is None:
        return UNSTATED[zh]
    if left == "timeWindow" and isinstance(value, datetime):
        return value.strftime("%H:%M")
    if left == "count":
        return f"第 {value} 次使用" if zh else f"use number {value}"
    if left == "dataSize":
        return f"{value} 字节" if zh else f"{value} bytes"
    return show(value, zh)


def expected(left: str, operator: Operator, value: Any, written: Any, unit: str | None, zh: bool) -> str:
    """What a constraint asks for: the operator and the value, in the policy's own unit."""
    symbol = (SYMBOL_ZH if zh else SYMBOL)[operator]
    if left == "dataSize" and unit:
        return f"{symbol} {show(written, zh)} {unit}"
    suffix = f" / {unit}" if left == "frequency" and unit else (f" {unit}" if unit else "")
    return f"{symbol} {show(value, zh)}{suffix}"
