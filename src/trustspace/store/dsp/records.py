"""Records of a connector's Dataspace Protocol state: what it offers, what it negotiated, what it moves,
and the outbox of messages it still owes its counter-parties."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Asset:
    """A data product: metadata for the catalog and the (private) data address the data plane serves."""

    id: str
    title: str
    description: str
    data_address: dict[str, Any]
    properties: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class PolicyRecord:
    """An ODRL policy template (permissions, prohibitions, obligations) offers are made under."""

    id: str
    policy: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class OfferRecord:
    """Which asset is offered under which policy. Its id is the ODRL offer's @id in the catalog."""

    id: str
    asset_id: str
    policy_id: str
    created_at: datetime


@dataclass(frozen=True)
class Negotiation:
    """A contract negotiation as one side sees it. ``role`` is our role: "provider" or "consumer"
    (``protocol.roles.Role`` values)."""

    id: str
    role: str
    state: str
    consumer_pid: str
    provider_pid: str | None
    counter_party: str
    counter_party_address: str
    offer: dict[str, Any]
    asset_id: str
    created_at: datetime
    updated_at: datetime
    agreement_id: str | None = None
    reason: str | None = None
    deadline_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Agreement:
    id: str
    negotiation_id: str
    asset_id: str
    provider: str
    consumer: str
    document: dict[str, Any]
    signed_at: datetime


@dataclass(frozen=True)
class TransferRecord:
    """A transfer process as one side sees it."""

    id: str
    role: str
    state: str
    consumer_pid: str
    provider_pid: str | None
    agreement_id: str
    counter_party: str
    counter_party_address: str
    transfer_type: str
    created_at: datetime
    updated_at: datetime
    data_address: dict[str, Any] | None = None
    reason: str | None = None
    deadline_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NewOutboxMessage:
    """A message to send once the transaction that decided it has committed."""

    process_kind: str  # "negotiation" | "transfer"
    process_id: str
    url: str
    audience: str
    body: dict[str, Any]


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    process_kind: str
    process_id: str
    url: str
    audience: str
    body: dict[str, Any]
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    last_error: str | None = None


@dataclass(frozen=True)
class Receipted:
    """An outbox message the ledger accepted, and the receipt it answered with, kept under ``process_id``."""

    message_id: int
    process_id: str
    receipt: dict[str, Any]


@dataclass(frozen=True)
class ProcessEvent:
    """One line of a process's history, for watching (server-sent events) and for the ledger later."""

    id: int
    process_kind: str
    process_id: str
    state: str
    detail: str
    at: datetime


@dataclass(frozen=True)
class Change:
    """What a transition changes besides the state. ``None`` leaves a field as it is."""

    provider_pid: str | None = None
    agreement: Agreement | None = None
    agreement_id: str | None = None
    data_address: dict[str, Any] | None = None
    reason: str | None = None
    details: dict[str, Any] | None = None
    deadline_at: datetime | None = None
    clear_deadline: bool = False
