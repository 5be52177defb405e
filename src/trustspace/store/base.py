"""The declarative bases and the column types every table shares.

Two metadata objects, because the operator and each connector own separate databases. Each capability's
``models`` module maps its tables onto one of them; ``store/schema.py`` gathers them all for the migrations.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer, MetaData, Text, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


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
