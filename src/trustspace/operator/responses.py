"""What the operator's routes answer, for its OpenAPI document (see ``web/models.py``): the shapes of
``schemas.*_out`` and of the ledger's answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from trustspace.web.models import Out


class ApplicationOut(Out):
    id: str
    did: str
    display_name: str = Field(alias="displayName")
    credit_code: str = Field(alias="creditCode")
    roles: list[str]
    status: str = Field(description="pending, approved, rejected or revoked")
    applied_at: datetime | None = Field(alias="appliedAt")
    decided_at: datetime | None = Field(alias="decidedAt")
    reason: str | None
    credential_id: str | None = Field(alias="credentialId")
    valid_until: datetime | None = Field(alias="validUntil")
    credential: dict[str, Any] | None = Field(description="the membership credential, once approved")
    warnings: list[str] | None = Field(default=None, description="for the administrator: e.g. a shared credit code")


class WhoamiOut(Out):
    did: str
    issuer: str
    space: str | None
    roles: list[str]


class IssuerOut(Out):
    did: str
    name: str
    added_at: datetime | None = Field(alias="addedAt")


class DecisionOut(Out):
    id: int
    issuer: str
    subject: str
    accepted: bool
    reason: str
    decided_at: datetime | None = Field(alias="decidedAt")


class ConnectorOut(Out):
    id: str
    owner_did: str = Field(alias="ownerDid")
    url: str
    health: str
    registered_at: datetime | None = Field(alias="registeredAt")
    last_heartbeat: datetime | None = Field(alias="lastHeartbeat")
    deregistered_at: datetime | None = Field(alias="deregisteredAt")


class SpaceOut(Out):
    id: str
    name: str
    description: str
    created_at: datetime | None = Field(alias="createdAt")
    members: list[str]


class EntryOut(Out):
    index: int
    leaf_hash: str = Field(alias="leafHash", description="base64")
    entry: dict[str, Any] = Field(description="the signed statement")
    integrated_at: str = Field(alias="integratedAt")


class EntriesOut(Out):
    entries: list[EntryOut]
    next: int | None = Field(description="pass as after for the next page; null on the last")


class InclusionOut(Out):
    index: int
    tree_size: int = Field(alias="treeSize")
    leaf_hash: str = Field(alias="leafHash")
    proof: list[str]


class ConsistencyOut(Out):
    first: int
    second: int
    proof: list[str]


class CheckpointOut(Out):
    size: int
    root_hash: str = Field(alias="rootHash")
    created_at: str = Field(alias="createdAt")


class CheckpointsOut(Out):
    checkpoints: list[CheckpointOut]
    next: int | None


class StatusOut(Out):
    size: int
    root_hash: str = Field(alias="rootHash")
    note: str
    cosigners: list[str]
    final: bool
    quorum: int


class CosignatureOut(Out):
    size: int
    witness: str
    vkey: str
    signature_line: str = Field(alias="signatureLine")
    created_at: str = Field(alias="createdAt")


class WitnessesOut(Out):
    witnesses: list[dict[str, str]]
    quorum: int


class KeyOut(Out):
    origin: str
    vkey: str
    operator: str
    verification_method: str = Field(alias="verificationMethod")
