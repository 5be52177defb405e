"""What is being asked (action, assignee, target) and what is known around it (the context).

Counters are the uses *so far*: the decision is about one more. ``data_size`` and ``records`` are the totals
the use would reach (so far plus this request), in bytes and rows.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from trustspace.core.errors import ValidationFailed
from trustspace.policy.values import Address, parse_datetime, parse_mac
from trustspace.policy.vocabulary import ACTION_ALIASES, split_name


class DutyState(StrEnum):
    PENDING = "pending"
    FULFILLED = "fulfilled"
    VIOLATED = "violated"


@dataclass(frozen=True, slots=True)
class Usage:
    count: int = 0
    per_minute: int = 0
    per_hour: int = 0
    per_day: int = 0


_EMPTY: Mapping[str, frozenset[str]] = {}


@dataclass(frozen=True, slots=True)
class Context:
    time: datetime | None = None
    region: str | None = None
    network_address: Address | None = None
    physical_address: str | None = None
    purpose: str | None = None
    recipient: str | None = None
    application: str | None = None
    algorithm: str | None = None
    model: str | None = None
    execution_env: str | None = None
    encrypt_mode: str | None = None
    delivery_method: str | None = None
    pay_amount: Decimal | None = None
    data_size: int | None = None
    records: int | None = None
    fields: frozenset[str] | None = None
    value_expression: str | None = None
    roles: frozenset[str] | None = None
    space: str | None = None
    usage: Usage = field(default_factory=Usage)
    # duty uid -> state, from the evidence of earlier uses
    duties: Mapping[str, DutyState] = field(default_factory=dict)
    # identifier -> the collections it is part of (party and asset collections, region or purpose groups)
    part_of: Mapping[str, frozenset[str]] = field(default_factory=lambda: _EMPTY)
    # identifier -> the classes it is an instance of (for isA)
    types: Mapping[str, frozenset[str]] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, slots=True)
class Request:
    action: str
    assignee: str | None = None
    # None: the policy's own target (a policy attached to one dataset is asked about that dataset)
    target: str | None = None
    context: Context = field(default_factory=Context)

    def __post_init__(self) -> None:
        # "odrl:read", "tc609:download" and the full IRIs name the same actions as the bare words
        object.__setattr__(self, "action", action_name(self.action))


def action_name(text: str) -> str:
    name = split_name(text)[1]
    return ACTION_ALIASES.get(name, name)


_TEXT = ("region", "purpose", "recipient", "application", "algorithm", "model", "execution_env", "encrypt_mode",
         "delivery_method", "value_expression", "space")
_CAMEL = {"networkAddress": "network_address", "physicalAddress": "physical_address", "executionEnv":
          "execution_env", "encryptMode": "encrypt_mode", "deliveryMethod": "delivery_method", "payAmount":
          "pay_amount", "dataSize": "data_size", "dataRecord": "records", "valueExpression": "value_expression",
          "dataField": "fields", "partOf": "part_of", "machineLearningModels": "model", "dateTime": "time"}


def _bad(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"request context {name}: {message}", field=f"/context/{name}")


def _context(raw: Mapping[str, Any]) -> Context:
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = _CAMEL.get(key, key)
        try:
            if name == "time":
                values[name] = parse_datetime(str(value))
            elif name in _TEXT:
                values[name] = str(value)
            elif name == "network_address":
                values[name] = ipaddress.ip_address(str(value))
            elif name == "physical_address":
                values[name] = parse_mac(str(value))
            elif name == "pay_amount":
                values[name] = Decimal(str(value))
            elif name in ("data_size", "records"):
                values[name] = int(value)
            elif name in ("fields", "roles"):
                values[name] = frozenset(str(v) for v in value)
            elif name == "usage":
                values[name] = Usage(**{_snake(k): int(v) for k, v in dict(value).items()})
            elif name == "duties":
                values[name] = {str(k): DutyState(str(v)) for k, v in dict(value).items()}
            elif name in ("part_of", "types"):
                values[name] = {str(k): frozenset(str(x) for x in v) for k, v in dict(value).items()}
            else:
                raise _bad(key, "is not a context field")
        except ValidationFailed:
            raise
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise _bad(key, str(exc)) from None
    return Context(**values)


def _snake(name: str) -> str:
    return {"perMinute": "per_minute", "perHour": "per_hour", "perDay": "per_day"}.get(name, name)


def request_from_json(raw: Any) -> Request:
    """A request as JSON: {"action", "assignee", "target", "context": {"time", "purpose", "usage": {...}}}."""
    if not isinstance(raw, dict) or not isinstance(raw.get("action"), str):
        raise ValidationFailed("a request is a JSON object with an \"action\"", field="/action")
    for name in ("assignee", "target"):
        if raw.get(name) is not None and not isinstance(raw[name], str):
            raise ValidationFailed(f"the request's {name} is an identifier (a string)", field=f"/{name}")
    if not isinstance(raw.get("context") or {}, dict):
        raise ValidationFailed("the request's context is a JSON object", field="/context")
    return Request(action=action_name(raw["action"]), assignee=raw.get("assignee"), target=raw.get("target"),
                   context=_context(raw.get("context") or {}))
