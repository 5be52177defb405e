"""``trustspace credential verify``: data model, proof, and the status list (fetched, offline, skipped)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from typer.testing import CliRunner

from live import free_port, serve
from trustspace.cli.main import app
from trustspace.core.clock import SystemClock, to_xsd
from trustspace.core.keys import SigningKey
from trustspace.identity import credentials as vc
from trustspace.identity.contexts import TRUSTSPACE_CONTEXT
from trustspace.identity.did import did_key, verification_method_id
from trustspace.identity.status_list import StatusList, status_entry, status_list_credential

runner = CliRunner()
KEY = SigningKey.from_seed(b"\x21" * 32)
ISSUER = did_key(KEY.public)
OTHER_KEY = SigningKey.from_seed(b"\x22" * 32)
INDEX = 42


def now() -> str:
    return to_xsd(SystemClock().now())


def member(list_url: str, *, status: bool = True, **changes: Any) -> dict[str, Any]:
    clock = SystemClock().now()
    document: dict[str, Any] = {
        "@context": [vc.VC_V2_CONTEXT, TRUSTSPACE_CONTEXT],
        "id": "urn:uuid:00000000-0000-4000-8000-0000000000aa",
        "type": ["VerifiableCredential", "MembershipCredential"],
        "issuer": ISSUER,
        "validFrom": to_xsd(clock),
        "validUntil": to_xsd(clock.replace(year=clock.year + 1)),
        "credentialSubject": {"id": "did:web:member.example", "space": "demo", "roles": ["consumer"]},
    }
    if status:
        document["credentialStatus"] = status_entry(list_url, INDEX)
    document.update(changes)
    return vc.sign(document, KEY, verification_method_id(ISSUER), now())


def status_list(url: str, *revoked: int, key: SigningKey = KEY, purpose: str = "revocation") -> dict[str, Any]:
    bits = StatusList()
    for index in revoked:
        bits.set(index, True)
    issuer = did_key(key.public)
    document = status_list_credential(ISSUER, url, bits, now(), purpose)
    document["issuer"] = issuer
    return vc.sign(document, key, verification_method_id(issuer), now())


def write(tmp_path: Path, name: str, value: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(value))
    return path


def verify(*args: str) -> Any:
    return runner.invoke(app, ["credential", "verify", *args])


LIST_URL = "https://operator.example/status/1"


def test_revoked_credential_exits_1_with_the_reason(tmp_path: Path) -> None:
    credential = write(tmp_path, "vc.json", member(LIST_URL))
    listed = write(tmp_path, "list.json", status_list(LIST_URL, INDEX))
    result = verify(str(credential), "--status-list", str(listed))
    assert result.exit_code == 1
    assert "revoked" in result.output and "credentialStatus" in result.output


def test_suspended_credential_exits_1_and_says_suspended(tmp_path: Path) -> None:
    url = "https://operator.example/suspensions/1"
    signed = member(url, credentialStatus=status_entry(url, INDEX, "suspension"))
    listed = write(tmp_path, "list.json", status_list(url, INDEX, purpose="suspension"))
    result = verify(str(write(tmp_path, "vc.json", signed)), "--status-list", str(listed), "--json")
    assert result.exit_code == 1 and "suspended" in json.loads(result.output)["error"]


def test_offline_status_list_with_the_bit_clear_passes(tmp_path: Path) -> None:
    credential = write(tmp_path, "vc.json", member(LIST_URL))
    listed = write(tmp_path, "list.json", status_list(LIST_URL, INDEX + 1))
    result = verify(str(credential), "--status-list", str(listed), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["checks"][-1] == "status" and summary["status"].startswith("not revoked")


def test_status_list_signed_by_someone_else_is_refused(tmp_path: Path) -> None:
    credential = write(tmp_path, "vc.json", member(LIST_URL))
    forged = write(tmp_path, "list.json", status_list(LIST_URL, key=OTHER_KEY))
    result = verify(str(credential), "--status-list", str(forged))
    assert result.exit_code == 1 and "issuer" in result.output


def test_no_status_skips_the_check_and_says_so(tmp_path: Path) -> None:
    credential = write(tmp_path, "vc.json", member("http://127.0.0.1:9/never-fetched"))
    result = verify(str(credential), "--no-status")
    assert result.exit_code == 0, result.output
    assert "status: not checked (--no-status)" in result.output


def test_credential_without_credential_status_says_so(tmp_path: Path) -> None:
    result = verify(str(write(tmp_path, "vc.json", member(LIST_URL, status=False))))
    assert result.exit_code == 0, result.output
    assert "status: none (the credential has no credentialStatus)" in result.output


def test_status_list_is_fetched_from_its_url_and_a_revoked_bit_fails(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/status/1"
    lists = {"current": status_list(url)}
    server = FastAPI()
    server.get("/status/1")(lambda: lists["current"])
    credential = write(tmp_path, "vc.json", member(url))
    with serve(server, port):
        assert verify(str(credential)).exit_code == 0
        lists["current"] = status_list(url, INDEX)
        result = verify(str(credential))
    assert result.exit_code == 1 and "revoked" in result.output


def test_unreachable_status_list_is_a_friendly_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/status/1"
    result = verify(str(write(tmp_path, "vc.json", member(url))))
    assert result.exit_code == 1
    assert "could not be fetched" in result.output and "--no-status" in result.output
    assert "Traceback" not in result.output


def test_data_model_refusal_names_the_field(tmp_path: Path) -> None:
    bad = member(LIST_URL, credentialSubject={"id": "did:web:member.example"})
    result = verify(str(write(tmp_path, "vc.json", bad)), "--json")
    assert result.exit_code == 1
    assert "(field credentialSubject)" in json.loads(result.output)["error"]
    unmapped = member(LIST_URL, type=["VerifiableCredential", "Unmapped"])
    assert "(field type)" in verify(str(write(tmp_path, "t.json", unmapped)), "--no-status").output


def test_help_lists_every_check() -> None:
    result = verify("--help")
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for words in ("protected terms", "every type maps to a URL", "at least one claim", "validFrom/validUntil",
                  "credentialSchema (also id)", "language value objects", "Validity period",
                  "eddsa-jcs-2022", "Bitstring Status List", "--no-status", "--status-list"):
        assert words in text, words
