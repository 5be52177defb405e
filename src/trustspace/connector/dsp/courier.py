"""Delivery of the connector's evidence to the operator's ledger.

Evidence rides in the same outbox as protocol messages but on lanes of its own (``ledger:<pid>``), and is
handled differently from them:

- it goes after the round's protocol messages and nobody waits for it, so the protocol never waits for the
  log (docs/decisions/0008-evidence-ledger.md);
- a lane's statements go in one request, in order, and their receipts are kept in the same transaction that
  marks them sent, so a crash can neither lose a receipt nor resend a statement whose receipt was kept;
- it is never given up while it could still go in: an unreachable ledger, a 5xx, or a 401/403 (our
  membership still pending, say) is retried with backoff for as long as it takes, and the pending statements
  stay visible at ``/v1/management/ledger/pending``. Only a statement the ledger refuses for good (malformed,
  oversized) is dropped, alone and with an error in the log, since no repeat could succeed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import httpx

from trustspace.client.http import Signer
from trustspace.connector.evidence import LEDGER_PREFIX
from trustspace.core.clock import Clock
from trustspace.store.dsp_interfaces import ProcessStore
from trustspace.store.dsp_records import OutboxMessage, Receipted

log = logging.getLogger("trustspace.connector.evidence")

# Answers that no repeat of the same statement can change.
REFUSED_FOR_GOOD = {400, 413, 415, 422}
MAX_WAIT = 30.0


def is_evidence(message: OutboxMessage) -> bool:
    return message.process_id.startswith(LEDGER_PREFIX)


def evidence_wait(attempts: int) -> float:
    return float(min(MAX_WAIT, 0.2 * 2 ** min(attempts, 16)))


class Courier:
    """Sends claimed evidence messages; one call per worker round."""

    def __init__(self, store: ProcessStore, http: httpx.Client, signer: Signer, clock: Clock,
                 problem_text: Callable[[httpx.Response], str]) -> None:
        self.store, self.http, self.signer, self.clock = store, http, signer, clock
        self._problem_text = problem_text

    def deliver(self, messages: Sequence[OutboxMessage]) -> None:
        receipted: list[Receipted] = []
        for lane in _lanes(messages):
            receipted += self._deliver_lane(lane)
        if receipted:
            self.store.mark_receipted(receipted, self.clock.now())

    def _deliver_lane(self, lane: list[OutboxMessage]) -> list[Receipted]:
        """Statements in order until one cannot go now; the rest of the lane waits for it."""
        done: list[Receipted] = []
        for position, message in enumerate(lane):
            outcome = self._send(message)
            if isinstance(outcome, Receipted):
                done.append(outcome)
            elif outcome == "retry":
                self.store.release_outbox([later.id for later in lane[position + 1:]])
                break
        return done

    def _send(self, message: OutboxMessage) -> Receipted | str:
        try:
            response = self.http.post(message.url, json=message.body, headers=self.signer.headers(message.audience))
        except httpx.HTTPError as exc:
            return self._later(message, f"cannot reach the ledger at {message.url}: {exc.__class__.__name__}")
        if response.status_code < 300:
            receipt = _receipt(response)
            if receipt is None:
                return self._later(message, "the ledger answered without a readable receipt")
            return Receipted(message.id, message.process_id.removeprefix(LEDGER_PREFIX), receipt)
        detail = f"the ledger answered {response.status_code}: {self._problem_text(response)}"
        if response.status_code in REFUSED_FOR_GOOD:
            self.store.drop_message(message.id)
            log.error("evidence %s for %s dropped: %s", message.id, message.process_id, detail)
            return "dropped"
        return self._later(message, detail)

    def _later(self, message: OutboxMessage, reason: str) -> str:
        wait = evidence_wait(message.attempts + 1)
        self.store.mark_failed(message.id, reason, self.clock.now() + timedelta(seconds=wait))
        log.warning("evidence for %s waits %.1f s: %s", message.process_id, wait, reason)
        return "retry"


def _lanes(messages: Sequence[OutboxMessage]) -> list[list[OutboxMessage]]:
    lanes: dict[str, list[OutboxMessage]] = {}
    for message in messages:
        lanes.setdefault(message.process_id, []).append(message)
    return list(lanes.values())


def _receipt(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
