"""Operator database: membership, status-list counter, trust list, connector registry, spaces.

Revision ID: operator_0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from trustspace.store.migrations.shared import create_shared_tables

# Revisions spell their schema out rather than import the models, so that they never change later.
STATUS_CHECK = "status IN ('pending', 'approved', 'rejected', 'revoked')"
ACTIVE_STATUS_WHERE = "status IN ('pending', 'approved')"
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)

revision: str = "operator_0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    create_shared_tables()
    _create_membership()
    _create_trust_list()
    _create_registry_and_spaces()


def _create_membership() -> None:
    op.create_table(
        "applications",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("did", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("credit_code", sa.Text(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("applied_at", TIMESTAMP, nullable=False),
        sa.Column("decided_at", TIMESTAMP, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("credential", sa.JSON(), nullable=True),
        sa.Column("credential_id", sa.Text(), nullable=True),
        sa.Column("status_index", sa.Integer(), nullable=True),
        sa.Column("valid_until", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_applications"),
        sa.CheckConstraint(STATUS_CHECK, name="ck_applications_status"),
        sa.UniqueConstraint("credential_id", name="uq_applications_credential_id"),
        sa.UniqueConstraint("status_index", name="uq_applications_status_index"),
    )
    op.create_index("ix_applications_did", "applications", ["did"])
    op.create_index("ix_applications_status", "applications", ["status"])
    op.create_index(
        "uq_applications_active_did",
        "applications",
        ["did"],
        unique=True,
        sqlite_where=sa.text(ACTIVE_STATUS_WHERE),
        postgresql_where=sa.text(ACTIVE_STATUS_WHERE),
    )
    counter = op.create_table(
        "status_index_counter",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("next_index", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_status_index_counter"),
        sa.CheckConstraint("id = 1", name="ck_status_index_counter_single_row"),
    )
    op.bulk_insert(counter, [{"id": 1, "next_index": 0}])


def _create_trust_list() -> None:
    op.create_table(
        "trusted_issuers",
        sa.Column("did", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("added_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("did", name="pk_trusted_issuers"),
    )
    op.create_table(
        "trust_decisions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("issuer", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_trust_decisions"),
    )
    op.create_index("ix_trust_decisions_issuer", "trust_decisions", ["issuer"])
    op.create_index("ix_trust_decisions_subject", "trust_decisions", ["subject"])


def _create_registry_and_spaces() -> None:
    op.create_table(
        "connectors",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("owner_did", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("registered_at", TIMESTAMP, nullable=False),
        sa.Column("last_heartbeat", TIMESTAMP, nullable=False),
        sa.Column("deregistered_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_connectors"),
    )
    op.create_index("ix_connectors_owner_did", "connectors", ["owner_did"])
    op.create_table(
        "spaces",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_spaces"),
        sa.UniqueConstraint("name", name="uq_spaces_name"),
    )
    op.create_table(
        "space_members",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("space_id", sa.Text(), nullable=False),
        sa.Column("did", sa.Text(), nullable=False),
        sa.Column("added_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_space_members"),
        sa.ForeignKeyConstraint(
            ["space_id"], ["spaces.id"], name="fk_space_members_space_id_spaces", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("space_id", "did", name="uq_space_members_space_id_did"),
    )
    op.create_index("ix_space_members_did", "space_members", ["did"])


def downgrade() -> None:
    for table in ("space_members", "spaces", "connectors", "trust_decisions", "trusted_issuers"):
        op.drop_table(table)
    op.drop_table("status_index_counter")
    op.drop_table("applications")
    op.drop_table("api_keys")
    op.drop_table("seen_tokens")
