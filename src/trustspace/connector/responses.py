"""What the connector's management routes answer, for its OpenAPI document (see ``web/models.py``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from trustspace.store.dsp.records import Agreement, Asset, Negotiation, OfferRecord, PolicyRecord, TransferRecord
from trustspace.web.models import Out, record_model

AssetOut = record_model(Asset, "AssetOut", "A data product: what an offer lists and a transfer serves.")
PolicyOut = record_model(PolicyRecord, "PolicyOut", "An ODRL policy an offer refers to.")
OfferOut = record_model(OfferRecord, "OfferOut", "An asset offered under a policy.")
NegotiationOut = record_model(Negotiation, "NegotiationOut", "A contract negotiation, from this side.")
AgreementOut = record_model(Agreement, "AgreementOut", "A signed contract agreement.")
TransferOut = record_model(TransferRecord, "TransferOut", "A transfer process, from this side.")


class MembershipOut(Out):
    application_id: str | None = Field(alias="applicationId")
    member: bool
    space: str | None
    roles: list[str]
    valid_until: str | None = Field(alias="validUntil")
    credential_id: str | None = Field(alias="credentialId")


class RegistrationOut(Out):
    connector_id: str | None = Field(alias="connectorId")
    last_error: str | None = Field(alias="lastError")


class StatusOut(Out):
    did: str
    url: str
    operator: str
    membership: MembershipOut
    registration: RegistrationOut


class RefreshOut(Out):
    status: str | None = Field(description="the application's status at the operator")
    membership: MembershipOut


class PingOut(Out):
    connector: str
    caller: str
    caller_roles: list[str] = Field(alias="callerRoles")
    caller_space: str | None = Field(alias="callerSpace")


class PendingOut(Out):
    id: int
    process: str
    type: str | None
    attempts: int
    last_error: str | None = Field(alias="lastError")


class WitnessOut(Out):
    witness: str
    vkey: str
    origins: dict[str, Any]
    last_error: str | None = Field(alias="lastError")

