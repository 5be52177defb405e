"""Tables of the consumer's protected store (issue 11, item 5), on the connector's metadata.

Four tables:
- ``usage_keys``: one data key per agreement, wrapped (AES-GCM) by the connector's key-encryption key. The
  key is per agreement, not per item, so it lives once here; an item names its agreement. Destruction sets
  ``wrapped_key`` to NULL and stamps ``destroyed_at``: without the wrapped key no copy of the ciphertext
  (a backup, a snapshot) can be read again.
- ``protected_items``: each received file, stored encrypted in chunks under the data folder; the plaintext's
  size and SHA-256, and how it was encrypted (``nonce_info``: scheme, chunk size, chunk count).
- ``usage_log``: every decision on a use (read, export), permit or deny, and every notification, written
  BEFORE any byte is served: a crash after it spends the use, a crash before it serves nothing.
- ``destruction_certificates`` (数据销毁证明): the signed certificate issued once an agreement's data was
  destroyed.

Revision ``connector_0004_usage`` creates them; ``tests/store`` checks the two agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, LargeBinary
from sqlalchemy.orm import Mapped, mapped_column

from trustspace.store.base import BigIntId, ConnectorBase

DECISIONS = ("permit", "deny", "notice")
DECISION_CHECK = f"decision IN ({', '.join(repr(d) for d in DECISIONS)})"


class UsageKeyRow(ConnectorBase):
    __tablename__ = "usage_keys"

    agreement_id: Mapped[str] = mapped_column(primary_key=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    destroyed_at: Mapped[datetime | None]


class ProtectedItemRow(ConnectorBase):
    __tablename__ = "protected_items"

    id: Mapped[str] = mapped_column(primary_key=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("usage_keys.agreement_id"), index=True)
    transfer_id: Mapped[str] = mapped_column(index=True)
    file_name: Mapped[str]
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str]
    nonce_info: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class UsageLogRow(ConnectorBase):
    __tablename__ = "usage_log"
    __table_args__ = (
        CheckConstraint(DECISION_CHECK, name="decision"),
        # Counting the uses an agreement has had: (agreement, action, decision).
        Index("ix_usage_log_agreement_action", "agreement_id", "action", "decision"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    agreement_id: Mapped[str]
    item_id: Mapped[str | None]
    action: Mapped[str]
    purpose: Mapped[str | None]
    application: Mapped[str | None]
    reader: Mapped[str]
    decision: Mapped[str]
    explanation: Mapped[str]
    at: Mapped[datetime]


class DestructionCertificateRow(ConnectorBase):
    __tablename__ = "destruction_certificates"

    id: Mapped[str] = mapped_column(primary_key=True)
    agreement_id: Mapped[str] = mapped_column(index=True)
    certificate: Mapped[dict[str, Any]]
    issued_at: Mapped[datetime]
