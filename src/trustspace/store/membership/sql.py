"""The SQL repositories: one implementation for SQLite and PostgreSQL.

Every public method is one ``Database.transaction()`` (``reading()`` if it only reads). Uniqueness rules are
enforced by the schema (primary keys, unique constraints, a partial unique index), so a request racing another
one gets ``Conflict`` from the constraint rather than slipping between a check and an insert; the checks done
first only produce the clearer message in the common case."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Select, bindparam, delete, exists, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trustspace.core.errors import Conflict, NotFound, ValidationFailed
from trustspace.store.base import CONNECTOR_SHARED, OPERATOR_SHARED, SharedTables
from trustspace.store.db import Database
from trustspace.store.membership import mapping as rows
from trustspace.store.membership.interfaces import ConnectorStore, OperatorStore
from trustspace.store.membership.models import (
    ApplicationRow,
    ConnectorRow,
    SettingRow,
    SpaceMemberRow,
    SpaceRow,
    StatusIndexCounterRow,
    TrustDecisionRow,
    TrustedIssuerRow,
)
from trustspace.store.membership.records import (
    Application,
    ConnectorRecord,
    IssuedCredential,
    MembershipStatus,
    Space,
    TrustDecision,
    TrustedIssuer,
)

_ACTIVE = (MembershipStatus.PENDING.value, MembershipStatus.APPROVED.value)
_REVOKED = select(ApplicationRow.status_index).where(
    ApplicationRow.status == MembershipStatus.REVOKED.value, ApplicationRow.status_index == bindparam("status_index"))


def _utc(value: datetime, field: str) -> datetime:
    """Inputs must carry an offset: a naive value would be read differently by SQLite and PostgreSQL."""
    if value.utcoffset() is None:
        raise ValidationFailed(f"{field} must be a timezone-aware datetime", field=field)
    return value.astimezone(UTC)


@contextmanager
def _unique(message: str) -> Iterator[None]:
    """Turn a uniqueness violation (raised at flush or commit) into ``Conflict``."""
    try:
        yield
    except IntegrityError as error:
        raise Conflict(message) from error


class _SharedSql:
    """Replay guard and API keys, which both services keep in their own copy of the same tables."""

    def __init__(self, db: Database, tables: SharedTables) -> None:
        self._db = db
        self._tables = tables
        seen, keys = tables.seen_tokens, tables.api_keys
        self._replay = (delete(seen).where(seen.expires_at <= bindparam("now")), insert(seen))
        self._key_lookup = select(keys.key_id).where(keys.key_hash == bindparam("key_hash"))

    def remember_jti(self, jti: str, issuer: str, expires_at: datetime, now: datetime) -> bool:
        # Every authenticated request comes through here: prebuilt statements on a Core connection.
        forget, remember = self._replay
        values = {"jti": jti, "issuer": issuer, "expires_at": _utc(expires_at, "expires_at")}
        try:
            with self._db.writing() as connection:
                # Clearing expired ids first also lets an expired jti be recorded afresh.
                connection.execute(forget, {"now": _utc(now, "now")})
                connection.execute(remember, values)
        except IntegrityError:
            # The primary key decides, so two requests racing with one token cannot both succeed.
            return False
        return True

    def add_api_key(self, key_id: str, key_hash: str, created_at: datetime) -> None:
        row = {"key_id": key_id, "key_hash": key_hash, "created_at": _utc(created_at, "created_at")}
        with _unique("an API key with that id or hash exists"), self._db.transaction() as session:
            session.execute(insert(self._tables.api_keys).values(row))

    def has_api_key(self) -> bool:
        with self._db.reading() as session:
            return bool(session.scalar(select(exists().select_from(self._tables.api_keys))))

    def api_key_exists(self, key_hash: str) -> bool:
        with self._db.snapshot() as connection:
            return connection.execute(self._key_lookup, {"key_hash": key_hash}).first() is not None


class SqlConnectorStore(_SharedSql, ConnectorStore):
    def __init__(self, db: Database) -> None:
        super().__init__(db, CONNECTOR_SHARED)

    def get_setting(self, key: str) -> str | None:
        with self._db.reading() as session:
            row = session.get(SettingRow, key)
            return None if row is None else row.value

    def set_setting(self, key: str, value: str) -> None:
        with self._db.transaction() as session:
            # INSERT ... ON CONFLICT: a get-then-insert would race with another replica.
            if session.get_bind().dialect.name == "postgresql":
                pg = postgresql.insert(SettingRow).values(key=key, value=value)
                session.execute(pg.on_conflict_do_update(index_elements=["key"], set_={"value": value}))
            else:
                lite = sqlite.insert(SettingRow).values(key=key, value=value)
                session.execute(lite.on_conflict_do_update(index_elements=["key"], set_={"value": value}))


class SqlOperatorStore(_SharedSql, OperatorStore):
    def __init__(self, db: Database) -> None:
        super().__init__(db, OPERATOR_SHARED)

    # --- membership ---------------------------------------------------------------------------------

    def add_application(self, application: Application) -> Application:
        if application.status is not MembershipStatus.PENDING:
            raise ValidationFailed("a new application must be pending", field="status")
        row = rows.new_application_row(application, _utc(application.applied_at, "applied_at"))
        message = f"{application.did} has a pending or approved application, or the id is taken"
        with _unique(message), self._db.transaction() as session:
            if session.scalar(select(exists().where(_active_of(application.did)))):
                raise Conflict(f"{application.did} has a pending or approved application already")
            session.add(row)
        return rows.application(row)

    def get_application(self, application_id: str) -> Application | None:
        with self._db.reading() as session:
            row = session.get(ApplicationRow, application_id)
            return None if row is None else rows.application(row)

    def approve_application(
        self, application_id: str, decided_at: datetime, issue: Callable[[int], IssuedCredential]
    ) -> Application:
        decided = _utc(decided_at, "decided_at")
        with self._db.transaction() as session:
            row = _pending_for_update(session, application_id)
            index = _next_status_index(session)
            issued = issue(index)
            row.status = MembershipStatus.APPROVED.value
            row.decided_at = decided
            row.status_index = index
            row.credential = issued.credential
            row.credential_id = issued.credential_id
            row.valid_until = _utc(issued.valid_until, "valid_until")
            row.roles = list(issued.roles)
        return rows.application(row)

    def reject_application(self, application_id: str, decided_at: datetime, reason: str) -> Application:
        decided = _utc(decided_at, "decided_at")
        with self._db.transaction() as session:
            row = _pending_for_update(session, application_id)
            row.status = MembershipStatus.REJECTED.value
            row.decided_at = decided
            row.reason = reason
        return rows.application(row)

    def get_member(self, did: str) -> Application | None:
        with self._db.reading() as session:
            row = session.scalar(_latest_of(did))
            return None if row is None else rows.application(row)

    def list_applications(self, status: str | None = None) -> list[Application]:
        query = select(ApplicationRow).order_by(ApplicationRow.applied_at, ApplicationRow.id)
        if status is not None:
            query = query.where(ApplicationRow.status == rows.parse_status(status).value)
        with self._db.reading() as session:
            return [rows.application(row) for row in session.scalars(query)]

    def revoke_member(self, did: str, decided_at: datetime, reason: str) -> Application:
        decided = _utc(decided_at, "decided_at")
        with self._db.transaction() as session:
            row = session.scalar(_latest_of(did).with_for_update())
            if row is None:
                raise NotFound(f"{did} has no membership", field="did")
            if row.status != MembershipStatus.APPROVED.value:
                raise Conflict(f"the membership of {did} is {row.status}, not approved", field="did")
            row.status = MembershipStatus.REVOKED.value
            row.decided_at = decided
            row.reason = reason
        return rows.application(row)

    def revoked_status_indices(self) -> list[int]:
        query = (
            select(ApplicationRow.status_index)
            .where(ApplicationRow.status == MembershipStatus.REVOKED.value)
            .where(ApplicationRow.status_index.is_not(None))
            .order_by(ApplicationRow.status_index)
        )
        with self._db.reading() as session:
            return [index for index in session.scalars(query) if index is not None]

    def is_status_revoked(self, status_index: int) -> bool:
        with self._db.snapshot() as connection:
            return connection.execute(_REVOKED, {"status_index": status_index}).first() is not None

    # --- trust list ---------------------------------------------------------------------------------

    def add_trusted_issuer(self, issuer: TrustedIssuer) -> TrustedIssuer:
        row = TrustedIssuerRow(did=issuer.did, name=issuer.name, added_at=_utc(issuer.added_at, "added_at"))
        with _unique(f"{issuer.did} is on the trust list already"), self._db.transaction() as session:
            session.add(row)
        return rows.trusted_issuer(row)

    def remove_trusted_issuer(self, did: str) -> bool:
        with self._db.transaction() as session:
            row = session.get(TrustedIssuerRow, did)
            if row is None:
                return False
            session.delete(row)
            return True

    def list_trusted_issuers(self) -> list[TrustedIssuer]:
        query = select(TrustedIssuerRow).order_by(TrustedIssuerRow.added_at, TrustedIssuerRow.did)
        with self._db.reading() as session:
            return [rows.trusted_issuer(row) for row in session.scalars(query)]

    def is_trusted_issuer(self, did: str) -> bool:
        with self._db.reading() as session:
            return session.get(TrustedIssuerRow, did) is not None

    def log_trust_decision(
        self, issuer: str, subject: str, accepted: bool, reason: str, decided_at: datetime
    ) -> TrustDecision:
        row = TrustDecisionRow(
            issuer=issuer,
            subject=subject,
            accepted=accepted,
            reason=reason,
            decided_at=_utc(decided_at, "decided_at"),
        )
        with self._db.transaction() as session:
            session.add(row)
            session.flush()  # assigns the id
        return rows.trust_decision(row)

    def list_trust_decisions(self, limit: int = 100) -> list[TrustDecision]:
        if limit < 1:
            raise ValidationFailed("limit must be at least 1", field="limit")
        query = select(TrustDecisionRow).order_by(TrustDecisionRow.id.desc()).limit(limit)
        with self._db.reading() as session:
            return [rows.trust_decision(row) for row in session.scalars(query)]

    # --- connector registry -------------------------------------------------------------------------

    def register_connector(self, record: ConnectorRecord) -> ConnectorRecord:
        if record.deregistered_at is not None:
            raise ValidationFailed("a connector being registered cannot be deregistered", field="deregistered_at")
        row = ConnectorRow(
            id=record.id,
            owner_did=record.owner_did,
            url=record.url,
            registered_at=_utc(record.registered_at, "registered_at"),
            last_heartbeat=_utc(record.last_heartbeat, "last_heartbeat"),
            deregistered_at=None,
        )
        with _unique(f"connector {record.id} is registered already"), self._db.transaction() as session:
            session.add(row)
        return rows.connector(row)

    def get_connector(self, connector_id: str) -> ConnectorRecord | None:
        with self._db.reading() as session:
            row = session.get(ConnectorRow, connector_id)
            return None if row is None else rows.connector(row)

    def heartbeat_connector(self, connector_id: str, at: datetime) -> ConnectorRecord:
        when = _utc(at, "at")
        with self._db.transaction() as session:
            row = _active_connector_for_update(session, connector_id)
            row.last_heartbeat = when
        return rows.connector(row)

    def deregister_connector(self, connector_id: str, at: datetime) -> ConnectorRecord:
        when = _utc(at, "at")
        with self._db.transaction() as session:
            row = _active_connector_for_update(session, connector_id)
            row.deregistered_at = when
        return rows.connector(row)

    def list_connectors(self) -> list[ConnectorRecord]:
        query = select(ConnectorRow).order_by(ConnectorRow.registered_at, ConnectorRow.id)
        with self._db.reading() as session:
            return [rows.connector(row) for row in session.scalars(query)]

    # --- logical spaces -----------------------------------------------------------------------------

    def create_space(self, space: Space) -> Space:
        created = _utc(space.created_at, "created_at")
        members = tuple(dict.fromkeys(space.members))  # initial members, each once, in the given order
        row = SpaceRow(id=space.id, name=space.name, description=space.description, created_at=created)
        taken = f"a space named {space.name!r} or with id {space.id} exists"
        with _unique(taken), self._db.transaction() as session:
            if session.scalar(select(exists().where(SpaceRow.name == space.name))):
                raise Conflict(f"a space named {space.name!r} exists", field="name")
            session.add(row)
            session.flush()  # the members' foreign key needs the space row first
            session.add_all(SpaceMemberRow(space_id=space.id, did=did, added_at=created) for did in members)
        return rows.space(row, list(members))

    def get_space(self, space_id: str) -> Space | None:
        with self._db.reading() as session:
            row = session.get(SpaceRow, space_id)
            return None if row is None else rows.space(row, _members(session, [space_id])[space_id])

    def list_spaces(self) -> list[Space]:
        with self._db.reading() as session:
            spaces = session.scalars(select(SpaceRow).order_by(SpaceRow.created_at, SpaceRow.name)).all()
            members = _members(session, [row.id for row in spaces])
            return [rows.space(row, members[row.id]) for row in spaces]

    def add_space_member(self, space_id: str, did: str, at: datetime) -> Space:
        when = _utc(at, "at")
        with _unique(f"{did} is a member of space {space_id} already"), self._db.transaction() as session:
            row = session.get(SpaceRow, space_id)
            if row is None:
                raise NotFound(f"no space {space_id}", field="space_id")
            is_member = (SpaceMemberRow.space_id == space_id) & (SpaceMemberRow.did == did)
            if session.scalar(select(exists().where(is_member))):
                raise Conflict(f"{did} is a member of space {space_id} already", field="did")
            session.add(SpaceMemberRow(space_id=space_id, did=did, added_at=when))
            session.flush()
            return rows.space(row, _members(session, [space_id])[space_id])


# --- queries used inside the operator's transactions ----------------------------------------------------


def _active_of(did: str) -> ColumnElement[bool]:
    return (ApplicationRow.did == did) & ApplicationRow.status.in_(_ACTIVE)


def _latest_of(did: str) -> Select[ApplicationRow]:
    return (
        select(ApplicationRow)
        .where(ApplicationRow.did == did)
        .order_by(ApplicationRow.applied_at.desc(), ApplicationRow.id.desc())
        .limit(1)
    )


def _pending_for_update(session: Session, application_id: str) -> ApplicationRow:
    """The application, row-locked until commit so that two deciders cannot both see it pending."""
    query = select(ApplicationRow).where(ApplicationRow.id == application_id).with_for_update()
    row = session.scalar(query)
    if row is None:
        raise NotFound(f"no application {application_id}", field="application_id")
    if row.status != MembershipStatus.PENDING.value:
        raise Conflict(f"application {application_id} is {row.status}, not pending", field="application_id")
    return row


def _next_status_index(session: Session) -> int:
    """Allocate a status-list index. The UPDATE locks the counter row until commit, so concurrent
    approvals queue here and each gets its own index; a rolled-back approval gives its index back."""
    counter = StatusIndexCounterRow
    query = (
        update(counter)
        .where(counter.id == 1)
        .values(next_index=counter.next_index + 1)
        .returning(counter.next_index)
        .execution_options(synchronize_session=False)
    )
    return session.execute(query).scalar_one() - 1


def _active_connector_for_update(session: Session, connector_id: str) -> ConnectorRow:
    row = session.scalar(select(ConnectorRow).where(ConnectorRow.id == connector_id).with_for_update())
    if row is None:
        raise NotFound(f"no connector {connector_id}", field="connector_id")
    if row.deregistered_at is not None:
        raise Conflict(f"connector {connector_id} is deregistered", field="connector_id")
    return row


def _members(session: Session, space_ids: list[str]) -> dict[str, list[str]]:
    """Members of several spaces in one query, in the order they were added."""
    members: dict[str, list[str]] = {space_id: [] for space_id in space_ids}
    if not space_ids:
        return members
    query = (
        select(SpaceMemberRow.space_id, SpaceMemberRow.did)
        .where(SpaceMemberRow.space_id.in_(space_ids))
        .order_by(SpaceMemberRow.added_at, SpaceMemberRow.id)
    )
    for space_id, did in session.execute(query):
        members[space_id].append(did)
    return members
