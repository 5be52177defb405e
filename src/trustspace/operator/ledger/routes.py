"""HTTP API of the evidence ledger, under ``/v1/ledger``.

Who may call what:
- members submit statements and cosign checkpoints (service token + membership credential);
- members and the administrator read entries and search them (statements name participants and agreements,
  which the space shares with its members, not with the world);
- anyone reads checkpoints, proofs, the log's key and its witnesses: they reveal hashes and sizes only, and
  an auditor or a party holding a receipt must be able to check the log without an account.
"""


import base64
import binascii
import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from trustspace.core.clock import from_xsd, to_xsd
from trustspace.core.errors import ValidationFailed
from trustspace.ledger.merkle import HASH_SIZE
from trustspace.operator import responses as r
from trustspace.operator.ledger.service import CheckpointStatus, LedgerService, Submission
from trustspace.store.ledger.records import EntryQuery, LedgerEntry, StoredCheckpoint, StoredCosignature
from trustspace.web.auth import Authenticator, Caller
from trustspace.web.models import answers
from trustspace.web.problems import error_body

MAX_PAGE = 1000
# The largest index, size or page mark a request may name: the largest BIGINT both databases store. A larger
# number cannot name anything there, and binding it made the SQLite driver raise (a 500): refused as a 422.
MAX_NUMBER = 2**63 - 1
# Statements per batch: 50 of the largest allowed (16 KiB each) fit the 1 MiB body limit.
MAX_BATCH = 50


class CosignatureIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    signature_line: str = Field(alias="signatureLine", min_length=1, max_length=1024)
    vkey: str = Field(min_length=1, max_length=4096)


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    statements: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BATCH)


