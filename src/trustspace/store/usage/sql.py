"""The usage store on SQLite and PostgreSQL (rules in ``interfaces``).

``decide_use`` serialises the decisions of one agreement on its key row: ``SELECT ... FOR UPDATE`` on
PostgreSQL; on SQLite every write transaction already holds the database's write lock (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trustspace.core.errors import Conflict, NotFound
from trustspace.store.db import Database
from trustspace.store.dsp import core as outbox
from trustspace.store.dsp.records import NewOutboxMessage
from trustspace.store.usage import mapping
from trustspace.store.usage.interfaces import UsageStore
from trustspace.store.usage.models import DestructionCertificateRow, ProtectedItemRow, UsageKeyRow, UsageLogRow
from trustspace.store.usage.records import (
    PERMIT,
    ProtectedItem,
    StoredCertificate,
    StoredKey,
    UsageCounts,
    UsageEntry,
)


class SqlUsageStore(UsageStore):
    def __init__(self, db: Database) -> None:
        self._db = db

    def add_key(self, agreement_id: str, wrapped_key: bytes, at: datetime) -> StoredKey:
        try:
            with self._db.transaction() as session:
                found = session.get(UsageKeyRow, agreement_id)
                if found is not None:
                    return mapping.key(found)
                row = UsageKeyRow(agreement_id=agreement_id, wrapped_key=wrapped_key, created_at=at,
                                  destroyed_at=None)
                session.add(row)
                session.flush()
                return mapping.key(row)
        except IntegrityError:
            # Another replica stored the agreement's first key meanwhile: that one is the key.
            stored = self.get_key(agreement_id)
            if stored is None:
                raise
            return stored

    def get_key(self, agreement_id: str) -> StoredKey | None:
        with self._db.reading() as session:
            row = session.get(UsageKeyRow, agreement_id)
            return None if row is None else mapping.key(row)

    def add_item(self, item: ProtectedItem) -> ProtectedItem:
        with self._db.transaction() as session:
            key = session.get(UsageKeyRow, item.agreement_id)
            if key is None:
                raise NotFound(f"no data key for agreement {item.agreement_id}", field="agreementId")
            if key.wrapped_key is None:
                raise Conflict(f"the data of agreement {item.agreement_id} was destroyed; nothing more is kept "
                               "under it", field="agreementId")
            if session.get(ProtectedItemRow, item.id) is not None:
                raise Conflict(f"protected item {item.id} exists", field="id")
            session.add(mapping.item_row(item))
        return item

    def get_item(self, item_id: str) -> ProtectedItem | None:
        with self._db.reading() as session:
            row = session.get(ProtectedItemRow, item_id)
            return None if row is None else mapping.item(row)

    def items(self, agreement_id: str, *, deleted: bool = False) -> list[ProtectedItem]:
        query = select(ProtectedItemRow).where(ProtectedItemRow.agreement_id == agreement_id)
        if not deleted:
            query = query.where(ProtectedItemRow.deleted_at.is_(None))
        with self._db.reading() as session:
            rows = session.scalars(query.order_by(ProtectedItemRow.created_at, ProtectedItemRow.id)).all()
            return [mapping.item(row) for row in rows]

    def item_for_transfer(self, transfer_id: str) -> ProtectedItem | None:
        query = (select(ProtectedItemRow)
                 .where(ProtectedItemRow.transfer_id == transfer_id, ProtectedItemRow.deleted_at.is_(None))
                 .order_by(ProtectedItemRow.created_at.desc(), ProtectedItemRow.id.desc()).limit(1))
        with self._db.reading() as session:
            row = session.scalars(query).first()
            return None if row is None else mapping.item(row)

    def decide_use(self, agreement_id: str, decide: Callable[[UsageCounts], UsageEntry]) -> UsageEntry:
        with self._db.transaction() as session:
            # The lock that makes one agreement's decisions take turns (a no-op row read on SQLite, whose
            # write transactions are serial anyway).
            session.execute(select(UsageKeyRow.agreement_id).where(UsageKeyRow.agreement_id == agreement_id)
                            .with_for_update())
            entry = decide(_counts(session, agreement_id))
            row = mapping.entry_row(entry)
            session.add(row)
            session.flush()
            return mapping.entry(row)

    def record(self, entry: UsageEntry, outbox_messages: Sequence[NewOutboxMessage] = ()) -> UsageEntry:
        with self._db.transaction() as session:
            row = mapping.entry_row(entry)
            session.add(row)
            session.flush()
            _queue(session, outbox_messages, entry.at)
            return mapping.entry(row)

    def usage_log(self, agreement_id: str) -> list[UsageEntry]:
        query = select(UsageLogRow).where(UsageLogRow.agreement_id == agreement_id).order_by(UsageLogRow.id)
        with self._db.reading() as session:
            return [mapping.entry(row) for row in session.scalars(query).all()]

    def destroy(self, agreement_id: str, certificate: StoredCertificate,
                outbox_messages: Sequence[NewOutboxMessage] = ()) -> list[ProtectedItem]:
        at = certificate.issued_at
        with self._db.transaction() as session:
            key = session.get(UsageKeyRow, agreement_id, with_for_update=True)
            if key is None:
                raise NotFound(f"no data is kept under agreement {agreement_id}", field="agreementId")
            if key.wrapped_key is None:
                raise Conflict(f"the data of agreement {agreement_id} is destroyed already", field="agreementId")
            rows = session.scalars(select(ProtectedItemRow).where(ProtectedItemRow.agreement_id == agreement_id,
                                                                  ProtectedItemRow.deleted_at.is_(None))).all()
            for row in rows:
                row.deleted_at = at
            key.wrapped_key = None
            key.destroyed_at = key.destroyed_at or at
            session.add(DestructionCertificateRow(id=certificate.id, agreement_id=agreement_id,
                                                  certificate=certificate.certificate, issued_at=at))
            _queue(session, outbox_messages, at)
            return [mapping.item(row) for row in rows]

    def certificates(self, agreement_id: str) -> list[StoredCertificate]:
        query = (select(DestructionCertificateRow).where(DestructionCertificateRow.agreement_id == agreement_id)
                 .order_by(DestructionCertificateRow.issued_at, DestructionCertificateRow.id))
        with self._db.reading() as session:
            return [mapping.certificate(row) for row in session.scalars(query).all()]

    def agreements_held(self) -> list[str]:
        query = select(UsageKeyRow.agreement_id).where(UsageKeyRow.wrapped_key.is_not(None))
        with self._db.reading() as session:
            return list(session.scalars(query.order_by(UsageKeyRow.agreement_id)).all())


def _queue(session: Session, messages: Sequence[NewOutboxMessage], at: datetime) -> None:
    """Outbox rows (ledger statements) in the session's transaction: committed with what they describe."""
    if messages:
        outbox.queue(session.connection(), [outbox.outbox_values(m, at) for m in messages])


def _counts(session: Session, agreement_id: str) -> UsageCounts:
    query = (select(UsageLogRow.action, func.count())
             .where(UsageLogRow.agreement_id == agreement_id, UsageLogRow.decision == PERMIT)
             .group_by(UsageLogRow.action))
    return UsageCounts({str(action): int(count) for action, count in session.execute(query).all()})
