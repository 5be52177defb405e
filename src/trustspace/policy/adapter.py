"""The new decision point behind the connector's existing ``PolicyDecisionPoint`` interface.

``connector/policy.py``'s ``decide(policy, context) -> Decision(allowed, reasons)`` stays as it is, so the
connector can switch by constructing this class instead of ``SimplePolicyDecisionPoint``. It asks about
``read`` (what the first decision point accepted: a permission for ``use`` or ``read``, refused by a
prohibition on either) and fails closed: an invalid policy, a deny, and a permit that needs obligations run
first (the old interface cannot carry them, TC609-6-2025-15 §7.1.2.4 b) are all refusals with the reason.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

from trustspace.connector.policy import Decision, DecisionContext
from trustspace.policy.decide import Outcome, evaluate
from trustspace.policy.errors import PolicyInvalid
from trustspace.policy.model import Constraint, Policy
from trustspace.policy.parser import parse_policy
from trustspace.policy.request import Context, Request

# Parsed policies by their canonical JSON: negotiation and transfer ask about the same few agreements.
CACHE_SIZE = 256


# What can be decided when a contract is agreed or a transfer starts: who the consumer is (its assignee id,
# membership roles and space) and when (the agreement's validity in time). Every other constraint (purpose,
# count, network address, data size...) is about a use: the data plane and the consumer's usage API decide it
# at each use, with the values only a use has.
AT_CONTRACT = frozenset({"role", "space", "dateTime", "time"})


# What the provider's data plane observes at each pull: who and when, the counters it keeps, the client's
# network address. What only a use on the consumer's side states (purpose, application, recipient, fields...)
# is decided there, by the consumer connector's usage API.
AT_DATA_PLANE = AT_CONTRACT | {"timeWindow", "count", "frequency", "dataSize", "dataRecord", "networkAddress"}


def for_contract(document: Any) -> Any:
    """``document`` with only the constraints ``AT_CONTRACT`` can decide."""
    return keep_only(document, AT_CONTRACT)


def keep_only(document: Any, operands: frozenset[str]) -> Any:
    """``document`` with only the constraints on ``operands`` (a logical constraint is kept whole only if all
    its operands are among them)."""
    if isinstance(document, dict):
        if "leftOperand" in document:
            return document
        kept: dict[str, Any] = {}
        for key, value in document.items():
            if key in ("constraint", "refinement"):
                value = [c for c in (value if isinstance(value, list) else [value]) if _decidable(c, operands)]
            kept[key] = keep_only(value, operands)
        return kept
    if isinstance(document, list):
        return [keep_only(v, operands) for v in document]
    return document


def _decidable(constraint: Any, operands: frozenset[str]) -> bool:
    if not isinstance(constraint, dict):
        return True  # malformed: left for the parser to refuse
    if "leftOperand" in constraint:
        return str(constraint["leftOperand"]).rsplit(":", 1)[-1].rsplit("#", 1)[-1] in operands
    return all(_decidable(c, operands) for key in ("and", "or", "xone", "andSequence")
               for c in (constraint.get(key) or []) if isinstance(constraint.get(key), list))


class OdrlPolicyDecisionPoint:
    """``contract=True``: the decision point of negotiation and transfer start: per-use constraints are
    left to enforcement at each use, and duties are the agreement's to keep, not a refusal now."""

    def __init__(self, action: str = "read", *, contract: bool = False) -> None:
        self.action, self.contract = action, contract
        self._cache: OrderedDict[str, Policy | PolicyInvalid] = OrderedDict()
        self._lock = threading.Lock()  # the connector decides from several worker threads

    def _policy(self, document: dict[str, Any]) -> Policy:
        key = json.dumps(document, sort_keys=True, default=str)
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
        if found is None:
            try:
                found = parse_policy(document)
            except PolicyInvalid as exc:
                found = exc
            with self._lock:
                self._cache[key] = found
                if len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        if isinstance(found, PolicyInvalid):
            raise found
        return found

    def decide(self, policy: dict[str, Any], context: DecisionContext) -> Decision:
        try:
            parsed = self._policy(for_contract(policy) if self.contract else policy)
        except PolicyInvalid as exc:
            return Decision(False, (f"the policy is not valid: {exc.detail}",))
        request = Request(self.action, context.consumer or None, None,
                          Context(time=context.now, purpose=context.purpose, roles=frozenset(context.roles),
                                  space=context.space or None))
        decision = evaluate(parsed, request)
        if decision.outcome is Outcome.PERMIT or (self.contract and decision.allowed):
            return Decision(True)
        if decision.outcome is Outcome.PERMIT_WITH_OBLIGATIONS:
            steps = ", ".join(d.action.name for d in decision.obligations if d.action)
            return Decision(False, (f"permitted only once these obligations have run: {steps}; this caller "
                                    "cannot run obligations",))
        failed = [line for finding, line in zip(decision.findings, decision.explain()[1:], strict=True)
                  if not finding[2] and isinstance(finding[1], Constraint)]
        return Decision(False, (decision.explain()[0], *failed))
