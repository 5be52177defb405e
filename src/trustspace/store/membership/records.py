"""Immutable records the repositories take and return. No SQLAlchemy types leak past the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class MembershipStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVOKED = "revoked"


@dataclass(frozen=True)
class Application:
    """A participant's application for membership, and (once decided) the decision and its credential."""

    id: str
    did: str
    display_name: str
    credit_code: str
    roles: tuple[str, ...]
    status: MembershipStatus
    applied_at: datetime
    decided_at: datetime | None = None
    reason: str | None = None
    credential: dict[str, Any] | None = None
    credential_id: str | None = None
    status_index: int | None = None
    valid_until: datetime | None = None


@dataclass(frozen=True)
class IssuedCredential:
    """What the operator hands back to the store when an application is approved."""

    credential: dict[str, Any]
    credential_id: str
    valid_until: datetime
    roles: tuple[str, ...]


@dataclass(frozen=True)
class TrustedIssuer:
    did: str
    name: str
    added_at: datetime


@dataclass(frozen=True)
class TrustDecision:
    id: int
    issuer: str
    subject: str
    accepted: bool
    reason: str
    decided_at: datetime


@dataclass(frozen=True)
class ConnectorRecord:
    id: str
    owner_did: str
    url: str
    registered_at: datetime
    last_heartbeat: datetime
    deregistered_at: datetime | None = None


@dataclass(frozen=True)
class Space:
    id: str
    name: str
    description: str
    created_at: datetime
    members: tuple[str, ...] = field(default=())
