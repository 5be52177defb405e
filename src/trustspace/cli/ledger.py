"""``trustspace ledger``: evidence bundles (prove), offline verification (verify), whole-log audit (audit)."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer
from rich.markup import escape
from rich.progress import Progress
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from trustspace.cli.output import console, emit_json, fail, friendly_errors
from trustspace.client.fetch import get_object
from trustspace.core.errors import CallerError, PeerError, PeerUnreachable
from trustspace.identity.did import DidResolver, did_web_url
from trustspace.ledger.audit import AuditReport, StoredEntry, StoredNote, audit
from trustspace.ledger.bundle import Report, verify_bundle
from trustspace.ledger.checkpoint import Checkpoint, Note, NoteVerifier

ledger_app = typer.Typer(help="Prove, verify and audit the evidence ledger (存证).", no_args_is_help=True)
# Entries and checkpoints per page, the most the operator gives.
MAX_PAGE = 1000
OperatorUrl = Annotated[str, typer.Option(envvar="TRUSTSPACE_OPERATOR_URL", help="the operator's URL")]
Json = Annotated[bool, typer.Option("--json", envvar="TRUSTSPACE_JSON", help="machine-readable output")]
ApiKey = Annotated[str | None, typer.Option(envvar="TRUSTSPACE_ADMIN_API_KEY", help=(
    "administrator key, to read entries (members read with their service tokens)"))]


def _client(operator_url: str, api_key: str | None) -> httpx.Client:
    """Reading entries needs membership or the administrator key; proofs and checkpoints are public."""
    headers = {"X-API-Key": api_key} if api_key else {}
    return httpx.Client(base_url=operator_url.rstrip("/"), timeout=30.0, headers=headers)


def _get(client: httpx.Client, path: str, **params: Any) -> Any:
    try:
        response = client.get(path, params=params or None)
    except httpx.HTTPError as exc:
        raise PeerUnreachable(f"GET {path} failed: {exc}", hint="check the operator URL") from None
    if response.status_code != 200:
        raise PeerError(f"GET {path} answered {response.status_code}: {response.text[:300]}",
                        hint="check the index, leaf hash or operator URL")
    return _json(response) if "json" in response.headers.get("content-type", "") else response.text


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



# What a copy of the operator's database is read with. On SQLite every text column is cast to bytes, decoded
# here row by row: a byte the driver cannot decode would otherwise end the whole read instead of naming one row.
_READS = {
    "sqlite": ("SELECT size, CAST(note AS BLOB) FROM ledger_checkpoints ORDER BY size",
               "SELECT idx, leaf_hash, CAST(entry AS BLOB) FROM ledger_entries ORDER BY idx"),
    "postgresql": ("SELECT size, note FROM ledger_checkpoints ORDER BY size",
                   "SELECT idx, leaf_hash, entry FROM ledger_entries ORDER BY idx"),
}


def _engine(url: str) -> Engine:
    """An engine on the copy: a SQLite file opened read-only (auditing never writes, nor creates an empty
    file for a mistyped path), or PostgreSQL."""
    try:
        parsed = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    except ArgumentError:
        raise CallerError("--database is not a database URL", field="database",
                          hint="give sqlite:///path/to/operator.db or a PostgreSQL URL") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return create_engine(parsed)
    if backend != "sqlite":
        raise CallerError(f"a ledger database is SQLite or PostgreSQL, not {backend}", field="database",
                          hint="give sqlite:///path or postgresql://...")
    path = Path(parsed.database or "")
    if not path.is_file():
        raise CallerError(f"no database file at {path}", field="database",
                          hint="give the path of a copy of the operator's operator.db")
    location = f"file:{quote(str(path.resolve()))}?mode=ro"
    return create_engine("sqlite://", creator=lambda: sqlite3.connect(location, uri=True, check_same_thread=False))


# What reading a damaged database raises: the driver's errors, and the UnicodeDecodeError Python's sqlite3 raises
# instead when SQLite's own error message quotes a damaged schema that is not UTF-8.
_UNREADABLE = (SQLAlchemyError, UnicodeDecodeError)


def _reason(exc: Exception) -> str:
    """The driver's own words ("database disk image is malformed"), without SQLAlchemy's statement dump."""
    if isinstance(exc, UnicodeDecodeError):
        return "SQLite's error message is not UTF-8: " + exc.object.decode("utf-8", "replace")[:300]
    return (str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["unknown error"])[0][:300]


def _text(value: object) -> tuple[str, str | None]:
    """A stored text column as text, or why it is not."""
    if isinstance(value, str):
        return value, None
    if isinstance(value, bytes | memoryview):
        try:
            return bytes(value).decode("utf-8"), None
        except UnicodeDecodeError as exc:
            return "", f"not UTF-8 text ({exc.reason} at byte {exc.start})"
    return "", "NULL" if value is None else f"a {type(value).__name__}, not text"


def _stored_entry(index: object, hashed: object, column: object) -> StoredEntry:
    number = index if isinstance(index, int) else -1
    leaf = bytes(hashed) if isinstance(hashed, bytes | memoryview) else b""
    content, error = _text(column)
    if error is not None:
        return StoredEntry(number, leaf, None, f"its JSON column is {error}")
    try:
        return StoredEntry(number, leaf, json.loads(content))
    except ValueError as exc:
        return StoredEntry(number, leaf, None, f"not valid JSON: {exc}")
    except RecursionError:
        return StoredEntry(number, leaf, None, "JSON nested too deeply to read")


class _DatabaseCopy:
    """Reads a copy of the operator's ledger tables; what it cannot read becomes ``problems``, never an
    exception: corruption is what an audit exists to find."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._notes, self._entries = _READS["postgresql" if engine.dialect.name == "postgresql" else "sqlite"]
        self.problems: list[str] = []

    def notes(self) -> list[StoredNote]:
        try:
            with self._engine.connect() as connection:
                rows = connection.execute(text(self._notes)).all()
        except _UNREADABLE as exc:
            self.problems.append(f"table ledger_checkpoints could not be read: {_reason(exc)}")
            return []
        notes = []
        for size, column in rows:
            content, error = _text(column)
            notes.append(StoredNote(content, size if isinstance(size, int) else None,
                                    None if error is None else f"its note is {error}"))
        return notes

    def entries(self) -> Iterator[StoredEntry]:
        last = None
        try:
            with self._engine.connect() as connection:
                rows = connection.execution_options(yield_per=5000).execute(text(self._entries))
                for index, hashed, column in rows:
                    last = index
                    yield _stored_entry(index, hashed, column)
        except _UNREADABLE as exc:
            where = "before its first entry" if last is None else f"after entry {last}"
            self.problems.append(f"table ledger_entries could not be read {where}: {_reason(exc)}")


