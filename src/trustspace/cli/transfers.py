"""``trustspace agreement list`` and ``transfer start|status|pull``: moving data under an agreement.

A consumer connector pulls a transfer's data itself as soon as the provider starts it, into its ``received``
folder, and completes the transfer; completion revokes the provider's token. So ``transfer pull`` copies the
connector's verified copy when there is one, and downloads from the provider's data plane (the endpoint and
token of the transfer's dataAddress) only while the transfer is STARTED and its data not yet moved.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from trustspace.cli.manage import (
    CONNECTOR,
    DEFAULT_CONNECTOR_URL,
    Api,
    Column,
    ConnectorKey,
    ConnectorUrl,
    Timeout,
    complain,
    moment,
    next_step,
    say,
    session,
    show,
    wait_for,
    warn,
)
from trustspace.cli.output import emit_json, fail
from trustspace.cli.services import Json
from trustspace.connector.dataplane.client import pull
from trustspace.connector.dataplane.tokens import read_data_address
from trustspace.core.errors import TrustSpaceError

agreement_app = typer.Typer(help="Contracts your connector agreed, as consumer or provider.", no_args_is_help=True)
transfer_app = typer.Typer(help="Move data under an agreement.", no_args_is_help=True)

TRANSFER_ENDS = {"COMPLETED", "TERMINATED"}
TRANSFER_COLUMNS: tuple[Column, ...] = (
    ("id", "id"), ("role", "role"), ("type", "transferType"), ("state", "state"),
    ("agreement", "agreementId"), ("bytes", lambda t: (t.get("details") or {}).get("bytes")),
    ("reason", "reason"))


class Kind(StrEnum):
    PULL = "pull"
    PUSH = "push"


@agreement_app.command("list")
def agreement_list(connector_url: ConnectorUrl = DEFAULT_CONNECTOR_URL, api_key: ConnectorKey = None,
                   as_json: Json = False) -> None:
    """List the agreements your connector holds."""
    with session(CONNECTOR, connector_url, api_key, as_json) as api:
        agreements = api("GET", "/v1/management/agreements")
    show(agreements, as_json, "Agreements", agreements,
         (("id", "id"), ("asset", "assetId"), ("provider", "provider"), ("consumer", "consumer"),
          ("agreed", moment("signedAt"))),
         empty="no agreements yet: trustspace negotiate --provider URL --offer ID")


@transfer_app.command("start")
def transfer_start(
    agreement: Annotated[str, typer.Option("--agreement", help="the agreement's id (trustspace agreement list)")],
    kind: Annotated[Kind, typer.Option("--type", help="pull: we fetch the data; push: the provider sends "
                                                      "it")] = Kind.PULL,
    wait: Annotated[bool, typer.Option("--wait", help="wait until the transfer is COMPLETED or "
                                                      "TERMINATED")] = False,
    timeout: Timeout = 120.0,
    connector_url: ConnectorUrl = DEFAULT_CONNECTOR_URL,
    api_key: ConnectorKey = None,
    as_json: Json = False,
) -> None:
    """Ask the provider for the data of an agreement."""
    with session(CONNECTOR, connector_url, api_key, as_json) as api:
        transfer = api("POST", "/v1/management/transfers",
                       {"agreementId": agreement, "transferType": f"HttpData-{kind.value.upper()}"})
        if wait:
            transfer = _wait(api, transfer["id"], lambda t: t.get("state") in TRANSFER_ENDS, timeout, as_json)
    show(transfer, as_json, "Transfer", [transfer], TRANSFER_COLUMNS)
    _ended(transfer)
    if not as_json:
        next_step(f"trustspace transfer pull {transfer['id']} --output <file>")


@transfer_app.command("status")
def transfer_status(
    transfer_id: Annotated[str | None, typer.Argument(help="one transfer (default: all)")] = None,
    connector_url: ConnectorUrl = DEFAULT_CONNECTOR_URL,
    api_key: ConnectorKey = None,
    as_json: Json = False,
) -> None:
    """Show a transfer's state (or every transfer's)."""
    with session(CONNECTOR, connector_url, api_key, as_json) as api:
        found = api("GET", f"/v1/management/transfers/{transfer_id}" if transfer_id else "/v1/management/transfers")
    rows = [found] if transfer_id else found
    show(found, as_json, "Transfer" if transfer_id else "Transfers", rows, TRANSFER_COLUMNS,
         empty="no transfers yet: trustspace transfer start --agreement ID")
    details = (found.get("details") or {}) if transfer_id else {}
    received = details.get("path") or (f"sealed in the protected store (item {details['protectedItem']})"
                                       if details.get("protectedItem") else None)
    if received and not as_json:
        say(f"received: {received} (sha256 {details.get('sha256')})")


@transfer_app.command("pull")
def transfer_pull(
    transfer_id: Annotated[str, typer.Argument(help="the transfer (trustspace transfer status)")],
    output: Annotated[Path, typer.Option("--output", "-o", help="file to write the data to")],
    force: Annotated[bool, typer.Option("--force", help="replace --output if it exists")] = False,
    purpose: Annotated[str, typer.Option("--purpose", help="what the data is read for, when the connector holds it "
                                                           "sealed (decided against the agreement, and logged)")]
    = "local copy",
    timeout: Timeout = 120.0,
    connector_url: ConnectorUrl = DEFAULT_CONNECTOR_URL,
    api_key: ConnectorKey = None,
    as_json: Json = False,
) -> None:
    """Write a transfer's data to a file, waiting until the provider has started it."""
    if output.is_dir() or (output.exists() and not force):
        fail(f"--output {output} exists" + (" and is a folder" if output.is_dir() else ""),
             "give a new file name, or --force to replace the file", as_json=as_json)
    if not output.parent.is_dir():
        fail(f"the folder of --output {output} does not exist", f"create it first: mkdir -p {output.parent}",
             as_json=as_json)
    with session(CONNECTOR, connector_url, api_key, as_json) as api:
        transfer = _wait(api, transfer_id, _ready, timeout, as_json)
        _ended(transfer)
        if transfer.get("role") != "consumer":
            fail("we are the provider of this transfer: its data is ours already", "pull transfers your "
                 "connector started (trustspace transfer start)", as_json=as_json)
        result = _fetch(api, transfer, output, purpose)
    if as_json:
        emit_json(result)
    else:
        how = {"data-plane": "from the provider's data plane", "usage-api": "from the connector's protected store"
               }.get(result["via"], "from the connector's copy")
        say(f"wrote {result['bytes']} bytes to {result['output']} {how}; sha256 {result['sha256']}")
        if not result["verified"]:
            warn("not verified: the provider announced no digest for the data")


