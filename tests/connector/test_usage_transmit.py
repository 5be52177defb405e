"""policyTransmit: data derived under an agreement carries its policy. An export is watermarked with the
agreement; offering that file again through the connector needs a policy that keeps every term of the
original. The attack: a derived dataset republished under a policy that drops the original's terms."""

from __future__ import annotations

from pathlib import Path

import pytest
from usage_harness import PURPOSE, Harness, harness, policy

from trustspace.connector.usage.transmit import check_carried, origin_of, transmits
from trustspace.policy import PolicyInvalid

ROWS = b"taxpayer,income\nA,1\nB,2\n"
TRANSMIT = [{"action": "policyTransmit"}]
NO_RESALE = [{"action": "sell"}]


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return harness(tmp_path)


def exported(h: Harness) -> Path:
    h.agree(policy(PURPOSE, duty=TRANSMIT, prohibition=NO_RESALE))
    h.land(ROWS)
    target = h.tmp / "derived.csv"
    target.write_bytes(b"".join(h.service.use(h.ask("export")).body))
    return target


def test_an_export_under_policy_transmit_is_watermarked_with_its_agreement(h: Harness) -> None:
    source = exported(h)
    origin = origin_of({"type": "file", "path": str(source)}, h.agreements.get)
    assert origin is not None and origin.id == "agr-1" and transmits(origin.document)


def test_a_derived_dataset_that_drops_the_policy_is_refused(h: Harness) -> None:
    origin = origin_of({"type": "file", "path": str(exported(h))}, h.agreements.get)
    assert origin is not None
    with pytest.raises(PolicyInvalid) as no_prohibition:
        check_carried({"permission": [{"action": "use", "constraint": [PURPOSE]}]}, origin)
    assert no_prohibition.value.rule == "policy-not-transmitted"
    assert no_prohibition.value.pointer == "/policy/prohibition"
    with pytest.raises(PolicyInvalid) as no_purpose:
        check_carried({"permission": [{"action": "use"}], "prohibition": NO_RESALE}, origin)
    assert no_purpose.value.pointer == "/policy/permission/0/constraint" and "purpose" in no_purpose.value.detail


def test_a_policy_keeping_every_term_may_go_further(h: Harness) -> None:
    origin = origin_of({"type": "file", "path": str(exported(h))}, h.agreements.get)
    assert origin is not None
    stricter = {"permission": [{"action": "read", "constraint": [
        PURPOSE, {"leftOperand": "count", "operator": "lteq", "rightOperand": "1"}], "duty": TRANSMIT}],
        "prohibition": [*NO_RESALE, {"action": "distribute"}]}
    check_carried(stricter, origin)


def test_data_without_marks_or_without_the_duty_is_free_to_offer(h: Harness) -> None:
    plain = h.tmp / "plain.csv"
    plain.write_bytes(ROWS)
    assert origin_of({"type": "file", "path": str(plain)}, h.agreements.get) is None
    assert origin_of({"type": "sql", "url": "sqlite://", "query": "SELECT 1"}, h.agreements.get) is None
    h.agree(policy(PURPOSE), agreement_id="agr-2")
    h.land(ROWS, agreement_id="agr-2", transfer_id="tr-2")
    free = h.tmp / "free.csv"
    free.write_bytes(b"".join(h.service.use(h.ask("export", agreement_id="agr-2")).body))
    assert origin_of({"type": "file", "path": str(free)}, h.agreements.get) is None
