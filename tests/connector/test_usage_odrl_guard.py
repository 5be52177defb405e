"""The consumer's usage guard on the ODRL decision point: the agreement decides each local use, with its
explanation; obligations it cannot run refuse; delete-after-use waits for the last use a count permits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from trustspace.connector.usage.guard import DELETE, EXPORT, NOTIFY, READ, WATERMARK, UsageRequest
from trustspace.connector.usage.odrl_guard import OdrlUsageGuard
from trustspace.store.dsp.records import Agreement
from trustspace.store.usage.records import UsageCounts

NOW = datetime(2027, 1, 2, 10, 0, tzinfo=UTC)
PURPOSE = {"leftOperand": "purpose", "operator": "eq", "rightOperand": "credit assessment"}
THREE = {"leftOperand": "count", "operator": "lteq", "rightOperand": 3}
WEEK = {"leftOperand": "dateTime", "operator": "lt", "rightOperand": "2027-01-08T00:00:00Z"}


def agreement(**document: Any) -> Agreement:
    body = {"@id": "agr-1", "@type": "Agreement", "target": "tax", "assigner": "did:web:tax",
            "assignee": "did:web:bank", **document}
    return Agreement("agr-1", "neg-1", "tax", "did:web:tax", "did:web:bank", body, NOW)


def use(action: str = READ, used: int = 0, purpose: str = "credit assessment", **more: Any) -> UsageRequest:
    return UsageRequest(action, purpose, "risk-app", "analyst", NOW, UsageCounts({READ: used}), **more)


def guard() -> OdrlUsageGuard:
    return OdrlUsageGuard(lambda _: False)


STORY = agreement(permission=[{"action": "use", "constraint": [PURPOSE, THREE, WEEK]}],
                  prohibition=[{"action": "distribute"}], obligation=[{"action": "delete"}], conflict="prohibit")


def test_three_reads_then_the_fourth_is_denied_naming_the_count() -> None:
    decisions = [guard().decide(STORY, use(used=n)) for n in range(4)]
    assert [d.permit for d in decisions] == [True, True, True, False]
    assert "expected ≤ 3" in decisions[3].explanation and "3" in decisions[3].explanation


def test_delete_after_use_waits_for_the_last_use_the_count_permits() -> None:
    assert DELETE not in guard().decide(STORY, use(used=1)).obligations
    assert guard().decide(STORY, use(used=2)).obligations == (NOTIFY, DELETE)


def test_another_purpose_is_denied_with_the_expected_one() -> None:
    refused = guard().decide(STORY, use(purpose="marketing"))
    assert not refused.permit and "credit assessment" in refused.explanation and "marketing" in refused.explanation


def test_an_export_for_another_party_is_distribution_and_prohibited() -> None:
    assert guard().decide(STORY, use(EXPORT)).obligations[0] == WATERMARK
    refused = guard().decide(STORY, use(EXPORT, recipient="did:web:broker"))
    assert not refused.permit and "distribute" in refused.explanation


def test_a_read_after_the_agreement_ends_is_denied_and_destroys() -> None:
    late = UsageRequest(READ, "credit assessment", "risk-app", "analyst", datetime(2027, 1, 9, tzinfo=UTC),
                        UsageCounts({}))
    refused = guard().decide(STORY, late)
    assert not refused.permit and refused.obligations == (DELETE,) and "expired" in refused.explanation


def test_an_obligation_this_connector_cannot_run_refuses() -> None:
    paying = agreement(permission=[{"action": "use", "duty": [{"action": "compensate"}]}])
    refused = guard().decide(paying, use())
    assert not refused.permit and "compensate" in refused.explanation


def test_a_limit_per_time_unit_is_refused_rather_than_left_unenforced() -> None:
    per_day = agreement(permission=[{"action": "use", "constraint": [
        {"leftOperand": "frequency", "operator": "lteq", "rightOperand": 2, "unit": "day"}]}])
    assert not guard().decide(per_day, use()).permit


def test_membership_constraints_were_the_providers_to_check() -> None:
    members = agreement(permission=[{"action": "use", "constraint": [
        {"leftOperand": "trustspace:role", "operator": "isAnyOf", "rightOperand": ["consumer"]}]}])
    assert guard().decide(members, use()).permit


def test_no_agreement_and_an_invalid_policy_are_refused() -> None:
    assert not guard().decide(None, use()).permit
    broken = agreement(permission=[{"action": "teleport"}])
    assert "not valid" in guard().decide(broken, use()).explanation
