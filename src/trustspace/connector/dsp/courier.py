"""Delivery of the connector's evidence to the operator's ledger.

Evidence rides in the same outbox as protocol messages but on lanes of its own (``ledger:<pid>``), and is
handled differently from them:

- it is claimed at most every 0.25 s (the worker's ``evidence_every``), goes after that round's protocol
  messages, and nobody waits for it, so the protocol never waits for the log (docs/decisions/0008 and 0010);
- a round's statements go in as few requests as the ledger's batch endpoint allows (one token, one request
  for up to ``MAX_BATCH``), in order, and their receipts are kept in the transaction that marks them sent, so
  a crash can neither lose a receipt nor resend a statement whose receipt was kept. A ledger without the
  batch endpoint gets them one by one;
- it is never given up while it could still go in: an unreachable ledger, a 5xx, or a 401/403 (our
  membership still pending, say) is retried with backoff for as long as it takes, and the pending statements
  stay visible at ``/v1/management/ledger/pending``. Only a statement the ledger refuses for good (malformed,
  oversized) is dropped, alone and with an error in the log, since no repeat could succeed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import httpx

from trustspace.client.http import Signer
from trustspace.connector.dsp.wire import problem_text
from trustspace.connector.evidence import LEDGER_PREFIX
from trustspace.core.clock import Clock
from trustspace.store.dsp.interfaces import ProcessStore
from trustspace.store.dsp.records import OutboxMessage, Receipted

log = logging.getLogger("trustspace.connector.evidence")

# Answers that no repeat of the same statement can change.
REFUSED_FOR_GOOD = {400, 413, 415, 422}
# Refusals of one statement in a batch that are about the moment, not the statement.
TRY_AGAIN = {408, 425, 429}
BATCH_SUFFIX = "/batch"
# The operator takes at most 50 statements and 1 MiB per request; half the bytes leaves room for the envelope.
MAX_BATCH = 50
MAX_BATCH_BYTES = 512 * 1024
MAX_WAIT = 30.0


def evidence_wait(attempts: int) -> float:
    return float(min(MAX_WAIT, 0.2 * 2 ** min(attempts, 16)))


class Courier:
    """Sends claimed evidence messages; one call per evidence round of the worker (see worker.EVIDENCE_EVERY)."""

    def __init__(self, store: ProcessStore, http: httpx.Client, signer: Signer, clock: Clock) -> None:
        self.store, self.http, self.signer, self.clock = store, http, signer, clock
        self._one_by_one = False  # the ledger has no batch endpoint (an older operator)

    def deliver(self, messages: Sequence[OutboxMessage]) -> None:
        receipted: list[Receipted] = []
        for batch in _batches(messages):
            if self._one_by_one:
                receipted += self._one_at_a_time(batch)
            else:
                receipted += self._deliver_batch(batch)
        if receipted:
            self.store.mark_receipted(receipted, self.clock.now())

    # --- many statements in one request ---------------------------------------------------------------------
    def _deliver_batch(self, batch: list[OutboxMessage]) -> list[Receipted]:
        first = batch[0]
        url = first.url + BATCH_SUFFIX
        try:
            response = self.http.post(url, json={"statements": [m.body for m in batch]},
                                      headers=self.signer.headers(first.audience))
        except httpx.HTTPError as exc:
            return self._all_later(batch, f"cannot reach the ledger at {url}: {exc.__class__.__name__}")
        if response.status_code in (404, 405):
            self._one_by_one = True
            log.info("the ledger at %s takes statements one at a time", first.url)
            return self._one_at_a_time(batch)
        if response.status_code == 200:
            results = _results(response, len(batch))
            if results is not None:
                return self._judged(batch, results)
            return self._all_later(batch, "the ledger answered a batch without one result per statement")
        detail = f"the ledger answered {response.status_code}: {problem_text(response)}"
        if response.status_code in REFUSED_FOR_GOOD:
            return self._one_at_a_time(batch)  # the batch itself is refused: find the statement at fault
        return self._all_later(batch, detail)

    def _judged(self, batch: list[OutboxMessage], results: list[dict[str, Any]]) -> list[Receipted]:
        done: list[Receipted] = []
        for message, result in zip(batch, results, strict=True):
            status, receipt = result.get("status"), result.get("receipt")
            if status in (200, 201) and isinstance(receipt, dict):
                done.append(Receipted(message.id, message.process_id.removeprefix(LEDGER_PREFIX), receipt))
            elif isinstance(status, int) and 400 <= status < 500 and status not in TRY_AGAIN:
                # The request was a member's, so this refusal is about the statement itself: final.
                self._drop(message, f"the ledger refused it with {status}: {_problem_detail(result)}")
            else:
                self._later(message, f"the ledger answered {status} for it: {_problem_detail(result)}")
        return done

    def _all_later(self, batch: list[OutboxMessage], reason: str) -> list[Receipted]:
        for message in batch:
            self._later(message, reason)
        return []

    # --- one statement per request ------------------------------------------------------------------------
    def _one_at_a_time(self, batch: list[OutboxMessage]) -> list[Receipted]:
        done: list[Receipted] = []
        for lane in _lanes(batch):
            done += self._deliver_lane(lane)
        return done

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
        detail = f"the ledger answered {response.status_code}: {problem_text(response)}"
        if response.status_code in REFUSED_FOR_GOOD:
            return self._drop(message, detail)
        return self._later(message, detail)

    def _drop(self, message: OutboxMessage, reason: str) -> str:
        self.store.drop_message(message.id)
        log.error("evidence %s for %s dropped: %s", message.id, message.process_id, reason)
        return "dropped"

    def _later(self, message: OutboxMessage, reason: str) -> str:
        wait = evidence_wait(message.attempts + 1)
        self.store.mark_failed(message.id, reason, self.clock.now() + timedelta(seconds=wait))
        log.warning("evidence for %s waits %.1f s: %s", message.process_id, wait, reason)
        return "retry"


def _batches(messages: Sequence[OutboxMessage]) -> list[list[OutboxMessage]]:
    """Claim order kept; a new batch whenever the ledger changes or a batch is full (count or bytes)."""
    batches: list[list[OutboxMessage]] = []
    size = 0
    for message in messages:
        weight = len(json.dumps(message.body))
        current = batches[-1] if batches else None
        if (current is None or current[0].url != message.url or current[0].audience != message.audience
                or len(current) >= MAX_BATCH or size + weight > MAX_BATCH_BYTES):
            batches.append([message])
            size = weight
        else:
            current.append(message)
            size += weight
    return batches


def _results(response: httpx.Response, expected: int) -> list[dict[str, Any]] | None:
    try:
        results = response.json().get("results")
    except (ValueError, AttributeError):
        return None
    if not isinstance(results, list) or len(results) != expected or not all(isinstance(r, dict) for r in results):
        return None
    return results


def _problem_detail(result: dict[str, Any]) -> str:
    problem = result.get("problem")
    return str(problem.get("detail")) if isinstance(problem, dict) else "no reason given"


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