def audit_database(url: str, log_key: str) -> AuditReport:
    """Audit a copy of the operator's database (SQLite file or PostgreSQL URL), without the operator."""
    verifier = NoteVerifier.from_vkey(log_key)
    engine = _engine(url)
    try:
        copy = _DatabaseCopy(engine)
        report = audit(copy.entries(), copy.notes(), verifier)
    finally:
        engine.dispose()
    # First: a table that could not be read explains the failures that follow from it (a "truncated" log).
    report.failures[:0] = copy.problems
    return report


def audit_operator(operator_url: str, log_key: str | None, api_key: str | None = None) -> AuditReport:
    """Download the whole log, every checkpoint and every entry, through the operator's API and audit it."""
    try:
        with _client(operator_url, api_key) as client:
            key = log_key or str(_member(_get(client, "/v1/ledger/key"), "vkey", str))
            sizes, unlisted = _checkpoint_sizes(client)
            # Entries up to the largest checkpoint listed: one signed while we read is then not "beyond the log".
            latest = max(sizes) if sizes else _member(_get(client, "/v1/ledger/checkpoints/latest.json"), "size", int)
            notes = [_note(client, size) for size in sizes or [latest]]
            stored = _entries(client, latest)
    except httpx.HTTPError as exc:
        raise PeerUnreachable(f"the operator at {operator_url} stopped answering: {exc}",
                              hint="check the operator URL, then audit again") from None
    report = audit(stored, notes, NoteVerifier.from_vkey(key))
    if unlisted:
        report.failures.insert(0, unlisted)
    return report


