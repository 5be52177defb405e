"""Rows to records and back for the usage store."""

from __future__ import annotations

from trustspace.store.usage.models import DestructionCertificateRow, ProtectedItemRow, UsageKeyRow, UsageLogRow
from trustspace.store.usage.records import ProtectedItem, StoredCertificate, StoredKey, UsageEntry


def key(row: UsageKeyRow) -> StoredKey:
    wrapped = None if row.wrapped_key is None else bytes(row.wrapped_key)
    return StoredKey(row.agreement_id, wrapped, row.created_at, row.destroyed_at)


def item(row: ProtectedItemRow) -> ProtectedItem:
    return ProtectedItem(id=row.id, agreement_id=row.agreement_id, transfer_id=row.transfer_id,
                         file_name=row.file_name, size=row.size, sha256=row.sha256, nonce_info=dict(row.nonce_info),
                         created_at=row.created_at, deleted_at=row.deleted_at)


def item_row(record: ProtectedItem) -> ProtectedItemRow:
    return ProtectedItemRow(id=record.id, agreement_id=record.agreement_id, transfer_id=record.transfer_id,
                            file_name=record.file_name, size=record.size, sha256=record.sha256,
                            nonce_info=record.nonce_info, created_at=record.created_at, deleted_at=record.deleted_at)


def entry(row: UsageLogRow) -> UsageEntry:
    return UsageEntry(id=row.id, agreement_id=row.agreement_id, action=row.action, reader=row.reader,
                      decision=row.decision, explanation=row.explanation, at=row.at, purpose=row.purpose,
                      application=row.application, item_id=row.item_id)


def entry_row(record: UsageEntry) -> UsageLogRow:
    return UsageLogRow(agreement_id=record.agreement_id, item_id=record.item_id, action=record.action,
                       purpose=record.purpose, application=record.application, reader=record.reader,
                       decision=record.decision, explanation=record.explanation, at=record.at)


def certificate(row: DestructionCertificateRow) -> StoredCertificate:
    return StoredCertificate(row.id, row.agreement_id, dict(row.certificate), row.issued_at)
