"""Right operands as written -> typed values, refusing a value of the wrong type or unit with its pointer.

Also the parsers the request side shares (dateTime, network address, MAC), so a policy and a request read the
same text the same way.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from trustspace.policy.errors import PolicyInvalid
from trustspace.policy.vocabulary import SIZE_UNITS, TIME_UNITS, Kind, LeftOperand, Operator, split_name

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
LISTS = frozenset({Operator.IS_ANY_OF, Operator.IS_NONE_OF})
_COMPACT = re.compile(r"^\d{14}$")
_WINDOW = re.compile(r"^([01]\d|2[0-3]):?([0-5]\d)-([01]\d|2[0-4]):?([0-5]\d)$")
_MAC = re.compile(r"^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$")


def parse_datetime(text: str) -> datetime:
    """xsd:dateTime (minutes-only forms such as the DSP examples' ``2023-12-31T06:00Z`` included) or the TC609
    form YYYYMMDDHHMMSS (UTC); a value without a zone is refused, not guessed."""
    if _COMPACT.match(text):
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return value.astimezone(UTC)


def parse_mac(text: str) -> str:
    value = text.strip().lower()
    if not _MAC.match(value):
        raise ValueError(f"{text!r} is not a MAC address such as 00:1a:2b:3c:4d:5e")
    return value.replace("-", ":")


def parse_network(text: str) -> Network:
    return ipaddress.ip_network(text.strip(), strict=False)


def parse_window(text: str) -> tuple[int, int]:
    """``HH:MM-HH:MM`` (UTC) -> minutes of the day; an end before the start runs over midnight."""
    found = _WINDOW.match(text.strip())
    if not found:
        raise ValueError(f"{text!r} is not a daily window such as 09:00-17:00")
    h1, m1, h2, m2 = (int(g) for g in found.groups())
    if h2 == 24 and m2:
        raise ValueError(f"{text!r} ends after 24:00")
    return h1 * 60 + m1, h2 * 60 + m2


def _scalar(raw: Any) -> Any:
    """JSON-LD value objects ({"@value": ..} / {"@id": ..}) -> the plain value."""
    if isinstance(raw, dict):
        if "@value" in raw:
            return raw["@value"]
        if "@id" in raw:
            return raw["@id"]
    return raw


def _text(raw: Any) -> str:
    value = _scalar(raw)
    if not isinstance(value, str) or not value:
        raise ValueError("expected a non-empty text")
    return value


def _integer(raw: Any) -> int:
    value = _scalar(raw)
    if isinstance(value, bool):
        raise ValueError("expected an integer, not true/false")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise ValueError("expected an integer")


def _decimal(raw: Any) -> Decimal:
    value = _scalar(raw)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("expected a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError("expected a number") from None
    if not number.is_finite():
        raise ValueError("expected a finite number")
    return number


def _interval(raw: Any) -> tuple[datetime, datetime]:
    start, sep, end = _text(raw).partition("/")
    if not sep:
        raise ValueError("expected an interval start/end (ISO 8601)")
    return parse_datetime(start), parse_datetime(end)


def _one(kind: Kind, operand: LeftOperand, operator: Operator, raw: Any) -> Any:
    if kind is Kind.DATETIME:
        return parse_datetime(_text(raw))
    if kind is Kind.TIME_RANGE:
        return _interval(raw) if operator is Operator.IS_PART_OF else parse_datetime(_text(raw))
    if kind is Kind.WINDOW:
        return parse_window(_text(raw))
    if kind is Kind.INTEGER:
        return _integer(raw)
    if kind is Kind.DECIMAL:
        return _decimal(raw)
    if kind is Kind.NETWORK:
        return parse_network(_text(raw))
    if kind is Kind.MAC:
        return parse_mac(_text(raw))
    if kind is Kind.CODE:
        code = _text(raw)
        if code not in operand.codes:
            raise ValueError(f"expected one of the codes {', '.join(operand.codes)}")
        return code
    return _text(raw)


def parse_right(operand: LeftOperand, operator: Operator, raw: Any, pointer: str) -> Any:
    """The typed right operand: a set for list operators and set-valued operands, else one value."""
    as_list = operator in LISTS or operand.kind is Kind.TEXT_SET
    items = raw if isinstance(raw, list) else [raw]
    if not as_list and isinstance(raw, list):
        if len(raw) != 1:
            raise PolicyInvalid("wrong-value-type", pointer, f"{operand.name} {operator.value} takes one value, "
                                f"not a list of {len(raw)}", hint="use isAnyOf or isNoneOf for a list")
        items = raw
    if as_list and not items:
        raise PolicyInvalid("wrong-value-type", pointer, f"{operand.name} {operator.value} needs at least one value")
    try:
        values = [_one(operand.kind, operand, operator, item) for item in items]
    except (ValueError, TypeError) as exc:
        raise PolicyInvalid("wrong-value-type", pointer, f"{operand.name}: {exc}") from None
    if as_list:
        return tuple(values) if operand.kind in (Kind.WINDOW, Kind.NETWORK) else frozenset(values)
    return values[0]


def parse_unit(operand: LeftOperand, raw: Any, pointer: str) -> str | None:
    """The unit, checked against the operand: frequency needs a time unit, dataSize a size unit..."""
    if raw is None:
        if operand.unit_required:
            raise PolicyInvalid("missing-unit", pointer, f"{operand.name} needs a unit: one of "
                                f"{', '.join(sorted(operand.units))}")
        return None
    unit = split_name(str(_scalar(raw)))[1]
    unit = {"PT1M": "minute", "PT1H": "hour", "P1D": "day"}.get(unit, unit)
    if not operand.units:
        raise PolicyInvalid("wrong-unit", pointer, f"{operand.name} takes no unit, got {unit!r}")
    if unit not in operand.units:
        raise PolicyInvalid("wrong-unit", pointer, f"{operand.name} takes a unit among "
                            f"{', '.join(sorted(operand.units))}, got {unit!r}")
    return unit


def scale(operand: LeftOperand, unit: str | None, value: Any) -> Any:
    """dataSize in the policy's unit -> bytes, so the request always speaks bytes."""
    if operand.name == "dataSize" and unit and isinstance(value, int):
        return value * SIZE_UNITS[unit]
    return value


__all__ = ["TIME_UNITS", "Address", "Network", "parse_datetime", "parse_mac", "parse_network", "parse_right",
           "parse_unit", "parse_window", "scale"]
