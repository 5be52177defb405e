"""Shared parts of the ledger benchmarks: real signed statements made fast, and a log filled to a given size
through the sequencer.

Statements. Each one is a genuine evidence statement signed by one of 16 member keys (Ed25519, fixed seeds):
a rotating event type, the submitter as participant, an agreement and a process id, a payload digest and a
``details.n`` counter that makes every leaf distinct (about 640 bytes of canonical JSON each). Making one
through ``new_statement`` + ``sign_statement`` + ``leaf_data`` costs ~110 µs, i.e. ~2 minutes for 10^6 on
one core, so ``statement`` spells the canonical JSON with ``json.dumps(sort_keys=True)`` (equal to RFC 8785
for this ASCII-only, integer-only shape) and signs it directly: ~50 µs. ``check_statement`` proves the shortcut
is exact: for the first statement of every chunk it rebuilds it through the project's own functions and
requires the same bytes, and verifies its signature with ``verify_statement``.

Fill. ``fill`` queues the statements as pending rows (bulk INSERT into ``ledger_pending``, the table the
sequencer reads, one transaction per chunk) and lets ``Sequencer.drain`` integrate them in batches of the
operator's default size (or BENCH_BATCH), exactly as in service. It bypasses ``LedgerService.submit``
(signature check, receipt, one transaction per submission): that path is not what these benchmarks measure.
Statements are generated in worker processes while the parent writes the previous chunk.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, cast

from sqlalchemy import Table, insert, select

from trustspace.core.clock import SystemClock, to_xsd
from trustspace.core.keys import SigningKey
from trustspace.identity.did import did_key, verification_method_id
from trustspace.ledger.checkpoint import NoteSigner
from trustspace.ledger.merkle import leaf_hash
from trustspace.ledger.statements import (
    SIGNATURE_ALG,
    SIGNING_PREFIX,
    EventType,
    leaf_data,
    new_statement,
    sign_statement,
    verify_statement,
)
from trustspace.operator.ledger.sequencer import DEFAULT_BATCH_SIZE, Sequencer
from trustspace.store.db import Database, open_database
from trustspace.store.ledger.models import LedgerEntryRow, LedgerPendingRow
from trustspace.store.ledger.records import NewEntry
from trustspace.store.ledger.sql import SqlLedgerStore

LOG_SIZE = int(os.environ.get("BENCH_LOG_SIZE", "1000000"))
# The sequencer's batch size: the operator's default unless BENCH_BATCH says otherwise (to compare sizes).
BATCH = int(os.environ.get("BENCH_BATCH", str(DEFAULT_BATCH_SIZE)))
CHUNK = 20_000
MEMBERS = 16
ORIGIN = "bench.trustspace.local/ledger"
LOG_KEY = SigningKey.from_seed(hashlib.sha256(b"bench ledger log key").digest())
T0 = datetime(2026, 3, 1, tzinfo=UTC)
_EVENTS = [event.value for event in EventType]
_PENDING = cast(Table, LedgerPendingRow.__table__)
_COLUMNS = tuple(field.name for field in fields(NewEntry))


@dataclass(frozen=True)
class Member:
    key: SigningKey
    did: str
    method: str


@cache
def members() -> tuple[Member, ...]:
    made = []
    for number in range(MEMBERS):
        key = SigningKey.from_seed(hashlib.sha256(f"bench member {number}".encode()).digest())
        did = did_key(key.public)
        made.append(Member(key, did, verification_method_id(did)))
    return tuple(made)


def _fields(n: int) -> tuple[Member, str, datetime, dict[str, Any]]:
    """Who says what, when, about what: everything of statement ``n`` but its signature."""
    member = members()[n % MEMBERS]
    when = T0 + timedelta(seconds=n // 10)
    kwargs: dict[str, Any] = {
        "participant": member.did, "agreement": f"urn:uuid:00000000-0000-4000-8000-{n // 8:012d}",
        "process": f"urn:uuid:00000000-0000-4000-9000-{n // 4:012d}",
        "payload_digest": hashlib.sha256(n.to_bytes(8, "big")).hexdigest(),
        "details": {"n": n, "state": "FINALIZED"},
    }
    return member, _EVENTS[n % len(_EVENTS)], when, kwargs


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def statement(n: int) -> NewEntry:
    """Statement ``n``, signed, as a submission hands it to the store (the fast spelling, see the docstring)."""
    member, event, when, kw = _fields(n)
    subjects = {"participant": kw["participant"], "agreement": kw["agreement"], "process": kw["process"]}
    body: dict[str, Any] = {"type": event, "subjects": subjects, "time": to_xsd(when), "submitter": member.did,
                            "payloadDigest": kw["payload_digest"], "details": kw["details"],
                            "signature": {"alg": SIGNATURE_ALG, "verificationMethod": member.method}}
    signature = member.key.sign(SIGNING_PREFIX + _dumps(body).encode())
    body["signature"]["value"] = base64.urlsafe_b64encode(signature).rstrip(b"=").decode("ascii")
    entry = _dumps(body)
    return NewEntry(leaf_hash(entry.encode()), entry, member.did, event, member.did, kw["agreement"],
                    kw["process"], None, when, when + timedelta(milliseconds=n % 1000))


def check_statement(n: int, made: NewEntry) -> None:
    """Raise unless ``made`` is byte for byte what the project's own functions make, with a valid signature."""
    member, event, when, kw = _fields(n)
    signed = sign_statement(new_statement(event, member.did, when, **kw), member.key, member.method)
    if leaf_data(signed) != made.entry.encode():
        raise AssertionError(f"the fast statement {n} differs from sign_statement's")
    verify_statement(json.loads(made.entry), lambda _: member.key.public)


