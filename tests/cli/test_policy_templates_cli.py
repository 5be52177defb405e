"""``trustspace policy template list|fill`` against an operator's template routes served over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from live import free_port, serve
from trustspace.cli.main import app
from trustspace.operator.template_routes import build_template_router
from trustspace.policy import parse_policy
from trustspace.web.problems import install_problem_handlers

runner = CliRunner()


@pytest.fixture(scope="module")
def operator_url() -> Iterator[str]:
    templates = FastAPI()
    install_problem_handlers(templates)
    templates.include_router(build_template_router())
    port = free_port()
    with serve(templates, port) as url:
        yield url


def test_list_shows_every_template(operator_url: str) -> None:
    listed = runner.invoke(app, ["policy", "template", "list", "--operator-url", operator_url])
    assert listed.exit_code == 0, listed.output
    assert "destroy-after-use" in listed.output and "Policy templates" in listed.output
    as_json = runner.invoke(app, ["policy", "template", "list", "--operator-url", operator_url, "--json"])
    assert len(json.loads(as_json.output)) == 11


def test_fill_prints_a_policy_that_validates(operator_url: str) -> None:
    filled = runner.invoke(app, ["policy", "template", "fill", "usable-scope", "--operator-url", operator_url,
                                 "--set", "purposes=credit assessment,audit", "--set", "regions=CN-31"])
    assert filled.exit_code == 0, filled.output
    policy = json.loads(filled.output)
    parse_policy(policy)
    assert policy["permission"][0]["constraint"][0]["rightOperand"] == ["credit assessment", "audit"]


def test_a_bad_parameter_names_it(operator_url: str) -> None:
    refused = runner.invoke(app, ["policy", "template", "fill", "count", "--operator-url", operator_url,
                                  "--set", "count=0"])
    assert refused.exit_code == 1 and "count" in refused.output
    malformed = runner.invoke(app, ["policy", "template", "fill", "count", "--set", "count"])
    assert malformed.exit_code == 1 and "NAME=VALUE" in malformed.output
