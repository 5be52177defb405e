"""Provider table for usage control: one counter row per agreement.

One row holds every counter of an agreement (uses, bytes, records, the uses in the current calendar minute, hour
and day, and the latest counted download a ``Range`` may continue), so deciding one access locks, reads and
updates one row. Revision ``connector_0005``
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
    # The latest counted download, which a later Range of the same transfer and bytes may continue: its
    # transfer, its bytes' validator (ETag) and the first byte of the latest request admitted as part of it.
    last_transfer: Mapped[str | None]
    last_validator: Mapped[str | None]
    last_start: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]