def _entries(client: httpx.Client, latest: int) -> list[StoredEntry]:
    stored: list[StoredEntry] = []
    with Progress(transient=True) as progress:
        task = progress.add_task("downloading entries", total=latest)
        while len(stored) < latest:  # every page adds at least one entry: this ends
            params: dict[str, Any] = {"limit": MAX_PAGE}
            if stored:
                params["after"] = stored[-1].index
            page = _listed(_get(client, "/v1/ledger/entries", **params), "entries")
            if not page:
                break
            stored.extend(_api_entry(item, len(stored) + n) for n, item in enumerate(page))
            progress.update(task, completed=len(stored))
    return stored


def _member(body: Any, name: str, kind: type[Any]) -> Any:
    found = body.get(name) if isinstance(body, dict) else None
    if not isinstance(found, kind):
        raise PeerError(f"the operator's answer has no {kind.__name__} {name!r}",
                        hint="check the operator URL and its version")
    return found


def _checkpoint_sizes(client: httpx.Client) -> tuple[list[int], str | None]:
    """Every stored checkpoint's size, page by page; or why the operator did not list them."""
    sizes: list[int] = []
    after: int | None = None
    while True:
        params = {"limit": MAX_PAGE} if after is None else {"limit": MAX_PAGE, "after": after}
        response = client.get("/v1/ledger/checkpoints", params=params)
        if response.status_code != 200:
            return sizes, (f"GET /v1/ledger/checkpoints answered {response.status_code}: the operator does not "
                           "list its checkpoints, so only its latest was checked")
        body = _json(response)
        sizes.extend(int(item["size"]) for item in _listed(body, "checkpoints")
                     if isinstance(item, dict) and isinstance(item.get("size"), int))
        following = body.get("next") if isinstance(body, dict) else None
        if not isinstance(following, int) or (after is not None and following <= after):
            return sizes, None
        after = following


def _note(client: httpx.Client, size: int) -> StoredNote:
    response = client.get(f"/v1/ledger/checkpoints/{size}")
    if response.status_code != 200:
        return StoredNote("", size, f"GET /v1/ledger/checkpoints/{size} answered {response.status_code}")
    return StoredNote(response.text, size)


def _api_entry(item: Any, expected: int) -> StoredEntry:
    """An entry as the operator's API lists it; a malformed one is reported under the index it should have."""
    if not isinstance(item, dict) or not isinstance(item.get("index"), int):
        return StoredEntry(expected, b"", None, "the operator listed it without an integer index")
    try:
        hashed = _b64(str(item.get("leafHash")))
    except ValueError:
        return StoredEntry(item["index"], b"", None, "its leafHash is not base64")
    return StoredEntry(item["index"], hashed, item.get("entry"))


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise PeerError(f"GET {response.request.url.path} answered {response.status_code} with a body that is "
                        "not JSON", hint="check the operator URL") from None


def _listed(body: Any, name: str) -> list[Any]:
    found = body.get(name) if isinstance(body, dict) else None
    if not isinstance(found, list):
        raise PeerError(f"the operator's answer has no list {name!r}", hint="check the operator URL and its version")
    return found


def _b64(value: str) -> bytes:
    standard = value.replace("-", "+").replace("_", "/")
    return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)


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
        for failure in report.failures:  # text from the audited log: shown as it is, never as markup
            console.print(f"  [red]✗[/] {escape(failure)}")
    raise typer.Exit(0 if report.ok else 1)
