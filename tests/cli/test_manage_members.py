"""``trustspace member ...`` against a live operator and connectors: tables and --json, the operator's warning
that asks for --confirm, and options refused before any request is made."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from manage_space import Space, credit_code, live_space, runner, wide_console

from live import free_port
from trustspace.cli.main import app


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Space]:
    with live_space(tmp_path_factory.mktemp("members"), ("alpha", "beta", "gamma", "delta")) as started:
        yield started


@pytest.fixture(autouse=True)
def _wide() -> Iterator[None]:
    with wide_console():
        yield


def test_a_membership_from_application_to_revocation(space: Space) -> None:
    applied = space.cli("member", "apply", "--name", "Alpha Ltd", "--credit-code", credit_code(11), on="alpha")
    assert applied.exit_code == 0, applied.output
    assert "Membership application" in applied.output and "Alpha Ltd" in applied.output
    assert "trustspace member approve" in applied.output

    pending = space.ok("member", "list", "--status", "pending")
    application = next(a for a in pending if a["displayName"] == "Alpha Ltd")
    assert application["status"] == "pending" and application["roles"] == ["consumer", "provider"]
    listed = space.cli("member", "list")
    assert listed.exit_code == 0 and "Membership applications" in listed.output and "pending" in listed.output

    approved = space.ok("member", "approve", application["id"], "--valid-days", "30")
    assert approved["status"] == "approved" and approved["credentialId"]
    refreshed = space.cli("member", "refresh", on="alpha")
    assert refreshed.exit_code == 0, refreshed.output
    assert "approved" in refreshed.output and "True" in refreshed.output
    registered = space.ok("member", "register", on="alpha")
    assert registered["url"] == space.connectors["alpha"].url and registered["ownerDid"] == approved["did"]

    revoked = space.cli("member", "revoke", approved["did"], "--reason", "left the space")
    assert revoked.exit_code == 0, revoked.output
    assert "revoked" in revoked.output and "revocation list" in revoked.output
    assert [a["status"] for a in space.ok("member", "list", "--status", "revoked")] == ["revoked"]


def test_a_second_identity_of_an_organisation_needs_confirm(space: Space) -> None:
    shared = credit_code(22)
    first = space.ok("member", "apply", "--name", "Beta Ltd", "--credit-code", shared, "--role", "provider",
                     on="beta")
    assert first["roles"] == ["provider"]
    space.ok("member", "approve", first["id"])
    second = space.ok("member", "apply", "--name", "Beta Ltd again", "--credit-code", shared, on="gamma")

    refused = space.cli("member", "approve", second["id"])
    assert refused.exit_code == 1
    assert "already holds an approved membership" in refused.output and "--confirm" in refused.output
    as_json = space.cli("member", "approve", second["id"], "--json")
    assert as_json.exit_code == 1
    answer = json.loads(as_json.stdout)
    assert answer["ok"] is False and first["did"] in answer["warnings"][0]
    assert [a["status"] for a in space.ok("member", "list") if a["id"] == second["id"]] == ["pending"]

    confirmed = space.cli("member", "approve", second["id"], "--confirm")
    assert confirmed.exit_code == 0, confirmed.output
    assert "approved" in confirmed.output and "warning" in confirmed.output


def test_reject_says_why(space: Space) -> None:
    applied = space.ok("member", "apply", "--name", "Delta Ltd", "--credit-code", credit_code(33), on="delta")
    rejected = space.ok("member", "reject", applied["id"], "--reason", "unknown organisation")
    assert (rejected["status"], rejected["reason"]) == ("rejected", "unknown organisation")
    again = space.cli("member", "reject", applied["id"], "--reason", "twice")
    assert again.exit_code == 1 and "Traceback" not in again.output


def test_options_are_checked_before_any_request() -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    for args, expected in (
        (["member", "apply", "--name", "X", "--credit-code", "123", "--connector-url", nowhere, "--api-key", "k"],
         "--credit-code"),
        (["member", "apply", "--name", " ", "--credit-code", credit_code(1), "--connector-url", nowhere,
          "--api-key", "k"], "--name"),
        (["member", "revoke", "not-a-did", "--reason", "r", "--operator-url", nowhere, "--api-key", "k"],
         "not a DID"),
        (["member", "reject", "id", "--reason", " ", "--operator-url", nowhere, "--api-key", "k"], "--reason"),
        (["member", "list", "--operator-url", "localhost:8400", "--api-key", "k"], "not an http(s) URL"),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, (args, result.output)
        assert expected in result.output and "cannot reach" not in result.output, result.output
    bad_role = runner.invoke(app, ["member", "apply", "--name", "X", "--credit-code", credit_code(1), "--role",
                                   "owner"])
    assert bad_role.exit_code == 2 and "owner" in bad_role.output


def test_a_missing_or_refused_key_says_where_the_key_is(space: Space) -> None:
    missing = runner.invoke(app, ["member", "list", "--operator-url", space.operator.url],
                            env={"TRUSTSPACE_ADMIN_API_KEY": ""})
    assert missing.exit_code == 1 and "admin-api-key" in missing.output
    refused = runner.invoke(app, ["member", "list", "--operator-url", space.operator.url, "--api-key", "wrong"])
    assert refused.exit_code == 1
    assert "refused the API key" in refused.output and "admin-api-key" in refused.output
    as_json = runner.invoke(app, ["member", "refresh", "--connector-url", space.connectors["alpha"].url,
                                  "--api-key", "wrong", "--json"])
    answer = json.loads(as_json.stdout)
    assert as_json.exit_code == 1 and answer["ok"] is False and "management-api-key" in answer["hint"]


def test_an_unreachable_service_says_how_to_start_it() -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    down = runner.invoke(app, ["member", "list", "--operator-url", nowhere, "--api-key", "k"])
    assert down.exit_code == 1 and "Traceback" not in down.output
    assert f"cannot reach the operator at {nowhere}" in down.output and "trustspace operator start" in down.output
    connector = runner.invoke(app, ["member", "refresh", "--json"],
                              env={"TRUSTSPACE_CONNECTOR_URL": nowhere, "TRUSTSPACE_MANAGEMENT_API_KEY": "k"})
    assert connector.exit_code == 1
    assert "TRUSTSPACE_CONNECTOR_URL" in json.loads(connector.stdout)["hint"]


def test_every_option_has_an_environment_twin(space: Space) -> None:
    result = runner.invoke(app, ["member", "list", "--json"], env={"TRUSTSPACE_OPERATOR_URL": space.operator.url,
                                                                   "TRUSTSPACE_ADMIN_API_KEY": space.operator.key})
    assert result.exit_code == 0, result.output
    assert isinstance(json.loads(result.stdout), list)
