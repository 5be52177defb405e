"""The connector's Dataspace Protocol repository.

Rules every implementation keeps:
- Creating a process, or moving it to a new state, writes the process, its outbox messages and its event
  in ONE transaction (the outbox pattern): a crash after commit loses no message, a crash before commit
  leaves no trace.
- ``transition_*`` takes the state the caller believes the process is in and raises ``Conflict`` if it is
  not (someone else moved it first); it never overwrites a concurrent decision.
- Process ids: ``id`` is ours; on the provider side it equals ``provider_pid``, on the consumer side it
  equals ``consumer_pid``. The counter-party's pid is stored when learned.
- ``create_*`` is idempotent for the receiving side: creating a provider negotiation with a
  (counter_party, consumer_pid) pair that exists returns the existing one with ``created=False``.
- Outbox claiming is safe across replicas: claimed messages are leased until ``lease_until`` (PostgreSQL:
  ``FOR UPDATE SKIP LOCKED``) and are invisible to other claimers meanwhile.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from trustspace.store.dsp.records import (
    Agreement,
    Asset,
    Change,
    Negotiation,
    NewOutboxMessage,
    OfferRecord,
    OutboxMessage,
    PolicyRecord,
    ProcessEvent,
    Receipted,
    TransferRecord,
)

# (role, state) of a process; role None matches either role.
StateOf = tuple[str | None, str]


class CatalogStore(ABC):
    @abstractmethod
    def add_asset(self, asset: Asset) -> Asset:
        """Conflict if the id exists."""

    @abstractmethod
    def get_asset(self, asset_id: str) -> Asset | None: ...

    @abstractmethod
    def list_assets(self) -> list[Asset]: ...

    @abstractmethod
    def add_policy(self, policy: PolicyRecord) -> PolicyRecord: ...

    @abstractmethod
    def get_policy(self, policy_id: str) -> PolicyRecord | None: ...

    @abstractmethod
    def list_policies(self) -> list[PolicyRecord]: ...

    @abstractmethod
    def add_offer(self, offer: OfferRecord, outbox: Sequence[NewOutboxMessage] = ()) -> OfferRecord:
        """NotFound (field assetId / policyId) if either is unknown; Conflict if the id exists.

        ``outbox`` (the listing's evidence) is queued in the same transaction: both are stored, or neither.
        """

    @abstractmethod
    def get_offer(self, offer_id: str) -> OfferRecord | None: ...

    @abstractmethod
    def list_offers(self, asset_id: str | None = None) -> list[OfferRecord]: ...


@dataclass(frozen=True)
class Lanes:
    """Outbox lanes by process-id prefix: those that start with ``prefix`` (``inside``), or all the others."""

    prefix: str
    inside: bool = True


class ProcessStore(ABC):
    @abstractmethod
    def create_negotiation(
        self, negotiation: Negotiation, outbox: list[NewOutboxMessage], detail: str
    ) -> tuple[Negotiation, bool]:
        """Store a new negotiation with its first outbox messages and event. Returns (process, created)."""

    @abstractmethod
    def get_negotiation(self, negotiation_id: str) -> Negotiation | None: ...

    @abstractmethod
    def find_negotiation(self, role: str, *, consumer_pid: str | None = None,
                         provider_pid: str | None = None) -> Negotiation | None: ...

    @abstractmethod
    def list_negotiations(self, role: str | None = None, state: str | None = None) -> list[Negotiation]: ...

    @abstractmethod
    def transition_negotiation(
        self, negotiation_id: str, expected_state: str, new_state: str, change: Change,
        outbox: list[NewOutboxMessage], detail: str,
    ) -> Negotiation:
        """Move a negotiation. With ``change.agreement`` the agreement is stored in the same transaction."""

    @abstractmethod
    def get_agreement(self, agreement_id: str) -> Agreement | None: ...

    @abstractmethod
    def list_agreements(self) -> list[Agreement]: ...

    @abstractmethod
    def create_transfer(
        self, transfer: TransferRecord, outbox: list[NewOutboxMessage], detail: str
    ) -> tuple[TransferRecord, bool]: ...

    @abstractmethod
    def get_transfer(self, transfer_id: str) -> TransferRecord | None: ...

    @abstractmethod
    def find_transfer(self, role: str, *, consumer_pid: str | None = None,
                      provider_pid: str | None = None) -> TransferRecord | None: ...

    @abstractmethod
    def list_transfers(self, role: str | None = None, state: str | None = None,
                       agreement_id: str | None = None) -> list[TransferRecord]: ...

    @abstractmethod
    def transition_transfer(
        self, transfer_id: str, expected_state: str, new_state: str, change: Change,
        outbox: list[NewOutboxMessage], detail: str,
    ) -> TransferRecord: ...

    @abstractmethod
    def note_problem(self, process_kind: str, process_id: str, reason: str | None, at: datetime) -> None:
        """Set (or clear, with None) the readable reason on a process without changing its state, and
        record it as an event so watchers see it."""

    @abstractmethod
    def overdue(self, now: datetime) -> list[tuple[str, str]]:
        """(kind, id) of non-terminal processes whose deadline has passed."""

    @abstractmethod
    def waiting(self, negotiations: Sequence[StateOf], transfers: Sequence[StateOf]
                ) -> tuple[list[Negotiation], list[TransferRecord]]:
        """Negotiations and transfers in any of the given (role, state) pairs (role None: either), read in one
        snapshot, oldest first: what a worker round looks at."""

    # outbox
    @abstractmethod
    def claim_outbox(self, now: datetime, lease_until: datetime, limit: int = 20, *,
                     lanes: Lanes | None = None) -> list[OutboxMessage]:
        """Due, unsent, unleased messages, oldest first, leased to the caller until ``lease_until``. A message
        is held back while an earlier unsent message of its process waits for a retry (per-process order).
        ``lanes`` claims only the messages whose process id starts with a prefix, or only the others."""

    @abstractmethod
    def mark_sent(self, message_id: int, at: datetime) -> None: ...

    @abstractmethod
    def mark_delivered(self, message: OutboxMessage, at: datetime, provider_pid: str | None = None) -> None:
        """``mark_sent``, and in the same transaction what the delivery taught us about its process: the
        provider's pid from the answer to an initial request (kept if the process has none yet), and that a
        problem the process shows is over (cleared unless the process was terminated). Either one is an event
        in the process's history; a process that is gone is left alone."""

    @abstractmethod
    def mark_failed(self, message_id: int, error: str, next_attempt_at: datetime) -> None:
        """Count the attempt, keep the error, release the lease, retry at ``next_attempt_at``."""

    @abstractmethod
    def drop_outbox(self, process_kind: str, process_id: str) -> int:
        """Give up on a process's unsent messages (it was terminated); returns how many."""

    @abstractmethod
    def pending_outbox(self, process_id: str | None = None) -> list[OutboxMessage]: ...

    @abstractmethod
    def mark_receipted(self, receipted: Sequence[Receipted], at: datetime) -> None:
        """Mark ledger messages sent and keep the receipt of each, in one transaction."""

    @abstractmethod
    def receipts(self, process_id: str) -> list[dict[str, Any]]: ...

    @abstractmethod
    def release_outbox(self, message_ids: Sequence[int]) -> None:
        """Release the lease of claimed, unsent messages without counting an attempt."""

    @abstractmethod
    def drop_message(self, message_id: int) -> bool:
        """Give up on one unsent message that its receiver refuses for good."""

    @abstractmethod
    def readdress(self, process_kind: str, process_id: str, old_base: str, new_base: str) -> int:
        """The counter-party now serves its endpoints under ``new_base``: in one transaction, the process's
        address and the URLs of its unsent messages under ``old_base`` move there, and the history says so.
        Returns how many messages moved; nothing changes (0) if the process's address is no longer
        ``old_base``."""

    @abstractmethod
    def queue_outbox(self, messages: Sequence[NewOutboxMessage]) -> None:
        """Queue messages that go with no state change (evidence of a data-plane decision), durably, in a
        transaction of their own."""

    # events
    @abstractmethod
    def events(self, after_id: int = 0, process_id: str | None = None, limit: int = 100) -> list[ProcessEvent]:
        ...
