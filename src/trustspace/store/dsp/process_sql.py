"""Negotiations, agreements and transfers: create them idempotently, move them under a row lock.

Each create and each transition writes the process, its outbox messages and one event in one transaction.
The reads and moves every protocol message makes run on prebuilt Core statements (``core``); listings
and the rare paths keep the ORM.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Select, select
from sqlalchemy.exc import IntegrityError

from trustspace.core.errors import Conflict, NotFound, ValidationFailed
from trustspace.store.dsp import core as core
from trustspace.store.dsp import mapping as rows
from trustspace.store.dsp.interfaces import ProcessStore, StateOf
from trustspace.store.dsp.models import AgreementRow, NegotiationRow, TransferRow
from trustspace.store.dsp.outbox_sql import OutboxSql
from trustspace.store.dsp.records import (
    Agreement,
    Change,
    Negotiation,
    NewOutboxMessage,
    OutboxMessage,
    TransferRecord,
)

Record = TypeVar("Record", Negotiation, TransferRecord)

_KIND_OF: dict[type[NegotiationRow | TransferRow], str] = {NegotiationRow: "negotiation", TransferRow: "transfer"}


class SqlProcessStore(OutboxSql, ProcessStore):
    # --- negotiations -------------------------------------------------------------------------------

    def create_negotiation(
        self, negotiation: Negotiation, outbox: list[NewOutboxMessage], detail: str
    ) -> tuple[Negotiation, bool]:
        return self._create(Negotiation, rows.negotiation_row(negotiation), outbox, detail)

    def get_negotiation(self, negotiation_id: str) -> Negotiation | None:
        with self._db.snapshot() as connection:
            row = core.get_process(connection, "negotiation", negotiation_id)
            return None if row is None else core.record(Negotiation, row)

    def find_negotiation(
        self, role: str, *, consumer_pid: str | None = None, provider_pid: str | None = None
    ) -> Negotiation | None:
        _pids_given(consumer_pid, provider_pid)
        with self._db.snapshot() as connection:
            row = core.find_by_pids(connection, "negotiation", rows.check_role(role), consumer_pid, provider_pid)
            return None if row is None else core.record(Negotiation, row)

    def list_negotiations(self, role: str | None = None, state: str | None = None) -> list[Negotiation]:
        with self._db.snapshot() as connection:
            found = connection.execute(_listing("negotiation", role, state))
            return [core.record(Negotiation, row._mapping) for row in found]

    def transition_negotiation(
        self,
        negotiation_id: str,
        expected_state: str,
        new_state: str,
        change: Change,
        outbox: list[NewOutboxMessage],
        detail: str,
    ) -> Negotiation:
        _refuse(change.data_address is not None, "data_address", "a negotiation has no data address")
        _check_change(change)
        agreement = _agreement_values(negotiation_id, change)
        extra: dict[str, Any] = {}
        if agreement is not None:
            extra["agreement_id"] = agreement["id"]
        elif change.agreement_id is not None:
            extra["agreement_id"] = change.agreement_id
        return self._transition(Negotiation, negotiation_id, expected_state, new_state, change, outbox, detail,
                                extra, agreement)

    # --- agreements ---------------------------------------------------------------------------------

    def get_agreement(self, agreement_id: str) -> Agreement | None:
        with self._db.reading() as session:
            row = session.get(AgreementRow, agreement_id)
            return None if row is None else rows.agreement(row)

    def list_agreements(self) -> list[Agreement]:
        query = select(AgreementRow).order_by(AgreementRow.signed_at, AgreementRow.id)
        with self._db.reading() as session:
            return [rows.agreement(row) for row in session.scalars(query)]

    # --- transfers ----------------------------------------------------------------------------------

    def create_transfer(
        self, transfer: TransferRecord, outbox: list[NewOutboxMessage], detail: str
    ) -> tuple[TransferRecord, bool]:
        return self._create(TransferRecord, rows.transfer_row(transfer), outbox, detail)

    def get_transfer(self, transfer_id: str) -> TransferRecord | None:
        with self._db.snapshot() as connection:
            row = core.get_process(connection, "transfer", transfer_id)
            return None if row is None else core.record(TransferRecord, row)

    def find_transfer(
        self, role: str, *, consumer_pid: str | None = None, provider_pid: str | None = None
    ) -> TransferRecord | None:
        _pids_given(consumer_pid, provider_pid)
        with self._db.snapshot() as connection:
            row = core.find_by_pids(connection, "transfer", rows.check_role(role), consumer_pid, provider_pid)
            return None if row is None else core.record(TransferRecord, row)

    def list_transfers(
        self, role: str | None = None, state: str | None = None, agreement_id: str | None = None
    ) -> list[TransferRecord]:
        query = _listing("transfer", role, state)
        if agreement_id is not None:
            query = query.where(core.TRANSFERS.c.agreement_id == agreement_id)
        with self._db.snapshot() as connection:
            return [core.record(TransferRecord, row._mapping) for row in connection.execute(query)]

    def transition_transfer(
        self,
        transfer_id: str,
        expected_state: str,
        new_state: str,
        change: Change,
        outbox: list[NewOutboxMessage],
        detail: str,
    ) -> TransferRecord:
        _refuse(change.agreement is not None, "agreement", "agreements are stored with their negotiation")
        _refuse(change.agreement_id is not None, "agreement_id", "a transfer's agreement never changes")
        _check_change(change)
        extra = {} if change.data_address is None else {"data_address": change.data_address}
        return self._transition(TransferRecord, transfer_id, expected_state, new_state, change, outbox, detail,
                                extra, None)

    # --- both kinds ---------------------------------------------------------------------------------

    def _transition(self, kind: type[Record], process_id: str, expected_state: str, new_state: str,
                    change: Change, outbox: list[NewOutboxMessage], detail: str, extra: dict[str, Any],
                    agreement: dict[str, Any] | None) -> Record:
        """Move one process under its row lock: the process, its agreement, its outbox and one event."""
        name = "negotiation" if kind is Negotiation else "transfer"
        now = self._now()
        queued = [core.outbox_values(message, now) for message in outbox]
        with self._db.writing() as connection:
            row = _locked(connection, name, process_id, expected_state)
            before = core.record(kind, row)
            queued += [core.outbox_values(message, now) for message in self._moved(before, new_state, change)]
            values = {**_common_values(row, new_state, change, now), **extra}
            # The new state is written before anything below can fail.
            core.move_process(connection, name, process_id, values)
            if agreement is not None:
                _add_agreement(connection, agreement)
            core.queue(connection, queued)
            core.add_event(connection, name, process_id, values["state"], detail, now)
            return core.record(kind, {**row, **values})

    def _moved(self, before: Negotiation | TransferRecord, new_state: str, change: Change) -> list[NewOutboxMessage]:
        """More messages to queue with a move, decided from the process as it stands under the row lock."""
        if new_state == before.state:
            return []
        return self.state_evidence(before, new_state, change)

    def state_evidence(self, before: Negotiation | TransferRecord, new_state: str,
                       change: Change) -> list[NewOutboxMessage]:
        """What a store with evidence queues about a process moving to ``new_state``; nothing here."""
        return []

    def note_problem(self, process_kind: str, process_id: str, reason: str | None, at: datetime) -> None:
        kind = rows.check_kind(process_kind)
        when = rows.aware(at, "at")
        with self._db.writing() as connection:
            row = core.get_process(connection, kind, process_id, lock=True)
            if row is None:
                raise NotFound(f"no {kind} {process_id}", field="process_id")
            core.move_process(connection, kind, process_id, {"reason": reason, "updated_at": when})
            core.add_event(connection, kind, process_id, row["state"], reason or "problem cleared", when)

    def mark_delivered(self, message: OutboxMessage, at: datetime, provider_pid: str | None = None) -> None:
        kind = rows.check_kind(message.process_kind)
        when = rows.aware(at, "at")
        with self._db.writing() as connection:
            core.mark_sent(connection, message.id, when)
            row = core.get_process(connection, kind, message.process_id, lock=True)
            if row is None:
                return
            values: dict[str, Any] = {}
            learnt = []
            if provider_pid and row["provider_pid"] is None:
                values["provider_pid"] = provider_pid
                learnt.append("counter-party acknowledged")
            if row["reason"] and row["state"] != "TERMINATED":
                values["reason"] = None
                learnt.append("problem cleared")
            if values:
                core.move_process(connection, kind, message.process_id, {**values, "updated_at": when})
                core.add_event(connection, kind, message.process_id, row["state"], "; ".join(learnt), when)

    def overdue(self, now: datetime) -> list[tuple[str, str]]:
        current = rows.aware(now, "now")
        found: list[tuple[datetime, str, str]] = []
        with self._db.reading() as session:
            for model in (NegotiationRow, TransferRow):
                query = (
                    select(model.deadline_at, model.id)
                    .where(model.deadline_at < current)
                    .where(model.state.not_in(rows.TERMINAL_STATES))
                )
                found.extend((deadline, _KIND_OF[model], pid) for deadline, pid in session.execute(query) if deadline)
        return [(kind, pid) for _, kind, pid in sorted(found)]

    def waiting(self, negotiations: Sequence[StateOf], transfers: Sequence[StateOf]
                ) -> tuple[list[Negotiation], list[TransferRecord]]:
        with self._db.snapshot() as connection:
            found = connection.execute(core.in_states("negotiation", tuple(negotiations)))
            waiting_negotiations = [core.record(Negotiation, row._mapping) for row in found]
            found = connection.execute(core.in_states("transfer", tuple(transfers)))
            waiting_transfers = [core.record(TransferRecord, row._mapping) for row in found]
        return waiting_negotiations, waiting_transfers

    def _create(self, kind: type[Record], row: NegotiationRow | TransferRow, outbox: list[NewOutboxMessage],
                detail: str) -> tuple[Record, bool]:
        """Insert unless the (role, counter_party, consumer_pid) key exists, in which case return that one.

        The check inside the transaction answers the common repeat; the unique constraint answers a repeat
        racing this one (on PostgreSQL both may pass the check), after which the winner is read afresh.
        """
        name = "negotiation" if kind is Negotiation else "transfer"
        values = {column.key: getattr(row, column.key) for column in core.PROCESS_TABLES[name].columns}
        now = self._now()
        queued = [core.outbox_values(message, now) for message in outbox]
        try:
            with self._db.writing() as connection:
                existing = core.find_by_key(connection, name, values)
                if existing is not None:
                    return core.record(kind, existing), False
                core.add_process(connection, name, values)
                core.queue(connection, queued)
                core.add_event(connection, name, row.id, row.state, detail, now)
        except IntegrityError as error:
            with self._db.writing() as connection:
                existing = core.find_by_key(connection, name, values)
                if existing is None:  # not the key: the id itself is taken
                    raise Conflict(f"a {name} with id {row.id} exists", field="id") from error
                return core.record(kind, existing), False
        return core.record(kind, values), True


# --- queries and steps used inside the transactions above ----------------------------------------------


def _refuse(condition: bool, field: str, message: str) -> None:
    if condition:
        raise ValidationFailed(message, field=f"change.{field}")


def _check_change(change: Change) -> None:
    """Everything about a ``Change`` that can be checked before the transaction starts."""
    if change.clear_deadline and change.deadline_at is not None:
        raise ValidationFailed("set a deadline or clear it, not both", field="change.deadline_at")
    rows.optional_aware(change.deadline_at, "change.deadline_at")
    rows.optional_document(change.details, "change.details")
    rows.optional_document(change.data_address, "change.data_address")


def _agreement_values(negotiation_id: str, change: Change) -> dict[str, Any] | None:
    """The agreement to store with this transition, checked before the transaction starts."""
    agreement = change.agreement
    if agreement is None:
        return None
    if agreement.negotiation_id != negotiation_id:
        raise ValidationFailed("the agreement belongs to another negotiation", field="change.agreement")
    if change.agreement_id is not None and change.agreement_id != agreement.id:
        raise ValidationFailed("agreement_id differs from the agreement's id", field="change.agreement_id")
    row = rows.agreement_row(agreement)
    return {column.key: getattr(row, column.key) for column in core.AGREEMENTS.columns}


def _add_agreement(connection: Connection, values: dict[str, Any]) -> None:
    try:
        core.add_agreement(connection, values)
    except IntegrityError as error:
        # The unique negotiation_id or the primary key: the transaction is rolled back as Conflict leaves.
        message = f"an agreement with id {values['id']} or for negotiation {values['negotiation_id']} exists"
        raise Conflict(message, field="change.agreement") from error


def _locked(connection: Connection, kind: str, process_id: str, expected_state: str) -> core.Fields:
    """The process, row-locked until commit, provided it is still in the state the caller decided from."""
    row = core.get_process(connection, kind, process_id, lock=True)
    if row is None:
        raise NotFound(f"no {kind} {process_id}", field="process_id")
    if row["state"] != expected_state:
        raise Conflict(f"{kind} {process_id} is {row['state']}, not {expected_state}", field="state")
    return row


def _common_values(row: core.Fields, new_state: str, change: Change, now: datetime) -> dict[str, Any]:
    """The columns a move sets that both kinds have. ``None`` in ``change`` leaves a field as it is."""
    values: dict[str, Any] = {"state": str(new_state), "updated_at": now}  # plain text, also for enum members
    if change.provider_pid is not None:
        values["provider_pid"] = change.provider_pid
    if change.reason is not None:
        values["reason"] = change.reason
    if change.details is not None:
        values["details"] = {**row["details"], **change.details}
    if change.clear_deadline:
        values["deadline_at"] = None
    elif change.deadline_at is not None:
        values["deadline_at"] = rows.aware(change.deadline_at, "change.deadline_at")
    return values


def _pids_given(consumer_pid: str | None, provider_pid: str | None) -> None:
    if consumer_pid is None and provider_pid is None:
        raise ValidationFailed("give consumer_pid, provider_pid or both", field="consumer_pid")


def _listing(kind: str, role: str | None, state: str | None) -> Select[Any]:
    table = core.PROCESS_TABLES[kind]
    query = select(table).order_by(table.c.created_at, table.c.id)
    if role is not None:
        query = query.where(table.c.role == rows.check_role(role))
    if state is not None:
        query = query.where(table.c.state == state)
    return query
