"""The usage store's interface.

Rules every implementation keeps:
- ``decide_use`` counts the agreement's permitted uses, asks the caller's decision with those counts and
  writes the decision to the log in ONE transaction that holds the agreement's key row locked. Two reads of
  the same agreement are decided one after the other, so a count is never exceeded; and the log row is
  committed before the caller serves a byte, so a crash can spend a use but never grant an extra one.
- ``destroy`` marks every item deleted, drops the wrapped key, keeps the certificate and queues its ledger
  statement in one transaction: the certificate exists if and only if the key is gone.
- ``add_key`` keeps the first key of an agreement: two landings racing get the same key back.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import datetime

from trustspace.store.dsp.records import NewOutboxMessage
from trustspace.store.usage.records import (
    ProtectedItem,
    StoredCertificate,
    StoredKey,
    UsageCounts,
    UsageEntry,
)


class UsageStore(ABC):
    @abstractmethod
    def add_key(self, agreement_id: str, wrapped_key: bytes, at: datetime) -> StoredKey:
        """The agreement's key: the one stored already if there is one, else ``wrapped_key``."""

    @abstractmethod
    def get_key(self, agreement_id: str) -> StoredKey | None: ...

    @abstractmethod
    def add_item(self, item: ProtectedItem) -> ProtectedItem:
        """NotFound (field agreementId) without a key for its agreement; Conflict once the key is destroyed."""

    @abstractmethod
    def get_item(self, item_id: str) -> ProtectedItem | None: ...

    @abstractmethod
    def items(self, agreement_id: str, *, deleted: bool = False) -> list[ProtectedItem]:
        """The agreement's items, oldest first; with ``deleted`` also those destroyed."""

    @abstractmethod
    def item_for_transfer(self, transfer_id: str) -> ProtectedItem | None:
        """The newest live item a transfer landed."""

    @abstractmethod
    def decide_use(self, agreement_id: str, decide: Callable[[UsageCounts], UsageEntry]) -> UsageEntry:
        """Run ``decide`` with the agreement's counts and log its entry, atomically (see the module)."""

    @abstractmethod
    def record(self, entry: UsageEntry, outbox_messages: Sequence[NewOutboxMessage] = ()) -> UsageEntry:
        """Log an entry that decides nothing (a notification), queueing ``outbox_messages`` with it."""

    @abstractmethod
    def usage_log(self, agreement_id: str) -> list[UsageEntry]: ...

    @abstractmethod
    def destroy(self, agreement_id: str, certificate: StoredCertificate,
                outbox_messages: Sequence[NewOutboxMessage] = ()) -> list[ProtectedItem]:
        """Mark the items deleted, drop the key, keep ``certificate``, queue ``outbox_messages``; returns the items."""

    @abstractmethod
    def certificates(self, agreement_id: str) -> list[StoredCertificate]: ...

    @abstractmethod
    def agreements_held(self) -> list[str]:
        """Agreements whose key is not destroyed (whose data may still be here)."""
