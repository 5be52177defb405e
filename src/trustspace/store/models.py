"""Table models. Two metadata objects, because the operator and each connector own separate databases.

The Alembic revisions under ``migrations/`` create these tables; ``tests/store`` checks that the two agree.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from trustspace.store.records import MembershipStatus

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _sql_in(column: str, values: tuple[MembershipStatus, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


STATUS_CHECK = _sql_in("status", tuple(MembershipStatus))
# Statuses that block a new application for the same DID (see the partial unique index below).
ACTIVE_STATUS_WHERE = _sql_in("status", (MembershipStatus.PENDING, MembershipStatus.APPROVED))


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that goes in and comes out as an aware UTC datetime on every backend.

    SQLite keeps no offset (it stores the wall-clock fields as text) and hands back naive values, so the
    value is converted to UTC before it is stored and marked UTC when it is read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            # A naive value would mean local time on one backend and UTC on another.
            raise ValueError(f"naive datetime {value.isoformat()}: pass a timezone-aware value")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")

_TYPE_MAP: dict[Any, Any] = {datetime: UtcDateTime, dict[str, Any]: JSON, list[str]: JSON, str: Text}


class OperatorBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = _TYPE_MAP


class ConnectorBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = _TYPE_MAP


# --- tables both services have -------------------------------------------------------------------------


class SeenTokenColumns:
    """A token id (jti) seen before, kept until the token expires so that a replay is caught."""

    jti: Mapped[str] = mapped_column(primary_key=True)
    issuer: Mapped[str]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class ApiKeyColumns:
    """The hash of an administrator API key."""

    key_id: Mapped[str] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(unique=True)
    created_at: Mapped[datetime]


@dataclass(frozen=True)
class SharedTables:
    seen_tokens: type[SeenTokenColumns]
    api_keys: type[ApiKeyColumns]


def add_shared_tables(base: type[DeclarativeBase], prefix: str) -> SharedTables:
    """Map the tables every service has onto ``base``'s metadata, as classes named ``{prefix}SeenToken``..."""

    def mapped(name: str, columns: type, table: str) -> type:
        namespace = {"__tablename__": table, "__module__": __name__, "__qualname__": name}
        return types.new_class(name, (columns, base), exec_body=lambda ns: ns.update(namespace))

    seen_tokens = mapped(f"{prefix}SeenToken", SeenTokenColumns, "seen_tokens")
    api_keys = mapped(f"{prefix}ApiKey", ApiKeyColumns, "api_keys")
    return SharedTables(cast(type[SeenTokenColumns], seen_tokens), cast(type[ApiKeyColumns], api_keys))


OPERATOR_SHARED = add_shared_tables(OperatorBase, "Operator")
CONNECTOR_SHARED = add_shared_tables(ConnectorBase, "Connector")


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


# --- connector: Dataspace Protocol ----------------------------------------------------------------------
# Defined in their own module; imported here (last, once ConnectorBase exists) so that every user of
# ConnectorBase.metadata, such as the migration check, sees those tables without importing them itself.
from trustspace.store import dsp_models as _dsp_models  # noqa: E402, F401
from trustspace.store import ledger_models as _ledger_models  # noqa: E402, F401
