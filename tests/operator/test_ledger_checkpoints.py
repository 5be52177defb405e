"""Every checkpoint the log signed, listed for auditors, and audited through real HTTP: an operator that
rewrites an older checkpoint is caught, not only one that rewrites the latest. And numbers beyond what the
database stores, in any integer parameter of the ledger API, are refused by name, never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, text
from test_ledger_api import integrated, ledger_operator, statement
from typer.testing import CliRunner

from live import free_port, serve
from simulator import FakeWeb, OperatorUnderTest, Party
from trustspace.cli import ledger as ledger_cli
from trustspace.cli.main import app as cli
from trustspace.core.clock import FixedClock
from trustspace.identity.did import DidResolver
from trustspace.ledger.checkpoint import Checkpoint, sign_checkpoint
from trustspace.operator.app import create_app
from trustspace.operator.settings import OperatorSettings

HUGE = 2**64  # one past what a uint64 holds; SQLite's driver cannot even bind it
LARGEST = 2**63 - 1  # the largest BIGINT: still bound, names nothing


@pytest.fixture
def op(tmp_path: Path) -> Iterator[OperatorUnderTest]:
    with ledger_operator(tmp_path / "operator") as running:
        yield running


def fill(op: OperatorUnderTest, member: Party, rounds: int, per_round: int) -> int:
    """Submit ``rounds`` batches, each integrated before the next: a checkpoint (or more) per round."""
    for batch in range(rounds):
        statements = [statement(member, op, batch * per_round + n) for n in range(per_round)]
        response = op.client.post("/v1/ledger/entries/batch", json={"statements": statements},
                                  headers=member.headers(op.did, op.clock))
        assert response.status_code == 200, response.text
        integrated(op, (batch + 1) * per_round)
    return rounds * per_round


def test_checkpoints_are_listed_by_size_in_pages_for_anyone(op: OperatorUnderTest) -> None:
    member = Party("电网公司")
    op.admit(member)
    fill(op, member, rounds=3, per_round=2)
    listed: list[dict[str, Any]] = []
    after: int | None = None
    while True:
        params = {"limit": 2} if after is None else {"limit": 2, "after": after}
        page = op.client.get("/v1/ledger/checkpoints", params=params)  # no credentials: public like the notes
        assert page.status_code == 200, page.text
        listed.extend(page.json()["checkpoints"])
        after = page.json()["next"]
        if after is None:
            break
    sizes = [item["size"] for item in listed]
    assert sizes[0] == 0 and sizes[-1] == 6 and sizes == sorted(set(sizes))
    assert {2, 4, 6} <= set(sizes)
    latest = op.client.get("/v1/ledger/checkpoints/latest.json").json()
    assert listed[-1]["rootHash"] == latest["rootHash"] and listed[-1]["createdAt"].endswith("Z")
    assert op.client.get("/v1/ledger/checkpoints", params={"after": 6}).json() == {"checkpoints": [], "next": None}
    assert op.client.get("/v1/ledger/checkpoints", params={"limit": 1001}).status_code == 422


@pytest.mark.parametrize(("path", "params", "named"), [
    (f"/v1/ledger/entries/{HUGE}", {}, "index"),
    ("/v1/ledger/entries", {"after": HUGE}, "after"),
    ("/v1/ledger/entries", {"limit": HUGE}, "limit"),
    (f"/v1/ledger/checkpoints/{HUGE}", {}, "size"),
    ("/v1/ledger/checkpoints", {"after": HUGE}, "after"),
    ("/v1/ledger/checkpoints", {"limit": HUGE}, "limit"),
    ("/v1/ledger/proofs/inclusion", {"index": HUGE}, "index"),
    ("/v1/ledger/proofs/inclusion", {"index": 0, "treeSize": HUGE}, "treeSize"),
    ("/v1/ledger/proofs/consistency", {"first": HUGE, "second": 1}, "first"),
    ("/v1/ledger/proofs/consistency", {"first": 1, "second": HUGE}, "second"),
    (f"/v1/ledger/entries/{-HUGE}", {}, "index"),
    ("/v1/ledger/entries", {"after": -HUGE}, "after"),
])
def test_a_number_beyond_the_database_is_refused_by_name_not_a_500(op: OperatorUnderTest, path: str,
                                                                   params: dict[str, int], named: str) -> None:
    response = op.client.get(path, params=params, headers=op.admin)
    assert response.status_code == 422, response.text
    assert response.json()["field"].split(".")[-1] == named


def test_a_cosignature_of_a_huge_checkpoint_is_refused_by_name(op: OperatorUnderTest) -> None:
    member = Party("witness")
    op.admit(member)
    body = {"signatureLine": "— witness AAAA", "vkey": "witness+00000000+AQ"}
    response = op.client.post(f"/v1/ledger/checkpoints/{HUGE}/cosignatures", json=body,
                              headers=member.headers(op.did, op.clock))
    assert response.status_code == 422 and response.json()["field"].endswith("size")


@pytest.mark.parametrize(("path", "params", "status"), [
    (f"/v1/ledger/entries/{LARGEST}", {}, 404),
    ("/v1/ledger/entries", {"after": LARGEST}, 200),
    (f"/v1/ledger/checkpoints/{LARGEST}", {}, 404),
    ("/v1/ledger/checkpoints", {"after": LARGEST}, 200),
    ("/v1/ledger/proofs/inclusion", {"index": LARGEST}, 404),
    ("/v1/ledger/proofs/inclusion", {"leafHash": "00" * 32, "treeSize": LARGEST}, 404),
    ("/v1/ledger/proofs/consistency", {"first": 1, "second": LARGEST}, 400),
])
def test_the_largest_number_allowed_reaches_the_database_and_finds_nothing(
        op: OperatorUnderTest, path: str, params: dict[str, Any], status: int) -> None:
    assert op.client.get(path, params=params, headers=op.admin).status_code == status


# --- the audit through the API, on real HTTP -----------------------------------------------------------------


@dataclass
class LiveOperator(OperatorUnderTest):
    app: FastAPI | None = None

    @property
    def did(self) -> str:
        assert self.app is not None
        return str(self.app.state.did)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveOperator]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    web, clock = FakeWeb(), FixedClock()
    settings = OperatorSettings(data_dir=tmp_path / "operator", public_url=url, space="test-space",
                                log_membership_decisions=False)
    app = create_app(settings, clock=clock, resolver=DidResolver(web.fetch), fetch=web.fetch)
    with serve(app, port), httpx.Client(base_url=url, timeout=10.0) as client:
        web.add(url, client)
        yield LiveOperator(client, settings, clock, web, app)
    app.state.db.dispose()


def audit_through_api(live: LiveOperator, monkeypatch: pytest.MonkeyPatch) -> tuple[int, dict[str, Any]]:
    monkeypatch.setattr(ledger_cli, "MAX_PAGE", 2)  # several pages of checkpoints and of entries
    key = live.client.get("/v1/ledger/key").json()["vkey"]
    result = CliRunner().invoke(cli, ["ledger", "audit", "--operator-url", str(live.client.base_url),
                                      "--log-key", key, "--json"], env={"TRUSTSPACE_ADMIN_API_KEY":
                                                                         live.admin["X-API-Key"]})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def stored_sizes(live: LiveOperator) -> list[int]:
    engine = create_engine(f"sqlite:///{live.settings.data_dir}/operator.db")
    with engine.connect() as connection:
        sizes = [int(size) for size, in connection.execute(text("SELECT size FROM ledger_checkpoints ORDER BY size"))]
    engine.dispose()
    return sizes


def test_the_audit_through_the_api_checks_every_checkpoint(live: LiveOperator,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    member = Party("电网公司")
    live.admit(member)
    entries = fill(live, member, rounds=4, per_round=3)
    code, report = audit_through_api(live, monkeypatch)
    assert code == 0 and report["ok"], report
    assert report["entries"] == entries
    sizes = stored_sizes(live)
    assert len(sizes) >= 5 and report["checkpoints"] == len(sizes), "every stored checkpoint, the empty one too"


def test_the_audit_through_the_api_catches_a_rewritten_older_checkpoint(live: LiveOperator,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    member = Party("电网公司")
    live.admit(member)
    fill(live, member, rounds=3, per_round=3)
    older = stored_sizes(live)[1]
    assert older < 9, "an older checkpoint, not the latest"
    # The operator itself re-signs the older tree head over another root: its signature is valid, the root is not.
    assert live.app is not None
    ledger = live.app.state.ledger
    forged = sign_checkpoint(Checkpoint(ledger.origin, older, bytes(32)), ledger.signer).format()
    engine = create_engine(f"sqlite:///{live.settings.data_dir}/operator.db")
    with engine.begin() as connection:
        connection.execute(text("UPDATE ledger_checkpoints SET note = :note WHERE size = :size"),
                           {"note": forged, "size": older})
    engine.dispose()
    code, report = audit_through_api(live, monkeypatch)
    assert code == 1 and not report["ok"]
    assert any(f.startswith(f"checkpoint of size {older} signs root") for f in report["failures"]), report
