"""``trustspace usage read|export|trace|terminate|certificate verify``: using received data under its agreement.

A connector with its protected store on keeps received data encrypted; a local application reads it only
through the connector's usage API, saying for what (``--purpose``) and with what (``--application``). An
export is always watermarked; ``trace`` names the agreement and reader of an exported file; a destruction
certificate is checked offline with ``certificate verify``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from trustspace.cli.manage import (
    CONNECTOR,
    DEFAULT_CONNECTOR_URL,
    Api,
    ConnectorKey,
    ConnectorUrl,
    say,
    session,
    show,
)
from trustspace.cli.output import emit_json, fail, friendly_errors
from trustspace.cli.services import Json
from trustspace.client.http import raise_refusal
from trustspace.connector.usage import certificate as certificates
from trustspace.connector.usage.watermark import trace as trace_file
from trustspace.core.errors import TrustSpaceError
from trustspace.core.keys import VerifyingKey

usage_app = typer.Typer(help="Use received data under its agreement (the connector's usage API).",
                        no_args_is_help=True)
certificate_app = typer.Typer(help="Destruction certificates (数据销毁证明).", no_args_is_help=True)
usage_app.add_typer(certificate_app, name="certificate")

Agreement = Annotated[str, typer.Option("--agreement", help="the agreement's id (trustspace agreement list)")]
Purpose = Annotated[str, typer.Option("--purpose", help="what the data is used for, as the agreement names it")]
Application = Annotated[str, typer.Option("--application", help="the local application that uses it")]
Reader = Annotated[str, typer.Option("--reader", help="who reads (goes into the log and the watermark)")]
Output = Annotated[Path, typer.Option("--output", "-o", help="file to write")]
Item = Annotated[str | None, typer.Option("--item", help="one protected item (default: the newest)")]


def _stream(api: Api, path: str, body: dict[str, Any], output: Path) -> dict[str, Any]:
    """POST ``body`` and stream the answer into ``output`` (via a partial file), checking its Repr-Digest."""
    partial = output.with_name(output.name + ".part")
    digest, size = hashlib.sha256(), 0
    try:
        with api.client.http.stream("POST", api.url + path, json=body) as response:
            if response.status_code >= 400:
                response.read()
                raise_refusal(response)
            with partial.open("wb") as handle:
                for chunk in response.iter_bytes():
                    digest.update(chunk)
                    handle.write(chunk)
                    size += len(chunk)
            announced = response.headers.get("repr-digest", "")
            entry = response.headers.get("x-usage-entry")
    except TrustSpaceError:
        partial.unlink(missing_ok=True)
        raise
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise TrustSpaceError(f"cannot write {output}: {exc.strerror}", field="output") from exc
    if announced:
        expected = base64.b64decode(announced.split(":")[1]).hex() if announced.count(":") >= 2 else ""
        if expected != digest.hexdigest():
            partial.unlink(missing_ok=True)
            raise TrustSpaceError("the data read does not hash to the digest the connector announced",
                                  hint="read again; if it repeats, the protected copy may be damaged")
    os.replace(partial, output)
    return {"output": str(output), "bytes": size, "sha256": digest.hexdigest(), "usageEntry": entry}


class ExportFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


def _body(agreement: str, purpose: str, application: str, reader: str, item: str | None) -> dict[str, Any]:
    body = {"agreementId": agreement, "purpose": purpose, "application": application, "reader": reader}
    return {**body, "itemId": item} if item else body


@usage_app.command("read")
def read(agreement: Agreement, purpose: Purpose, application: Application, output: Output,
         reader: Reader = "cli", item: Item = None, connector_url: ConnectorUrl = DEFAULT_CONNECTOR_URL,
         api_key: ConnectorKey = None, as_json: Json = False) -> None:
    """Read received data, if the agreement permits this use now (every read is logged first)."""
    with session(CONNECTOR, connector_url, api_key, as_json) as api:
        result = _stream(api, "/v1/usage/read", _body(agreement, purpose, application, reader, item), output)
    _report(result, as_json, "read")


@usage_app.command("export")
def export(agreement: Agreement, purpose: Purpose, application: Application, output: Output,
           reader: Reader = "cli", item: Item = None,
           fmt: Annotated[ExportFormat, typer.Option("--format", help="csv, or parquet")] = ExportFormat.CSV,
           connector_url: ConnectorUrl = DEFAULT_CONNECTOR_URL, api_key: ConnectorKey = None,
           as_json: Json = False) -> None:
    """Export received CSV data (as CSV or Parquet), every row watermarked with the agreement and the reader."""
    body = {**_body(agreement, purpose, application, reader, item), "format": fmt.value}
    with session(CONNECTOR, connector_url, api_key, as_json) as api:
        result = _stream(api, "/v1/usage/export", body, output)
    _report(result, as_json, "exported (watermarked)")


def _report(result: dict[str, Any], as_json: bool, what: str) -> None:
    if as_json:
        emit_json(result)
    else:
        say(f"{what}: {result['output']} ({result['bytes']} bytes, sha256 {result['sha256']}, "
            f"usage log entry {result['usageEntry']})")


@usage_app.command("trace")
def trace(file: Annotated[Path, typer.Argument(help="an exported CSV (or Parquet) file")],
          verify: Annotated[bool, typer.Option("--verify", help="ask the exporting connector whether the marks "
                                                                 "are genuine")] = False,
          connector_url: ConnectorUrl = DEFAULT_CONNECTOR_URL, api_key: ConnectorKey = None,
          as_json: Json = False) -> None:
    """Find the agreement and reader an exported file was watermarked for."""
    if not file.is_file():
        fail(f"no file {file}", "give the path of an exported CSV or Parquet file", as_json=as_json)
    with friendly_errors(as_json):
        found = trace_file(file)
    report = found.as_json()
    if verify and found.marks:
        with session(CONNECTOR, connector_url, api_key, as_json) as api:
            report["verified"] = api("POST", "/v1/usage/trace", {"marks": [m.text for m in found.marks[:10_000]]})
    if as_json:
        emit_json(report)
    elif found.agreement is None:
        fail(f"{file}: no TrustSpace watermark in {found.rows} rows", "the mark column may have been removed",
             as_json=as_json)
    else:
        say(f"agreement {found.agreement}, reader {found.reader}, export {found.export_id}: "
            f"{found.marked_rows} of {found.rows} rows marked")
        if "verified" in report:
            say(f"genuine marks: {report['verified']['genuine']}, forged: {report['verified']['forged']}")
    if found.agreement is None:
        raise typer.Exit(1)


@usage_app.command("notices")
def notices(agreement: Annotated[str | None, typer.Option("--agreement", help="one agreement (default: all "
                                                                            "where we are the provider)")] = None,
            connector_url: ConnectorUrl = DEFAULT_CONNECTOR_URL, api_key: ConnectorKey = None,
            as_json: Json = False) -> None:
    """As a provider: the uses of your data that consumers notified, from the ledger (notify-on-use)."""
    with session(CONNECTOR, connector_url, api_key, as_json) as api:
        page = api("GET", "/v1/management/ledger/usage-notices", params={"agreementId": agreement} if agreement
                   else None)
    show(page, as_json, "Uses notified by consumers", page["notices"],
         (("ledger", "ledgerIndex"), ("agreement", "agreementId"), ("consumer", "consumer"), ("action", "action"),
          ("purpose", "purpose"), ("at", "at")), empty="no uses notified yet")


@usage_app.command("terminate")
def terminate(agreement: Agreement, output: Annotated[Path | None, typer.Option(
                  "--output", "-o", help="write the destruction certificate here")] = None,
              connector_url: ConnectorUrl = DEFAULT_CONNECTOR_URL, api_key: ConnectorKey = None,
              as_json: Json = False) -> None:
    """Destroy an agreement's received data now and get the signed destruction certificate."""
    with session(CONNECTOR, connector_url, api_key, as_json) as api:
        signed = api("POST", "/v1/usage/terminate", {"agreementId": agreement})
    if output is not None:
        output.write_text(json.dumps(signed, indent=2, ensure_ascii=False))
    if as_json:
        emit_json(signed)
    else:
        say(f"destroyed {len(signed['items'])} items of agreement {agreement}; certificate {signed['id']}"
            + (f" written to {output}" if output else ""))


@certificate_app.command("verify")
def verify(file: Annotated[Path, typer.Argument(help="a destruction certificate (JSON)")],
           key: Annotated[str | None, typer.Option("--key", help="the connector's public key (multibase), e.g. "
                                                                  "from its DID document")] = None,
           as_json: Json = False) -> None:
    """Check a destruction certificate's signature offline."""
    with friendly_errors(as_json):
        try:
            document = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TrustSpaceError(f"cannot read {file} as JSON: {exc}", field="file") from None
        signer = certificates.verify(document, VerifyingKey.from_multibase(key) if key else None)
    report = {"ok": True, "agreement": document["agreement"], "issuer": document["issuer"],
              "items": len(document["items"]), "issuedAt": document["issuedAt"], "key": signer.multibase,
              "ledgerPayloadDigest": certificates.digest(document)}
    if as_json:
        emit_json(report)
        return
    say(f"valid: {report['items']} items of agreement {report['agreement']} destroyed, signed by "
        f"{report['issuer']} ({signer.multibase}) at {report['issuedAt']}")
    say(f"its ledger statement has payloadDigest {report['ledgerPayloadDigest']}")
