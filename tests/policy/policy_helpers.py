"""Small builders shared by the policy tests."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Any

from trustspace.policy import Context, Policy, Request, Usage, parse_policy

NOW = datetime(2026, 5, 4, 10, 30, tzinfo=UTC)


def constraint(left: str, operator: str, right: Any, **more: Any) -> dict[str, Any]:
    return {"leftOperand": left, "operator": operator, "rightOperand": right, **more}


def policy_with(*constraints: dict[str, Any], action: str = "read", **more: Any) -> Policy:
    return parse_policy({"@type": "Set", "@id": "urn:p", "permission": [
        {"action": action, "constraint": list(constraints)}], **more})


def ask(action: str = "read", *, assignee: str | None = "did:web:bank", target: str | None = None,
        **context: Any) -> Request:
    if "network_address" in context:
        context["network_address"] = ipaddress.ip_address(context["network_address"])
    context.setdefault("time", NOW)
    if isinstance(context.get("usage"), int):
        context["usage"] = Usage(count=context["usage"])
    return Request(action, assignee, target, Context(**context))
