"""Plain immutable values the usage store takes and returns (no SQLAlchemy objects leave the store)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PERMIT, DENY, NOTICE = "permit", "deny", "notice"


@dataclass(frozen=True, slots=True)
class StoredKey:
    """An agreement's data key as the store holds it: wrapped, or None once destroyed."""

    agreement_id: str
    wrapped_key: bytes | None
    created_at: datetime
    destroyed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ProtectedItem:
    id: str
    agreement_id: str
    transfer_id: str
    file_name: str
    size: int
    sha256: str
    nonce_info: dict[str, Any]
    created_at: datetime
    deleted_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class UsageEntry:
    """One line of the usage log. ``id`` is 0 until stored."""

    agreement_id: str
    action: str
    reader: str
    decision: str
    explanation: str
    at: datetime
    purpose: str | None = None
    application: str | None = None
    item_id: str | None = None
    id: int = 0


@dataclass(frozen=True, slots=True)
class UsageCounts:
    """What an agreement's data has been used for so far: permitted uses per action."""

    permitted: dict[str, int] = field(default_factory=dict)

    def of(self, action: str) -> int:
        return self.permitted.get(action, 0)


@dataclass(frozen=True, slots=True)
class StoredCertificate:
    id: str
    agreement_id: str
    certificate: dict[str, Any]
    issued_at: datetime
