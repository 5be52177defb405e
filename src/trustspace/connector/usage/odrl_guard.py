"""The consumer's usage guard on the ODRL decision point (``trustspace.policy``): the agreement decides.

A local read is ODRL ``read``; an export (a watermarked copy out of the protected store) is ``reproduce``, with
the watermark as an obligation; handing the data to someone else (an export naming a ``recipient``) is
``distribute``. The uses so far are the agreement's permitted uses of any kind, from the usage log, counted
in the transaction that logs this one. The decision's obligations become the service's, in the order the
service runs them; an obligation the consumer connector cannot run is a refusal, never a silent permit.

``delete`` after use: right after the use when the agreement sets no ``count``; with a ``count``, after the last
use it permits (the use after which the same request would be denied), so that "read it three times, then
destroy it" can be kept. Expiry and termination destroy in any case. A policy limiting uses per minute, hour
or day is refused here: the usage log does not keep such windows, and a limit that cannot be counted is not
enforced by pretending.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from trustspace.connector.usage.guard import (
    DELETE,
    EXPORT,
    NOTIFY,
    OBLIGATION_ORDER,
    WATERMARK,
    GuardDecision,
    agreement_expiry,
)
from trustspace.connector.usage.guard import UsageRequest as LocalUse
from trustspace.connector.usage.transmit import TRANSMIT
from trustspace.core.clock import to_xsd
from trustspace.policy import Context, Decision, Policy, PolicyInvalid, Request, Usage, evaluate, parse_policy
from trustspace.store.dsp.records import Agreement

DISTRIBUTE, REPRODUCE = "distribute", "reproduce"
_MEMBERSHIP = {"role", "space"}
# what the service can run for each ODRL duty action
_RUNS = {"watermark": WATERMARK, "inform": NOTIFY, "delete": DELETE}


def _bare(name: Any) -> str:
    return str(name).rsplit(":", 1)[-1].rsplit("#", 1)[-1]


def _limits(document: Any, operand: str) -> bool:
    """Whether any constraint of ``document`` is on ``operand``."""
    if isinstance(document, dict):
        return _bare(document.get("leftOperand", "")) == operand or any(_limits(v, operand)
                                                                       for v in document.values())
    return isinstance(document, list) and any(_limits(v, operand) for v in document)


def _without_membership(document: Any) -> Any:
    """The agreement without its constraints on our membership (role, space): the provider checked those
    against our credential at negotiation; the usage API's caller is our own application, not a member."""
    if isinstance(document, dict):
        return {k: _without_membership(v) if k != "constraint" else
                [c for c in _listed(v) if _bare(c.get("leftOperand", "") if isinstance(c, dict) else "")
                 not in _MEMBERSHIP] for k, v in document.items()}
    if isinstance(document, list):
        return [_without_membership(v) for v in document]
    return document


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


class OdrlUsageGuard:
    def __init__(self, terminated: Callable[[str], bool]) -> None:
        self.terminated = terminated
        self._parsed: dict[str, Policy | PolicyInvalid] = {}
        self._lock = threading.Lock()

    def decide(self, agreement: Agreement | None, request: LocalUse) -> GuardDecision:
        if agreement is None:
            return GuardDecision(False, (), "no such agreement: data is used only under an agreement")
        policy = self._policy(agreement)
        if isinstance(policy, PolicyInvalid):
            return GuardDecision(False, (), f"the agreement's policy is not valid: {policy.detail}")
        if _limits(agreement.document, "frequency"):
            return GuardDecision(False, (), "the agreement limits uses per time unit (frequency), which the "
                                            "consumer's usage log cannot count: refused rather than unenforced")
        expiry = agreement_expiry(agreement.document)
        if expiry is not None and request.at >= expiry:
            return GuardDecision(False, (DELETE,), f"agreement {agreement.id} expired at {to_xsd(expiry)}")
        decision = evaluate(policy, self._request(agreement, request))
        if not decision.allowed:  # the agreement's own reason first, even once its data is gone
            return GuardDecision(False, (), why_not(decision))
        if self.terminated(agreement.id):
            return GuardDecision(False, (), f"agreement {agreement.id} was terminated and its data destroyed")
        return self._permit(policy, agreement, request, decision)

    def _request(self, agreement: Agreement, use: LocalUse, more_uses: int = 0) -> Request:
        action = "read" if use.action != EXPORT else DISTRIBUTE if use.recipient else REPRODUCE
        uses = sum(use.counts.permitted.values()) + more_uses
        context = Context(time=use.at, purpose=use.purpose or None, application=use.application or None,
                          recipient=use.recipient, usage=Usage(count=uses))
        return Request(action, agreement.consumer, agreement.asset_id, context)

    def _permit(self, policy: Policy, agreement: Agreement, use: LocalUse, decision: Decision) -> GuardDecision:
        wanted = {NOTIFY} | ({WATERMARK} if use.action == EXPORT else set())
        for duty in decision.obligations:
            name = duty.action.name if duty.action else ""
            if name == TRANSMIT:
                # the export's watermark names the agreement row by row: its policy travels by that reference
                # (connector/usage/transmit.py); a read derives nothing
                wanted |= {WATERMARK} if use.action == EXPORT else set()
                continue
            if name not in _RUNS:
                return GuardDecision(False, (), f"the agreement obliges {name or 'a duty without an action'} "
                                                "before use, which this connector cannot do: refused")
            wanted.add(_RUNS[name])
        if (DELETE in wanted and _limits(agreement.document, "count")
                and evaluate(policy, self._request(agreement, use, more_uses=1)).allowed):
            wanted.discard(DELETE)  # more uses are permitted: destroy after the last one
        return GuardDecision(True, tuple(name for name in OBLIGATION_ORDER if name in wanted),
                             decision.explain()[0])

    def _policy(self, agreement: Agreement) -> Policy | PolicyInvalid:
        with self._lock:
            found = self._parsed.get(agreement.id)
        if found is None:
            try:
                found = parse_policy(_without_membership(agreement.document))
            except PolicyInvalid as exc:
                found = exc
            with self._lock:
                self._parsed[agreement.id] = found
        return found


def why_not(decision: Decision) -> str:
    """The decision's headline and the findings that failed (not every constraint that held)."""
    lines = decision.explain()
    failed = [line for finding, line in zip(decision.findings, lines[1:], strict=False) if not finding[2]]
    return "; ".join([lines[0], *failed])
