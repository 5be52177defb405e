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
