"""Connector tables for the Dataspace Protocol: catalog, negotiations, agreements, transfers, outbox, events.

They live on ``ConnectorBase.metadata`` (``store/schema.py`` gathers them with every other table). Revision
``connector_0002`` creates them; ``tests/store`` checks the two agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trustspace.protocol.roles import Role
from trustspace.store.base import BigIntId, ConnectorBase

ROLES = tuple(role.value for role in Role)
PROCESS_KINDS = ("negotiation", "transfer")


def _sql_in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


ROLE_CHECK = _sql_in("role", ROLES)
KIND_CHECK = _sql_in("process_kind", PROCESS_KINDS)


# --- catalog --------------------------------------------------------------------------------------------


class AssetRow(ConnectorBase):
    __tablename__ = "assets"

    id: Mapped[str] = mapped_column(primary_key=True)
    title: Mapped[str]
    description: Mapped[str]
    data_address: Mapped[dict[str, Any]]
    properties: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class PolicyRow(ConnectorBase):
    __tablename__ = "policies"

    id: Mapped[str] = mapped_column(primary_key=True)
    policy: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class OfferRow(ConnectorBase):
    __tablename__ = "offers"

    id: Mapped[str] = mapped_column(primary_key=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), index=True)
    policy_id: Mapped[str] = mapped_column(ForeignKey("policies.id"), index=True)
    created_at: Mapped[datetime]


# --- processes ------------------------------------------------------------------------------------------


class NegotiationRow(ConnectorBase):
    __tablename__ = "negotiations"
    __table_args__ = (
        CheckConstraint(ROLE_CHECK, name="role"),
        # The receiver's idempotency key: a repeated ContractRequestMessage finds the first negotiation.
        UniqueConstraint("role", "counter_party", "consumer_pid"),
        Index("ix_negotiations_role_consumer_pid", "role", "consumer_pid"),
        Index("ix_negotiations_role_provider_pid", "role", "provider_pid"),
    )

    id: Mapped[str] = mapped_column(primary_key=True)
    role: Mapped[str]
    state: Mapped[str] = mapped_column(index=True)
    consumer_pid: Mapped[str]
    provider_pid: Mapped[str | None]
    counter_party: Mapped[str]
    counter_party_address: Mapped[str]
    offer: Mapped[dict[str, Any]]
    asset_id: Mapped[str]  # the provider's asset: on the consumer side it is not in our catalog
    # No foreign key: agreements already point here, and a cycle would make either insert order fail.
    agreement_id: Mapped[str | None]
    details: Mapped[dict[str, Any]]
    reason: Mapped[str | None]
    deadline_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AgreementRow(ConnectorBase):
    __tablename__ = "agreements"

    id: Mapped[str] = mapped_column(primary_key=True)
    # One agreement per negotiation.
    negotiation_id: Mapped[str] = mapped_column(ForeignKey("negotiations.id"), unique=True)
    asset_id: Mapped[str]
    provider: Mapped[str]
    consumer: Mapped[str]
    document: Mapped[dict[str, Any]]
    signed_at: Mapped[datetime]


class TransferRow(ConnectorBase):
    __tablename__ = "transfers"
    __table_args__ = (
        CheckConstraint(ROLE_CHECK, name="role"),
        UniqueConstraint("role", "counter_party", "consumer_pid"),
        Index("ix_transfers_role_consumer_pid", "role", "consumer_pid"),
        Index("ix_transfers_role_provider_pid", "role", "provider_pid"),
    )

    id: Mapped[str] = mapped_column(primary_key=True)
    role: Mapped[str]
    state: Mapped[str] = mapped_column(index=True)
    consumer_pid: Mapped[str]
    provider_pid: Mapped[str | None]
    agreement_id: Mapped[str] = mapped_column(index=True)
    counter_party: Mapped[str]
    counter_party_address: Mapped[str]
    transfer_type: Mapped[str]
    data_address: Mapped[dict[str, Any] | None]
    details: Mapped[dict[str, Any]]
    reason: Mapped[str | None]
    deadline_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


# --- outbox and history ---------------------------------------------------------------------------------


class OutboxRow(ConnectorBase):
    """A message owed to a counter-party. Sent rows stay (with ``sent_at``) as the record of what was sent."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(KIND_CHECK, name="process_kind"),
        # The claim query: unsent (sent_at IS NULL), due (next_attempt_at <= now), lease free.
        Index("ix_outbox_due", "sent_at", "next_attempt_at", "lease_until"),
        Index("ix_outbox_process", "process_kind", "process_id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    process_kind: Mapped[str]
    process_id: Mapped[str]
    url: Mapped[str]
    audience: Mapped[str]
    body: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    attempts: Mapped[int]
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None]


class ProcessEventRow(ConnectorBase):
    __tablename__ = "process_events"
    __table_args__ = (
        CheckConstraint(KIND_CHECK, name="process_kind"),
        Index("ix_process_events_process", "process_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    process_kind: Mapped[str]
    process_id: Mapped[str]
    state: Mapped[str]
    detail: Mapped[str]
    at: Mapped[datetime]


class LedgerReceiptRow(ConnectorBase):
    """The operator's signed receipt for one statement we logged about a process (or a listing)."""

    __tablename__ = "ledger_receipts"
    __table_args__ = (Index("ix_ledger_receipts_process", "process_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    process_id: Mapped[str]
    receipt: Mapped[dict[str, Any]]
    kept_at: Mapped[datetime]