def _wait(api: Api, transfer_id: str, done: Callable[[dict[str, Any]], bool], timeout: float,
          as_json: bool) -> dict[str, Any]:
    return wait_for(lambda: api("GET", f"/v1/management/transfers/{transfer_id}"), done, "transfer", timeout,
                    as_json, f"trustspace transfer status {transfer_id}")


def _moved(transfer: dict[str, Any]) -> bool:
    return bool((transfer.get("details") or {}).get("moved"))


def _ready(transfer: dict[str, Any]) -> bool:
    """Its data can be had: the connector holds it, the transfer ended, or the provider's data plane serves it."""
    state = transfer.get("state")
    serving = state == "STARTED" and transfer.get("transferType") == "HttpData-PULL" and transfer.get("dataAddress")
    return state in TRANSFER_ENDS or _moved(transfer) or bool(serving)


def _ended(transfer: dict[str, Any]) -> None:
    if transfer.get("state") == "TERMINATED":
        complain(f"the transfer was terminated: {transfer.get('reason')}",
                 f"start another: trustspace transfer start --agreement {transfer.get('agreementId')}")
        raise typer.Exit(1)


def _fetch(api: Api, transfer: dict[str, Any], output: Path, purpose: str) -> dict[str, Any]:
    if (transfer.get("details") or {}).get("protectedItem"):
        return _unsealed(api, transfer, output, purpose)
    if not _moved(transfer):
        endpoint, token = read_data_address(transfer.get("dataAddress") or {})
        try:
            pulled = pull(endpoint, token, output, unverified_ok=True)
        except TrustSpaceError:
            # The connector may have completed the transfer (revoking the token) while we were downloading.
            transfer = api("GET", f"/v1/management/transfers/{transfer['id']}")
            if not _moved(transfer):
                raise
            if (transfer.get("details") or {}).get("protectedItem"):
                return _unsealed(api, transfer, output, purpose)
        else:
            return {"transferId": transfer["id"], "output": str(output), "bytes": pulled.size,
                    "sha256": pulled.sha256, "verified": pulled.verified, "via": "data-plane"}
    return _copy(transfer, output)


