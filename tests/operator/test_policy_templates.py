"""The operator's policy templates (TC609-6-2025-01 §5.2.2.5 a): every one the text lists is there, each filled
with its own examples is a policy a connector accepts and the decision point decides, and a bad parameter is
refused naming it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from trustspace.core.errors import NotFound, ValidationFailed
from trustspace.operator.policy_templates import TEMPLATES, fill
from trustspace.operator.template_routes import build_template_router
from trustspace.policy import Context, Outcome, PolicyInvalid, Request, Usage, evaluate, parse_policy
from trustspace.web.problems import install_problem_handlers

LISTED = {"content", "delivery-connector", "using-connector", "user", "operation", "count", "duration",
          "visible-scope", "usable-scope", "notify-on-use", "destroy-after-use"}


def examples(template_id: str) -> dict[str, Any]:
    chosen = next(t for t in TEMPLATES if t.id == template_id)
    return {p.name: p.example for p in chosen.parameters}


def test_every_template_the_text_lists_is_offered() -> None:
    assert {t.id for t in TEMPLATES} == LISTED


@pytest.mark.parametrize("template_id", sorted(LISTED))
def test_each_template_filled_with_its_examples_is_a_valid_policy(template_id: str) -> None:
    parse_policy(fill(template_id, examples(template_id)))


def test_a_filled_count_template_permits_three_uses_and_denies_the_fourth() -> None:
    policy = parse_policy(fill("count", {"count": 3}))
    now = datetime(2027, 1, 2, tzinfo=UTC)
    third = evaluate(policy, Request("read", "did:web:bank", None, Context(time=now, usage=Usage(count=2))))
    fourth = evaluate(policy, Request("read", "did:web:bank", None, Context(time=now, usage=Usage(count=3))))
    assert third.outcome is Outcome.PERMIT and fourth.outcome is Outcome.DENY


def test_destroy_after_use_obliges_a_deletion() -> None:
    decision = evaluate(parse_policy(fill("destroy-after-use", {})),
                        Request("use", "did:web:bank", None, Context(time=datetime.now(UTC))))
    assert decision.outcome is Outcome.PERMIT_WITH_OBLIGATIONS
    assert [d.action.name for d in decision.obligations if d.action] == ["delete"]


@pytest.mark.parametrize(("template_id", "parameters", "field"), [
    ("count", {"count": 0}, "/parameters/count"),
    ("count", {"count": "3"}, "/parameters/count"),
    ("count", {}, "/parameters/count"),
    ("count", {"count": 3, "limit": 4}, "/parameters/limit"),
    ("using-connector", {"connector": "bank", "networks": ["10.0.0.0/8"]}, "/parameters/connector"),
    ("using-connector", {"connector": "did:web:bank", "networks": ["10.0.0.300/8"]}, "/parameters/networks"),
    ("operation", {"permitted": ["read", "teleport"]}, "/parameters/permitted"),
    ("duration", {"from": "2027-01-01", "until": "2027-01-02T00:00:00Z"}, "/parameters/from"),
    ("user", {"users": []}, "/parameters/users"),
])
def test_a_bad_parameter_is_refused_naming_it(template_id: str, parameters: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        fill(template_id, parameters)
    assert refused.value.field == field


def test_what_only_the_policy_can_tell_is_refused_as_a_connector_would() -> None:
    with pytest.raises(PolicyInvalid) as empty_window:
        fill("duration", {"from": "2027-01-08T00:00:00Z", "until": "2027-01-01T00:00:00Z"})
    assert empty_window.value.pointer.startswith("/policy/permission/0/constraint/0")
    with pytest.raises(PolicyInvalid):
        fill("delivery-connector", {"connector": "did:web:p", "methods": ["99"]})


def test_an_unknown_template_is_not_found() -> None:
    with pytest.raises(NotFound):
        fill("everything", {})


@pytest.fixture
def http() -> TestClient:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(build_template_router())
    return TestClient(app)


def test_templates_are_listed_and_filled_over_http(http: TestClient) -> None:
    listed = http.get("/v1/policy-templates").json()
    assert {t["id"] for t in listed} == LISTED and all(t["titleZh"] for t in listed)
    filled = http.post("/v1/policy-templates/count/policy", json={"parameters": {"count": 3}})
    assert filled.status_code == 200
    assert filled.json()["policy"]["permission"][0]["constraint"][0]["rightOperand"] == "3"
    refused = http.post("/v1/policy-templates/count/policy", json={"parameters": {"count": -1}})
    assert refused.status_code == 422 and refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["field"] == "/parameters/count"
    assert http.get("/v1/policy-templates/nothing").status_code == 404
