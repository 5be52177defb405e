"""Request and response bodies of the operator API (plain JSON, camelCase like the protocols it sits beside)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from trustspace.core.errors import ValidationFailed
from trustspace.core.ids import validate_credit_code
from trustspace.store.membership.records import Application, ConnectorRecord, Space, TrustDecision, TrustedIssuer

Role = Literal["provider", "consumer"]
DID_PATTERN = r"^did:[a-z0-9]+:[A-Za-z0-9._:%-]+$"


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ApplicationIn(Body):
    display_name: str = Field(alias="displayName", min_length=1, max_length=200)
    credit_code: str = Field(alias="creditCode")
    roles: list[Role] = Field(min_length=1, max_length=2)

    @field_validator("credit_code")
    @classmethod
    def _credit_code(cls, value: str) -> str:
        try:
            return validate_credit_code(value)
        except ValidationFailed as exc:
            raise ValueError(exc.detail) from None


class ApproveIn(Body):
    valid_days: int | None = Field(default=None, alias="validDays", ge=1, le=3650)
    confirm: bool = Field(default=False, description="approve although another DID already holds an approved "
                                                     "membership with this credit code")


class ReasonIn(Body):
    reason: str = Field(min_length=1, max_length=1000)


class RevokeIn(Body):
    did: str = Field(pattern=DID_PATTERN, max_length=500)
    reason: str = Field(min_length=1, max_length=1000)


class TrustedIssuerIn(Body):
    did: str = Field(pattern=DID_PATTERN, max_length=500)
    name: str = Field(min_length=1, max_length=200)


class ConnectorIn(Body):
    url: HttpUrl


class SpaceIn(Body):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[\w .-]+$")
    description: str = Field(default="", max_length=2000)


class SpaceMemberIn(Body):
    did: str = Field(pattern=DID_PATTERN, max_length=500)


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def application_out(app: Application, warnings: list[str] | None = None) -> dict[str, Any]:
    out = {
        "id": app.id, "did": app.did, "displayName": app.display_name, "creditCode": app.credit_code,
        "roles": list(app.roles), "status": app.status.value, "appliedAt": _time(app.applied_at),
        "decidedAt": _time(app.decided_at), "reason": app.reason, "credentialId": app.credential_id,
        "validUntil": _time(app.valid_until), "credential": app.credential,
    }
    if warnings:
        out["warnings"] = warnings
    return out


def connector_out(record: ConnectorRecord, health: str) -> dict[str, Any]:
    return {
        "id": record.id, "ownerDid": record.owner_did, "url": record.url, "health": health,
        "registeredAt": _time(record.registered_at), "lastHeartbeat": _time(record.last_heartbeat),
        "deregisteredAt": _time(record.deregistered_at),
    }


def issuer_out(issuer: TrustedIssuer) -> dict[str, Any]:
    return {"did": issuer.did, "name": issuer.name, "addedAt": _time(issuer.added_at)}


def decision_out(decision: TrustDecision) -> dict[str, Any]:
    return {"id": decision.id, "issuer": decision.issuer, "subject": decision.subject,
            "accepted": decision.accepted, "reason": decision.reason, "decidedAt": _time(decision.decided_at)}


def space_out(space: Space) -> dict[str, Any]:
    return {"id": space.id, "name": space.name, "description": space.description,
            "createdAt": _time(space.created_at), "members": list(space.members)}
