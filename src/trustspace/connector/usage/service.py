"""The usage service: every use of protected data is decided, logged, then served, with its obligations.

Order of a use: find the item; decide and log in one transaction (``UsageStore.decide_use``); open the
ciphertext and authenticate its first chunk; run the obligations in the order the guard gave them
(watermark, notify); stream; then, if the agreement says so, delete. The log row is committed before the
first byte leaves, so a crash anywhere after it spends the use and a crash before it serves nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import Any, Protocol

from trustspace.connector.usage import certificate
from trustspace.connector.usage.guard import (
    DELETE,
    EXPORT,
    NOTIFY,
    WATERMARK,
    GuardDecision,
    UsageGuard,
    UsageRequest,
    agreement_expiry,
)
from trustspace.connector.usage.vault import ProtectedStore
from trustspace.connector.usage.watermark import as_parquet, watermark_csv
from trustspace.core.clock import Clock
from trustspace.core.errors import Conflict, Forbidden, NotFound
from trustspace.core.keys import SigningKey
from trustspace.store.dsp.records import Agreement, NewOutboxMessage
from trustspace.store.usage.interfaces import UsageStore
from trustspace.store.usage.records import (
    DENY,
    NOTICE,
    PERMIT,
    ProtectedItem,
    StoredCertificate,
    UsageCounts,
    UsageEntry,
)

log = logging.getLogger("trustspace.connector.usage")


class UsageDenied(Forbidden):
    slug = "usage-denied"
    title = "Use not permitted by the agreement"


@dataclass(frozen=True)
class UsageAsk:
    agreement_id: str
    purpose: str
    application: str
    reader: str
    action: str = "read"
    item_id: str | None = None
    recipient: str | None = None
    format: str = "csv"  # of an export: csv or parquet


@dataclass(frozen=True)
class UsageEvent:
    """What a notifier is told: one permitted use, already logged as ``entry``."""

    agreement: Agreement
    entry: UsageEntry


class UsageNotifier(Protocol):
    def notify(self, event: UsageEvent) -> None: ...


class LogNotifier:
    """The default notify-on-use: a ``notice`` line in the usage log and, with ``ledger``, a signed
    ``usage-decision`` statement about the agreement queued with it, which the provider finds in the ledger
    under its agreement (the reader's name stays local)."""

    def __init__(self, store: UsageStore,
                 ledger: Callable[[Agreement, UsageEntry], NewOutboxMessage] | None = None) -> None:
        self.store, self.ledger = store, ledger

    def notify(self, event: UsageEvent) -> None:
        entry = event.entry
        outbox = [] if self.ledger is None else [self.ledger(event.agreement, entry)]
        self.store.record(UsageEntry(agreement_id=entry.agreement_id, action="notify", reader=entry.reader,
                                     decision=NOTICE, at=entry.at, purpose=entry.purpose,
                                     application=entry.application, item_id=entry.item_id,
                                     explanation=f"{entry.action} #{entry.id} noticed for the provider "
                                                 f"{event.agreement.provider}"), outbox)


@dataclass(frozen=True)
class Signer:
    """Who signs destruction certificates, and how their ledger statement is queued (None: not logged)."""

    key: SigningKey
    did: str
    verification_method: str
    ledger: Callable[[Agreement | None, dict[str, Any]], NewOutboxMessage] | None = None


@dataclass(frozen=True)
class Served:
    item: ProtectedItem
    entry: UsageEntry
    body: Iterator[bytes]
    media_type: str


class UsageService:
    def __init__(self, store: UsageStore, vault: ProtectedStore, agreements: Callable[[str], Agreement | None],
                 guard: UsageGuard, signer: Signer, clock: Clock, notifier: UsageNotifier | None = None) -> None:
        self.store, self.vault, self.agreements, self.guard = store, vault, agreements, guard
        self.signer, self.clock = signer, clock
        self.notifier: UsageNotifier = notifier or LogNotifier(store)

    # --- uses ---------------------------------------------------------------------------------------------
    def use(self, ask: UsageAsk) -> Served:
        agreement = self.agreements(ask.agreement_id)
        try:
            item = self._item(ask)
        except UsageDenied as gone:
            raise self._refused_after_destruction(ask, agreement, gone) from None
        decided: list[GuardDecision] = []

        def decide(counts: UsageCounts) -> UsageEntry:
            at = self.clock.now()
            request = UsageRequest(ask.action, ask.purpose, ask.application, ask.reader, at, counts, ask.recipient)
            decided.append(self.guard.decide(agreement, request))
            return UsageEntry(agreement_id=ask.agreement_id, action=ask.action, reader=ask.reader,
                              decision=PERMIT if decided[-1].permit else DENY, explanation=decided[-1].explanation,
                              at=at, purpose=ask.purpose, application=ask.application, item_id=item.id)

        entry = self.store.decide_use(ask.agreement_id, decide)
        decision = decided[-1]
        if not decision.permit:
            if DELETE in decision.obligations:
                self._destroy_quietly(ask.agreement_id, "expired")
            raise UsageDenied(decision.explanation, field="agreementId")
        assert agreement is not None  # a guard never permits without one
        return self._serve(agreement, item, entry, decision.obligations, ask.format)

    def _serve(self, agreement: Agreement, item: ProtectedItem, entry: UsageEntry,
               obligations: tuple[str, ...], fmt: str = "csv") -> Served:
        chunks = self.vault.open(item)
        body: Iterator[bytes] = chain([next(chunks)], chunks)  # the first chunk authenticates before any byte
        media = "application/octet-stream"
        if entry.action == EXPORT and WATERMARK not in obligations:
            raise Conflict("an export is always watermarked; the guard did not ask for it", field="obligations")
        for obligation in obligations:
            if obligation == WATERMARK:
                marked = watermark_csv(body, self.vault.wrapper.watermark_key, agreement.id, entry.reader,
                                       f"e{entry.id}")
                body, media = chain([next(marked)], marked), "text/csv; charset=utf-8"
                if fmt == "parquet":  # the marked rows as a table: the mark is a column like the others
                    body, media = iter([as_parquet(body)]), "application/vnd.apache.parquet"
            elif obligation == NOTIFY:
                self.notifier.notify(UsageEvent(agreement, entry))
        if DELETE in obligations:
            body = self._then_destroy(body, agreement.id)
        return Served(item, entry, body, media)

    def _then_destroy(self, body: Iterator[bytes], agreement_id: str) -> Iterator[bytes]:
        # Also when the reader stops early or the stream breaks: the use happened once the log said so.
        try:
            yield from body
        finally:
            self._destroy_quietly(agreement_id, "used")

    def _refused_after_destruction(self, ask: UsageAsk, agreement: Agreement | None,
                                   gone: UsageDenied) -> UsageDenied:
        """A use asked for after the data was destroyed: refused with the agreement's own reason when it has
        one (the count spent, the time over), and logged like any refusal."""
        said: list[str] = []

        def decide(counts: UsageCounts) -> UsageEntry:
            at = self.clock.now()
            request = UsageRequest(ask.action, ask.purpose, ask.application, ask.reader, at, counts, ask.recipient)
            verdict = self.guard.decide(agreement, request)
            said.append(gone.detail if verdict.permit or "destroyed" in verdict.explanation
                        else f"{verdict.explanation}; {gone.detail}")
            return UsageEntry(agreement_id=ask.agreement_id, action=ask.action, reader=ask.reader, decision=DENY,
                              explanation=said[-1], at=at, purpose=ask.purpose, application=ask.application)

        self.store.decide_use(ask.agreement_id, decide)
        return UsageDenied(said[-1], field="agreementId")

    def _item(self, ask: UsageAsk) -> ProtectedItem:
        if ask.item_id is not None:
            item = self.store.get_item(ask.item_id)
            if item is None or item.agreement_id != ask.agreement_id:
                raise NotFound(f"no protected item {ask.item_id} under agreement {ask.agreement_id}", field="itemId")
            if item.deleted_at is None:
                return item
        else:
            live = self.store.items(ask.agreement_id)
            if live:
                return live[-1]
        key = self.store.get_key(ask.agreement_id)
        if key is not None and key.wrapped_key is None:
            raise UsageDenied(f"the data of agreement {ask.agreement_id} was destroyed", field="agreementId")
        raise NotFound(f"no data was received under agreement {ask.agreement_id}", field="agreementId")

    # --- destruction --------------------------------------------------------------------------------------
    def destroy(self, agreement_id: str, reason: str) -> dict[str, Any]:
        """Remove the ciphertext, then the wrapped key with the signed certificate and its ledger statement."""
        key = self.store.get_key(agreement_id)
        if key is None:
            raise NotFound(f"no data is kept under agreement {agreement_id}", field="agreementId")
        if key.wrapped_key is None:
            return self._certificate_of(agreement_id)
        items = self.store.items(agreement_id)
        self.vault.shred(items)
        at = self.clock.now()
        signed = certificate.issue(self.signer.key, self.signer.did, self.signer.verification_method, agreement_id,
                                   items, reason, at)
        outbox = [] if self.signer.ledger is None else [self.signer.ledger(self.agreements(agreement_id), signed)]
        try:
            self.store.destroy(agreement_id, StoredCertificate(signed["id"], agreement_id, signed, at), outbox)
        except Conflict:
            return self._certificate_of(agreement_id)  # another call destroyed it meanwhile
        log.info("data of agreement %s destroyed (%s): %d items", agreement_id, reason, len(items))
        return signed

    def _certificate_of(self, agreement_id: str) -> dict[str, Any]:
        issued = self.store.certificates(agreement_id)
        if not issued:
            raise Conflict(f"the data of agreement {agreement_id} is being destroyed", field="agreementId")
        return issued[-1].certificate

    def _destroy_quietly(self, agreement_id: str, reason: str) -> None:
        try:
            self.destroy(agreement_id, reason)
        except Exception:
            # The use is refused (or served) either way; the sweep destroys it on its next round.
            log.exception("destroying the data of agreement %s failed", agreement_id)

    def sweep(self) -> list[str]:
        """Destroy the data of every agreement that has expired; returns their ids."""
        now, done = self.clock.now(), []
        for agreement_id in self.store.agreements_held():
            agreement = self.agreements(agreement_id)
            expiry = agreement_expiry(agreement.document) if agreement else None
            if expiry is not None and now >= expiry:
                self._destroy_quietly(agreement_id, "expired")
                done.append(agreement_id)
        return done
