"""Operator database: a cheaper ledger append at 10^6 entries and beyond.

- ``ledger_entries`` loses the unique index on the whole 32-byte ``leaf_hash``. Leaf hashes are uniformly
  random, so each batch dirtied thousands of scattered pages of that index (some 40 % of the pages a batch
  wrote at 10^6 entries). Lookups by leaf hash now go through an index on its first 8 bytes
  (``substr(leaf_hash, 1, 8)``, 2.4 times smaller) and then compare the whole hash. That a leaf is logged at
  most once rests on what already guaranteed it: the unique ``ledger_pending.leaf_hash`` and the sequencer,
  which drops a pending leaf that is already logged, under its lock.
- On SQLite, ``ledger_entries.idx`` becomes the rowid (``INTEGER PRIMARY KEY``: no separate primary-key index,
  an entry read by index is one lookup) and ``ledger_nodes`` a ``WITHOUT ROWID`` table clustered on
  ``(level, idx)`` (one B-tree instead of a table plus its primary-key index). SQLite cannot change either in
  place: both tables are rebuilt, which copies the log once (41 s for 10^6 entries on a 2-core machine).
  PostgreSQL has neither notion; its tables only lose the unique constraint.

Revision ID: operator_0003
Revises: operator_0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
# The leaf-key index expression, spelled with literal constants: SQLite and PostgreSQL only use an expression
# index for a query that repeats its expression, and a bound parameter would not.
LEAF_KEY = "substr(leaf_hash, 1, 8)"
SEARCH_INDEXES = (
    ("ix_ledger_entries_participant_idx", ["participant", "idx"]),
    ("ix_ledger_entries_agreement_idx", ["agreement", "idx"]),
    ("ix_ledger_entries_process_idx", ["process", "idx"]),
    ("ix_ledger_entries_statement_time", ["statement_time"]),
)
ENTRY_COLUMNS = ("idx", "leaf_hash", "entry", "submitter", "event_type", "participant", "agreement", "process",
                 "product", "statement_time", "received_at", "integrated_at")

revision: str = "operator_0003"
down_revision: str | None = "operator_0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_entries(leaf_hash_unique=False)
        _rebuild_nodes(with_rowid=False)
    else:
        op.drop_constraint("uq_ledger_entries_leaf_hash", "ledger_entries", type_="unique")
    op.create_index("ix_ledger_entries_leaf_key", "ledger_entries", [sa.text(LEAF_KEY)])


def downgrade() -> None:
    op.drop_index("ix_ledger_entries_leaf_key", "ledger_entries")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_entries(leaf_hash_unique=True)
        _rebuild_nodes(with_rowid=True)
    else:
        op.create_unique_constraint("uq_ledger_entries_leaf_hash", "ledger_entries", ["leaf_hash"])


def _rebuild_entries(*, leaf_hash_unique: bool) -> None:
    """SQLite: a new ``ledger_entries`` (idx the rowid after the upgrade, a BIGINT key again after the
    downgrade), filled in index order, under the old name and with the old search indexes."""
    unique = [sa.UniqueConstraint("leaf_hash", name="uq_ledger_entries_leaf_hash")] if leaf_hash_unique else []
    op.create_table(
        "ledger_entries_new",
        sa.Column("idx", sa.BigInteger() if leaf_hash_unique else BIG_ID, autoincrement=False, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(), nullable=False),
        sa.Column("entry", sa.Text(), nullable=False),
        sa.Column("submitter", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("participant", sa.Text(), nullable=True),
        sa.Column("agreement", sa.Text(), nullable=True),
        sa.Column("process", sa.Text(), nullable=True),
        sa.Column("product", sa.Text(), nullable=True),
        sa.Column("statement_time", TIMESTAMP, nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.Column("integrated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("idx", name="pk_ledger_entries"),
        *unique,
    )
    columns = ", ".join(ENTRY_COLUMNS)  # constants: nothing from outside goes into the statement
    copy = f"INSERT INTO ledger_entries_new ({columns}) SELECT {columns} FROM ledger_entries ORDER BY idx"  # noqa: S608
    op.execute(copy)
    op.drop_table("ledger_entries")  # its indexes go with it
    op.rename_table("ledger_entries_new", "ledger_entries")
    for name, indexed in SEARCH_INDEXES:
        op.create_index(name, "ledger_entries", indexed)


def _rebuild_nodes(*, with_rowid: bool) -> None:
    """SQLite: ``ledger_nodes`` as a ``WITHOUT ROWID`` table after the upgrade, a rowid table after the
    downgrade."""
    op.create_table(
        "ledger_nodes_new",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name="pk_ledger_nodes"),
        sa.CheckConstraint("level >= 1", name=op.f("ck_ledger_nodes_above_leaves")),
        sqlite_with_rowid=with_rowid,
    )
    op.execute("INSERT INTO ledger_nodes_new (level, idx, hash) SELECT level, idx, hash FROM ledger_nodes "
               "ORDER BY level, idx")
    op.drop_table("ledger_nodes")
    op.rename_table("ledger_nodes_new", "ledger_nodes")
