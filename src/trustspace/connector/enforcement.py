"""Usage control at the provider's data plane: every pull is decided against the agreement's policy, and counted.

After the token and the transfer gate, ``UsageEnforcer.enforce`` asks the ODRL decision point about action
``read`` by the token's audience (the consumer) on the agreement's asset, with the constraints the data plane
observes (``AT_DATA_PLANE``: purpose and the other statements of a use are the consumer's usage API's to
decide, and the agreement's duties are the consumer's to keep), in a context the provider alone states: its
own clock (never a time the consumer sends), the client's IP address as the server saw it, the roles and
space the consumer proved with its credential when it requested the transfer, the agreement's usage
so far (uses, uses in this minute, hour and day, bytes and records) and what this request would add (the bytes
it serves; records are not known for a file, so a ``dataRecord`` constraint fails closed).
The decision and the use are one transaction with the agreement's counter row locked (``store/usage/
counter_sql.py``), and the use is committed before the first byte is served: a crash after the count loses a
use, it never grants one. The permit's evidence (``AccessRecorder``) is written in that same transaction when its
sink can join it (the connector's store, on the same database): one commit, and never a use without its record.

Only an agreement whose policy constrains a counter (count, frequency, dataSize, dataRecord) is counted: the others
are decided without touching the store (agreements never change, so nothing they could later need is lost).

A ``Range`` request that continues a counted download of the same transfer (the same bytes, by their ETag, and a
start past the last one admitted, so a consumer cannot replay one range for ever) is not a new use: it is
decided again (time window, address, ...) as part of the use it continues, and adds neither a use nor bytes. A
deny is ``UsageDenied`` (403 ``usage-denied``) whose detail is the decision's English explanation: the summary
and each constraint that failed, with actual and expected value.
"""

from __future__ import annotations

import ipaddress
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from trustspace.connector.dataplane.decisions import JoinedPermit
from trustspace.connector.dataplane.digest import etag
from trustspace.connector.dataplane.errors import RangeNotSatisfiable
from trustspace.connector.dataplane.gate import Asked
from trustspace.connector.dataplane.server import byte_range
from trustspace.connector.dataplane.sources import Prepared, PreparedFile
from trustspace.connector.dataplane.tokens import AccessClaims
from trustspace.core.clock import Clock
from trustspace.core.errors import Forbidden
from trustspace.policy import Context, Decision, Outcome, Policy, PolicyInvalid, Request, Usage, evaluate, parse_policy
from trustspace.policy.adapter import AT_DATA_PLANE, keep_only
from trustspace.policy.model import Constraint
from trustspace.policy.values import Address
from trustspace.policy.vocabulary import split_name
from trustspace.store.dsp.records import Agreement, TransferRecord
from trustspace.store.usage.counter_records import Access, UsageTotals
from trustspace.store.usage.counter_sql import UsageCounterStore

ACTION = "read"
T = TypeVar("T")
# Agreements never change once signed: their parsed policies are kept (termination is the gate's business).
CACHE_SIZE = 1024


class UsageDenied(Forbidden):
    slug = "usage-denied"
    title = "Use not permitted by the agreement"


class Agreements(Protocol):
    def get_agreement(self, agreement_id: str) -> Agreement | None: ...

    def get_transfer(self, transfer_id: str) -> TransferRecord | None: ...


@dataclass(frozen=True)
class _Terms:
    asset_id: str
    policy: Policy | None
    invalid: str | None = None
    counted: bool = True


# The operands a decision needs the counters for; an agreement constraining none is decided without the store.
COUNTED_OPERANDS = frozenset({"count", "frequency", "dataSize", "dataRecord", "dateRecord"})


def needs_counters(document: Any) -> bool:
    """Does any constraint of the agreement (at any depth: rules, duties, refinements) name a counted operand?"""
    if isinstance(document, list):
        return any(needs_counters(item) for item in document)
    if not isinstance(document, dict):
        return False
    if "leftOperand" in document:
        left = document["leftOperand"]
        name = left.get("@id") if isinstance(left, dict) else left
        if not isinstance(name, str) or split_name(name)[1] in COUNTED_OPERANDS:
            return True
    return any(needs_counters(value) for value in document.values())


@dataclass(frozen=True)
class _Proven:
    """What the consumer proved when it requested the transfer (``Transfers.on_request``)."""

    roles: frozenset[str] | None = None
    space: str | None = None
    purpose: str | None = None


def proven(transfer: TransferRecord | None) -> _Proven:
    context = transfer.details.get("context") if transfer is not None else None
    if not isinstance(context, dict):
        return _Proven()  # a transfer requested before enforcement: role and space constraints fail closed
    roles, space, purpose = context.get("roles"), context.get("space"), context.get("purpose")
    return _Proven(frozenset(str(r) for r in roles) if isinstance(roles, list) else None,
                   str(space) if space else None, str(purpose) if purpose else None)


@dataclass(frozen=True)
class _Span:
    size: int | None  # bytes this request serves; None when not known (a proxied API)
    start: int = 0
    validator: str | None = None
    serves: bool = True


def span_of(prepared: Prepared, asked: Asked) -> _Span:
    """What the server will send for this request: the same reading of Range/If-Range as ``serve_file``."""
    if not isinstance(prepared, PreparedFile):
        return _Span(None)
    validator = etag(prepared.sha256)
    try:
        wanted = byte_range(asked.byte_range, prepared.size) if asked.if_range in (None, validator) else None
    except RangeNotSatisfiable:
        return _Span(0, validator=validator, serves=False)  # answered 416: nothing served, nothing counted
    if wanted is None:
        return _Span(prepared.size, 0, validator)
    return _Span(wanted[1] - wanted[0] + 1, wanted[0], validator)


