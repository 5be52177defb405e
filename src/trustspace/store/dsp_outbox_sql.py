"""The outbox and the process history: what the connector still owes its counter-parties, and what happened.

Writing both happens inside the transaction that changes a process (``write_outbox``, ``write_event``) or
lists an offer; ``queue_outbox`` alone queues messages that go with no change (data-plane evidence). The
other methods here are the worker's side (claim, mark sent or failed, drop) and the watchers' side (events).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, or_, select, text, update
from sqlalchemy.orm import Session, aliased

from trustspace.core.clock import Clock, SystemClock
from trustspace.core.errors import ValidationFailed
from trustspace.store import dsp_mapping as rows
from trustspace.store.db import Database
from trustspace.store.dsp_models import LedgerReceiptRow, OutboxRow, ProcessEventRow
from trustspace.store.dsp_records import NewOutboxMessage, OutboxMessage, ProcessEvent, Receipted

# Arbitrary constant shared by every replica: the advisory lock that makes event ids visible in order.
_EVENT_ORDER_LOCK_ID = 0x7473_6576_7473


class DspSqlBase:
    """The database and the clock every part of the SQL DSP store shares.

    The clock stamps what the store writes on its own: ``updated_at`` of a transition, the outbox message's
    ``created_at``/``next_attempt_at`` and the event's ``at``. Tests pass a ``FixedClock``.
    """

    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self._db = db
        self._clock = clock or SystemClock()

    def _now(self) -> datetime:
        return rows.aware(self._clock.now(), "clock")


def write_outbox(session: Session, messages: list[OutboxRow]) -> None:
    """Queue messages (made by ``dsp_mapping.outbox_rows`` before the transaction) in the caller's transaction."""
    session.add_all(messages)
    session.flush()


