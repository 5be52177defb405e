"""``trustspace ledger``: evidence bundles (prove), offline verification (verify), whole-log audit (audit)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.progress import Progress
from sqlalchemy import create_engine, text

from trustspace.cli.output import console, emit_json, fail, friendly_errors
from trustspace.client.fetch import get_object
from trustspace.identity.did import DidResolver, did_web_url
from trustspace.ledger.audit import AuditReport, StoredEntry, audit
from trustspace.ledger.bundle import Report, verify_bundle
from trustspace.ledger.checkpoint import Checkpoint, Note, NoteVerifier

ledger_app = typer.Typer(help="Prove, verify and audit the evidence ledger (存证).", no_args_is_help=True)
OperatorUrl = Annotated[str, typer.Option(envvar="TRUSTSPACE_OPERATOR_URL", help="the operator's URL")]
Json = Annotated[bool, typer.Option("--json", envvar="TRUSTSPACE_JSON", help="machine-readable output")]
ApiKey = Annotated[str | None, typer.Option(envvar="TRUSTSPACE_ADMIN_API_KEY", help=(
    "administrator key, to read entries (members read with their service tokens)"))]


def _client(operator_url: str, api_key: str | None) -> httpx.Client:
    """Reading entries needs membership or the administrator key; proofs and checkpoints are public."""
    headers = {"X-API-Key": api_key} if api_key else {}
    return httpx.Client(base_url=operator_url.rstrip("/"), timeout=30.0, headers=headers)


def _get(client: httpx.Client, path: str, **params: Any) -> Any:
    response = client.get(path, params=params or None)
    if response.status_code != 200:
        fail(f"GET {path} answered {response.status_code}: {response.text[:300]}",
             "check the index, leaf hash or operator URL")
    return response.json() if "json" in response.headers.get("content-type", "") else response.text


def build_bundle(operator_url: str, *, index: int | None, receipt: dict[str, Any] | None,
                 against: list[str], api_key: str | None = None) -> dict[str, Any]:
    with _client(operator_url, api_key) as client:
        checkpoint_text = str(_get(client, "/v1/ledger/checkpoint"))
        size = Checkpoint.from_body(Note.parse(checkpoint_text).text).size
        query: dict[str, Any] = {"treeSize": size}
        query.update({"index": index} if index is not None else {"leafHash": (receipt or {}).get("leafHash")})
        inclusion = _get(client, "/v1/ledger/proofs/inclusion", **query)
        entry = _get(client, f"/v1/ledger/entries/{inclusion['index']}")["entry"]
        consistency = []
        for text in against:
            later = Checkpoint.from_body(Note.parse(text).text).size
            if later > size:
                consistency.append(_get(client, "/v1/ledger/proofs/consistency", first=size, second=later))
        return {"format": "trustspace-evidence-bundle/1", "entry": entry, "receipt": receipt,
                "inclusion": inclusion, "checkpoint": checkpoint_text, "consistency": consistency,
                "logKey": _get(client, "/v1/ledger/key")["vkey"],
                "didDocuments": _did_documents(entry, receipt)}


def _did_documents(entry: dict[str, Any], receipt: dict[str, Any] | None) -> dict[str, Any]:
    documents = {}
    for did in {entry.get("submitter"), (receipt or {}).get("operator")}:
        if isinstance(did, str) and did.startswith("did:web:"):
            documents[did] = get_object(did_web_url(did))
    return documents


@ledger_app.command("prove")
def prove(
    operator_url: OperatorUrl = "http://127.0.0.1:8400",
    index: Annotated[int | None, typer.Option(min=0, help="the entry's index in the log")] = None,
    receipt: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="a receipt (JSON) "
                                                 "the operator returned for the entry")] = None,
    against: Annotated[list[Path] | None, typer.Option(exists=True, dir_okay=False, help=(
        "later checkpoints you hold; consistency proofs to them go into the bundle"))] = None,
    out: Annotated[Path, typer.Option(help="where to write the bundle")] = Path("evidence.json"),
    api_key: ApiKey = None,
) -> None:
    """Fetch an entry with its inclusion proof, checkpoint and consistency proofs into one bundle file."""
    if (index is None) == (receipt is None):
        fail("name the entry by --index or by --receipt (one of them)")
    with friendly_errors():
        receipt_doc = json.loads(receipt.read_text()) if receipt else None
        bundle = build_bundle(operator_url, index=index, receipt=receipt_doc,
                              against=[p.read_text() for p in against or []], api_key=api_key)
    out.write_text(json.dumps(bundle, indent=2, ensure_ascii=False))
    console.print(f"bundle written to {out}; verify it offline with: trustspace ledger verify {out} "
                  f"--log-key '{bundle['logKey']}' --checkpoint <later checkpoint>")


def verify_offline(bundle: dict[str, Any], log_key: str, later: list[str]) -> Report:
    resolver = DidResolver(fetch=_refuse_network)
    for did, document in (bundle.get("didDocuments") or {}).items():
        resolver.seed(did, document)
    receipt_check = None
    receipt = bundle.get("receipt")
    if receipt is not None:
        from trustspace.operator.ledger.receipts import verify_receipt

        def receipt_check(r: dict[str, Any]) -> None:
            verify_receipt(r, resolver.key_for(str(r["verificationMethod"])))

    return verify_bundle(bundle, NoteVerifier.from_vkey(log_key), later, resolver.key_for, receipt_check)


def _refuse_network(url: str) -> dict[str, Any]:
    raise ValueError(f"offline verification fetches nothing ({url}); put the DID document in the bundle")


@ledger_app.command("verify")
def verify(
    bundle_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="an evidence bundle")],
    checkpoint: Annotated[list[Path] | None, typer.Option(exists=True, dir_okay=False, help=(
        "a later checkpoint you hold (repeatable): the log must have only grown up to it"))] = None,
    log_key: Annotated[str | None, typer.Option(envvar="TRUSTSPACE_LEDGER_KEY", help=(
        "the log's checkpoint key (vkey) you pinned; without it the bundle's own key is used, with a warning"))] = None,
    as_json: Json = False,
) -> None:
    """Verify a bundle offline: statement and receipt signatures, inclusion, and consistency with later
    checkpoints. Exit 0 only when every check holds."""
    try:
        bundle = json.loads(bundle_file.read_text(encoding="utf-8"))
    except ValueError as exc:
        fail(f"{bundle_file} is not JSON: {exc}", as_json=as_json)
    key = log_key or str(bundle.get("logKey", ""))
    report = verify_offline(bundle, key, [p.read_text() for p in checkpoint or []])
    if as_json:
        emit_json({"ok": report.ok, "passed": report.passed, "failed": report.failed})
    else:
        if not log_key:
            console.print("[yellow]warning:[/] no --log-key given; trusting the key inside the bundle")
        for line in report.passed:
            console.print(f"  [green]✓[/] {line}")
        for line in report.failed:
            console.print(f"  [red]✗[/] {line}")
    raise typer.Exit(0 if report.ok else 1)




def _database_entries(url: str) -> tuple[Iterator[StoredEntry], list[str]]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        notes = [row[0] for row in connection.execute(text("SELECT note FROM ledger_checkpoints ORDER BY size"))]

    def entries() -> Iterator[StoredEntry]:
        with engine.connect() as connection:
            rows = connection.execution_options(yield_per=5000).execute(
                text("SELECT idx, leaf_hash, entry FROM ledger_entries ORDER BY idx"))
            for index, hashed, entry in rows:
                yield StoredEntry(int(index), bytes(hashed), json.loads(entry))
        engine.dispose()

    return entries(), notes


def audit_database(url: str, log_key: str) -> AuditReport:
    """Audit a copy of the operator's database (SQLite file or PostgreSQL URL), without the operator."""
    entries, notes = _database_entries(url)
    return audit(entries, notes, NoteVerifier.from_vkey(log_key))


