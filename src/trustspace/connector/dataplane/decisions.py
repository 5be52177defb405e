"""The data plane's access decisions, as evidence.

Every answer to a pull (the provider's gate) or a push (the consumer's inbox) becomes an ``AccessDecision``
handed to a ``DecisionLog``, which makes it durable (the connector queues a signed ``access-decision``
statement for the ledger in its outbox). What is recorded, and why:

- **every permit**, before the first byte leaves: a permit that cannot be recorded fails the request, so
  nobody gets data the evidence does not show. Where usage is counted, a sink that can (``JoinedDecisionLog``,
  the connector's store) writes the permit in the transaction that counts the use: one commit for both;
- **a refusal only when the request carried a token we signed** (expired, for another transfer or scope,
  or refused by the gate because the transfer is suspended, ended or not started): the token names who was
  refused and under which agreement. A request without a token, or with one we never signed, names nobody
  and costs an anonymous caller nothing to repeat; it is logged, never recorded, so no outsider can fill
  our database or the ledger;
- **at most one refusal per (transfer, scope, reason) per ``deny_interval``** (a minute): a client retrying
  a suspended transfer every two seconds proves nothing new the thirtieth time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from sqlalchemy import Connection

from trustspace.connector.dataplane.tokens import AccessClaims, signed_claims
from trustspace.core.clock import Clock
from trustspace.core.errors import TrustSpaceError
from trustspace.core.keys import VerifyingKey

log = logging.getLogger("trustspace.connector.dataplane")

PERMIT, DENY = "permit", "deny"
GRANTED = "transfer-started"  # the reason of every permit: a token of ours, for a STARTED transfer
DENY_INTERVAL = 60.0
# Distinct refusals remembered for the throttle; a flood beyond this within one interval is only logged.
_MAX_REMEMBERED = 10_000


@dataclass(frozen=True)
class Attempt:
    """One data-plane request, as far as evidence cares: never its token, query string or body."""

    transfer_id: str
    scope: str
    method: str
    byte_range: str | None = None
    path: str | None = None


@dataclass(frozen=True)
class AccessDecision:
    attempt: Attempt
    decision: str  # PERMIT or DENY
    reason: str  # GRANTED, or the refusal's problem slug ("data-token-expired", "transfer-suspended", ...)
    caller: str  # whom the token was issued to
    agreement_id: str  # the agreement the token names
    token_transfer: str  # the transfer the token names: another than the attempt's for a foreign token
    at: datetime


class DecisionLog(Protocol):
    def record_access(self, decision: AccessDecision) -> None:
        """Make the decision durable before returning; raise if it cannot."""


@runtime_checkable
class JoinedDecisionLog(Protocol):
    def record_access_on(self, connection: Connection, decision: AccessDecision) -> None:
        """Write the decision in the caller's transaction (the usage counter's, on the same database)."""


# Writes a permit's record on the given connection, inside the transaction that counts the use.
JoinedPermit = Callable[[Connection], None]


class AccessRecorder:
    """Turns the data plane's answers into ``AccessDecision``s, by the rules above. Thread-safe."""

    def __init__(self, sink: DecisionLog, clock: Clock, deny_interval: float = DENY_INTERVAL) -> None:
        self.sink, self.clock, self.deny_interval = sink, clock, deny_interval
        self._last_deny: dict[tuple[str, str, str], float] = {}
        self._lock = threading.Lock()

    def permitted(self, attempt: Attempt, claims: AccessClaims) -> None:
        """Raises if the permit cannot be recorded: the caller must then refuse the request."""
        self.sink.record_access(self._decision(attempt, claims, PERMIT, GRANTED))

    def joinable(self, attempt: Attempt, claims: AccessClaims) -> JoinedPermit | None:
        """The permit's record as a write for another transaction on the sink's database (the one that counts
        the use: one commit for both, and neither without the other), or None when the sink cannot join one."""
        sink = self.sink
        if not isinstance(sink, JoinedDecisionLog):
            return None
        return lambda connection: sink.record_access_on(connection, self._decision(attempt, claims, PERMIT, GRANTED))

    def denied(self, attempt: Attempt, token: str | None, key: VerifyingKey, error: TrustSpaceError) -> None:
        """Never raises: the refusal stands whether or not it could be recorded."""
        claims = signed_claims(token, key) if token else None
        if claims is None:
            log.info("data-plane %s on %r refused without a token of ours: %s", attempt.method,
                     attempt.transfer_id[:100], error.slug)
            return
        if not self._first_in_interval((attempt.transfer_id, attempt.scope, error.slug)):
            return
        try:
            self.sink.record_access(self._decision(attempt, claims, DENY, error.slug))
        except Exception:
            log.exception("could not record the refusal of %s on %r", attempt.method, attempt.transfer_id[:100])

    def _decision(self, attempt: Attempt, claims: AccessClaims, decision: str, reason: str) -> AccessDecision:
        return AccessDecision(attempt, decision, reason, claims.audience, claims.agreement_id, claims.transfer_id,
                              self.clock.now())

    def _first_in_interval(self, key: tuple[str, str, str]) -> bool:
        now = self.clock.now().timestamp()
        with self._lock:
            last = self._last_deny.get(key)
            if last is not None and now - last < self.deny_interval:
                return False
            if len(self._last_deny) >= _MAX_REMEMBERED:
                cutoff = now - self.deny_interval
                self._last_deny = {k: at for k, at in self._last_deny.items() if at > cutoff}
                if len(self._last_deny) >= _MAX_REMEMBERED:
                    log.warning("more than %d distinct data-plane refusals within %.0f s; not recording %s",
                                _MAX_REMEMBERED, self.deny_interval, key[2])
                    return False
            self._last_deny[key] = now
            return True
