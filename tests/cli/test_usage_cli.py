"""``trustspace usage``: read and export through a protected consumer, trace an export, terminate, and check the
destruction certificate offline (and that any change to it is caught)."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from manage_space import Space, live_space, runner, wide_console

from trustspace.cli.main import app
from trustspace.connector.usage import certificate
from trustspace.connector.usage.watermark import watermark_csv
from trustspace.core.keys import SigningKey
from trustspace.store.usage.records import ProtectedItem

ROWS = "taxpayer,income\n" + "".join(f"T{i:03d},{i}\n" for i in range(40))
DID = "did:web:consumer.example"


@pytest.fixture(autouse=True)
def _wide() -> Iterator[None]:
    with wide_console():
        yield


def signed_certificate(key: SigningKey) -> dict[str, Any]:
    item = ProtectedItem("item_1", "agr-1", "tr-1", "tax.csv", 10, "ab" * 32, {}, datetime(2026, 6, 1, tzinfo=UTC))
    return certificate.issue(key, DID, f"{DID}#key-1", "agr-1", [item], "terminated", datetime(2026, 6, 2, tzinfo=UTC))


def test_certificate_verify_offline(tmp_path: Path) -> None:
    key = SigningKey.generate()
    path = tmp_path / "certificate.json"
    path.write_text(json.dumps(signed_certificate(key)))
    result = runner.invoke(app, ["usage", "certificate", "verify", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["agreement"] == "agr-1"
    pinned = runner.invoke(app, ["usage", "certificate", "verify", str(path), "--key", key.public.multibase])
    assert pinned.exit_code == 0 and "valid" in pinned.output
    other = runner.invoke(app, ["usage", "certificate", "verify", str(path), "--key",
                                SigningKey.generate().public.multibase])
    assert other.exit_code == 1 and "another key" in other.output


def test_certificate_verify_fails_after_a_change(tmp_path: Path) -> None:
    changed = signed_certificate(SigningKey.generate())
    changed["items"][0]["sha256"] = "cd" * 32
    path = tmp_path / "changed.json"
    path.write_text(json.dumps(changed))
    result = runner.invoke(app, ["usage", "certificate", "verify", str(path)])
    assert result.exit_code == 1 and "changed after signing" in result.output


def test_trace_names_agreement_and_reader_offline(tmp_path: Path) -> None:
    exported = b"".join(watermark_csv([ROWS.encode()], b"k" * 32, "agr-9", "bob", "e7")).decode()
    path = tmp_path / "export.csv"
    path.write_text(exported)
    result = runner.invoke(app, ["usage", "trace", str(path), "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert (found["agreementId"], found["reader"], found["exportId"], found["markedRows"]) == ("agr-9", "bob", "e7",
                                                                                                40)
    stripped = tmp_path / "stripped.csv"
    stripped.write_text(ROWS)
    unmarked = runner.invoke(app, ["usage", "trace", str(stripped)])
    assert unmarked.exit_code == 1 and "no TrustSpace watermark" in unmarked.output


@pytest.fixture(scope="module")
def protected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Space]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRUSTSPACE_PROTECTED_STORE", "1")
        with live_space(tmp_path_factory.mktemp("usage"), ("provider", "consumer"), join=True) as space:
            yield space


def test_read_export_trace_terminate_verify(protected: Space, tmp_path: Path) -> None:
    source = tmp_path / "tax.csv"
    source.write_text(ROWS)
    protected.ok("asset", "add", "--id", "tax", "--title", "tax", "--file", str(source), on="provider")
    protected.ok("offer", "add", "--asset", "tax", "--id", "tax-offer", "--role", "consumer", on="provider")
    negotiation = protected.ok("negotiate", "--provider", protected.connectors["provider"].url, "--offer",
                               "tax-offer", "--wait", on="consumer")
    agreement = negotiation["agreementId"]
    started = protected.ok("transfer", "start", "--agreement", agreement, "--wait", on="consumer")
    assert started["state"] == "COMPLETED" and "protectedItem" in started["details"]

    use = ("--agreement", agreement, "--purpose", "credit assessment", "--application", "risk-app")
    read = protected.ok("usage", "read", *use, "--output", str(tmp_path / "read.csv"), on="consumer")
    assert (tmp_path / "read.csv").read_text() == ROWS and read["bytes"] == len(ROWS)

    exported = tmp_path / "export.csv"
    protected.ok("usage", "export", *use, "--reader", "alice", "--output", str(exported), on="consumer")
    rows = list(csv.reader(io.StringIO(exported.read_text())))
    assert rows[0][-1] == "trustspace_mark" and all(row[-1].startswith("tsw1.") for row in rows[1:])
    traced = protected.ok("usage", "trace", str(exported), "--verify", on="consumer")
    assert (traced["agreementId"], traced["reader"], traced["verified"]["genuine"]) == (agreement, "alice", 40)

    cert = tmp_path / "certificate.json"
    protected.ok("usage", "terminate", "--agreement", agreement, "--output", str(cert), on="consumer")
    verified = runner.invoke(app, ["usage", "certificate", "verify", str(cert), "--json"])
    assert verified.exit_code == 0 and json.loads(verified.stdout)["agreement"] == agreement
    denied = protected.cli("usage", "read", *use, "--output", str(tmp_path / "again.csv"), on="consumer")
    assert denied.exit_code == 1 and "destroyed" in denied.output and not (tmp_path / "again.csv").exists()

    # the provider sees the uses the consumer notified, from the ledger
    deadline = time.monotonic() + 20
    notified: list[dict[str, Any]] = []
    while not notified and time.monotonic() < deadline:
        notified = protected.ok("usage", "notices", "--agreement", agreement, on="provider")["notices"]
        time.sleep(0.2)
    assert {n["action"] for n in notified} >= {"read"}, notified
    table = protected.cli("usage", "notices", on="provider")
    assert table.exit_code == 0 and "Uses notified by consumers" in table.output
