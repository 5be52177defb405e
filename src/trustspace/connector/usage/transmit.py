"""``policyTransmit`` (策略传递): data derived under an agreement carries that agreement's policy onward.

An export is watermarked row by row with the agreement it was made under (``watermark.py``), so derived data
names its agreement wherever it goes. When the connector is asked to offer such data itself (an asset whose
file carries marks of one of its agreements with a ``policyTransmit`` duty), the offer's policy must carry the
agreement's terms: its prohibitions and obligations, and its permissions' constraints in every permission of
the new policy. A weaker offer is refused naming what it drops; so a derived dataset cannot shed its policy by
being republished through the connector. (It can by leaving the connector in the clear; the marks then make
the breach provable, not impossible: see docs/usage-consumer.md.)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from trustspace.connector.usage.watermark import trace
from trustspace.core.errors import TrustSpaceError
from trustspace.policy import PolicyInvalid
from trustspace.store.dsp.records import Agreement

TRANSMIT = "policyTransmit"
# Files larger than this are not read for marks when an offer is made (the check reads every row).
MAX_TRACED_BYTES = 256 * 1024 * 1024


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _bare(name: Any) -> str:
    text = name.get("@id", "") if isinstance(name, dict) else str(name)
    return text.rsplit(":", 1)[-1].rsplit("#", 1)[-1]


def transmits(document: dict[str, Any]) -> bool:
    """Whether the policy obliges its policy to travel with derived data."""
    duties = [*_listed(document.get("obligation"))]
    for permission in _listed(document.get("permission")):
        if isinstance(permission, dict):
            duties += _listed(permission.get("duty"))
    return any(isinstance(duty, dict) and _bare(duty.get("action")) == TRANSMIT for duty in duties)


def origin_of(address: dict[str, Any], agreement: Callable[[str], Agreement | None]) -> Agreement | None:
    """The agreement with a ``policyTransmit`` duty whose marks the source's file carries, if any."""
    if address.get("type") != "file":
        return None
    path = Path(str(address.get("path", "")))
    try:
        if not path.is_file() or path.stat().st_size > MAX_TRACED_BYTES:
            return None
        found = trace(path)
    except (OSError, TrustSpaceError):
        return None  # not a table: it carries no marks
    for agreement_id in sorted({m.agreement for m in found.marks}):
        origin = agreement(agreement_id)
        if origin is not None and transmits(origin.document):
            return origin
    return None


def check_carried(policy: dict[str, Any], origin: Agreement) -> None:
    """Refuse ``policy`` for data derived under ``origin`` unless it carries ``origin``'s terms."""
    terms = origin.document
    for key in ("prohibition", "obligation"):
        for rule in _listed(terms.get(key)):
            if rule not in _listed(policy.get(key)):
                raise _dropped(origin, f"/policy/{key}", f"its {key} {_summary(rule)}")
    kept = [c for p in _listed(terms.get("permission")) if isinstance(p, dict) for c in _listed(p.get("constraint"))]
    for index, permission in enumerate(_listed(policy.get("permission"))):
        have = _listed(permission.get("constraint")) if isinstance(permission, dict) else []
        for constraint in kept:
            if constraint not in have:
                raise _dropped(origin, f"/policy/permission/{index}/constraint",
                               f"its constraint {_summary(constraint)}")


def _summary(rule: Any) -> str:
    if isinstance(rule, dict) and "leftOperand" in rule:
        return f"{_bare(rule['leftOperand'])} {_bare(rule.get('operator'))} {rule.get('rightOperand')!r}"
    return _bare(rule.get("action")) if isinstance(rule, dict) else repr(rule)


def _dropped(origin: Agreement, pointer: str, what: str) -> PolicyInvalid:
    return PolicyInvalid("policy-not-transmitted", pointer,
                         f"the asset's data was derived under agreement {origin.id}, whose policy must travel with "
                         f"it (policyTransmit), but this policy drops {what}",
                         hint="offer it under a policy that keeps every term of the original agreement")
