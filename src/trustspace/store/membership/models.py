"""Tables of identity and membership: applications, the status list, trust, connectors, spaces (operator);
settings (connector). Revision 0001 of each component creates them; ``tests/store`` checks the two agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from trustspace.store.base import BigIntId, ConnectorBase, OperatorBase
from trustspace.store.membership.records import MembershipStatus


def _sql_in(column: str, values: tuple[MembershipStatus, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


STATUS_CHECK = _sql_in("status", tuple(MembershipStatus))
# Statuses that block a new application for the same DID (see the partial unique index below).
ACTIVE_STATUS_WHERE = _sql_in("status", (MembershipStatus.PENDING, MembershipStatus.APPROVED))


# --- operator -------------------------------------------------------------------------------------------


class ApplicationRow(OperatorBase):
    __tablename__ = "applications"
    __table_args__ = (
        CheckConstraint(STATUS_CHECK, name="status"),
        # At most one pending-or-approved application per DID, even when two arrive at once.
        Index(
            "uq_applications_active_did",
            "did",
            unique=True,
            sqlite_where=text(ACTIVE_STATUS_WHERE),
            postgresql_where=text(ACTIVE_STATUS_WHERE),
        ),
    )

    id: Mapped[str] = mapped_column(primary_key=True)
    did: Mapped[str] = mapped_column(index=True)
    display_name: Mapped[str]
    credit_code: Mapped[str]
    roles: Mapped[list[str]]
    status: Mapped[str] = mapped_column(index=True)
    applied_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    reason: Mapped[str | None]
    credential: Mapped[dict[str, Any] | None]
    credential_id: Mapped[str | None] = mapped_column(unique=True)
    status_index: Mapped[int | None] = mapped_column(unique=True)
    valid_until: Mapped[datetime | None]


class StatusIndexCounterRow(OperatorBase):
    """A single row holding the next free index of the revocation status list.

    Incremented with ``UPDATE ... RETURNING``, which takes the row lock, so concurrent approvals on
    PostgreSQL queue behind each other instead of reading the same value.
    """

    __tablename__ = "status_index_counter"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    next_index: Mapped[int]


class TrustedIssuerRow(OperatorBase):
    __tablename__ = "trusted_issuers"

    did: Mapped[str] = mapped_column(primary_key=True)
    name: Mapped[str]
    added_at: Mapped[datetime]


class TrustDecisionRow(OperatorBase):
    __tablename__ = "trust_decisions"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    issuer: Mapped[str] = mapped_column(index=True)
    subject: Mapped[str] = mapped_column(index=True)
    accepted: Mapped[bool]
    reason: Mapped[str]
    decided_at: Mapped[datetime]


class ConnectorRow(OperatorBase):
    __tablename__ = "connectors"

    id: Mapped[str] = mapped_column(primary_key=True)
    owner_did: Mapped[str] = mapped_column(index=True)
    url: Mapped[str]
    registered_at: Mapped[datetime]
    last_heartbeat: Mapped[datetime]
    deregistered_at: Mapped[datetime | None]


class SpaceRow(OperatorBase):
    __tablename__ = "spaces"

    id: Mapped[str] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(unique=True)
    description: Mapped[str]
    created_at: Mapped[datetime]


class SpaceMemberRow(OperatorBase):
    __tablename__ = "space_members"
    __table_args__ = (UniqueConstraint("space_id", "did"),)

    # A surrogate key keeps insertion order for members added at the same instant.
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    space_id: Mapped[str] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"))
    did: Mapped[str] = mapped_column(index=True)
    added_at: Mapped[datetime]


# --- connector ------------------------------------------------------------------------------------------


class SettingRow(ConnectorBase):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(primary_key=True)
    value: Mapped[str]