def audit_operator(operator_url: str, log_key: str | None, api_key: str | None = None) -> AuditReport:
    """Download the whole log through the operator's API and audit it."""
    with _client(operator_url, api_key) as client:
        key = log_key or str(_get(client, "/v1/ledger/key")["vkey"])
        latest = int(_get(client, "/v1/ledger/checkpoints/latest.json")["size"])
        notes = [str(_get(client, f"/v1/ledger/checkpoints/{size}")) for size in _checkpoint_sizes(client, latest)]
        stored: list[StoredEntry] = []
        with Progress(transient=True) as progress:
            task = progress.add_task("downloading entries", total=latest)
            while len(stored) < latest:
                params: dict[str, Any] = {"limit": 1000}
                if stored:
                    params["after"] = stored[-1].index
                page = _get(client, "/v1/ledger/entries", **params)["entries"]
                if not page:
                    break
                for item in page:
                    stored.append(StoredEntry(int(item["index"]), _b64(item["leafHash"]), item["entry"]))
                progress.update(task, completed=len(stored))
    return audit(stored, notes, NoteVerifier.from_vkey(key))


def _checkpoint_sizes(client: httpx.Client, latest: int) -> list[int]:
    listed = client.get("/v1/ledger/checkpoints")
    if listed.status_code == 200 and isinstance(listed.json(), list):
        return [int(s) for s in listed.json()]
    return [latest]


def _b64(value: str) -> bytes:
    standard = value.replace("-", "+").replace("_", "/")
    return base64.b64decode(standard + "=" * (-len(standard) % 4))


@ledger_app.command("audit")
def audit_command(
    operator_url: Annotated[str | None, typer.Option(envvar="TRUSTSPACE_OPERATOR_URL", help=(
        "audit through the operator's API"))] = None,
    database: Annotated[str | None, typer.Option(help="audit a copy of the operator's database instead "
                                                 "(sqlite:///path or a PostgreSQL URL)")] = None,
    log_key: Annotated[str | None, typer.Option(envvar="TRUSTSPACE_LEDGER_KEY", help="the log's pinned key")] = None,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """Recompute every leaf and root of the whole log and check every checkpoint. Exit 0 only if all holds."""
    if (operator_url is None) == (database is None):
        fail("audit through --operator-url or a copy of the database with --database (one of them)", as_json=as_json)
    with friendly_errors(as_json):
        if database is not None:
            if not log_key:
                fail("a database audit needs the log's key", "pass --log-key (GET /v1/ledger/key, pinned earlier)",
                     as_json=as_json)
            report = audit_database(database, str(log_key))
        else:
            report = audit_operator(str(operator_url), log_key, api_key)
    if as_json:
        emit_json({"ok": report.ok, "entries": report.entries, "checkpoints": report.checkpoints,
                   "failures": report.failures})
    elif report.ok:
        console.print(f"[green]ledger consistent[/]: {report.entries} entries, {report.checkpoints} checkpoints")
    else:
        for failure in report.failures:
            console.print(f"  [red]✗[/] {failure}")
    raise typer.Exit(0 if report.ok else 1)