def write_event(session: Session, kind: str, process_id: str, state: str, detail: str, at: datetime) -> None:
    """Record one line of history. Call it last in the transaction.

    On PostgreSQL an id comes from a sequence when the row is inserted, but becomes visible at commit; two
    transactions could commit in the opposite order and a watcher reading ``after_id`` would skip the
    smaller id for good. The transaction-scoped lock hands out ids in commit order (it is held only from
    here to the commit). SQLite's single writer already does that.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _EVENT_ORDER_LOCK_ID})
    session.add(ProcessEventRow(process_kind=kind, process_id=process_id, state=state, detail=detail, at=at))
    session.flush()


class OutboxSql(DspSqlBase):
    def claim_outbox(self, now: datetime, lease_until: datetime, limit: int = 20) -> list[OutboxMessage]:
        current = rows.aware(now, "now")
        lease = rows.aware(lease_until, "lease_until")
        if lease <= current:
            raise ValidationFailed("lease_until must be later than now", field="lease_until")
        # A process's messages go out in the order they were queued: one waiting for its retry holds back
        # every later message of its process (the counter-party would otherwise see, say, a suspension
        # before the start it suspends). Due ones are claimed together, oldest first, and sent in order.
        earlier = aliased(OutboxRow)
        waiting = (
            select(earlier.id)
            .where(earlier.process_kind == OutboxRow.process_kind, earlier.process_id == OutboxRow.process_id)
            .where(earlier.id < OutboxRow.id, earlier.sent_at.is_(None), earlier.next_attempt_at > current)
        )
        query = (
            select(OutboxRow)
            .where(OutboxRow.sent_at.is_(None))
            .where(OutboxRow.next_attempt_at <= current)
            .where(or_(OutboxRow.lease_until.is_(None), OutboxRow.lease_until < current))
            .where(~exists(waiting))
            .order_by(OutboxRow.id)
            .limit(rows.check_limit(limit))
            # PostgreSQL: rows another replica is claiming right now are skipped, not waited for. SQLite
            # renders no FOR UPDATE; its BEGIN IMMEDIATE lets one claimer at a time in.
            .with_for_update(skip_locked=True)
        )
        with self._db.transaction() as session:
            claimed = list(session.scalars(query))
            for row in claimed:
                row.lease_until = lease
            return [rows.outbox_message(row) for row in claimed]

    def mark_sent(self, message_id: int, at: datetime) -> None:
        """Idempotent: a message marked sent twice keeps the first time.

        A message that is gone was dropped while it was being sent (its process ended meanwhile): that is
        a race every worker meets, not a mistake, so it is ignored rather than raised.
        """
        when = rows.aware(at, "at")
        query = (
            update(OutboxRow)
            .where(OutboxRow.id == message_id, OutboxRow.sent_at.is_(None))
            .values(sent_at=when, lease_until=None)
        )
        with self._db.transaction() as session:
            session.execute(query)

    def mark_failed(self, message_id: int, error: str, next_attempt_at: datetime) -> None:
        """A failure reported after the message was sent (by a worker whose lease ran out) changes nothing:
        the successful delivery wins. A dropped message stays dropped (see ``mark_sent``)."""
        retry = rows.aware(next_attempt_at, "next_attempt_at")
        query = (
            update(OutboxRow)
            .where(OutboxRow.id == message_id, OutboxRow.sent_at.is_(None))
            # attempts + 1 in SQL: two reports racing both count.
            .values(attempts=OutboxRow.attempts + 1, last_error=error, next_attempt_at=retry, lease_until=None)
        )
        with self._db.transaction() as session:
            session.execute(query)

    def drop_outbox(self, process_kind: str, process_id: str) -> int:
        query = delete(OutboxRow).where(
            OutboxRow.process_kind == rows.check_kind(process_kind),
            OutboxRow.process_id == process_id,
            OutboxRow.sent_at.is_(None),
        )
        with self._db.transaction() as session:
            # Through the connection: its CursorResult carries rowcount (Session.execute is typed as Result).
            return session.connection().execute(query).rowcount

    def mark_receipted(self, receipted: Sequence[Receipted], at: datetime) -> None:
        """Mark ledger messages sent and keep each receipt, in one transaction: a crash between the two would
        lose a receipt for good (the ledger would not be asked again). A message already marked sent (a
        repeat after a lost lease) keeps its first receipt; the ledger answers a repeat with the same one."""
        when = rows.aware(at, "at")
        with self._db.transaction() as session:
            connection = session.connection()
            for item in receipted:
                marked = connection.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id == item.message_id, OutboxRow.sent_at.is_(None))
                    .values(sent_at=when, lease_until=None)
                ).rowcount
                if marked:
                    session.add(LedgerReceiptRow(process_id=item.process_id, receipt=item.receipt, kept_at=when))

    def receipts(self, process_id: str) -> list[dict[str, Any]]:
        """The receipts kept under ``process_id``, in the order they came."""
        query = select(LedgerReceiptRow.receipt).where(LedgerReceiptRow.process_id == process_id)
        with self._db.reading() as session:
            return list(session.scalars(query.order_by(LedgerReceiptRow.id)))

    def release_outbox(self, message_ids: Sequence[int]) -> None:
        """Give claimed, unsent messages back without counting an attempt: they waited behind one that failed,
        and must not wait for their own lease to run out as well."""
        if not message_ids:
            return
        query = (
            update(OutboxRow)
            .where(OutboxRow.id.in_(list(message_ids)), OutboxRow.sent_at.is_(None))
            .values(lease_until=None)
        )
        with self._db.transaction() as session:
            session.execute(query)

    def drop_message(self, message_id: int) -> bool:
        """Give up on one unsent message (its receiver refuses it for good); False if it was sent or gone."""
        query = delete(OutboxRow).where(OutboxRow.id == message_id, OutboxRow.sent_at.is_(None))
        with self._db.transaction() as session:
            return bool(session.connection().execute(query).rowcount)

    def queue_outbox(self, messages: Sequence[NewOutboxMessage]) -> None:
        queued = rows.outbox_rows(list(messages), self._now())
        with self._db.transaction() as session:
            write_outbox(session, queued)

    def pending_outbox(self, process_id: str | None = None) -> list[OutboxMessage]:
        """Unsent messages, leased or not, oldest first."""
        query = select(OutboxRow).where(OutboxRow.sent_at.is_(None)).order_by(OutboxRow.id)
        if process_id is not None:
            query = query.where(OutboxRow.process_id == process_id)
        with self._db.reading() as session:
            return [rows.outbox_message(row) for row in session.scalars(query)]

    def events(self, after_id: int = 0, process_id: str | None = None, limit: int = 100) -> list[ProcessEvent]:
        query = (
            select(ProcessEventRow)
            .where(ProcessEventRow.id > after_id)
            .order_by(ProcessEventRow.id)
            .limit(rows.check_limit(limit))
        )
        if process_id is not None:
            query = query.where(ProcessEventRow.process_id == process_id)
        with self._db.reading() as session:
            return [rows.event(row) for row in session.scalars(query)]
