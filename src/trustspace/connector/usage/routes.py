"""The usage API on the connector's management key: local applications read protected data only here.

``POST /v1/usage/read`` streams the plaintext of an agreement's newest item (or ``itemId``) when the guard
permits; ``POST /v1/usage/export`` streams it as watermarked CSV; ``POST /v1/usage/terminate`` destroys an
agreement's data and answers with the destruction certificate; ``POST /v1/usage/trace`` tells genuine export
marks from forged ones. Errors are RFC 9457 problems naming the field.
"""

import base64
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from trustspace.connector.usage.service import UsageAsk, UsageService
from trustspace.connector.usage.watermark import parse_mark
from trustspace.store.usage.records import ProtectedItem, UsageEntry
from trustspace.web.auth import Authenticator

Text = Annotated[str, Field(min_length=1, max_length=200)]
Id = Annotated[str, Field(min_length=1, max_length=512, pattern=r"^[^\s\x00-\x1f\x7f]+$")]


class UseIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    agreement_id: Id = Field(alias="agreementId")
    purpose: Text
    application: Text
    reader: Text = Field(default="management-key", description="who reads, as the application names them")
    item_id: Id | None = Field(default=None, alias="itemId")


class ExportIn(UseIn):
    format: Literal["csv", "parquet"] = "csv"
    recipient: Text | None = Field(default=None, description="another party the copy is for: the export is then "
                                                             "ODRL distribute, decided as such")


class TerminateIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    agreement_id: Id = Field(alias="agreementId")
    reason: Literal["terminated", "expired", "used"] = "terminated"


class TraceIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    marks: list[Annotated[str, Field(max_length=2000)]] = Field(min_length=1, max_length=10_000)


def _item_json(item: ProtectedItem) -> dict[str, Any]:
    return {"id": item.id, "agreementId": item.agreement_id, "transferId": item.transfer_id,
            "fileName": item.file_name, "size": item.size, "sha256": item.sha256, "encryption": item.nonce_info,
            "createdAt": item.created_at.isoformat(),
            "deletedAt": item.deleted_at.isoformat() if item.deleted_at else None}


def _entry_json(entry: UsageEntry) -> dict[str, Any]:
    return {"id": entry.id, "agreementId": entry.agreement_id, "itemId": entry.item_id, "action": entry.action,
            "purpose": entry.purpose, "application": entry.application, "reader": entry.reader,
            "decision": entry.decision, "explanation": entry.explanation, "at": entry.at.isoformat()}


def _ask(body: UseIn, action: str) -> UsageAsk:
    recipient = body.recipient if isinstance(body, ExportIn) else None
    fmt = body.format if isinstance(body, ExportIn) else "csv"
    return UsageAsk(body.agreement_id, body.purpose, body.application, body.reader, action, body.item_id,
                    recipient, fmt)


def usage_router(auth: Authenticator, service: UsageService) -> APIRouter:
    router = APIRouter(prefix="/v1/usage", tags=["usage"])
    Owner = Annotated[None, Depends(auth.admin)]

    @router.post("/read", response_model=None)
    def read(body: UseIn, _: Owner) -> StreamingResponse:
        served = service.use(_ask(body, "read"))
        digest = base64.b64encode(bytes.fromhex(served.item.sha256)).decode("ascii")
        headers = {"Content-Length": str(served.item.size), "Repr-Digest": f"sha-256=:{digest}:",
                   "X-Usage-Entry": str(served.entry.id), "X-Protected-Item": served.item.id}
        return StreamingResponse(served.body, media_type=served.media_type, headers=headers)

    @router.post("/export", response_model=None)
    def export(body: ExportIn, _: Owner) -> StreamingResponse:
        served = service.use(_ask(body, "export"))
        headers = {"X-Usage-Entry": str(served.entry.id), "X-Export-Id": f"e{served.entry.id}",
                   "Content-Disposition": f'attachment; filename="export-e{served.entry.id}.{body.format}"'}
        return StreamingResponse(served.body, media_type=served.media_type, headers=headers)

    @router.post("/terminate")
    def terminate(body: TerminateIn, _: Owner) -> dict[str, Any]:
        return service.destroy(body.agreement_id, body.reason)

    @router.post("/trace")
    def trace(body: TraceIn, _: Owner) -> dict[str, Any]:
        key = service.vault.wrapper.watermark_key
        parsed = [parse_mark(text) for text in body.marks]
        genuine = sum(1 for m in parsed if m is not None and m.genuine(key))
        return {"genuine": genuine, "forged": sum(1 for m in parsed if m is not None) - genuine,
                "unreadable": sum(1 for m in parsed if m is None)}

    @router.get("/items")
    def items(_: Owner, agreement_id: Annotated[str, Query(alias="agreementId", min_length=1)]
              ) -> list[dict[str, Any]]:
        return [_item_json(item) for item in service.store.items(agreement_id, deleted=True)]

    @router.get("/log")
    def usage_log(_: Owner, agreement_id: Annotated[str, Query(alias="agreementId", min_length=1)]
                  ) -> list[dict[str, Any]]:
        return [_entry_json(entry) for entry in service.store.usage_log(agreement_id)]

    @router.get("/certificates")
    def certificates(_: Owner, agreement_id: Annotated[str, Query(alias="agreementId", min_length=1)]
                     ) -> list[dict[str, Any]]:
        return [stored.certificate for stored in service.store.certificates(agreement_id)]

    return router
