"""Evidence end to end: after a negotiation and a transfer the operator's ledger holds both parties' signed
statements (the agreement signed by each side), receipts are kept, and the CLI proves, verifies and audits."""

from __future__ import annotations

import json
import time
from pathlib import Path

from test_dsp_flow import negotiate, publish, wait_state
from typer.testing import CliRunner

from conftest import LiveSpace
from trustspace.cli.main import app


def drained(space: LiveSpace, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(not n.ok("GET", "/v1/management/ledger/pending") for n in space.connectors.values()):
            latest = space.admin("GET", "/v1/ledger/checkpoints/latest.json").json()
            entries = space.admin("GET", "/v1/ledger/entries", params={"limit": 1000}).json()["entries"]
            if latest["size"] == len(entries) and latest["size"] > 0:
                return
        time.sleep(0.1)
    raise AssertionError("evidence did not reach the ledger")


def test_both_parties_sign_the_agreement_into_the_log(live_space: LiveSpace, tmp_path: Path) -> None:
    provider, consumer = live_space.connectors["provider"], live_space.connectors["consumer"]
    (tmp_path / "f").write_bytes(b"evidence" * 100)
    publish(provider, "ev-asset", {"type": "file", "path": str(tmp_path / "f")})
    negotiation = negotiate(live_space, "ev-asset")
    started = consumer.ok("POST", "/v1/management/transfers",
                          json={"agreementId": negotiation["agreementId"], "transferType": "HttpData-PULL"})
    wait_state(consumer, f"/v1/management/transfers/{started['id']}", {"COMPLETED"})
    drained(live_space)

    agreement = negotiation["agreementId"]
    about = live_space.admin("GET", "/v1/ledger/entries", params={"agreement": agreement, "limit": 1000}).json()
    signed = {(e["entry"]["type"], e["entry"]["submitter"]) for e in about["entries"]}
    provider_did = provider.ok("GET", "/v1/management/status")["did"]
    consumer_did = consumer.ok("GET", "/v1/management/status")["did"]
    assert ("agreement", provider_did) in signed and ("agreement", consumer_did) in signed
    states = [e["entry"]["details"]["state"] for e in about["entries"]
              if e["entry"]["type"] == "transfer-state-change" and e["entry"]["submitter"] == consumer_did]
    assert states[-1] == "COMPLETED"
    receipts = consumer.ok("GET", "/v1/management/ledger/receipts", params={"processId": started["id"]})
    assert receipts and all(r["logOrigin"] for r in receipts)

    _cli_round_trip(live_space, receipts[-1], tmp_path)


def _cli_round_trip(space: LiveSpace, receipt: dict[str, str], tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"TRUSTSPACE_OPERATOR_URL": space.operator.url,
           "TRUSTSPACE_ADMIN_API_KEY": space.operator.key("admin-api-key")["X-API-Key"]}
    key = space.admin("GET", "/v1/ledger/key").json()["vkey"]
    (tmp_path / "receipt.json").write_text(json.dumps(receipt))
    bundle = tmp_path / "bundle.json"
    made = runner.invoke(app, ["ledger", "prove", "--receipt", str(tmp_path / "receipt.json"), "--out", str(bundle)],
                         env=env)
    assert made.exit_code == 0, made.output
    later = tmp_path / "later.note"
    later.write_text(space.admin("GET", "/v1/ledger/checkpoint").text)
    checked = runner.invoke(app, ["ledger", "verify", str(bundle), "--log-key", key, "--checkpoint", str(later),
                                  "--json"])
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.stdout)["failed"] == []
    forged = json.loads(bundle.read_text())
    forged["entry"]["details"]["state"] = "TERMINATED"
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    refused = runner.invoke(app, ["ledger", "verify", str(tmp_path / "forged.json"), "--log-key", key, "--json"])
    assert refused.exit_code == 1 and json.loads(refused.stdout)["failed"]
    wrong_key = runner.invoke(app, ["ledger", "verify", str(bundle), "--log-key",
                                    key.split("+")[0] + "+00000000+" + key.split("+")[2], "--json"])
    assert wrong_key.exit_code == 1
    audited = runner.invoke(app, ["ledger", "audit", "--log-key", key, "--json"], env=env)
    assert audited.exit_code == 0, audited.output
    assert json.loads(audited.stdout)["entries"] > 5
    database = runner.invoke(app, ["ledger", "audit", "--database", f"sqlite:///{space.operator.data_dir}/operator.db",
                                   "--log-key", key])
    assert database.exit_code == 0, database.output