def _unsealed(api: Api, transfer: dict[str, Any], output: Path, purpose: str) -> dict[str, Any]:
    """The data the connector sealed in its protected store, read through its usage API (decided against the
    agreement like any use, and logged), written to ``output``."""
    details = transfer.get("details") or {}
    body = {"agreementId": transfer.get("agreementId"), "itemId": details["protectedItem"], "purpose": purpose,
            "application": "trustspace-cli"}
    partial, digest = output.with_name(output.name + ".part"), hashlib.sha256()
    with api.client.http.stream("POST", f"{api.url}/v1/usage/read", json=body) as answer:
        if answer.status_code != 200:
            answer.read()
            detail = answer.json().get("detail") if answer.headers.get("content-type", "").endswith("json") else None
            raise TrustSpaceError(f"the connector refused to read transfer {transfer['id']}'s data: "
                                  f"{detail or answer.status_code}",
                                  hint="give the purpose the agreement allows (--purpose), or see "
                                       "trustspace agreement list")
        with partial.open("wb") as writing:
            for chunk in answer.iter_bytes():
                digest.update(chunk)
                writing.write(chunk)
    if details.get("sha256") and digest.hexdigest() != details["sha256"]:
        partial.unlink()
        raise TrustSpaceError("the data read back does not have the SHA-256 it was received with")
    os.replace(partial, output)
    return {"transferId": transfer["id"], "output": str(output), "bytes": output.stat().st_size,
            "sha256": digest.hexdigest(), "verified": bool(details.get("verified", True)), "via": "usage-api"}


def _copy(transfer: dict[str, Any], output: Path) -> dict[str, Any]:
    details = transfer.get("details") or {}
    source = Path(str(details.get("path") or ""))
    if not details.get("path"):
        raise TrustSpaceError(f"transfer {transfer['id']} is {transfer.get('state')} and its connector keeps no "
                              "copy of its data", hint="start a new transfer: trustspace transfer start --agreement "
                                                      f"{transfer.get('agreementId')}")
    if not source.is_file():
        # The path is the connector's, relative to the folder it was started in when its data folder was.
        raise TrustSpaceError(f"the connector received the data into {source}, which is not readable from here",
                              hint="run this command on the connector's machine, in the folder the connector was "
                                   "started in, or start a new transfer and pull it while it is STARTED")
    partial = output.with_name(output.name + ".part")
    digest = hashlib.sha256()
    with source.open("rb") as reading, partial.open("wb") as writing:
        for chunk in iter(lambda: reading.read(1 << 20), b""):
            digest.update(chunk)
            writing.write(chunk)
    expected = details.get("sha256")
    if expected and digest.hexdigest() != expected:
        partial.unlink()
        raise TrustSpaceError(f"the connector's copy {source} no longer has the SHA-256 it was received with",
                              hint="start a new transfer: trustspace transfer start --agreement "
                                   f"{transfer.get('agreementId')}")
    os.replace(partial, output)
    return {"transferId": transfer["id"], "output": str(output), "bytes": output.stat().st_size,
            "sha256": digest.hexdigest(), "verified": bool(expected and details.get("verified", True)),
            "via": "connector-copy"}
