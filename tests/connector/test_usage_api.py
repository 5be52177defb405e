"""The usage API on a live consumer with its protected store on: data lands encrypted, leaves only through
``/v1/usage``, watermarked on export, and is destroyed with a certificate on termination."""

from __future__ import annotations

import csv
import hashlib
import io
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_dsp_flow import negotiate, publish, wait_state

from conftest import LiveSpace, start_space
from trustspace.connector.usage import certificate
from trustspace.connector.usage.watermark import trace
from trustspace.identity.did import did_web

ROWS = "taxpayer,income\n" + "".join(f"T{i:04d},{i * 100}\n" for i in range(500))
READ = {"purpose": "credit assessment", "application": "risk-app", "reader": "alice"}


@pytest.fixture
def protected_space(tmp_path: Path) -> Iterator[LiveSpace]:
    with ExitStack() as stack:
        yield start_space(tmp_path, ("provider", "consumer"), stack,
                          tune=lambda s: replace(s, protected_store=True))


def transfer(space: LiveSpace, agreement_id: str, kind: str) -> dict[str, object]:
    consumer = space.connectors["consumer"]
    started = consumer.ok("POST", "/v1/management/transfers", json={"agreementId": agreement_id, "transferType": kind})
    done = wait_state(consumer, f"/v1/management/transfers/{started['id']}", {"COMPLETED", "TERMINATED"})
    assert done["state"] == "COMPLETED", done
    return done


def test_received_data_is_protected_and_read_through_the_usage_api(protected_space: LiveSpace,
                                                                    tmp_path: Path) -> None:
    provider, consumer = protected_space.connectors["provider"], protected_space.connectors["consumer"]
    source = tmp_path / "tax.csv"
    source.write_text(ROWS)
    publish(provider, "tax", {"type": "file", "path": str(source)})
    agreement_id = negotiate(protected_space, "tax")["agreementId"]

    for kind in ("HttpData-PULL", "HttpData-PUSH"):
        details = transfer(protected_space, agreement_id, kind)["details"]
        assert isinstance(details, dict) and "path" not in details and details["protectedItem"]
        assert details["sha256"] == hashlib.sha256(ROWS.encode()).hexdigest()

    # Reading the store's files directly gives ciphertext only; no plaintext is left where data landed.
    on_disk = [p for p in consumer.data_dir.rglob("*") if p.is_file() and p.suffix != ".db"
               and not p.name.endswith(("-wal", "-shm"))]
    assert all(b"T0042" not in p.read_bytes() for p in on_disk)
    assert len(list((consumer.data_dir / "protected").glob("*.sealed"))) == 2

    read = consumer.manage("POST", "/v1/usage/read", json={"agreementId": agreement_id, **READ})
    assert read.status_code == 200, read.text
    assert read.content == ROWS.encode()
    assert read.headers["repr-digest"].startswith("sha-256=:")

    exported = consumer.manage("POST", "/v1/usage/export", json={"agreementId": agreement_id, **READ})
    assert exported.status_code == 200, exported.text
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0][-1] == "trustspace_mark" and len(rows) == 501
    saved = tmp_path / "exported.csv"
    saved.write_text(exported.text)
    found = trace(saved)
    assert (found.agreement, found.reader, found.marked_rows) == (agreement_id, "alice", 500)
    checked = consumer.ok("POST", "/v1/usage/trace", json={"marks": [m.text for m in found.marks[:50]]})
    assert checked == {"genuine": 50, "forged": 0, "unreadable": 0}

    log = consumer.ok("GET", "/v1/usage/log", params={"agreementId": agreement_id})
    assert [(e["action"], e["decision"]) for e in log if e["action"] != "notify"] == [("read", "permit"),
                                                                                       ("export", "permit")]

    signed = consumer.ok("POST", "/v1/usage/terminate", json={"agreementId": agreement_id})
    certificate.verify(signed)
    assert len(signed["items"]) == 2 and not list((consumer.data_dir / "protected").glob("*.sealed"))
    logged = in_ledger(protected_space, agreement_id, "destruction-certificate")
    assert logged["payloadDigest"] == certificate.digest(signed) and logged["submitter"] == signed["issuer"]
    assert in_ledger(protected_space, agreement_id, "usage-decision")["details"]["purpose"] == "credit assessment"
    # notify on use: the provider sees each use the consumer reported, from the ledger
    provider = protected_space.connectors["provider"]
    notices = provider.ok("GET", "/v1/management/ledger/usage-notices", params={"agreementId": agreement_id})
    assert {(n["action"], n["purpose"]) for n in notices["notices"]} >= {("read", "credit assessment")}
    assert all(n["consumer"] == did_web(consumer.url) for n in notices["notices"])
    denied = consumer.manage("POST", "/v1/usage/read", json={"agreementId": agreement_id, **READ})
    assert denied.status_code == 403 and denied.headers["content-type"].startswith("application/problem+json")
    assert denied.json()["field"] == "agreementId" and "destroyed" in denied.json()["detail"]


def in_ledger(space: LiveSpace, agreement_id: str, kind: str, timeout: float = 30) -> dict[str, Any]:
    """The statement of type ``kind`` about the agreement, once the operator has logged it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = space.admin("GET", "/v1/ledger/entries", params={"agreement": agreement_id})
        assert found.status_code == 200, found.text
        entries = [e["entry"] for e in found.json()["entries"] if e["entry"]["type"] == kind]
        if entries:
            return entries[-1]  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"no {kind} statement about {agreement_id} in the ledger")


def test_usage_api_errors_name_the_field(protected_space: LiveSpace) -> None:
    consumer = protected_space.connectors["consumer"]
    missing = consumer.manage("POST", "/v1/usage/read", json={"agreementId": "agr-x", "application": "a"})
    assert missing.status_code == 422 and missing.json()["field"] == "purpose"
    unknown = consumer.manage("POST", "/v1/usage/read", json={"agreementId": "agr-x", **READ})
    assert unknown.status_code == 404 and unknown.json()["field"] == "agreementId"
    extra = consumer.manage("POST", "/v1/usage/export", json={"agreementId": "agr-x", **READ, "format": "xlsx"})
    assert extra.status_code == 422 and extra.json()["field"] == "format"
    anonymous = httpx.post(consumer.url + "/v1/usage/read", json={"agreementId": "agr-x", **READ},
                           headers={"X-API-Key": "wrong"}, timeout=10)
    assert anonymous.status_code == 401
