"""Connector database: Dataspace Protocol catalog, negotiations, agreements, transfers, outbox, events.

Revision ID: connector_0002
Revises: connector_0001
Create Date: 2026-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Revisions spell their schema out rather than import the models, so that they never change later.
ROLE_CHECK = "role IN ('provider', 'consumer')"
KIND_CHECK = "process_kind IN ('negotiation', 'transfer')"
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)

revision: str = "connector_0002"
down_revision: str | None = "connector_0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    _create_catalog()
    _create_negotiations()
    _create_transfers()
    _create_outbox_and_events()


def _text(name: str, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _create_catalog() -> None:
    op.create_table(
        "assets",
        _text("id"),
        _text("title"),
        _text("description"),
        sa.Column("data_address", sa.JSON(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_assets"),
    )
    op.create_table(
        "policies",
        _text("id"),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_policies"),
    )
    op.create_table(
        "offers",
        _text("id"),
        _text("asset_id"),
        _text("policy_id"),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_offers"),
        sa.ForeignKeyConstraint(["asset_id"], ["assets.id"], name="fk_offers_asset_id_assets"),
        sa.ForeignKeyConstraint(["policy_id"], ["policies.id"], name="fk_offers_policy_id_policies"),
    )
    op.create_index("ix_offers_asset_id", "offers", ["asset_id"])
    op.create_index("ix_offers_policy_id", "offers", ["policy_id"])


def _process_columns() -> list[sa.Column[str]]:
    """Columns negotiations and transfers both start with."""
    return [
        _text("id"),
        _text("role"),
        _text("state"),
        _text("consumer_pid"),
        _text("provider_pid", nullable=True),
    ]


def _process_indices(table: str) -> None:
    op.create_index(f"ix_{table}_role_consumer_pid", table, ["role", "consumer_pid"])
    op.create_index(f"ix_{table}_role_provider_pid", table, ["role", "provider_pid"])
    op.create_index(f"ix_{table}_state", table, ["state"])
    op.create_index(f"ix_{table}_deadline_at", table, ["deadline_at"])


def _create_negotiations() -> None:
    op.create_table(
        "negotiations",
        *_process_columns(),
        _text("counter_party"),
        _text("counter_party_address"),
        sa.Column("offer", sa.JSON(), nullable=False),
        _text("asset_id"),
        _text("agreement_id", nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        _text("reason", nullable=True),
        sa.Column("deadline_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_negotiations"),
        sa.CheckConstraint(ROLE_CHECK, name="ck_negotiations_role"),
        sa.UniqueConstraint(
            "role", "counter_party", "consumer_pid", name="uq_negotiations_role_counter_party_consumer_pid"
        ),
    )
    _process_indices("negotiations")
    op.create_table(
        "agreements",
        _text("id"),
        _text("negotiation_id"),
        _text("asset_id"),
        _text("provider"),
        _text("consumer"),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("signed_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_agreements"),
        sa.ForeignKeyConstraint(
            ["negotiation_id"], ["negotiations.id"], name="fk_agreements_negotiation_id_negotiations"
        ),
        sa.UniqueConstraint("negotiation_id", name="uq_agreements_negotiation_id"),
    )


def _create_transfers() -> None:
    op.create_table(
        "transfers",
        *_process_columns(),
        _text("agreement_id"),
        _text("counter_party"),
        _text("counter_party_address"),
        _text("transfer_type"),
        sa.Column("data_address", sa.JSON(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        _text("reason", nullable=True),
        sa.Column("deadline_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_transfers"),
        sa.CheckConstraint(ROLE_CHECK, name="ck_transfers_role"),
        sa.UniqueConstraint(
            "role", "counter_party", "consumer_pid", name="uq_transfers_role_counter_party_consumer_pid"
        ),
    )
    _process_indices("transfers")
    op.create_index("ix_transfers_agreement_id", "transfers", ["agreement_id"])


def _create_outbox_and_events() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        _text("process_kind"),
        _text("process_id"),
        _text("url"),
        _text("audience"),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=False),
        sa.Column("lease_until", TIMESTAMP, nullable=True),
        sa.Column("sent_at", TIMESTAMP, nullable=True),
        _text("last_error", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.CheckConstraint(KIND_CHECK, name="ck_outbox_process_kind"),
    )
    op.create_index("ix_outbox_due", "outbox", ["sent_at", "next_attempt_at", "lease_until"])
    op.create_index("ix_outbox_process", "outbox", ["process_kind", "process_id"])
    op.create_table(
        "process_events",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        _text("process_kind"),
        _text("process_id"),
        _text("state"),
        _text("detail"),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_process_events"),
        sa.CheckConstraint(KIND_CHECK, name="ck_process_events_process_kind"),
    )
    op.create_index("ix_process_events_process", "process_events", ["process_id", "id"])


def downgrade() -> None:
    # Children before the tables they reference; dropping a table drops its indices.
    for table in ("process_events", "outbox", "transfers", "agreements", "negotiations"):
        op.drop_table(table)
    for table in ("offers", "policies", "assets"):
        op.drop_table(table)
