"""Management endpoints about the ledger: evidence still queued, and this connector's witness status."""

from typing import Any

from fastapi import APIRouter, Depends, Query

from trustspace.connector import responses as c
from trustspace.connector.evidence import EvidencingDspStore
from trustspace.connector.witness import WitnessService
from trustspace.core.errors import TrustSpaceError
from trustspace.web.auth import Authenticator
from trustspace.web.models import answers
from trustspace.web.openapi import problems

NOTICE_PAGE = 100
MAX_INDEX = 2**63 - 1


def _is_notice(statement: Any, me: str) -> bool:
    return (isinstance(statement, dict) and statement.get("type") == "usage-decision"
            and statement.get("submitter") != me)


def _notice(entry: dict[str, Any]) -> dict[str, Any]:
    statement = entry["entry"]
    subjects, details = statement.get("subjects") or {}, statement.get("details") or {}
    return {"ledgerIndex": entry.get("index"), "agreementId": subjects.get("agreement"),
            "product": subjects.get("product"), "consumer": statement.get("submitter"), "at": statement.get("time"),
            **{k: details[k] for k in ("action", "decision", "purpose", "application") if k in details}}


def ledger_router(auth: Authenticator, store: EvidencingDspStore, witness: WitnessService) -> APIRouter:
    router = APIRouter(prefix="/v1/management/ledger", tags=["ledger"], dependencies=[Depends(auth.admin)])

    @router.get("/pending", responses=answers(c.PendingOut, many=True))
    def pending() -> list[dict[str, Any]]:
        """Statements queued for the ledger and not yet acknowledged by the operator."""
        return [{"id": m.id, "process": m.process_id, "type": m.body.get("type"), "attempts": m.attempts,
                 "lastError": m.last_error} for m in store.pending_evidence()]

    @router.get("/receipts")
    def receipts(process_id: str = Query(alias="processId", min_length=1, max_length=500)) -> list[dict[str, Any]]:
        """The operator's receipts for the statements we logged about one negotiation or transfer."""
        return store.receipts(process_id)

    @router.get("/usage-notices", responses=problems(502))
    def usage_notices(
        agreement_id: str | None = Query(default=None, alias="agreementId", min_length=1, max_length=500),
        after: int | None = Query(default=None, ge=-1, le=MAX_INDEX),
    ) -> dict[str, Any]:
        """Uses of our data that consumers notified (an agreement's notify-on-use duty): their signed
        ``usage-decision`` statements about agreements where we are the provider, as the operator's ledger holds
        them, in log order; pass ``next`` as ``after`` for the following page."""
        params: dict[str, Any] = {"participant": witness.did, "limit": NOTICE_PAGE}
        params.update({k: v for k, v in (("agreement", agreement_id), ("after", after)) if v is not None})
        page = witness.operator.request("GET", "/v1/ledger/entries", params=params)
        notices = [_notice(entry) for entry in page.get("entries", [])
                   if _is_notice(entry.get("entry"), witness.did)]
        return {"notices": notices, "next": page.get("next")}

    @router.get("/witness", responses={**answers(c.WitnessOut), **problems(502)})
    def witness_status() -> dict[str, Any]:
        return witness.status()

    @router.post("/witness/check")
    def witness_now() -> dict[str, Any]:
        """Witness the latest checkpoint now instead of waiting for the next round."""
        try:
            return witness.tick()
        except TrustSpaceError as exc:
            return {"cosigned": False, "error": exc.detail}

    return router