def statements(start: int, count: int) -> list[NewEntry]:
    made = [statement(n) for n in range(start, start + count)]
    if made:
        check_statement(start, made[0])
    return made


def generated(start: int, count: int, chunk: int = CHUNK) -> Iterator[list[NewEntry]]:
    """Statements ``start .. start + count - 1`` in chunks, made by worker processes a few chunks ahead."""
    bounds = [(first, min(chunk, start + count - first)) for first in range(start, start + count, chunk)]
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        ahead: deque[Future[list[NewEntry]]] = deque()
        for first, size in bounds:
            ahead.append(pool.submit(statements, first, size))
            if len(ahead) > 3:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()


# --- the log --------------------------------------------------------------------------------------------------
@dataclass
class Ledger:
    db: Database
    store: SqlLedgerStore
    sequencer: Sequencer


def open_ledger(url: str) -> Ledger:
    """The operator's database (migrated) and a sequencer configured as the operator's (batch size, signer)."""
    db = open_database("operator", url)
    store = SqlLedgerStore(db)
    sequencer = Sequencer(store, NoteSigner(ORIGIN, LOG_KEY), SystemClock(), batch_size=BATCH)
    return Ledger(db, store, sequencer)


def queue(db: Database, entries: Sequence[NewEntry]) -> None:
    """Pending rows, one bulk INSERT in one transaction (what many ``add_pending`` calls would leave)."""
    with db.transaction() as session:
        rows = [{name: getattr(entry, name) for name in _COLUMNS} for entry in entries]
        session.connection().execute(insert(_PENDING), rows)


@dataclass(frozen=True)
class Filled:
    entries: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.entries / self.seconds if self.seconds else 0.0


def logged(db: Database, start: int, count: int, chunk: int = CHUNK) -> Iterator[list[NewEntry]]:
    """Entries ``start .. start + count - 1`` of a log, read back as submissions (to fill a second log)."""
    e = LedgerEntryRow
    columns = [getattr(e, name) for name in _COLUMNS]
    for first in range(start, start + count, chunk):
        wanted = select(*columns).where(e.idx >= first, e.idx < min(first + chunk, start + count)).order_by(e.idx)
        with db.transaction() as session:
            chunk_read = [NewEntry(*row) for row in session.execute(wanted)]
        yield chunk_read  # outside the transaction: the caller writes elsewhere meanwhile


def fill(ledger: Ledger, chunks: Iterable[list[NewEntry]], label: str) -> Filled:
    """Grow the log by the statements of ``chunks`` through pending rows and the sequencer; print progress."""
    start, began, done = ledger.store.tree_size(), time.perf_counter(), 0
    for chunk in chunks:
        queue(ledger.db, chunk)
        integrated = ledger.sequencer.drain()
        if integrated != len(chunk):
            raise RuntimeError(f"{label}: the sequencer integrated {integrated} of {len(chunk)} queued entries")
        done += integrated
        if done % 200_000 < len(chunk):
            print(f"  {label} fill: {start + done:>9,} entries, {time.perf_counter() - began:6.1f} s", flush=True)
    return Filled(done, time.perf_counter() - began)
