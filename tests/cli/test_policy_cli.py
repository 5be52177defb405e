"""``trustspace policy check`` and ``trustspace policy evaluate``: decisions with their explanation, clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from trustspace.cli.main import app

runner = CliRunner()
AGREEMENT = {"@type": "Agreement", "@id": "urn:uuid:a", "assigner": "did:web:tax", "assignee": "did:web:bank",
             "target": "urn:data", "permission": [{"action": "read", "constraint": [
                 {"leftOperand": "purpose", "operator": "eq", "rightOperand": "credit-assessment"},
                 {"leftOperand": "tc609:count", "operator": "lteq", "rightOperand": 3}]}],
             "prohibition": [{"action": "distribute"}], "obligation": [{"action": "delete"}]}


def _file(tmp_path: Path, name: str, content: Any) -> str:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return str(path)


def _flat(output: str) -> str:
    """The output without the line breaks Rich adds at the terminal's width."""
    return " ".join(output.split())


def _request(uses: int, action: str = "read") -> dict[str, Any]:
    return {"action": action, "assignee": "did:web:bank", "target": "urn:data",
            "context": {"time": "2026-05-04T10:00:00Z", "purpose": "credit-assessment", "usage": {"count": uses}}}


def test_check_accepts_a_valid_policy_and_lists_its_rules(tmp_path: Path) -> None:
    result = runner.invoke(app, ["policy", "check", _file(tmp_path, "p.json", AGREEMENT)])
    assert result.exit_code == 0, result.output
    assert "valid Agreement urn:uuid:a" in result.output and "prohibition /prohibition/0: distribute" in result.output


def test_check_reads_the_offer_inside_a_dsp_message(tmp_path: Path) -> None:
    message = {"@type": "ContractOfferMessage", "offer": {"@type": "Offer", "permission": [{"action": "use"}]}}
    assert runner.invoke(app, ["policy", "check", _file(tmp_path, "m.json", message)]).exit_code == 0


def test_check_refuses_an_invalid_policy_naming_rule_and_field(tmp_path: Path) -> None:
    bad = {**AGREEMENT, "permission": [{"action": "read", "constraint": [
        {"leftOperand": "count", "operator": "lteq", "rightOperand": 0}]}]}
    path = _file(tmp_path, "bad.json", bad)
    result = runner.invoke(app, ["policy", "check", path])
    assert result.exit_code == 1
    assert "count-below-one at /permission/0/constraint/0/rightOperand" in _flat(result.output)
    as_json = json.loads(runner.invoke(app, ["policy", "check", path, "--json"]).output)
    assert as_json["rule"] == "count-below-one" and as_json["field"] == "/permission/0/constraint/0/rightOperand"


def test_check_says_when_the_file_is_not_json(tmp_path: Path) -> None:
    result = runner.invoke(app, ["policy", "check", _file(tmp_path, "x.json", "{not json")])
    assert result.exit_code == 1 and "is not a JSON file" in _flat(result.output)


def test_evaluate_permits_with_the_obligation_and_exits_0(tmp_path: Path) -> None:
    result = runner.invoke(app, ["policy", "evaluate", "--policy", _file(tmp_path, "p.json", AGREEMENT),
                                 "--request", _file(tmp_path, "r.json", _request(2))])
    assert result.exit_code == 0, result.output
    assert "permit with obligations" in result.output and "run first, in this order: delete" in _flat(result.output)


def test_evaluate_denies_the_fourth_read_with_its_explanation_in_both_languages(tmp_path: Path) -> None:
    args = ["policy", "evaluate", "--policy", _file(tmp_path, "p.json", AGREEMENT),
            "--request", _file(tmp_path, "r.json", _request(3))]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "actual use number 4, expected ≤ 3 — NOT satisfied" in _flat(result.output)
    chinese = runner.invoke(app, [*args, "--lang", "zh"])
    assert "决定：拒绝" in chinese.output and "使用次数" in chinese.output
    decision = json.loads(runner.invoke(app, [*args, "--json"]).output)
    assert decision["outcome"] == "deny" and decision["allowed"] is False
    assert any(c["what"] == "/permission/0/constraint/1" and c["satisfied"] is False and c["actual"] == "4"
               for c in decision["checks"])
    assert decision["explanation"]["zh"][0].startswith("决定：拒绝")


def test_evaluate_denies_a_distribution(tmp_path: Path) -> None:
    result = runner.invoke(app, ["policy", "evaluate", "--json", "--policy", _file(tmp_path, "p.json", AGREEMENT),
                                 "--request", _file(tmp_path, "r.json", _request(0, "distribute"))])
    assert result.exit_code == 1 and json.loads(result.output)["reason"] == "prohibited"


def test_evaluate_refuses_a_request_with_a_bad_field(tmp_path: Path) -> None:
    request = {"action": "read", "context": {"networkAddress": "10.0.0.300"}}
    result = runner.invoke(app, ["policy", "evaluate", "--policy", _file(tmp_path, "p.json", AGREEMENT),
                                 "--request", _file(tmp_path, "r.json", request)])
    assert result.exit_code == 1 and "request context networkAddress" in _flat(result.output)