def _result_out(index: int, result: Submission) -> dict[str, Any]:
    if result.refusal is not None:
        return {"status": result.status, "problem": error_body(result.refusal, field_prefix=f"statements[{index}].")}
    return {"status": result.status, "receipt": result.receipt}


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def parse_leaf_hash(text: str) -> bytes:
    """A 32-byte hash given as hex, base64url or standard base64 (a '+' may arrive as a space in a query)."""
    if len(text) == 2 * HASH_SIZE:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    spelled = text.strip().replace(" ", "+").replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(spelled + "=" * (-len(spelled) % 4), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != HASH_SIZE:
        raise ValidationFailed("leafHash must be 32 bytes in hex, base64url or base64", field="leafHash")
    return raw


def _time(text: str | None, field: str) -> Any:
    if text is None:
        return None
    try:
        return from_xsd(text)
    except ValueError:
        raise ValidationFailed(f"{field} must be an XML Schema dateTime with an offset, e.g. "
                               "2026-01-01T00:00:00Z", field=field) from None


def entry_out(entry: LedgerEntry) -> dict[str, Any]:
    return {"index": entry.index, "leafHash": b64(entry.leaf_hash), "entry": json.loads(entry.entry),
            "integratedAt": to_xsd(entry.integrated_at)}


def status_out(status: CheckpointStatus) -> dict[str, Any]:
    return {"size": status.checkpoint.size, "rootHash": b64(status.checkpoint.root_hash), "note": status.note,
            "cosigners": status.cosigners, "final": status.final, "quorum": status.quorum}


def checkpoint_out(checkpoint: StoredCheckpoint) -> dict[str, Any]:
    return {"size": checkpoint.size, "rootHash": b64(checkpoint.root_hash), "createdAt": to_xsd(checkpoint.created_at)}


def cosignature_out(cosignature: StoredCosignature) -> dict[str, Any]:
    return {"size": cosignature.checkpoint_size, "witness": cosignature.witness, "vkey": cosignature.vkey,
            "signatureLine": cosignature.signature_line, "createdAt": to_xsd(cosignature.created_at)}


def build_ledger_router(auth: Authenticator, ledger: LedgerService) -> APIRouter:
    router = APIRouter(prefix="/v1/ledger", tags=["ledger"])
    Member = Annotated[Caller, Depends(auth.member)]

    Reader = Annotated[str | None, Depends(auth.member_or_admin)]

    @router.post("/entries", status_code=201, response_model=None,
                 responses={200: {"description": "a replay: the receipt given before"}})
    def submit(caller: Member, statement: Annotated[dict[str, Any], Body()]) -> JSONResponse:
        """Submit a signed statement; 201 with a receipt, or 200 with the same receipt for a replay."""
        receipt, created = ledger.submit(statement, caller.did)
        return JSONResponse(receipt, status_code=201 if created else 200)

    @router.post("/entries/batch", response_model=None)
    def submit_batch(caller: Member, batch: BatchIn) -> dict[str, Any]:
        """Submit up to MAX_BATCH signed statements with one token and one request. Each gets its own result,
        in order: ``{"status": 201 | 200, "receipt": ...}``, or ``{"status": 4xx, "problem": ...}`` whose
        ``field`` starts with ``statements[i]``; one bad statement does not refuse the others."""
        results = ledger.submit_many(batch.statements, caller.did)
        return {"results": [_result_out(index, result) for index, result in enumerate(results)]}

    @router.get("/entries/{index}", responses=answers(r.EntryOut))
    def entry(index: Annotated[int, Path(ge=0, le=MAX_NUMBER)], _: Reader) -> dict[str, Any]:
        return entry_out(ledger.entry(index))

    @router.get("/entries", responses=answers(r.EntriesOut))
    def search(
        _: Reader,
        participant: Annotated[str | None, Query(max_length=512)] = None,
        agreement: Annotated[str | None, Query(max_length=512)] = None,
        process: Annotated[str | None, Query(max_length=512)] = None,
        since: Annotated[str | None, Query(max_length=40)] = None,
        until: Annotated[str | None, Query(max_length=40)] = None,
        after: Annotated[int | None, Query(ge=-1, le=MAX_NUMBER)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    ) -> dict[str, Any]:
        """Entries in log order; pass the returned ``next`` as ``after`` for the following page."""
        query = EntryQuery(participant, agreement, process, _time(since, "since"), _time(until, "until"), after,
                           limit)
        found = ledger.search(query)
        return {"entries": [entry_out(e) for e in found],
                "next": found[-1].index if len(found) == limit else None}

    @router.get("/proofs/inclusion", responses=answers(r.InclusionOut))
    def inclusion(
        index: Annotated[int | None, Query(ge=0, le=MAX_NUMBER)] = None,
        leaf_hash: Annotated[str | None, Query(alias="leafHash", max_length=100)] = None,
        tree_size: Annotated[int | None, Query(alias="treeSize", ge=1, le=MAX_NUMBER)] = None,
    ) -> dict[str, Any]:
        if (index is None) == (leaf_hash is None):
            raise ValidationFailed("give exactly one of index and leafHash", field="index")
        leaf = parse_leaf_hash(leaf_hash) if leaf_hash is not None else None
        proof = ledger.inclusion(index=index, leaf=leaf, tree_size=tree_size)
        return {"index": proof.index, "treeSize": proof.tree_size, "leafHash": b64(proof.leaf_hash),
                "proof": [b64(h) for h in proof.proof]}

    @router.get("/proofs/consistency", responses=answers(r.ConsistencyOut))
    def consistency(first: Annotated[int, Query(ge=1, le=MAX_NUMBER)],
                    second: Annotated[int, Query(ge=1, le=MAX_NUMBER)]) -> dict[str, Any]:
        return {"first": first, "second": second, "proof": [b64(h) for h in ledger.consistency(first, second)]}

    @router.get("/checkpoint", response_class=PlainTextResponse)
    def latest_note() -> PlainTextResponse:
        """The latest checkpoint as a C2SP signed note, the operator's signature and every cosignature."""
        return PlainTextResponse(ledger.note(ledger.checkpoint()))

    @router.get("/checkpoints", responses=answers(r.CheckpointsOut))
    def checkpoints(
        after: Annotated[int | None, Query(ge=-1, le=MAX_NUMBER)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    ) -> dict[str, Any]:
        """Every checkpoint the log signed, by size (the empty one first): what an auditor checks the whole log
        against. Pass the returned ``next`` as ``after`` for the following page; each note is at
        ``/checkpoints/{size}``."""
        found = ledger.checkpoints(after, limit)
        return {"checkpoints": [checkpoint_out(c) for c in found],
                "next": found[-1].size if len(found) == limit else None}

    # Declared before /checkpoints/{size}, which would otherwise take "latest.json" for a size.
    @router.get("/checkpoints/latest.json", responses=answers(r.StatusOut))
    def latest_json() -> dict[str, Any]:
        return status_out(ledger.status())

    @router.get("/checkpoints/{size}", response_class=PlainTextResponse)
    def note_of(size: Annotated[int, Path(ge=0, le=MAX_NUMBER)]) -> PlainTextResponse:
        return PlainTextResponse(ledger.note(ledger.checkpoint(size)))

    @router.post("/checkpoints/{size}/cosignatures", status_code=201, response_model=None,
                 responses={**answers(r.CosignatureOut, 201), **answers(r.CosignatureOut, 200, "already kept")})
    def cosign(size: Annotated[int, Path(ge=0, le=MAX_NUMBER)], body: CosignatureIn, caller: Member) -> JSONResponse:
        kept, created = ledger.cosign(size, caller.did, body.signature_line, body.vkey)
        return JSONResponse(cosignature_out(kept), status_code=201 if created else 200)

    @router.get("/witnesses", responses=answers(r.WitnessesOut))
    def witnesses() -> dict[str, Any]:
        known = [{"name": name, "vkey": vkey} for name, vkey in ledger.witnesses()]
        return {"witnesses": known, "quorum": ledger.config.quorum}

    @router.get("/key", responses=answers(r.KeyOut))
    def key() -> dict[str, Any]:
        """The keys to check this log with: the checkpoint vkey, and the DID key that signs receipts."""
        return {"origin": ledger.origin, "vkey": ledger.vkey, "operator": ledger.did,
                "verificationMethod": ledger.verification_method}

    return router
