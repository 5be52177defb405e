"""Records of the provider's usage counters: what an agreement has used so far, and one access to decide."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

MINUTE, HOUR, DAY = 60, 3600, 86400


@dataclass(frozen=True, slots=True)
class UsageTotals:
    """An agreement's uses so far; ``per_minute`` etc. are the uses in the calendar bucket containing ``at``."""

    uses: int = 0
    bytes: int = 0
    records: int = 0
    per_minute: int = 0
    per_hour: int = 0
    per_day: int = 0


@dataclass(frozen=True, slots=True)
class Access:
    """One data-plane access to decide and, if permitted, count.

    ``size`` and ``records`` are what this access serves (0 when unknown). With ``validator`` (the ETag of the
    bytes served) and ``start`` > 0 the access may continue the transfer's counted download rather than be a
    new use; ``counted`` False decides without counting (a request that will serve nothing)."""

    agreement_id: str
    transfer_id: str
    at: datetime
    size: int = 0
    records: int = 0
    validator: str | None = None
    start: int = 0
    counted: bool = True


@dataclass(frozen=True, slots=True)
class Counted:
    """The outcome: whether it was permitted, the totals it was decided with, and whether it added a use
    (False for a deny, an uncounted access and a continuation)."""

    permitted: bool
    totals: UsageTotals
    continuation: bool
    added: bool


def bucket(at: datetime, width: int) -> int:
    return int(at.timestamp()) // width
