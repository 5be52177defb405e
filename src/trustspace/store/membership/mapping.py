"""Rows to records and back: the one place that knows both the table models and the records."""

from __future__ import annotations

from datetime import datetime

from trustspace.core.errors import ValidationFailed
from trustspace.store.membership.models import (
    ApplicationRow,
    ConnectorRow,
    SpaceRow,
    TrustDecisionRow,
    TrustedIssuerRow,
)
from trustspace.store.membership.records import (
    Application,
    ConnectorRecord,
    MembershipStatus,
    Space,
    TrustDecision,
    TrustedIssuer,
)


def parse_status(value: str) -> MembershipStatus:
    try:
        return MembershipStatus(value)
    except ValueError:
        allowed = ", ".join(status.value for status in MembershipStatus)
        raise ValidationFailed(f"unknown status {value!r}; one of {allowed}", field="status") from None


def new_application_row(application: Application, applied_at: datetime) -> ApplicationRow:
    """A row for a new application; ``applied_at`` already checked and in UTC."""
    return ApplicationRow(
        id=application.id,
        did=application.did,
        display_name=application.display_name,
        credit_code=application.credit_code,
        roles=list(application.roles),
        status=application.status.value,
        applied_at=applied_at,
        decided_at=None,
        reason=application.reason,
        credential=None,
        credential_id=None,
        status_index=None,
        valid_until=None,
    )


def application(row: ApplicationRow) -> Application:
    return Application(
        id=row.id,
        did=row.did,
        display_name=row.display_name,
        credit_code=row.credit_code,
        roles=tuple(row.roles),
        status=MembershipStatus(row.status),
        applied_at=row.applied_at,
        decided_at=row.decided_at,
        reason=row.reason,
        credential=row.credential,
        credential_id=row.credential_id,
        status_index=row.status_index,
        valid_until=row.valid_until,
    )


def trusted_issuer(row: TrustedIssuerRow) -> TrustedIssuer:
    return TrustedIssuer(did=row.did, name=row.name, added_at=row.added_at)


def trust_decision(row: TrustDecisionRow) -> TrustDecision:
    return TrustDecision(
        id=row.id,
        issuer=row.issuer,
        subject=row.subject,
        accepted=row.accepted,
        reason=row.reason,
        decided_at=row.decided_at,
    )


def connector(row: ConnectorRow) -> ConnectorRecord:
    return ConnectorRecord(
        id=row.id,
        owner_did=row.owner_did,
        url=row.url,
        registered_at=row.registered_at,
        last_heartbeat=row.last_heartbeat,
        deregistered_at=row.deregistered_at,
    )


def space(row: SpaceRow, members: list[str]) -> Space:
    return Space(row.id, row.name, row.description, row.created_at, members=tuple(members))
