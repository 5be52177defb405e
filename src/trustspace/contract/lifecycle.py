"""The digital contract's lifecycle (TC609-6-2025-14 §6, table C.1 ``contractStatus``) as one table of data.

Statuses and their codes: 01 initiated (发起), 02 negotiating (协商), 03 signing (签订) ending in 0301 signed
(签订成功) or 0302 signing failed (签订失败), 05 in fulfilment (履行中), 06 terminated (终止). The table has no
04; we keep the codes as printed. A failed signing may be negotiated again; termination is possible from every
status but itself (a contract may be abandoned before it is signed, and ended while it is fulfilled).
"""

from __future__ import annotations

from enum import StrEnum

from trustspace.core.errors import Conflict


class ContractStatus(StrEnum):
    INITIATED = "01"
    NEGOTIATING = "02"
    SIGNING = "03"
    SIGNED = "0301"
    SIGNING_FAILED = "0302"
    IN_FULFILMENT = "05"
    TERMINATED = "06"


class ContractEvent(StrEnum):
    NEGOTIATE = "negotiate"  # a party proposes other terms
    REQUEST_SIGNATURES = "request-signatures"  # the terms are settled; both parties are asked to sign
    BOTH_SIGNED = "both-signed"  # both signatures verified over the same revision
    SIGNING_FAILED = "signing-failed"  # a party refused, or a signature did not verify
    START_FULFILMENT = "start-fulfilment"  # filed, and the data may move
    TERMINATE = "terminate"


S, E = ContractStatus, ContractEvent
TRANSITIONS: dict[tuple[ContractStatus, ContractEvent], ContractStatus] = {
    (S.INITIATED, E.NEGOTIATE): S.NEGOTIATING,
    (S.INITIATED, E.REQUEST_SIGNATURES): S.SIGNING,
    (S.NEGOTIATING, E.NEGOTIATE): S.NEGOTIATING,
    (S.NEGOTIATING, E.REQUEST_SIGNATURES): S.SIGNING,
    (S.SIGNING, E.BOTH_SIGNED): S.SIGNED,
    (S.SIGNING, E.SIGNING_FAILED): S.SIGNING_FAILED,
    (S.SIGNING_FAILED, E.NEGOTIATE): S.NEGOTIATING,
    (S.SIGNED, E.START_FULFILMENT): S.IN_FULFILMENT,
    **{(status, E.TERMINATE): S.TERMINATED for status in S if status is not S.TERMINATED},
}


class IllegalContractTransition(Conflict):
    slug = "illegal-contract-transition"
    title = "The contract cannot move that way"


def next_status(current: ContractStatus, event: ContractEvent) -> ContractStatus:
    found = TRANSITIONS.get((current, event))
    if found is None:
        allowed = sorted(e.value for (s, e) in TRANSITIONS if s is current)
        raise IllegalContractTransition(
            f"a contract in status {current.value} ({current.name.lower()}) cannot {event.value}",
            field="contractStatus", hint=f"from {current.value}: {', '.join(allowed) or 'nothing (it has ended)'}")
    return found
