"""Provider tables for usage control: one counter row per agreement, and the downloads a ``Range`` may resume.

One row holds every counter of an agreement (uses, bytes, records, and the uses in the current calendar
minute, hour and day), so deciding one access reads and updates one locked row. Revision ``connector_0005``
creates them; ``tests/store`` checks the two agree.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger
from sqlalchemy.orm import Mapped, mapped_column

from trustspace.store.base import ConnectorBase


class UsageCounterRow(ConnectorBase):
    __tablename__ = "usage_counters"

    agreement_id: Mapped[str] = mapped_column(primary_key=True)
    uses: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)
    records: Mapped[int] = mapped_column(BigInteger)
    # Frequency windows are calendar buckets (UTC): the bucket number (epoch seconds // width) and its uses.
    minute_bucket: Mapped[int] = mapped_column(BigInteger)
    minute_uses: Mapped[int] = mapped_column(BigInteger)
    hour_bucket: Mapped[int] = mapped_column(BigInteger)
    hour_uses: Mapped[int] = mapped_column(BigInteger)
    day_bucket: Mapped[int] = mapped_column(BigInteger)
    day_uses: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]


class UsageDownloadRow(ConnectorBase):
    """A transfer's counted download: a later ``Range`` of the same bytes (``validator``) continues it."""

    __tablename__ = "usage_downloads"

    transfer_id: Mapped[str] = mapped_column(primary_key=True)
    agreement_id: Mapped[str] = mapped_column(index=True)
    validator: Mapped[str]
    # The first byte of the latest admitted request: a continuation must start further on.
    last_start: Mapped[int] = mapped_column(BigInteger)
    counted_at: Mapped[datetime]
