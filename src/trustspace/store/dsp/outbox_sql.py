"""The outbox and the process history: what the connector still owes its counter-parties, and what happened.

Writing both happens inside the transaction that changes a process (``core.queue``, ``add_event``) or
lists an offer; ``queue_outbox`` alone queues messages that go with no change (data-plane evidence). The
other methods here are the worker's side (claim, mark sent or failed, drop) and the watchers' side (events),
all on prebuilt Core statements (``core``): the worker runs them for every message.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select

from trustspace.core.clock import Clock, SystemClock
from trustspace.core.errors import ValidationFailed
from trustspace.store.db import Database
from trustspace.store.dsp import core as core
from trustspace.store.dsp import mapping as rows
from trustspace.store.dsp.interfaces import Lanes
from trustspace.store.dsp.models import LedgerReceiptRow
from trustspace.store.dsp.records import NewOutboxMessage, OutboxMessage, ProcessEvent, Receipted

_PENDING = select(core.OUTBOX).where(core.OUTBOX.c.sent_at.is_(None)).order_by(core.OUTBOX.c.id)
_EVENTS = (select(core.EVENTS).where(core.EVENTS.c.id > bindparam("after_id"))
           .order_by(core.EVENTS.c.id).limit(bindparam("limit")))


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


class OutboxSql(DspSqlBase):
    def claim_outbox(self, now: datetime, lease_until: datetime, limit: int = 20, *,
                     lanes: Lanes | None = None) -> list[OutboxMessage]:
        current = rows.aware(now, "now")
        lease = rows.aware(lease_until, "lease_until")
        if lease <= current:
            raise ValidationFailed("lease_until must be later than now", field="lease_until")
        with self._db.writing() as connection:
            return core.claim(connection, current, lease, limit, lanes)

    def mark_sent(self, message_id: int, at: datetime) -> None:
        """Idempotent: a message marked sent twice keeps the first time.

        A message that is gone was dropped while it was being sent (its process ended meanwhile): that is
        a race every worker meets, not a mistake, so it is ignored rather than raised.
        """
        when = rows.aware(at, "at")
        with self._db.writing() as connection:
            core.mark_sent(connection, message_id, when)

    def mark_failed(self, message_id: int, error: str, next_attempt_at: datetime) -> None:
        """A failure reported after the message was sent (by a worker whose lease ran out) changes nothing:
        the successful delivery wins. A dropped message stays dropped (see ``mark_sent``)."""
        retry = rows.aware(next_attempt_at, "next_attempt_at")
        with self._db.writing() as connection:
            core.mark_failed(connection, message_id, error, retry)

    def drop_outbox(self, process_kind: str, process_id: str) -> int:
        kind = rows.check_kind(process_kind)
        with self._db.writing() as connection:
            return core.drop_process_outbox(connection, kind, process_id)

    def mark_receipted(self, receipted: Sequence[Receipted], at: datetime) -> None:
        """Mark ledger messages sent and keep each receipt, in one transaction: a crash between the two would
        lose a receipt for good (the ledger would not be asked again). A message already marked sent (a
        repeat after a lost lease) keeps its first receipt; the ledger answers a repeat with the same one."""
        when = rows.aware(at, "at")
        with self._db.writing() as connection:
            kept = [{"process_id": item.process_id, "receipt": item.receipt, "kept_at": when}
                    for item in receipted if core.mark_sent(connection, item.message_id, when)]
            if kept:
                connection.execute(insert(LedgerReceiptRow), kept)

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
        with self._db.writing() as connection:
            core.lease(connection, message_ids, None)

    def drop_message(self, message_id: int) -> bool:
        """Give up on one unsent message (its receiver refuses it for good); False if it was sent or gone."""
        with self._db.writing() as connection:
            return core.drop_message(connection, message_id)

    def queue_outbox(self, messages: Sequence[NewOutboxMessage]) -> None:
        now = self._now()
        queued = [core.outbox_values(message, now) for message in messages]
        with self._db.writing() as connection:
            core.queue(connection, queued)

    def readdress(self, process_kind: str, process_id: str, old_base: str, new_base: str) -> int:
        kind = rows.check_kind(process_kind)
        old, new = old_base.rstrip("/"), new_base.rstrip("/")
        now = self._now()
        with self._db.writing() as connection:
            row = core.get_process(connection, kind, process_id, lock=True)
            if row is None or row["counter_party_address"] != old or new == old:
                return 0
            core.move_process(connection, kind, process_id, {"counter_party_address": new, "updated_at": now})
            moved = core.readdress_outbox(connection, kind, process_id, old, new)
            core.add_event(connection, kind, process_id, row["state"],
                           f"counter-party's endpoints moved from {old} to {new}", now)
            return moved

    def pending_outbox(self, process_id: str | None = None) -> list[OutboxMessage]:
        """Unsent messages, leased or not, oldest first."""
        query = _PENDING if process_id is None else _PENDING.where(core.OUTBOX.c.process_id == process_id)
        with self._db.snapshot() as connection:
            return [core.record(OutboxMessage, row._mapping) for row in connection.execute(query)]

    def events(self, after_id: int = 0, process_id: str | None = None, limit: int = 100) -> list[ProcessEvent]:
        query = _EVENTS if process_id is None else _EVENTS.where(core.EVENTS.c.process_id == process_id)
        with self._db.snapshot() as connection:
            found = connection.execute(query, {"after_id": after_id, "limit": rows.check_limit(limit)})
            return [core.record(ProcessEvent, row._mapping) for row in found]
