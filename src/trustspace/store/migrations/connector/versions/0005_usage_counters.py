"""Connector database: the provider's usage counters, one row per agreement.

Revision ID: connector_0005
Revises: connector_0004_usage
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "connector_0005"
down_revision: str | None = "connector_0004_usage"
branch_labels: str | None = None
depends_on: str | None = None

_COUNTS = ("uses", "bytes", "records", "minute_bucket", "minute_uses", "hour_bucket", "hour_uses", "day_bucket",
           "day_uses")


def upgrade() -> None:
    op.create_table(
        "usage_counters",
        sa.Column("agreement_id", sa.Text(), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in _COUNTS),
        sa.Column("last_transfer", sa.Text(), nullable=True),
        sa.Column("last_validator", sa.Text(), nullable=True),
        sa.Column("last_start", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("agreement_id", name="pk_usage_counters"),
    )


def downgrade() -> None:
    op.drop_table("usage_counters")
