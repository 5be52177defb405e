"""``trustspace credential``: verify a credential the way a TrustSpace service would, and say what was checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from trustspace.cli.output import console, emit_json, fail
from trustspace.cli.services import Json
from trustspace.client.fetch import get_object
from trustspace.core.clock import SystemClock
from trustspace.core.errors import PeerError, TrustSpaceError
from trustspace.identity import credentials as vc
from trustspace.identity.did import DidResolver
from trustspace.identity.errors import InvalidCredential
from trustspace.identity.status_list import check_not_revoked

credential_app = typer.Typer(help="Work with verifiable credentials.", no_args_is_help=True)

VERIFY_HELP = """Verify a credential. Checks, in this order:

1. VC Data Model 2.0: @context entries are URLs or objects and the first is the VC 2.0 context; only
contexts shipped with TrustSpace are used (never fetched); protected terms are not redefined; every type
maps to a URL; id is a single URL; issuer is a URL or an object whose id is one; every credentialSubject
carries at least one claim; validFrom/validUntil are dateTimes with a time zone, in order;
credentialStatus, credentialSchema (also id), refreshService, termsOfUse, evidence and proof each have a
type and single-URL ids; language value objects hold only @value, @language, @direction.

2. Validity period: now lies within validFrom..validUntil.

3. Proof: one Data Integrity proof (eddsa-jcs-2022) by a key of the issuer's DID.

4. Status: the Bitstring Status List named by credentialStatus is fetched (or read from --status-list),
checked by steps 1-3 and for the same issuer, and the credential's bit must be clear (not revoked or
suspended).

--no-proof stops after step 1; --no-status skips step 4. Exit code 0 when every check passed, 1 otherwise.
"""


def _read_json(file: Path, what: str, as_json: bool) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"{file} is not JSON: {exc}", f"pass the {what} file itself, as JSON", as_json=as_json)


def _resolver(documents: list[Path], as_json: bool) -> DidResolver:
    resolver = DidResolver()
    for path in documents:
        document = _read_json(path, "DID document", as_json)
        if not isinstance(document, dict) or not isinstance(document.get("id"), str):
            fail(f"{path} is not a DID document", "pass the JSON served at /.well-known/did.json",
                 as_json=as_json)
        try:
            resolver.seed(document["id"], document)
        except (TrustSpaceError, ValueError, KeyError, TypeError) as exc:
            fail(f"{path} is not a usable DID document: {exc}", "pass the JSON served at /.well-known/did.json",
                 as_json=as_json)
    return resolver


def _status_list_url(credential: dict[str, Any]) -> str:
    status = credential["credentialStatus"]
    entries = status if isinstance(status, list) else [status]
    urls = {entry.get("statusListCredential") for entry in entries if isinstance(entry, dict)}
    if len(urls) != 1 or not isinstance(url := urls.pop(), str):
        raise InvalidCredential("credentialStatus must name exactly one statusListCredential URL",
                                field="credentialStatus.statusListCredential")
    return url


def _check_status(credential: dict[str, Any], resolver: DidResolver, status_list: Path | None,
                  as_json: bool) -> str:
    """Step 4; answers the line the summary shows."""
    if "credentialStatus" not in credential:
        return "none (the credential has no credentialStatus)"
    url = _status_list_url(credential)
    if status_list is not None:
        document = _read_json(status_list, "status list credential", as_json)
        source = str(status_list)
    else:
        try:
            document = get_object(url)
        except PeerError as exc:
            raise PeerError(f"status list {url} could not be fetched: {exc.detail}",
                            field="credentialStatus.statusListCredential",
                            hint="check the network, pass the list with --status-list FILE, "
                                 "or skip the check with --no-status") from exc
        source = url
    if not isinstance(document, dict):
        raise InvalidCredential(f"status list {source} is not a credential object", field="credentialStatus")
    try:
        vc.check_data_model(document)
        if vc.issuer_id(document) != vc.issuer_id(credential):
            raise InvalidCredential("it was not issued by the credential's issuer", field="issuer")
        vc.check_validity(document, SystemClock().now())
        vc.verify(document, resolver.key_for)
    except TrustSpaceError as exc:
        # Name the list, so its faults are not mistaken for the credential's own.
        raise type(exc)(f"status list {source} is not acceptable: {exc.detail}",
                        field=f"statusListCredential.{exc.field}" if exc.field else "statusListCredential",
                        hint=exc.hint or "ask the issuer for its current, signed status list") from exc
    check_not_revoked(credential, document)
    return f"not revoked (list {source})"


@credential_app.command("verify", help=VERIFY_HELP)
def credential_verify(
    file: Annotated[Path, typer.Argument(help="a credential as JSON", exists=True, dir_okay=False)],
    no_proof: Annotated[bool, typer.Option("--no-proof", envvar="TRUSTSPACE_NO_PROOF",
                                           help="check the VC 2.0 data model only (step 1)")] = False,
    no_status: Annotated[bool, typer.Option("--no-status", envvar="TRUSTSPACE_NO_STATUS",
                                            help="skip the status list check (step 4); the output says so")] = False,
    status_list: Annotated[Path | None, typer.Option(
        "--status-list", envvar="TRUSTSPACE_STATUS_LIST", exists=True, dir_okay=False,
        help="the status list credential, to check offline instead of fetching statusListCredential")] = None,
    did_document: Annotated[list[Path] | None, typer.Option(
        "--did-document", envvar="TRUSTSPACE_DID_DOCUMENT", exists=True, dir_okay=False,
        help="the issuer's DID document, to verify offline instead of fetching it (repeatable)")] = None,
    as_json: Json = False,
) -> None:
    credential = _read_json(file, "credential", as_json)
    if not isinstance(credential, dict):
        fail(f"{file} holds JSON but not a credential object", as_json=as_json)
    checks = ["data model"]
    status = "not checked (--no-status)" if no_status else "not checked (--no-proof)"
    try:
        vc.check_data_model(credential)
        if not no_proof:
            resolver = _resolver(did_document or [], as_json)
            vc.check_validity(credential, SystemClock().now())
            checks.append("validity period")
            vc.verify(credential, resolver.key_for)
            checks.append("proof (eddsa-jcs-2022)")
            if not no_status:
                status = _check_status(credential, resolver, status_list, as_json)
                checks.append("status")
    except TrustSpaceError as exc:
        where = f" (field {exc.field})" if exc.field else ""
        fail(f"credential invalid{where}: {exc.detail}", exc.hint, as_json=as_json)
    summary = {"ok": True, "checks": checks, "status": status, "id": credential.get("id"),
               "type": credential.get("type"), "issuer": vc.issuer_id(credential), "subject": _subject(credential),
               "validFrom": credential.get("validFrom"), "validUntil": credential.get("validUntil")}
    if as_json:
        emit_json(summary)
        return
    console.print("[bold green]credential valid[/] — checked: " + ", ".join(checks))
    for key in ("status", "id", "type", "issuer", "subject", "validFrom", "validUntil"):
        console.print(f"  {key}: {summary[key]}")


def _subject(credential: dict[str, Any]) -> str | None:
    try:
        return vc.subject_id(credential)
    except TrustSpaceError:
        return None
