"""Operator database: the evidence ledger (pending entries, log entries, tree nodes, checkpoints, cosignatures).

Revision ID: operator_0002
Revises: operator_0001
Create Date: 2026-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# The schema below is spelled out rather than imported from the models, so that this revision never changes
# when the models do (env.py takes the target schema from store/schema.py).

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)

revision: str = "operator_0002"
down_revision: str | None = "operator_0001"
branch_labels: str | None = None
depends_on: str | None = None


def _statement_columns() -> list[sa.Column[object]]:
    """What pending and integrated entries both carry: the signed statement and the fields searched on."""
    return [
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
    ]


def upgrade() -> None:
    _create_entries()
    _create_tree()


def _create_entries() -> None:
    op.create_table(
        "ledger_pending",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        *_statement_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_pending"),
        sa.UniqueConstraint("leaf_hash", name="uq_ledger_pending_leaf_hash"),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        *_statement_columns(),
        sa.Column("integrated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("idx", name="pk_ledger_entries"),
        sa.UniqueConstraint("leaf_hash", name="uq_ledger_entries_leaf_hash"),
    )
    for column in ("participant", "agreement", "process"):
        op.create_index(f"ix_ledger_entries_{column}_idx", "ledger_entries", [column, "idx"])
    op.create_index("ix_ledger_entries_statement_time", "ledger_entries", ["statement_time"])


def _create_tree() -> None:
    op.create_table(
        "ledger_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name="pk_ledger_nodes"),
        # Level 0 (the leaf hashes) lives in ledger_entries.
        sa.CheckConstraint("level >= 1", name="ck_ledger_nodes_above_leaves"),
    )
    op.create_table(
        "ledger_checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("size", name="pk_ledger_checkpoints"),
    )
    op.create_table(
        "ledger_cosignatures",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("checkpoint_size", sa.BigInteger(), nullable=False),
        sa.Column("witness", sa.Text(), nullable=False),
        sa.Column("vkey", sa.Text(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("signature_line", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_cosignatures"),
        sa.ForeignKeyConstraint(
            ["checkpoint_size"], ["ledger_checkpoints.size"],
            name="fk_ledger_cosignatures_checkpoint_size_ledger_checkpoints",
        ),
        sa.UniqueConstraint("checkpoint_size", "public_key", name="uq_ledger_cosignatures_checkpoint_size_public_key"),
        sa.UniqueConstraint("checkpoint_size", "witness", name="uq_ledger_cosignatures_checkpoint_size_witness"),
    )
    op.create_index("ix_ledger_cosignatures_witness", "ledger_cosignatures", ["witness"])


def downgrade() -> None:
    for table in ("ledger_cosignatures", "ledger_checkpoints", "ledger_nodes", "ledger_entries", "ledger_pending"):
        op.drop_table(table)