def client_address(client: str | None) -> Address | None:
    try:
        return ipaddress.ip_address(client) if client else None
    except ValueError:
        return None  # not an IP address (a test client, a Unix socket): a networkAddress constraint fails closed


def explanation(decision: Decision) -> tuple[str, str | None]:
    """The English summary and each failed constraint line; and the pointer of the first failed constraint."""
    lines = decision.explain("en")
    failed = [(finding[1], line) for finding, line in zip(decision.findings, lines[1:], strict=True)
              if not finding[2] and isinstance(finding[1], Constraint)]
    if decision.outcome is Outcome.PERMIT_WITH_OBLIGATIONS:
        steps = ", ".join(d.action.name for d in decision.obligations if d.action)
        return f"permitted only once these obligations have run: {steps}; the data plane cannot run them", None
    pointer = failed[0][0].pointer if failed else (decision.rule.pointer if decision.rule is not None else None)
    return "; ".join([lines[0], *(line for _, line in failed)]), pointer


class UsageEnforcer:
    """The connector's ``UsageGate``. Thread-safe: the data plane decides from its thread pool."""

    def __init__(self, agreements: Agreements, counters: UsageCounterStore, clock: Clock) -> None:
        self.agreements, self.counters, self.clock = agreements, counters, clock
        self._terms: OrderedDict[str, _Terms] = OrderedDict()
        self._proven: OrderedDict[str, _Proven] = OrderedDict()
        self._lock = threading.Lock()

    def enforce(self, transfer_id: str, claims: AccessClaims, prepared: Prepared, asked: Asked,
                permit: JoinedPermit | None = None) -> bool:
        """Raises ``UsageDenied``; True when ``permit`` was written in the transaction that counted the use."""
        terms = self._agreement(claims.agreement_id)
        if terms.policy is None:
            raise UsageDenied(f"the agreement's policy is not valid: {terms.invalid}", field="/agreement")
        policy, now, span = terms.policy, self.clock.now(), span_of(prepared, asked)
        address, facts = client_address(asked.client), self._transfer(transfer_id)
        decided: list[Decision] = []

        def decide(totals: UsageTotals, continuation: bool) -> bool:
            context = Context(time=now, network_address=address, usage=_usage(totals, continuation),
                              data_size=_data_size(totals, span, continuation), roles=facts.roles,
                              space=facts.space, purpose=facts.purpose)
            decision = evaluate(policy, Request(ACTION, claims.audience, terms.asset_id, context))
            decided.append(decision)
            # duties (delete, inform, watermark) are the consumer's to keep, under its usage API
            return decision.allowed

        if not terms.counted:
            if decide(UsageTotals(), False):  # nothing to count: the decision alone, without the store
                return False
        else:
            access = Access(claims.agreement_id, transfer_id, now, size=span.size or 0, validator=span.validator,
                            start=span.start, counted=span.serves)
            if self.counters.use(access, decide, permit).permitted:
                return permit is not None
        detail, pointer = explanation(decided[-1])
        raise UsageDenied(detail, field=f"/agreement{pointer or ''}",
                          hint="the agreement's policy decides every access; see its constraints")

    def _transfer(self, transfer_id: str) -> _Proven:
        # Set once when the transfer is created, so kept like the agreements.
        with self._lock:
            found = _cached(self._proven, transfer_id)
        if found is None:
            found = proven(self.agreements.get_transfer(transfer_id))
            with self._lock:
                _keep(self._proven, transfer_id, found)
        return found

    def _agreement(self, agreement_id: str) -> _Terms:
        with self._lock:
            found = _cached(self._terms, agreement_id)
        if found is not None:
            return found
        agreement = self.agreements.get_agreement(agreement_id)
        if agreement is None:
            raise UsageDenied(f"no agreement {agreement_id}: nothing permits this use", field="/agreement")
        try:
            # what the consumer's usage API decides (purpose...) and its duties are not the data plane's
            terms = _Terms(agreement.asset_id, parse_policy(keep_only(agreement.document, AT_DATA_PLANE)),
                           counted=needs_counters(agreement.document))
        except PolicyInvalid as exc:
            terms = _Terms(agreement.asset_id, None, exc.detail)
        with self._lock:
            _keep(self._terms, agreement_id, terms)
        return terms


def _cached(cache: OrderedDict[str, T], key: str) -> T | None:
    found = cache.get(key)
    if found is not None:
        cache.move_to_end(key)
    return found


def _keep(cache: OrderedDict[str, T], key: str, value: T) -> None:
    cache[key] = value
    if len(cache) > CACHE_SIZE:
        cache.popitem(last=False)


def _usage(totals: UsageTotals, continuation: bool) -> Usage:
    # A continuation is decided as the use it continues, which the totals already hold.
    less = 1 if continuation else 0
    return Usage(max(0, totals.uses - less), max(0, totals.per_minute - less), max(0, totals.per_hour - less),
                 max(0, totals.per_day - less))


def _data_size(totals: UsageTotals, span: _Span, continuation: bool) -> int | None:
    if span.size is None:
        return None
    return totals.bytes if continuation else totals.bytes + span.size
