"""Tables of the evidence ledger (存证), on the operator's metadata.

Five tables:
- ``ledger_pending``: statements the operator has receipted but not yet given an index. A row leaves this
  table in the same transaction that integrates it, so every receipted statement is in exactly one of
  ``ledger_pending`` and ``ledger_entries`` at any commit.
- ``ledger_entries``: the log itself, ``idx`` contiguous from 0 (never reused; on SQLite the rowid), with the
  subject ids copied out of the statement so that searches use indexes instead of parsing JSON. A leaf hash
  is found through an index on its first 8 bytes (``leaf_key``), then compared whole: a unique index on the
  random 32-byte hashes made every batch rewrite thousands of scattered index pages. A leaf is logged at most
  once all the same: ``ledger_pending.leaf_hash`` is unique and the sequencer drops a pending leaf that is
  already logged.
- ``ledger_nodes``: the hash of every complete subtree ``(level, idx)`` above the leaves (level 0, the leaf
  hashes, is ``ledger_entries.leaf_hash``: not stored twice). Complete subtrees never change, so rows are only
  ever inserted, and any proof is O(log n) point reads. On SQLite a ``WITHOUT ROWID`` table: one B-tree.
- ``ledger_checkpoints``: every signed tree head, kept forever (a verifier may hold any of them).
- ``ledger_cosignatures``: witness cosignature lines per checkpoint, one per witness public key.

Hashes are stored as 32 raw bytes (``LargeBinary``): half the size of hex, and compared byte for byte.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ColumnElement,
    ColumnExpressionArgument,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    UniqueConstraint,
    func,
    literal_column,
)
from sqlalchemy.orm import Mapped, mapped_column

from trustspace.store.base import BigIntId, OperatorBase


class LedgerPendingRow(OperatorBase):
    __tablename__ = "ledger_pending"

    # The arrival order: the sequencer integrates pending rows in this order.
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    entry: Mapped[str]
    submitter: Mapped[str]
    event_type: Mapped[str]
    participant: Mapped[str | None]
    agreement: Mapped[str | None]
    process: Mapped[str | None]
    product: Mapped[str | None]
    statement_time: Mapped[datetime]
    received_at: Mapped[datetime]


LEAF_KEY_BYTES = 8


def leaf_key(leaf_hash: ColumnExpressionArgument[bytes]) -> ColumnElement[bytes]:
    """The first 8 bytes of a leaf hash, the key of ``ix_ledger_entries_leaf_key``. The constants are literal,
    as in the index: SQLite and PostgreSQL only use an expression index for the very same expression."""
    return func.substr(leaf_hash, literal_column("1"), literal_column(str(LEAF_KEY_BYTES)), type_=LargeBinary)


class LedgerEntryRow(OperatorBase):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        # (subject, idx): a filtered search walks the index in log order and stops at the page size.
        Index("ix_ledger_entries_participant_idx", "participant", "idx"),
        Index("ix_ledger_entries_agreement_idx", "agreement", "idx"),
        Index("ix_ledger_entries_process_idx", "process", "idx"),
        Index("ix_ledger_entries_statement_time", "statement_time"),
    )

    idx: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=False)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary)
    entry: Mapped[str]
    submitter: Mapped[str]
    event_type: Mapped[str]
    participant: Mapped[str | None]
    agreement: Mapped[str | None]
    process: Mapped[str | None]
    product: Mapped[str | None]
    statement_time: Mapped[datetime]
    # Kept so that a replayed submission gets back the very receipt it got the first time.
    received_at: Mapped[datetime]
    integrated_at: Mapped[datetime]


Index("ix_ledger_entries_leaf_key", leaf_key(LedgerEntryRow.leaf_hash))


class LedgerNodeRow(OperatorBase):
    __tablename__ = "ledger_nodes"
    __table_args__ = (CheckConstraint("level >= 1", name="above_leaves"), {"sqlite_with_rowid": False})

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class LedgerCheckpointRow(OperatorBase):
    __tablename__ = "ledger_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary)
    note: Mapped[str]
    created_at: Mapped[datetime]


class LedgerCosignatureRow(OperatorBase):
    __tablename__ = "ledger_cosignatures"
    # A quorum means k distinct members: one cosignature per checkpoint per key, and per witness (a member
    # that rotated its DID key must not count twice).
    __table_args__ = (
        UniqueConstraint("checkpoint_size", "public_key"),
        UniqueConstraint("checkpoint_size", "witness"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    checkpoint_size: Mapped[int] = mapped_column(BigInteger, ForeignKey("ledger_checkpoints.size"))
    witness: Mapped[str] = mapped_column(index=True)
    vkey: Mapped[str]
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    signature_line: Mapped[str]
    created_at: Mapped[datetime]
