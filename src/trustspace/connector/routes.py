"""Connector routes: the management API for its owner (X-API-Key) and the participant-facing API
(service tokens with membership credentials). Later issues add the Dataspace Protocol endpoints."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from trustspace.client.http import SignedClient, Signer
from trustspace.connector import responses as c
from trustspace.connector.heartbeat import Heartbeat
from trustspace.connector.membership import MembershipHolder
from trustspace.core.errors import Conflict
from trustspace.identity.did import did_web
from trustspace.operator.schemas import ApplicationIn
from trustspace.web.auth import Authenticator, Caller
from trustspace.web.models import answers
from trustspace.web.openapi import problems


class PeerIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    url: HttpUrl = Field(description="base URL of another connector")


def build_router(
    auth: Authenticator, holder: MembershipHolder, operator: SignedClient, heartbeat: Heartbeat, signer: Signer,
    public_url: str,
) -> APIRouter:
    router = APIRouter(prefix="/v1")
    Owner = Annotated[None, Depends(auth.admin)]
    Member = Annotated[Caller, Depends(auth.member)]

    @router.get("/management/status", tags=["management"], responses=answers(c.StatusOut))
    def status(_: Owner) -> dict[str, Any]:
        return {
            "did": holder.did, "url": public_url, "operator": holder.operator_did,
            "membership": holder.status(),
            "registration": {"connectorId": heartbeat.connector_id, "lastError": heartbeat.last_error},
        }

    @router.post("/management/membership/apply", status_code=201, tags=["management"], responses=problems(502))
    def apply(body: ApplicationIn, _: Owner) -> dict[str, Any]:
        return holder.apply(operator, body.model_dump(by_alias=True))

    @router.post("/management/membership/refresh", tags=["management"],
                 responses={**answers(c.RefreshOut), **problems(409, 502)})
    def refresh(_: Owner) -> dict[str, Any]:
        application = holder.refresh(operator)
        return {"status": application.get("status"), "membership": holder.status()}

    @router.get("/management/membership/credential", tags=["management"], responses=problems(409))
    def credential(_: Owner) -> dict[str, Any]:
        found = holder.credential()
        if found is None:
            raise Conflict("no membership credential yet", hint="apply, wait for approval, then refresh")
        return found

    @router.post("/management/registration", status_code=201, tags=["management"], responses=problems(409, 502))
    def register(_: Owner) -> dict[str, object]:
        if holder.credential() is None:
            raise Conflict("register after membership is approved: the operator only registers members",
                           hint="POST /v1/management/membership/refresh once the operator has approved you")
        return heartbeat.register()

    @router.post("/management/peers/ping", tags=["management"], responses=problems(502))
    def ping_peer(body: PeerIn, _: Owner) -> dict[str, Any]:
        url = str(body.url).rstrip("/")
        peer = SignedClient(url, did_web(url), signer)
        try:
            answer: dict[str, Any] = peer.request("GET", "/v1/ping")
        finally:
            peer.close()
        return answer

    @router.get("/ping", tags=["participants"], responses=answers(c.PingOut))
    def ping(caller: Member) -> dict[str, Any]:
        return {"connector": holder.did, "caller": caller.did, "callerRoles": list(caller.membership.roles),
                "callerSpace": caller.membership.space}

    return router
