"""Connector database: the consumer's protected store (issue 11, item 5): data keys per agreement, protected
items, the usage log and destruction certificates. See ``store/usage/models.py`` for what each holds.

Revision ID: connector_0004_usage
Revises: connector_0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)

revision: str = "connector_0004_usage"
down_revision: str | None = "connector_0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "usage_keys",
        sa.Column("agreement_id", sa.Text(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("destroyed_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("agreement_id", name="pk_usage_keys"),
    )
    op.create_table(
        "protected_items",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("agreement_id", sa.Text(), nullable=False),
        sa.Column("transfer_id", sa.Text(), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("nonce_info", sa.JSON(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("deleted_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(["agreement_id"], ["usage_keys.agreement_id"],
                                name="fk_protected_items_agreement_id_usage_keys"),
        sa.PrimaryKeyConstraint("id", name="pk_protected_items"),
    )
    op.create_index("ix_protected_items_agreement_id", "protected_items", ["agreement_id"])
    op.create_index("ix_protected_items_transfer_id", "protected_items", ["transfer_id"])
    op.create_table(
        "usage_log",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("agreement_id", sa.Text(), nullable=False),
        sa.Column("item_id", sa.Text(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=True),
        sa.Column("application", sa.Text(), nullable=True),
        sa.Column("reader", sa.Text(), nullable=False),
        sa.Column("decision", sa.Text(), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("decision IN ('permit', 'deny', 'notice')", name="ck_usage_log_decision"),
        sa.PrimaryKeyConstraint("id", name="pk_usage_log"),
    )
    op.create_index("ix_usage_log_agreement_action", "usage_log", ["agreement_id", "action", "decision"])
    op.create_table(
        "destruction_certificates",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("agreement_id", sa.Text(), nullable=False),
        sa.Column("certificate", sa.JSON(), nullable=False),
        sa.Column("issued_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_destruction_certificates"),
    )
    op.create_index("ix_destruction_certificates_agreement_id", "destruction_certificates", ["agreement_id"])


def downgrade() -> None:
    op.drop_index("ix_destruction_certificates_agreement_id", table_name="destruction_certificates")
    op.drop_table("destruction_certificates")
    op.drop_index("ix_usage_log_agreement_action", table_name="usage_log")
    op.drop_table("usage_log")
    op.drop_index("ix_protected_items_transfer_id", table_name="protected_items")
    op.drop_index("ix_protected_items_agreement_id", table_name="protected_items")
    op.drop_table("protected_items")
    op.drop_table("usage_keys")
