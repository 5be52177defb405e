"""The contract lifecycle as a table: the paths the standard's statuses allow, and refusals that say what is
possible instead."""

from __future__ import annotations

import pytest

from trustspace.contract.lifecycle import (
    TRANSITIONS,
    ContractEvent,
    ContractStatus,
    IllegalContractTransition,
    next_status,
)

S, E = ContractStatus, ContractEvent


def walk(*events: ContractEvent) -> ContractStatus:
    status = S.INITIATED
    for event in events:
        status = next_status(status, event)
    return status


def test_negotiated_signed_fulfilled_and_terminated() -> None:
    assert walk(E.NEGOTIATE, E.NEGOTIATE, E.REQUEST_SIGNATURES, E.BOTH_SIGNED, E.START_FULFILMENT,
                E.TERMINATE) is S.TERMINATED


def test_a_failed_signing_may_be_negotiated_again() -> None:
    assert walk(E.REQUEST_SIGNATURES, E.SIGNING_FAILED, E.NEGOTIATE, E.REQUEST_SIGNATURES,
                E.BOTH_SIGNED) is S.SIGNED


def test_the_codes_are_the_standards() -> None:
    assert [s.value for s in S] == ["01", "02", "03", "0301", "0302", "05", "06"]


def test_every_status_but_terminated_may_end() -> None:
    assert {s for (s, e) in TRANSITIONS if e is E.TERMINATE} == set(S) - {S.TERMINATED}


@pytest.mark.parametrize(("status", "event"), [
    (S.INITIATED, E.START_FULFILMENT),  # fulfilment needs both signatures
    (S.SIGNING, E.START_FULFILMENT),
    (S.IN_FULFILMENT, E.NEGOTIATE),  # a signed contract is not renegotiated in place
    (S.TERMINATED, E.TERMINATE),
])
def test_illegal_moves_are_refused_naming_what_is_possible(status: ContractStatus, event: ContractEvent) -> None:
    with pytest.raises(IllegalContractTransition) as refused:
        next_status(status, event)
    assert refused.value.field == "contractStatus" and refused.value.hint
