"""The command line: exit codes, --json, env twins, and errors that name the next step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from trustspace.cli.main import app
from trustspace.core.clock import SystemClock, to_xsd
from trustspace.core.keys import SigningKey
from trustspace.identity import credentials as vc
from trustspace.identity.did import did_document, did_key, did_web, verification_method_id

runner = CliRunner()


def signed_credential(key: SigningKey, issuer: str, *, days: int = 30) -> dict[str, Any]:
    now = SystemClock().now()
    document = {
        "@context": [vc.VC_V2_CONTEXT], "id": "urn:uuid:00000000-0000-4000-8000-000000000001",
        "type": ["VerifiableCredential"], "issuer": issuer, "validFrom": to_xsd(now),
        "validUntil": to_xsd(now.replace(year=now.year + 1)) if days > 0 else to_xsd(now),
        "credentialSubject": {"id": "did:example:subject", "name": "Subject"},
    }
    return vc.sign(document, key, verification_method_id(issuer), to_xsd(now))


def write(tmp_path: Path, name: str, value: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(value) if not isinstance(value, str) else value)
    return path


def test_verify_valid_credential(tmp_path: Path) -> None:
    key = SigningKey.generate()
    path = write(tmp_path, "vc.json", signed_credential(key, did_key(key.public)))
    result = runner.invoke(app, ["credential", "verify", str(path)])
    assert result.exit_code == 0, result.output
    assert "credential valid" in result.output and "eddsa-jcs-2022" in result.output
    as_json = runner.invoke(app, ["credential", "verify", "--json", str(path)])
    assert json.loads(as_json.output)["ok"] is True


def test_verify_offline_with_did_web_document(tmp_path: Path) -> None:
    key = SigningKey.generate()
    issuer = did_web("http://127.0.0.1:1")
    path = write(tmp_path, "vc.json", signed_credential(key, issuer))
    doc = write(tmp_path, "did.json", did_document(issuer, key.public))
    assert runner.invoke(app, ["credential", "verify", str(path)]).exit_code == 1
    result = runner.invoke(app, ["credential", "verify", str(path), "--did-document", str(doc)])
    assert result.exit_code == 0, result.output


def test_verify_tampered_credential_says_why(tmp_path: Path) -> None:
    key = SigningKey.generate()
    credential = signed_credential(key, did_key(key.public))
    credential["credentialSubject"]["id"] = "did:example:someone-else"
    result = runner.invoke(app, ["credential", "verify", "--json", str(write(tmp_path, "vc.json", credential))])
    assert result.exit_code == 1
    assert json.loads(result.output)["ok"] is False
    assert "proof" in json.loads(result.output)["error"]


def test_no_proof_checks_the_data_model_only(tmp_path: Path) -> None:
    key = SigningKey.generate()
    credential = signed_credential(key, did_key(key.public))
    credential["proof"]["proofValue"] = "zbroken"
    path = write(tmp_path, "vc.json", credential)
    assert runner.invoke(app, ["credential", "verify", str(path)]).exit_code == 1
    assert runner.invoke(app, ["credential", "verify", "--no-proof", str(path)]).exit_code == 0
    monkey_env = runner.invoke(app, ["credential", "verify", str(path)], env={"TRUSTSPACE_NO_PROOF": "1"})
    assert monkey_env.exit_code == 0, "every flag has an environment variable twin"
    del credential["credentialSubject"]
    bad_model = runner.invoke(app, ["credential", "verify", "--no-proof", str(write(tmp_path, "b.json", credential))])
    assert bad_model.exit_code == 1 and "credentialSubject" in bad_model.output


def test_verify_rejects_non_json(tmp_path: Path) -> None:
    result = runner.invoke(app, ["credential", "verify", str(write(tmp_path, "x.json", "not json"))])
    assert result.exit_code == 1 and "not JSON" in " ".join(result.output.split())
    listed = runner.invoke(app, ["credential", "verify", str(write(tmp_path, "l.json", [1, 2]))])
    assert listed.exit_code == 1


def test_connector_init(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    args = ["connector", "init", "--data-dir", str(folder), "--url", "http://127.0.0.1:8501",
            "--operator-url", "http://127.0.0.1:8400", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["did"] == "did:web:127.0.0.1%3A8501"
    assert (folder / "connector.key.json").stat().st_mode & 0o777 == 0o600
    again = runner.invoke(app, args)
    assert again.exit_code == 1 and "refusing to overwrite" in again.output
    bad = runner.invoke(app, ["connector", "init", "--data-dir", str(tmp_path / "d"), "--url", "nope",
                              "--operator-url", "http://127.0.0.1:8400"])
    assert bad.exit_code != 0 and "--url" in bad.output


def test_connector_start_without_init_suggests_init(tmp_path: Path) -> None:
    result = runner.invoke(app, ["connector", "start", "--data-dir", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "trustspace connector init" in result.output


def test_status_against_a_live_operator(tmp_path: Path) -> None:
    from live import free_port, serve
    from trustspace.operator.app import create_app
    from trustspace.operator.settings import OperatorSettings

    port = free_port()
    settings = OperatorSettings(data_dir=tmp_path / "op", public_url=f"http://127.0.0.1:{port}")
    with serve(create_app(settings), port) as url:
        key = settings.admin_key_path.read_text().strip()
        result = runner.invoke(app, ["status", "--json"], env={"TRUSTSPACE_OPERATOR_URL": url,
                                                               "TRUSTSPACE_ADMIN_API_KEY": key})
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["ready"]["status"] == "ready" and report["members"] == []
        plain = runner.invoke(app, ["status", "--operator-url", url])
        assert plain.exit_code == 0 and "--api-key" in plain.output
    down = runner.invoke(app, ["status", "--operator-url", url])
    assert down.exit_code == 1 and "next:" in down.output


def test_an_error_quoting_brackets_prints_them_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    from trustspace.cli.output import fail

    with pytest.raises(typer.Exit):
        fail("field [bold]x[/bold] of items[0] is wrong", "send items[0] again")
    err = capsys.readouterr().err
    assert "[bold]x[/bold]" in err and "items[0]" in err and "send items[0] again" in err
