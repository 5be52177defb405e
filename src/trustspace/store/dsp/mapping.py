"""Rows to records and back for the Dataspace Protocol tables, and the checks a record passes before it is
written. The one place that knows both ``models`` and ``records``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from trustspace.core.errors import ValidationFailed
from trustspace.protocol.roles import Role
from trustspace.store.dsp.models import (
    PROCESS_KINDS,
    ROLES,
    AgreementRow,
    AssetRow,
    NegotiationRow,
    OfferRow,
    PolicyRow,
    TransferRow,
)
from trustspace.store.dsp.records import (
    Agreement,
    Asset,
    Negotiation,
    OfferRecord,
    PolicyRecord,
    TransferRecord,
)

# States after which a process never moves again, so its deadline no longer matters.
TERMINAL_STATES = ("COMPLETED", "TERMINATED", "FINALIZED")


def aware(value: datetime, field: str) -> datetime:
    """Inputs must carry an offset: a naive value would be read differently by SQLite and PostgreSQL."""
    if value.utcoffset() is None:
        raise ValidationFailed(f"{field} must be a timezone-aware datetime", field=field)
    return value.astimezone(UTC)


def optional_aware(value: datetime | None, field: str) -> datetime | None:
    return None if value is None else aware(value, field)


def document(value: dict[str, Any], field: str) -> dict[str, Any]:
    """A JSON document as every backend stores it. Checked up front because the backends disagree on the
    rest: PostgreSQL refuses NaN that SQLite keeps, and they raise different errors for an unserialisable
    value, in the middle of a transaction."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValidationFailed(f"{field} is not a JSON document: {error}", field=field) from None
    return value


def optional_document(value: dict[str, Any] | None, field: str) -> dict[str, Any] | None:
    return None if value is None else document(value, field)


def check_role(role: str) -> str:
    """The role as plain text (callers may pass ``Role`` members, which are ``str`` subclasses)."""
    if role not in ROLES:
        raise ValidationFailed(f"unknown role {role!r}; one of {', '.join(ROLES)}", field="role")
    return str(role)


def check_kind(kind: str, field: str = "process_kind") -> str:
    if kind not in PROCESS_KINDS:
        raise ValidationFailed(f"unknown process kind {kind!r}; one of {', '.join(PROCESS_KINDS)}", field=field)
    return kind


def check_limit(limit: int) -> int:
    if limit < 1:
        raise ValidationFailed("limit must be at least 1", field="limit")
    return limit


def _check_own_id(kind: str, process_id: str, role: str, consumer_pid: str, provider_pid: str | None) -> None:
    """Our id is our own pid: the provider's equals provider_pid, the consumer's equals consumer_pid."""
    provider = role == Role.PROVIDER
    if process_id != (provider_pid if provider else consumer_pid):
        pid = "provider_pid" if provider else "consumer_pid"
        raise ValidationFailed(f"a {role} {kind}'s id must equal its {pid}", field="id")


# --- catalog --------------------------------------------------------------------------------------------


def asset_row(asset: Asset) -> AssetRow:
    return AssetRow(
        id=asset.id,
        title=asset.title,
        description=asset.description,
        data_address=document(asset.data_address, "data_address"),
        properties=document(asset.properties, "properties"),
        created_at=aware(asset.created_at, "created_at"),
    )


def asset(row: AssetRow) -> Asset:
    return Asset(row.id, row.title, row.description, row.data_address, row.properties, row.created_at)


def policy_row(policy: PolicyRecord) -> PolicyRow:
    created = aware(policy.created_at, "created_at")
    return PolicyRow(id=policy.id, policy=document(policy.policy, "policy"), created_at=created)


def policy(row: PolicyRow) -> PolicyRecord:
    return PolicyRecord(row.id, row.policy, row.created_at)


def offer_row(offer: OfferRecord) -> OfferRow:
    created = aware(offer.created_at, "created_at")
    return OfferRow(id=offer.id, asset_id=offer.asset_id, policy_id=offer.policy_id, created_at=created)


def offer(row: OfferRow) -> OfferRecord:
    return OfferRecord(row.id, row.asset_id, row.policy_id, row.created_at)


# --- processes ------------------------------------------------------------------------------------------


def negotiation_row(record: Negotiation) -> NegotiationRow:
    role = check_role(record.role)
    _check_own_id("negotiation", record.id, role, record.consumer_pid, record.provider_pid)
    return NegotiationRow(
        id=record.id,
        role=role,
        state=str(record.state),
        consumer_pid=record.consumer_pid,
        provider_pid=record.provider_pid,
        counter_party=record.counter_party,
        counter_party_address=record.counter_party_address,
        offer=document(record.offer, "offer"),
        asset_id=record.asset_id,
        agreement_id=record.agreement_id,
        details=dict(document(record.details, "details")),
        reason=record.reason,
        deadline_at=optional_aware(record.deadline_at, "deadline_at"),
        created_at=aware(record.created_at, "created_at"),
        updated_at=aware(record.updated_at, "updated_at"),
    )


def agreement_row(record: Agreement) -> AgreementRow:
    return AgreementRow(
        id=record.id,
        negotiation_id=record.negotiation_id,
        asset_id=record.asset_id,
        provider=record.provider,
        consumer=record.consumer,
        document=document(record.document, "agreement.document"),
        signed_at=aware(record.signed_at, "agreement.signed_at"),
    )


def agreement(row: AgreementRow) -> Agreement:
    return Agreement(row.id, row.negotiation_id, row.asset_id, row.provider, row.consumer, row.document, row.signed_at)


def transfer_row(record: TransferRecord) -> TransferRow:
    role = check_role(record.role)
    _check_own_id("transfer", record.id, role, record.consumer_pid, record.provider_pid)
    return TransferRow(
        id=record.id,
        role=role,
        state=str(record.state),
        consumer_pid=record.consumer_pid,
        provider_pid=record.provider_pid,
        agreement_id=record.agreement_id,
        counter_party=record.counter_party,
        counter_party_address=record.counter_party_address,
        transfer_type=record.transfer_type,
        data_address=optional_document(record.data_address, "data_address"),
        details=dict(document(record.details, "details")),
        reason=record.reason,
        deadline_at=optional_aware(record.deadline_at, "deadline_at"),
        created_at=aware(record.created_at, "created_at"),
        updated_at=aware(record.updated_at, "updated_at"),
    )
