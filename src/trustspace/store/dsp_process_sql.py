"""Negotiations, agreements and transfers: create them idempotently, move them under a row lock.

Each create and each transition writes the process, its outbox messages and one event in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import ColumnElement, Select, and_, false, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trustspace.core.errors import Conflict, NotFound, ValidationFailed
from trustspace.store import dsp_mapping as rows
from trustspace.store.dsp_interfaces import ProcessStore, StateOf
from trustspace.store.dsp_models import AgreementRow, NegotiationRow, OutboxRow, TransferRow
from trustspace.store.dsp_outbox_sql import OutboxSql, write_event, write_outbox
from trustspace.store.dsp_records import Agreement, Change, Negotiation, NewOutboxMessage, TransferRecord

Row = TypeVar("Row", NegotiationRow, TransferRow)
Record = TypeVar("Record", Negotiation, TransferRecord)

_KIND_OF: dict[type[NegotiationRow | TransferRow], str] = {NegotiationRow: "negotiation", TransferRow: "transfer"}


class SqlProcessStore(OutboxSql, ProcessStore):
    # --- negotiations -------------------------------------------------------------------------------

    def create_negotiation(
        self, negotiation: Negotiation, outbox: list[NewOutboxMessage], detail: str
    ) -> tuple[Negotiation, bool]:
        return self._create(rows.negotiation_row(negotiation), outbox, detail, rows.negotiation)

    def get_negotiation(self, negotiation_id: str) -> Negotiation | None:
        with self._db.reading() as session:
            row = session.get(NegotiationRow, negotiation_id)
            return None if row is None else rows.negotiation(row)

    def find_negotiation(
        self, role: str, *, consumer_pid: str | None = None, provider_pid: str | None = None
    ) -> Negotiation | None:
        query = _by_pids(NegotiationRow, role, consumer_pid, provider_pid)
        with self._db.reading() as session:
            row = session.scalars(query).first()
            return None if row is None else rows.negotiation(row)

    def list_negotiations(self, role: str | None = None, state: str | None = None) -> list[Negotiation]:
        query = _listing(NegotiationRow, role, state)
        with self._db.reading() as session:
            return [rows.negotiation(row) for row in session.scalars(query)]

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
        agreement = _agreement_row(negotiation_id, change)
        now = self._now()
        queued = rows.outbox_rows(outbox, now)
        with self._db.transaction() as session:
            row = _locked(session, NegotiationRow, negotiation_id, expected_state)
            queued += self._moved(rows.negotiation(row), new_state, change, now)
            _apply_common(row, new_state, change, now)
            if agreement is not None:
                row.agreement_id = agreement.id
            elif change.agreement_id is not None:
                row.agreement_id = change.agreement_id
            session.flush()  # the new state is written before anything below can fail
            if agreement is not None:
                _add_agreement(session, agreement)
            write_outbox(session, queued)
            write_event(session, "negotiation", negotiation_id, row.state, detail, now)
            return rows.negotiation(row)

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
        return self._create(rows.transfer_row(transfer), outbox, detail, rows.transfer)

    def get_transfer(self, transfer_id: str) -> TransferRecord | None:
        with self._db.reading() as session:
            row = session.get(TransferRow, transfer_id)
            return None if row is None else rows.transfer(row)

    def find_transfer(
        self, role: str, *, consumer_pid: str | None = None, provider_pid: str | None = None
    ) -> TransferRecord | None:
        query = _by_pids(TransferRow, role, consumer_pid, provider_pid)
        with self._db.reading() as session:
            row = session.scalars(query).first()
            return None if row is None else rows.transfer(row)

    def list_transfers(
        self, role: str | None = None, state: str | None = None, agreement_id: str | None = None
    ) -> list[TransferRecord]:
        query = _listing(TransferRow, role, state)
        if agreement_id is not None:
            query = query.where(TransferRow.agreement_id == agreement_id)
        with self._db.reading() as session:
            return [rows.transfer(row) for row in session.scalars(query)]

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
        now = self._now()
        queued = rows.outbox_rows(outbox, now)
        with self._db.transaction() as session:
            row = _locked(session, TransferRow, transfer_id, expected_state)
            queued += self._moved(rows.transfer(row), new_state, change, now)
            _apply_common(row, new_state, change, now)
            if change.data_address is not None:
                row.data_address = change.data_address
            session.flush()  # the new state is written before anything below can fail
            write_outbox(session, queued)
            write_event(session, "transfer", transfer_id, row.state, detail, now)
            return rows.transfer(row)

    # --- both kinds ---------------------------------------------------------------------------------

    def _moved(self, before: Negotiation | TransferRecord, new_state: str, change: Change,
               now: datetime) -> list[OutboxRow]:
        """More messages to queue with a move, decided from the process as it stands under the row lock."""
        if new_state == before.state:
            return []
        return rows.outbox_rows(self.state_evidence(before, new_state, change), now)

    def state_evidence(self, before: Negotiation | TransferRecord, new_state: str,
                       change: Change) -> list[NewOutboxMessage]:
        """What a store with evidence queues about a process moving to ``new_state``; nothing here."""
        return []

    def note_problem(self, process_kind: str, process_id: str, reason: str | None, at: datetime) -> None:
        negotiation = rows.check_kind(process_kind) == "negotiation"
        when = rows.aware(at, "at")
        with self._db.transaction() as session:
            row: NegotiationRow | TransferRow
            if negotiation:
                row = _for_update(session, NegotiationRow, process_id)
            else:
                row = _for_update(session, TransferRow, process_id)
            row.reason = reason
            row.updated_at = when
            session.flush()
            write_event(session, process_kind, process_id, row.state, reason or "problem cleared", when)

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
        with self._db.reading() as session:
            found = session.scalars(_in_states(NegotiationRow, negotiations))
            waiting_negotiations = [rows.negotiation(row) for row in found]
            waiting_transfers = [rows.transfer(row) for row in session.scalars(_in_states(TransferRow, transfers))]
        return waiting_negotiations, waiting_transfers

    def _create(
        self, row: Row, outbox: list[NewOutboxMessage], detail: str, to_record: Callable[[Row], Record]
    ) -> tuple[Record, bool]:
        """Insert unless the (role, counter_party, consumer_pid) key exists, in which case return that one.

        The check inside the transaction answers the common repeat; the unique constraint answers a repeat
        racing this one (on PostgreSQL both may pass the check), after which the winner is read afresh.
        """
        model = type(row)
        kind = _KIND_OF[model]
        now = self._now()
        queued = rows.outbox_rows(outbox, now)
        try:
            with self._db.transaction() as session:
                existing = session.scalar(_by_key(model, row))
                if existing is not None:
                    return to_record(existing), False
                session.add(row)
                session.flush()
                write_outbox(session, queued)
                write_event(session, kind, row.id, row.state, detail, now)
        except IntegrityError as error:
            with self._db.transaction() as session:
                existing = session.scalar(_by_key(model, row))
                if existing is None:  # not the key: the id itself is taken
                    raise Conflict(f"a {kind} with id {row.id} exists", field="id") from error
                return to_record(existing), False
        return to_record(row), True


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


def _agreement_row(negotiation_id: str, change: Change) -> AgreementRow | None:
    """The agreement to store with this transition, checked before the transaction starts."""
    agreement = change.agreement
    if agreement is None:
        return None
    if agreement.negotiation_id != negotiation_id:
        raise ValidationFailed("the agreement belongs to another negotiation", field="change.agreement")
    if change.agreement_id is not None and change.agreement_id != agreement.id:
        raise ValidationFailed("agreement_id differs from the agreement's id", field="change.agreement_id")
    return rows.agreement_row(agreement)


def _add_agreement(session: Session, agreement: AgreementRow) -> None:
    try:
        session.add(agreement)
        session.flush()
    except IntegrityError as error:
        # The unique negotiation_id or the primary key: the transaction is rolled back as Conflict leaves.
        message = f"an agreement with id {agreement.id} or for negotiation {agreement.negotiation_id} exists"
        raise Conflict(message, field="change.agreement") from error


def _locked(session: Session, model: type[Row], process_id: str, expected_state: str) -> Row:
    """The process, row-locked until commit, provided it is still in the state the caller decided from."""
    row = _for_update(session, model, process_id)
    if row.state != expected_state:
        raise Conflict(f"{_KIND_OF[model]} {process_id} is {row.state}, not {expected_state}", field="state")
    return row


def _for_update(session: Session, model: type[Row], process_id: str) -> Row:
    """The process, row-locked until commit (PostgreSQL; SQLite's writer lock is already held)."""
    row = session.scalar(select(model).where(model.id == process_id).with_for_update())
    if row is None:
        raise NotFound(f"no {_KIND_OF[model]} {process_id}", field="process_id")
    return row


def _apply_common(row: NegotiationRow | TransferRow, new_state: str, change: Change, now: datetime) -> None:
    """The parts of a ``Change`` both kinds have. ``None`` leaves a field as it is."""
    row.state = str(new_state)  # plain text, also when given a state enum member
    row.updated_at = now
    if change.provider_pid is not None:
        row.provider_pid = change.provider_pid
    if change.reason is not None:
        row.reason = change.reason
    if change.details is not None:
        # A new dict: the JSON column only notices assignment, not changes inside the old one.
        row.details = {**row.details, **change.details}
    if change.clear_deadline:
        row.deadline_at = None
    elif change.deadline_at is not None:
        row.deadline_at = rows.aware(change.deadline_at, "change.deadline_at")


def _by_key(model: type[Row], row: Row) -> Select[Row]:
    return select(model).where(
        model.role == row.role, model.counter_party == row.counter_party, model.consumer_pid == row.consumer_pid
    )


def _by_pids(model: type[Row], role: str, consumer_pid: str | None, provider_pid: str | None) -> Select[Row]:
    if consumer_pid is None and provider_pid is None:
        raise ValidationFailed("give consumer_pid, provider_pid or both", field="consumer_pid")
    query = select(model).where(model.role == rows.check_role(role))
    if consumer_pid is not None:
        query = query.where(model.consumer_pid == consumer_pid)
    if provider_pid is not None:
        query = query.where(model.provider_pid == provider_pid)
    # A consumer_pid is only unique per counter-party; should two collide, the answer is still stable.
    return query.order_by(model.created_at, model.id)


def _listing(model: type[Row], role: str | None, state: str | None) -> Select[Row]:
    query = select(model).order_by(model.created_at, model.id)
    if role is not None:
        query = query.where(model.role == rows.check_role(role))
    if state is not None:
        query = query.where(model.state == state)
    return query


def _in_states(model: type[Row], pairs: Sequence[StateOf]) -> Select[Row]:
    wanted: list[ColumnElement[bool]] = [
        model.state == state if role is None else and_(model.role == rows.check_role(role), model.state == state)
        for role, state in pairs
    ]
    return select(model).where(or_(false(), *wanted)).order_by(model.created_at, model.id)
