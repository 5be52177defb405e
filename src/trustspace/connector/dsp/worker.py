"""The connector's worker: makes our moves, delivers the outbox, moves data, enforces deadlines.

It runs in one background thread, woken at once after every recorded change and otherwise every
``poll`` seconds. Deliveries run on a small pool, one process's messages in order, different processes in
parallel. Protocol messages are claimed every round; evidence (already durable in the outbox, committed with
the move it records) is claimed at most every ``evidence_every`` seconds, so it reaches the ledger in a few
large batches rather than a request per move, and never competes with the protocol for the CPU.

A counter-party that cannot be reached leaves a readable reason on the process; one that refuses a
message outright (4xx) ends the process with its answer as the reason.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx

from trustspace.client.http import Signer
from trustspace.connector.dsp import wire
from trustspace.connector.dsp.courier import MAX_BATCH, Courier
from trustspace.connector.dsp.negotiations import Negotiations
from trustspace.connector.dsp.relocation import Relocation
from trustspace.connector.dsp.strategy import AUTOMATIC_NEGOTIATION_STATES, AUTOMATIC_TRANSFER_STATES
from trustspace.connector.dsp.transfers import Transfers
from trustspace.connector.evidence import LEDGER_PREFIX
from trustspace.core.clock import Clock
from trustspace.core.errors import TrustSpaceError
from trustspace.protocol.machine import bare_term
from trustspace.protocol.transfer import TransferMessage
from trustspace.store.dsp.interfaces import Lanes, ProcessStore, StateOf
from trustspace.store.dsp.records import Change, Negotiation, OutboxMessage, TransferRecord

log = logging.getLogger("trustspace.connector.worker")
# What a round looks at by default: the automatic strategy's states. A round asks the strategy in use (a
# scripted one may move in every state that is not terminal).
WAITING_NEGOTIATIONS: list[StateOf] = list(AUTOMATIC_NEGOTIATION_STATES)
WAITING_TRANSFERS: list[StateOf] = list(AUTOMATIC_TRANSFER_STATES)
# Deadlines are whole seconds or more: looking for overdue processes more often only costs queries.
EXPIRY_INTERVAL = 1.0
# How often evidence leaves for the ledger. A negotiation queues some ten statements over ~40 ms: sent each
# round they cost the connector and the operator one authenticated request and one transaction per move.
EVIDENCE_EVERY = 0.25
# How long a claimed message is ours before another claim may take it (a crashed sender's messages go again
# after it). An evidence job sends up to 4 batches, each request allowed 10 s.
PROTOCOL_LEASE = timedelta(seconds=30)
EVIDENCE_LEASE = timedelta(seconds=60)
PROTOCOL_LANES = Lanes(LEDGER_PREFIX, inside=False)
EVIDENCE_LANES = Lanes(LEDGER_PREFIX, inside=True)
FINAL = ("TERMINATED", "FINALIZED", "COMPLETED")
LEADS_TO = {
    "ContractRequestMessage": "REQUESTED", "ContractOfferMessage": "OFFERED", "ContractAgreementMessage": "AGREED",
    "ContractAgreementVerificationMessage": "VERIFIED", "ContractNegotiationTerminationMessage": "TERMINATED",
    "TransferRequestMessage": "REQUESTED", "TransferStartMessage": "STARTED", "TransferSuspensionMessage": "SUSPENDED",
    "TransferCompletionMessage": "COMPLETED", "TransferTerminationMessage": "TERMINATED",
}
# How far along its protocol's main path a state lies (TERMINATED lies on no path: it is never "past" anything).
PROGRESS = {"REQUESTED": 1, "OFFERED": 2, "ACCEPTED": 3, "AGREED": 4, "VERIFIED": 5, "FINALIZED": 6,
            "STARTED": 2, "SUSPENDED": 2, "COMPLETED": 3}
MAX_ATTEMPTS = 40
TRANSIENT = {408, 425, 429, 500, 502, 503, 504}


def backoff(attempts: int) -> float:
    return float(min(30.0, 0.2 * 2 ** attempts))


# A transfer whose data cannot be prepared or moved is tried this often (1, 2, 4, 8 s apart), then terminated.
MAX_DATA_ATTEMPTS = 5
# What the consumer is told when the provider's source fails: never the query, the path or the driver's words.
SOURCE_FAILED = "data source failed"


def data_backoff(failures: int) -> float:
    return float(min(60.0, 2.0 ** (failures - 1)))


def _reason(exc: Exception) -> str:
    return exc.detail if isinstance(exc, TrustSpaceError) else f"{exc.__class__.__name__}: {exc}"


class Worker:
    def __init__(self, store: ProcessStore, negotiations: Negotiations, transfers: Transfers, signer: Signer,
                 clock: Clock, poll: float = 1.0, evidence_every: float = EVIDENCE_EVERY,
                 relocation: Relocation | None = None) -> None:
        self.store, self.negotiations, self.transfers, self.signer = store, negotiations, transfers, signer
        self.relocation = relocation
        self.clock, self.poll, self.evidence_every = clock, poll, evidence_every
        self._next_evidence = 0.0
        self._courier_thread = ThreadPoolExecutor(1, thread_name_prefix="evidence")
        self._evidence_job: Future[None] = _done()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._senders = ThreadPoolExecutor(8, thread_name_prefix="outbox")
        self._movers = ThreadPoolExecutor(4, thread_name_prefix="data")
        self._moving: set[str] = set()
        self._retry_data_at: dict[str, float] = {}
        self._next_expiry = 0.0
        self._data_failures: dict[str, int] = {}
        self.http = httpx.Client(timeout=10.0)
        self.courier = Courier(store, self.http, signer, clock)

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="dsp-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
        self._senders.shutdown(wait=False, cancel_futures=True)
        self._courier_thread.shutdown(wait=False, cancel_futures=True)
        self._movers.shutdown(wait=False, cancel_futures=True)
        self.http.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            # Evidence waiting for its turn is not a change that wakes us: look again when its turn comes.
            self._wake.wait(min(self.poll, max(self.evidence_every, 0.01)))
            self._wake.clear()
            try:
                self.tick()
            except Exception:
                log.exception("worker round failed; retrying on the next round")

    def tick(self) -> None:
        """One round: one snapshot read of what waits, our moves, deliveries, data, then deadlines."""
        negotiations, transfers = self.store.waiting(self.negotiations.strategy.negotiation_states,
                                                     self.transfers.strategy.transfer_states)
        self.advance(negotiations, transfers)
        self.deliver()
        # A transfer our own move just started is seen next round: the move woke us.
        self.move_data([t for t in transfers if t.state == "STARTED"])
        monotonic = time.monotonic()
        if monotonic >= self._next_expiry:
            self._next_expiry = monotonic + EXPIRY_INTERVAL
            self.expire()

    # --- our moves ------------------------------------------------------------------------------------------
    def advance(self, negotiations: list[Negotiation], transfers: list[TransferRecord]) -> None:
        for negotiation in negotiations:
            self._guard(lambda n=negotiation: self.negotiations.advance(n), negotiation.id)
        for transfer in transfers:
            if self._preparing(transfer):
                continue
            self._guard(lambda t=transfer: self.transfers.advance(t), transfer.id)

    def _preparing(self, transfer: TransferRecord) -> bool:
        """Is a requested pull's data still being prepared (on the data pool, so a 1 GiB digest never holds up
        the other processes' moves)? Starts the preparation if it has not started. A failed preparation is
        tried again after a growing wait, and after ``MAX_DATA_ATTEMPTS`` the transfer is terminated, telling
        the consumer only that the data source failed: the transfer never spins on a broken source."""
        if not (transfer.role == "provider" and transfer.state == "REQUESTED"
                and transfer.transfer_type == "HttpData-PULL"):
            return False
        if transfer.id in self._moving:
            return True
        if self.transfers.data_plane.prepared(transfer.id):
            self._data_failures.pop(transfer.id, None)
            return False
        if self._retry_data_at.get(transfer.id, 0) > self.clock.now().timestamp():
            return True
        self._moving.add(transfer.id)
        self._movers.submit(self._prepare, transfer)
        return True

    def _prepare(self, transfer: TransferRecord) -> None:
        try:
            self.transfers.data_plane.prepare(transfer)
        except Exception as exc:
            self._data_failed(transfer.id, _reason(exc), SOURCE_FAILED)
        finally:
            self._moving.discard(transfer.id)
            self.wake()

    def _data_failed(self, transfer_id: str, reason: str, ending: str) -> None:
        """Count a failure to prepare or move a transfer's data: wait longer each time, then give up."""
        failures = self._data_failures.get(transfer_id, 0) + 1
        if failures >= MAX_DATA_ATTEMPTS:
            self._data_failures.pop(transfer_id, None)
            self._retry_data_at.pop(transfer_id, None)
            log.warning("transfer %s terminated after %d failed attempts with its data: %s", transfer_id,
                        failures, reason)
            self._guard(lambda: self.transfers.act(transfer_id, TransferMessage.TERMINATION, ending), transfer_id)
            return
        self._data_failures[transfer_id] = failures
        wait = data_backoff(failures)
        self._retry_data_at[transfer_id] = self.clock.now().timestamp() + wait
        problem = f"data failed (attempt {failures} of {MAX_DATA_ATTEMPTS}, next in {wait:.0f} s): {reason}"
        log.warning("transfer %s: %s", transfer_id, problem)
        self.store.note_problem("transfer", transfer_id, problem, self.clock.now())

    def _guard(self, action: Any, process_id: str) -> None:
        try:
            action()
        except TrustSpaceError as exc:
            # Typically a Conflict: a message arrived and moved the process first. The next round sees it.
            log.info("move on %s skipped: %s", process_id, exc.detail)

    # --- outbox ---------------------------------------------------------------------------------------------
    def deliver(self) -> None:
        now = self.clock.now()
        by_process: dict[str, list[OutboxMessage]] = defaultdict(list)
        for message in self.store.claim_outbox(now, now + PROTOCOL_LEASE, limit=64, lanes=PROTOCOL_LANES):
            by_process[message.process_id].append(message)
        protocol = [self._senders.submit(self._deliver_in_order, group) for group in by_process.values()]
        for future in protocol:
            future.result()
        self._send_evidence()

    def _send_evidence(self) -> None:
        """Claim and send evidence if its turn has come and the last batch is done. One batch at a time, on a
        thread of its own: a slow ledger never takes a protocol sender, and a lane's statements are never in
        flight in two requests at once (they would reach the log out of order if the first failed)."""
        monotonic = time.monotonic()
        if monotonic < self._next_evidence or not self._evidence_job.done():
            return
        self._next_evidence = monotonic + self.evidence_every
        # Read the clock again: the protocol deliveries before this may have taken a while.
        now = self.clock.now()
        evidence = self.store.claim_outbox(now, now + EVIDENCE_LEASE, limit=4 * MAX_BATCH, lanes=EVIDENCE_LANES)
        if evidence:
            # After the protocol's messages, and never waited for (see courier.py).
            self._evidence_job = self._courier_thread.submit(self._deliver_evidence, evidence)

    def _deliver_evidence(self, messages: list[OutboxMessage]) -> None:
        try:
            self.courier.deliver(messages)
        except Exception:
            log.exception("evidence delivery failed; its lease runs out and it goes again")

    def _deliver_in_order(self, messages: list[OutboxMessage]) -> None:
        for position, message in enumerate(messages):
            if not self._deliver(message):
                # Keep order: later messages wait for this one, from its retry on rather than their leases' end.
                self.store.release_outbox([later.id for later in messages[position + 1:]])
                return

    def _deliver(self, message: OutboxMessage) -> bool:
        kind = message.body.get("@type", "message")
        try:
            response = self.http.post(message.url, json=message.body, headers=self.signer.headers(message.audience))
        except httpx.HTTPError as exc:
            if not self._relocated(message):
                self._failed(message, f"cannot reach {message.url}: {exc.__class__.__name__}: {exc}")
            return False
        if response.status_code < 300:
            self.store.mark_delivered(message, self.clock.now(), _provider_pid(message, response))
            return True
        if response.status_code == 404 and self._relocated(message):
            return False
        detail = wire.problem_text(response)
        if response.status_code in TRANSIENT:
            self._failed(message, f"{message.url} answered {response.status_code}: {detail}")
            return False
        return self._refused(message, f"counter-party refused {kind} with {response.status_code}: {detail}")

    def _relocated(self, message: OutboxMessage) -> bool:
        return self.relocation is not None and self.relocation.follow(message, self._process(message))

    def _failed(self, message: OutboxMessage, reason: str) -> None:
        attempts = message.attempts + 1
        wait = backoff(attempts)
        if attempts >= MAX_ATTEMPTS:
            self.store.drop_outbox(message.process_kind, message.process_id)
            reason = f"{reason}; gave up after {attempts} attempts"
        else:
            self.store.mark_failed(message.id, reason, self.clock.now() + timedelta(seconds=wait))
            reason = f"{reason} (attempt {attempts}, next in {wait:.1f} s)"
        log.warning("%s %s: %s", message.process_kind, message.process_id, reason)
        process = self._process(message)
        if process is None or process.state in FINAL:
            return  # it has ended, and its reason says why: a problem delivering the news must not replace it
        self.store.note_problem(message.process_kind, message.process_id, reason, self.clock.now())

    def _process(self, message: OutboxMessage) -> Negotiation | TransferRecord | None:
        return (self.store.get_negotiation(message.process_id) if message.process_kind == "negotiation"
                else self.store.get_transfer(message.process_id))

    def _refused(self, message: OutboxMessage, reason: str) -> bool:
        """End the process with the counter-party's answer as reason; True if the message counts as sent."""
        process = self._process(message)
        if process is not None and self._applied_before(message, process):
            # An earlier delivery went through and only its answer was lost (say, to a crash before the outbox
            # noted it): the counter-party refuses the repeat, having moved on. Nothing to end.
            log.info("%s %s: %s, but the counter-party had applied it already", message.process_kind,
                     message.process_id, reason)
            self.store.mark_sent(message.id, self.clock.now())
            return True
        log.warning("%s %s ended: %s", message.process_kind, message.process_id, reason)
        self.store.drop_outbox(message.process_kind, message.process_id)
        if process is None or process.state in FINAL:
            return False
        move = (self.store.transition_negotiation if message.process_kind == "negotiation"
                else self.store.transition_transfer)
        self._guard(lambda: move(process.id, process.state, "TERMINATED",
                                 Change(reason=reason, clear_deadline=True), [], reason), process.id)
        return False

    def _applied_before(self, message: OutboxMessage, process: Negotiation | TransferRecord) -> bool:
        """Is the counter-party (asked through the binding's GET) at or past the state ``message`` leads to?"""
        target = _leads_to(message.body)
        their_pid = process.consumer_pid if process.role == "provider" else process.provider_pid
        if target is None or their_pid is None:
            return False
        kind = "negotiations" if message.process_kind == "negotiation" else "transfers"
        try:
            answer = self.http.get(wire.join(process.counter_party_address, kind, their_pid),
                                   headers=self.signer.headers(message.audience))
            body = answer.json() if answer.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return False
        theirs = bare_term(str(body.get("state"))) if isinstance(body, dict) else ""
        return theirs == target or PROGRESS.get(theirs, 0) > PROGRESS.get(target, len(PROGRESS))

    # --- data ---------------------------------------------------------------------------------------------
    def move_data(self, started: list[TransferRecord]) -> None:
        now = self.clock.now().timestamp()
        for transfer in started:
            wants_push = transfer.role == "provider" and transfer.transfer_type == "HttpData-PUSH"
            wants_pull = transfer.role == "consumer" and transfer.transfer_type == "HttpData-PULL"
            done = transfer.details.get("moved")
            if not (wants_push or wants_pull) or done or transfer.id in self._moving:
                continue
            if self._retry_data_at.get(transfer.id, 0) > now:
                continue
            self._moving.add(transfer.id)
            self._movers.submit(self._move, transfer.id, wants_push)

    def _move(self, transfer_id: str, push: bool) -> None:
        try:
            transfer = self.transfers.get(transfer_id)
            result = self.transfers.data_plane.push(transfer) if push else self.transfers.data_plane.pull(transfer)
            # The strategy makes the move that follows (the automatic one completes; a script may wait).
            self.transfers.data_moved(self.transfers.get(transfer_id), {**result, "moved": True})
        except Exception as exc:
            reason = _reason(exc)
            ending = SOURCE_FAILED if push else f"data movement failed {MAX_DATA_ATTEMPTS} times: {reason}"
            self._data_failed(transfer_id, f"data movement failed: {reason}", ending)
        finally:
            self._moving.discard(transfer_id)
            self.wake()

    # --- deadlines -------------------------------------------------------------------------------------------
    def expire(self) -> None:
        now = self.clock.now()
        for kind, process_id in self.store.overdue(now):
            if kind == "negotiation":
                self._guard(lambda pid=process_id: self.negotiations.expire(self.negotiations.get(pid), now),
                            process_id)
            else:
                transfer = self.store.get_transfer(process_id)
                reason = f"no progress before the deadline; last problem: {transfer.reason if transfer else '-'}"
                self._guard(lambda pid=process_id, why=reason: self.transfers.act(pid, TransferMessage.TERMINATION,
                                                                                    why), process_id)


def _done() -> Future[None]:
    finished: Future[None] = Future()
    finished.set_result(None)
    return finished


def _provider_pid(message: OutboxMessage, response: httpx.Response) -> str | None:
    """The provider's pid, from its acknowledgement of our initial request; None for any other message."""
    if not (message.url.endswith("/request") and message.body.get("@type") in ("ContractRequestMessage",
                                                                                 "TransferRequestMessage")):
        return None
    try:
        answer = response.json()
    except ValueError:
        return None
    pid = answer.get("providerPid") if isinstance(answer, dict) else None
    return pid if isinstance(pid, str) and pid else None


def _leads_to(body: dict[str, Any]) -> str | None:
    """The state the message puts its process in."""
    kind = str(body.get("@type"))
    if kind == "ContractNegotiationEventMessage":
        return bare_term(str(body.get("eventType")))
    return LEADS_TO.get(kind)
