"""HTTP routes of the operator. Administrators use the X-API-Key header; participants sign service tokens."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from trustspace.core.errors import Conflict, NotFound
from trustspace.identity.tokens import VerifiedToken
from trustspace.operator import responses as r
from trustspace.operator import schemas as s
from trustspace.operator.membership import MembershipService
from trustspace.operator.registry import Registry, health
from trustspace.operator.settings import OperatorSettings
from trustspace.store.membership.interfaces import OperatorStore
from trustspace.store.membership.records import TrustedIssuer
from trustspace.web.auth import Authenticator, Caller
from trustspace.web.models import answers


def build_router(
    auth: Authenticator, membership: MembershipService, registry: Registry, store: OperatorStore,
    settings: OperatorSettings,
) -> APIRouter:
    router = APIRouter(prefix="/v1")
    Admin = Annotated[None, Depends(auth.admin)]
    Member = Annotated[Caller, Depends(auth.member)]
    Applicant = Annotated[VerifiedToken, Depends(auth.applicant)]

    MemberOrAdmin = Annotated[str | None, Depends(auth.member_or_admin)]
    TokenOrAdmin = Annotated[str | None, Depends(auth.token_or_admin)]

    @router.post("/membership/applications", status_code=201, tags=["membership"],
                 responses=answers(r.ApplicationOut, 201))
    def apply(body: s.ApplicationIn, token: Applicant) -> dict[str, Any]:
        # The applicant is not told who else holds its credit code; the administrator is (and the log).
        return s.application_out(membership.apply(token.issuer, body))

    @router.get("/membership/applications", tags=["membership"], responses=answers(r.ApplicationOut, many=True))
    def list_applications(_: Admin, status: str | None = Query(default=None, max_length=20)) -> list[Any]:
        return [s.application_out(a, membership.warnings(a)) for a in store.list_applications(status)]

    @router.get("/membership/applications/{application_id}", tags=["membership"], responses=answers(r.ApplicationOut))
    def get_application(application_id: str, caller: TokenOrAdmin) -> dict[str, Any]:
        application = membership.get(application_id)
        if caller is not None and application.did != caller:
            raise NotFound(f"no membership application {application_id}", field="applicationId")
        return s.application_out(application, membership.warnings(application) if caller is None else None)

    @router.post("/membership/applications/{application_id}/approve", tags=["membership"],
                 responses=answers(r.ApplicationOut))
    def approve(application_id: str, _: Admin, body: s.ApproveIn | None = None) -> dict[str, Any]:
        return s.application_out(membership.approve(application_id, body.valid_days if body else None,
                                                    body.confirm if body else False))

    @router.post("/membership/applications/{application_id}/reject", tags=["membership"],
                 responses=answers(r.ApplicationOut))
    def reject(application_id: str, body: s.ReasonIn, _: Admin) -> dict[str, Any]:
        return s.application_out(membership.reject(application_id, body.reason))

    @router.get("/members", tags=["membership"], responses=answers(r.ApplicationOut, many=True))
    def members(_: Admin, did: str | None = Query(default=None, max_length=500)) -> list[Any]:
        """Decided memberships; ``did`` narrows to one participant's latest."""
        if did is not None:
            found = store.get_member(did)
            return [s.application_out(found)] if found is not None else []
        return [s.application_out(a) for a in store.list_applications(None) if a.status.value != "pending"]

    @router.post("/members/revoke", tags=["membership"], responses=answers(r.ApplicationOut))
    def revoke(body: s.RevokeIn, _: Admin) -> dict[str, Any]:
        return s.application_out(membership.revoke(body.did, body.reason))

    @router.get("/whoami", tags=["membership"], responses=answers(r.WhoamiOut))
    def whoami(caller: Member) -> dict[str, Any]:
        m = caller.membership
        return {"did": caller.did, "issuer": m.issuer, "space": m.space, "roles": list(m.roles)}

    @router.get("/status-lists/revocation", tags=["membership"])
    def status_list() -> dict[str, Any]:
        return membership.status_list_credential()

    @router.get("/trust-list", tags=["trust"], responses=answers(r.IssuerOut, many=True))
    def trust_list() -> list[Any]:
        return [s.issuer_out(i) for i in store.list_trusted_issuers()]

    @router.post("/trust-list", status_code=201, tags=["trust"], responses=answers(r.IssuerOut, 201))
    def trust(body: s.TrustedIssuerIn, _: Admin) -> dict[str, Any]:
        if body.did == membership.did:
            raise Conflict("an operator does not put itself on its own trust list", field="did")
        issuer = TrustedIssuer(body.did, body.name, membership.clock.now())
        return s.issuer_out(store.add_trusted_issuer(issuer))

    @router.delete("/trust-list", status_code=204, tags=["trust"])
    def distrust(_: Admin, did: str = Query(max_length=500)) -> Response:
        if not store.remove_trusted_issuer(did):
            raise NotFound(f"{did} is not on the trust list", field="did")
        return Response(status_code=204)

    @router.get("/trust-decisions", tags=["trust"], responses=answers(r.DecisionOut, many=True))
    def decisions(_: Admin, limit: int = Query(default=100, ge=1, le=1000)) -> list[Any]:
        return [s.decision_out(d) for d in store.list_trust_decisions(limit)]

    def connector_view(record: Any) -> dict[str, Any]:
        return s.connector_out(record, health(record, registry.clock.now(), settings.heartbeat_interval).value)

    @router.post("/connectors", status_code=201, tags=["registry"], responses=answers(r.ConnectorOut, 201))
    def register(body: s.ConnectorIn, caller: Member) -> dict[str, Any]:
        return connector_view(registry.register(caller.did, str(body.url).rstrip("/")))

    @router.get("/connectors", tags=["registry"], responses=answers(r.ConnectorOut, many=True))
    def connectors(_: MemberOrAdmin) -> list[Any]:
        return [connector_view(c) for c in store.list_connectors()]

    @router.get("/connectors/{connector_id}", tags=["registry"], responses=answers(r.ConnectorOut))
    def connector(connector_id: str, _: MemberOrAdmin) -> dict[str, Any]:
        return connector_view(registry.owned(connector_id, None))

    @router.post("/connectors/{connector_id}/heartbeat", tags=["registry"], responses=answers(r.ConnectorOut))
    def heartbeat(connector_id: str, caller: Member) -> dict[str, Any]:
        return connector_view(registry.heartbeat(connector_id, caller.did))

    @router.delete("/connectors/{connector_id}", tags=["registry"], responses=answers(r.ConnectorOut))
    def deregister(connector_id: str, caller: MemberOrAdmin) -> dict[str, Any]:
        return connector_view(registry.deregister(connector_id, caller))

    @router.post("/spaces", status_code=201, tags=["spaces"], responses=answers(r.SpaceOut, 201))
    def create_space(body: s.SpaceIn, _: Admin) -> dict[str, Any]:
        return s.space_out(registry.create_space(body.name, body.description))

    @router.get("/spaces", tags=["spaces"], responses=answers(r.SpaceOut, many=True))
    def spaces(_: MemberOrAdmin) -> list[Any]:
        return [s.space_out(x) for x in store.list_spaces()]

    @router.get("/spaces/{space_id}", tags=["spaces"], responses=answers(r.SpaceOut))
    def space(space_id: str, _: MemberOrAdmin) -> dict[str, Any]:
        return s.space_out(registry.space(space_id))

    @router.post("/spaces/{space_id}/members", tags=["spaces"], responses=answers(r.SpaceOut))
    def add_space_member(space_id: str, body: s.SpaceMemberIn, _: Admin) -> dict[str, Any]:
        return s.space_out(registry.add_member(space_id, body.did))

    return router
