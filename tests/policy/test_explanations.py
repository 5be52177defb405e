"""A decision explains itself in English and in Chinese: rule, constraint, actual value and expected value."""

from __future__ import annotations

from policy_helpers import ask, constraint, policy_with

from trustspace.policy import evaluate, parse_policy


def test_a_denial_names_the_rule_the_constraint_and_both_values_in_english() -> None:
    decision = evaluate(policy_with(constraint("purpose", "eq", "credit-assessment"),
                                    constraint("count", "lteq", 3)), ask(purpose="credit-assessment", usage=3))
    lines = decision.explain("en")
    assert lines[0].startswith("decision: deny")
    failing = [line for line in lines if "NOT satisfied" in line]
    assert failing == ["permission /permission/0 (read): number of uses /permission/0/constraint/1, "
                       "actual use number 4, expected ≤ 3 — NOT satisfied"]


def test_the_same_denial_in_chinese() -> None:
    decision = evaluate(policy_with(constraint("count", "lteq", 3)), ask(usage=3))
    lines = decision.explain("zh")
    assert lines[0].startswith("决定：拒绝")
    assert ("许可 /permission/0（读取）：使用次数 /permission/0/constraint/0，"
            "实际值 第 4 次使用，期望值 ≤ 3 —— 不满足") in lines


def test_not_applicable_is_explained_as_a_default_deny_in_both_languages() -> None:
    decision = evaluate(policy_with(action="read"), ask("distribute"))
    assert decision.explain("en")[0].startswith("decision: not applicable, so deny")
    assert decision.explain("zh")[0].startswith("决定：默认拒绝")
    assert any("action, actual distribute, expected within read — NOT satisfied" in x for x in decision.explain())


def test_obligations_are_listed_in_order_in_both_languages() -> None:
    policy = parse_policy({"permission": [{"action": "read", "duty": [{"action": "watermark"}]}],
                           "obligation": [{"action": "delete"}]})
    decision = evaluate(policy, ask())
    assert decision.explain("en")[0].endswith("run first, in this order: watermark, delete")
    assert "有条件允许" in decision.explain("zh")[0] and "须先依次执行：watermark, delete" in decision.explain("zh")[0]


def test_values_are_shown_as_written_for_people() -> None:
    decision = evaluate(policy_with(constraint("tc609:time", "isPartOf", "2026-01-01T00:00:00Z/2026-02-01T00:00:00Z"),
                                    constraint("dataSize", "lteq", 10, unit="MB"),
                                    constraint("timeWindow", "isPartOf", "09:00-17:00")), ask(data_size=5))
    text = "\n".join(decision.explain())
    assert "actual 2026-05-04T10:30:00Z, expected is part of 2026-01-01T00:00:00Z/2026-02-01T00:00:00Z" in text
    assert "actual 5 bytes, expected ≤ 10 MB — satisfied" in text
    assert "actual 10:30, expected is part of 09:00-17:00 — satisfied" in text
    zh = "\n".join(decision.explain("zh"))
    assert "时间范围" in zh and "数据规模" in zh and "时间窗口" in zh
