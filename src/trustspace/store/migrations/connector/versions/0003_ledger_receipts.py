"""Connector database: the operator's receipts for our ledger statements, one row each.

Until now they were one growing JSON list per process in ``settings``, rewritten for every new receipt; a
transfer with many data-plane decisions made that quadratic. Existing lists move into rows, in order.

Revision ID: connector_0003
Revises: connector_0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OLD_PREFIX = "ledger.receipts."

revision: str = "connector_0003"
down_revision: str | None = "connector_0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    receipts = op.create_table(
        "ledger_receipts",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("process_id", sa.Text(), nullable=False),
        sa.Column("receipt", sa.JSON(), nullable=False),
        sa.Column("kept_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_receipts"),
    )
    op.create_index("ix_ledger_receipts_process", "ledger_receipts", ["process_id", "id"])
    _move_old_lists(receipts)


def _move_old_lists(receipts: sa.Table) -> None:
    connection = op.get_bind()
    settings = sa.table("settings", sa.column("key", sa.Text()), sa.column("value", sa.Text()))
    old = connection.execute(sa.select(settings.c.key, settings.c.value)
                             .where(settings.c.key.like(OLD_PREFIX + "%")).order_by(settings.c.key)).all()
    moved = sa.func.now() if connection.dialect.name == "postgresql" else sa.func.current_timestamp()
    for key, value in old:
        for receipt in json.loads(value or "[]"):
            connection.execute(receipts.insert().values(process_id=key.removeprefix(OLD_PREFIX), receipt=receipt,
                                                        kept_at=moved))
    connection.execute(settings.delete().where(settings.c.key.like(OLD_PREFIX + "%")))


def downgrade() -> None:
    op.drop_index("ix_ledger_receipts_process", table_name="ledger_receipts")
    op.drop_table("ledger_receipts")
