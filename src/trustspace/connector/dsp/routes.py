"""Dataspace Protocol 2025-1 HTTPS bindings: provider paths under /dsp, consumer callback paths under
/dsp/callback, version metadata at /.well-known/dspace-version. Requests authenticate with the spine's
service tokens; a process that is not the caller's answers 404, as the bindings require."""

from collections.abc import Callable, Coroutine, Mapping
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from trustspace.connector.catalog import CatalogView, page_token, read_page_token
from trustspace.connector.dsp import wire
from trustspace.connector.dsp.negotiations import CONSUMER, PROVIDER, Negotiations
from trustspace.connector.dsp.transfers import Transfers
from trustspace.core.errors import NotFound, TrustSpaceError, ValidationFailed
from trustspace.protocol import openapi as described
from trustspace.protocol.errors import InvalidMessage, MalformedMessage
from trustspace.protocol.negotiation import NegotiationMessage
from trustspace.protocol.schemas import validate
from trustspace.protocol.transfer import TransferMessage
from trustspace.web.auth import Authenticator, Caller

T = TypeVar("T")
NEGOTIATION_PATHS = {
    "request": NegotiationMessage.CONTRACT_REQUEST,
    "agreement/verification": NegotiationMessage.VERIFICATION,
    "termination": NegotiationMessage.TERMINATION,
    "offers": NegotiationMessage.CONTRACT_OFFER,
    "agreement": NegotiationMessage.AGREEMENT,
}
TRANSFER_PATHS = {
    "start": TransferMessage.START,
    "completion": TransferMessage.COMPLETION,
    "termination": TransferMessage.TERMINATION,
    "suspension": TransferMessage.SUSPENSION,
}
JsonBody = Annotated[Any, Body()]
NEGOTIATION = "negotiation/contract-negotiation-schema.json"
TRANSFER = "transfer/transfer-process-schema.json"
TRANSFER_KINDS = ("TransferStartMessage", "TransferCompletionMessage", "TransferTerminationMessage",
                  "TransferSuspensionMessage")
ERROR_KINDS = {"catalog": "CatalogError", "negotiations": "ContractNegotiationError", "transfers": "TransferError"}


def takes(*kinds: str) -> dict[str, Any]:
    """``openapi_extra`` describing the request body as the DSP message(s) ``kinds`` (as in ``wire.SCHEMAS``)."""
    schemas = [described.ref(wire.SCHEMAS[kind]) for kind in kinds]
    schema = schemas[0] if len(schemas) == 1 else {"oneOf": schemas}
    return {"requestBody": {"content": {"application/json": {"schema": schema}}}}


def answers(schema: str, *statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` describing an answer as the shipped DSP schema ``schema`` (its short name)."""
    return {status: {"content": {"application/json": {"schema": described.ref(schema)}}}
            for status in statuses or (200,)}


def dsp_error(kind: str, exc: TrustSpaceError, pids: Mapping[str, str]) -> JSONResponse:
    reason = exc.detail if exc.field is None else f"{exc.field}: {exc.detail}"
    body = wire.error(kind, getattr(exc, "code", exc.slug), reason, pids)
    return JSONResponse(body, status_code=exc.status if exc.status < 500 else 400)


def at(role: str, pid: str) -> dict[str, str]:
    """The pid a path names: provider endpoints are addressed by the providerPid, callbacks by the consumerPid."""
    return {"providerPid" if role == PROVIDER else "consumerPid": pid}


def named_pids(body: Any, path_pids: Mapping[str, str]) -> dict[str, str]:
    """The pids a failing request names itself: its path's, else its body's (schema-valid or not). Never ours
    from the store: a caller answered 404 must learn nothing it did not send."""
    fields = body if isinstance(body, dict) else {}
    return {**{k: fields[k] for k in wire.PID_FIELDS if isinstance(fields.get(k), str)}, **path_pids}


def guarded(kind: str, body: Any, action: Callable[[], T], path_pids: Mapping[str, str] | None = None, *,
            message: bool = True) -> T | Response:
    """Run a protocol action; our errors become the error body the binding prescribes for ``kind``. A request
    that carries a ``message`` must carry an object: JSON ``null`` is not one either."""
    try:
        if message and not isinstance(body, dict):
            raise InvalidMessage("a protocol message is a JSON object", field="body")
        return action()
    except TrustSpaceError as exc:
        return dsp_error(kind, exc, named_pids(body, path_pids or {}))


def error_kind(path: str) -> str | None:
    """The binding error of the protocol a DSP path belongs to; None outside them."""
    for base in (wire.CALLBACK_PATH, wire.DSP_PATH):
        if path.startswith(base + "/"):
            return ERROR_KINDS.get(path.removeprefix(base + "/").partition("/")[0])
    return None


def path_pids(path: str) -> dict[str, str]:
    """The pid a DSP path names, read from the path alone (for errors met before routing)."""
    for base, role in ((wire.CALLBACK_PATH, CONSUMER), (wire.DSP_PATH, PROVIDER)):
        if path.startswith(base + "/"):
            parts = path.removeprefix(base + "/").split("/")
            kind_of_process = parts[0] in ("negotiations", "transfers")
            if kind_of_process and len(parts) > 1 and parts[1] and parts[1] != "request":
                return at(role, parts[1])
            return {}
    return {}


def error_for_path(path: str, status: int, code: str, reason: str) -> JSONResponse | None:
    """A client error on a DSP path in the binding's error body (``If an error body is returned, it MUST be a
    Contract Negotiation Error`` / ``Transfer Error``; the catalog likewise), None elsewhere. Used for what
    is refused before a DSP route runs its own handling: authentication (401/403), unknown methods and paths
    (404/405), and the request guard's size and media-type refusals (413/415)."""
    kind = error_kind(path)
    if kind is None:
        return None
    return JSONResponse(wire.error(kind, code or "error", reason or code or "refused", path_pids(path)),
                        status_code=status)


def unreadable(exc: RequestValidationError) -> TrustSpaceError:
    # Same statuses as the app-wide problem handler (400 not JSON, 422 otherwise): only the body's shape changes.
    if any(error.get("type") == "json_invalid" for error in exc.errors()):
        return MalformedMessage("request body is not valid JSON", field="body")
    first: dict[str, Any] = next(iter(exc.errors()), {})
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "body"
    return ValidationFailed(str(first.get("msg", "invalid")), field=where)


class DspRoute(APIRoute):
    """FastAPI refuses a body that is not JSON (or is missing) before our handler runs, and the app-wide handler
    would answer with a problem document; on DSP paths the binding wants its own error body instead."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler, kind = super().get_route_handler(), error_kind(self.path)
        role = CONSUMER if self.path.startswith(wire.CALLBACK_PATH + "/") else PROVIDER

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                if kind is None:
                    raise
                pid = request.path_params.get("pid")
                return dsp_error(kind, unreadable(exc), at(role, pid) if isinstance(pid, str) else {})

        return answer


def event_message(body: dict[str, Any]) -> NegotiationMessage:
    event = body.get("eventType")
    if event not in ("ACCEPTED", "FINALIZED"):
        raise InvalidMessage("eventType must be ACCEPTED or FINALIZED", field="eventType")
    return NegotiationMessage.ACCEPTED_EVENT if event == "ACCEPTED" else NegotiationMessage.FINALIZED_EVENT


def build_dsp_router(
    auth: Authenticator, catalog: CatalogView, negotiations: Negotiations, transfers: Transfers, public_url: str
) -> APIRouter:
    router = APIRouter(tags=["dataspace protocol"], route_class=DspRoute)
    Member = Annotated[Caller, Depends(auth.member)]

    @router.get("/.well-known/dspace-version", responses=answers("common/protocol-version-schema.json"))
    def version() -> dict[str, Any]:
        document = {
            "protocolVersions": [
                {
                    "version": "2025-1",
                    "path": wire.DSP_PATH,
                    "binding": "HTTPS",
                    "serviceId": catalog.service_id,
                    "identifierType": "did:web",
                }
            ]
        }
        validate(document, "common/protocol-version-schema.json")
        return document

    @router.post("/dsp/catalog/request", response_model=None, openapi_extra=takes("CatalogRequestMessage"),
                 responses=answers("catalog/catalog-schema.json"))
    def catalog_request(
        body: JsonBody,
        caller: Member,
        response: Response,
        continuation_token: str | None = Query(default=None, alias="continuationToken", max_length=4096),
    ) -> Any:
        def run() -> dict[str, Any]:
            validate(body, wire.SCHEMAS["CatalogRequestMessage"])
            page, filters = read_page_token(continuation_token) if continuation_token else (0, body.get("filter", []))
            page_body, more = catalog.catalog(filters if isinstance(filters, list) else [filters], page)
            links = []
            base = f"{public_url.rstrip('/')}/dsp/catalog/request?continuationToken="
            if page > 0:
                links.append(f'<{base}{page_token(page - 1, filters)}>; rel="previous"')
            if more:
                links.append(f'<{base}{page_token(page + 1, filters)}>; rel="next"')
            if links:
                response.headers["Link"] = ", ".join(links)
            return page_body

        return guarded(ERROR_KINDS["catalog"], body, run)

    @router.get("/dsp/catalog/datasets/{dataset_id:path}", response_model=None,
                responses=answers("catalog/dataset-schema.json"))
    def dataset(dataset_id: str, caller: Member) -> Any:
        def run() -> dict[str, Any]:
            asset = catalog.store.get_asset(dataset_id)
            found = catalog.dataset(asset) if asset else None
            if found is None:
                raise NotFound(f"no dataset {dataset_id}", field="id")
            return {"@context": [wire.DSP_CONTEXT], **found}

        return guarded(ERROR_KINDS["catalog"], None, run, message=False)

    _negotiation_routes(router, Member, negotiations)
    _transfer_routes(router, Member, transfers)
    return router


def _negotiation_routes(router: APIRouter, Member: Any, negotiations: Negotiations) -> None:  # noqa: N803
    kind = ERROR_KINDS["negotiations"]
    endpoints = {PROVIDER: ("agreement/verification", "termination"), CONSUMER: ("offers", "agreement", "termination")}

    def get(role: str, pid: str, caller: Caller) -> Any:
        return guarded(kind, None, lambda: wire.negotiation_ack(negotiations.for_caller(role, pid, caller.did)),
                       at(role, pid), message=False)

    def receive(role: str, pid: str, path: str, body: Any, caller: Caller) -> Any:
        def run() -> dict[str, Any]:
            if role == PROVIDER and path == "request":
                return wire.negotiation_ack(negotiations.on_request(caller, {**body, "providerPid": pid})[0])
            if path == "events":
                message = event_message(body)
            elif path in endpoints[role]:
                message = NEGOTIATION_PATHS[path]
            else:
                raise NotFound(f"no endpoint negotiations/:pid/{path}")
            return wire.negotiation_ack(negotiations.on_message(role, pid, caller.did, message, body))

        return guarded(kind, body, run, at(role, pid))

    @router.get("/dsp/negotiations/{pid}", response_model=None, responses=answers(NEGOTIATION))
    def provider_get(pid: str, caller: Member) -> Any:
        return get(PROVIDER, pid, caller)

    @router.post("/dsp/negotiations/request", response_model=None, openapi_extra=takes("ContractRequestMessage"),
                 responses=answers(NEGOTIATION, 200, 201))
    def initial_request(body: JsonBody, caller: Member) -> Any:
        def run() -> JSONResponse:
            negotiation, created = negotiations.on_request(caller, body)
            return JSONResponse(wire.negotiation_ack(negotiation), status_code=201 if created else 200)

        return guarded(kind, body, run)

    @router.post("/dsp/negotiations/{pid}/events", response_model=None, responses=answers(NEGOTIATION),
                 openapi_extra=takes("ContractNegotiationEventMessage"))
    def provider_events(pid: str, body: JsonBody, caller: Member) -> Any:
        return receive(PROVIDER, pid, "events", body, caller)

    @router.post("/dsp/negotiations/{pid}/{path:path}", response_model=None, responses=answers(NEGOTIATION),
                 openapi_extra=takes("ContractRequestMessage", "ContractAgreementVerificationMessage",
                                     "ContractNegotiationTerminationMessage"))
    def provider_message(pid: str, path: str, body: JsonBody, caller: Member) -> Any:
        return receive(PROVIDER, pid, path, body, caller)

    @router.get("/dsp/callback/negotiations/{pid}", response_model=None, responses=answers(NEGOTIATION))
    def consumer_get(pid: str, caller: Member) -> Any:
        return get(CONSUMER, pid, caller)

    @router.post("/dsp/callback/negotiations/{pid}/events", response_model=None, responses=answers(NEGOTIATION),
                 openapi_extra=takes("ContractNegotiationEventMessage"))
    def consumer_events(pid: str, body: JsonBody, caller: Member) -> Any:
        return receive(CONSUMER, pid, "events", body, caller)

    @router.post("/dsp/callback/negotiations/{pid}/{path:path}", response_model=None, responses=answers(NEGOTIATION),
                 openapi_extra=takes("ContractOfferMessage", "ContractAgreementMessage",
                                     "ContractNegotiationTerminationMessage"))
    def consumer_message(pid: str, path: str, body: JsonBody, caller: Member) -> Any:
        return receive(CONSUMER, pid, path, body, caller)


def _transfer_routes(router: APIRouter, Member: Any, transfers: Transfers) -> None:  # noqa: N803
    kind = ERROR_KINDS["transfers"]

    def get(role: str, pid: str, caller: Caller) -> Any:
        return guarded(kind, None, lambda: wire.transfer_ack(transfers.for_caller(role, pid, caller.did)),
                       at(role, pid), message=False)

    def message(role: str, pid: str, path: str, body: Any, caller: Caller) -> Any:
        def run() -> dict[str, Any]:
            if path not in TRANSFER_PATHS:
                raise NotFound(f"no endpoint transfers/:pid/{path}")
            return wire.transfer_ack(transfers.on_message(role, pid, caller.did, TRANSFER_PATHS[path], body))

        return guarded(kind, body, run, at(role, pid))

    @router.get("/dsp/transfers/{pid}", response_model=None, responses=answers(TRANSFER))
    def provider_get(pid: str, caller: Member) -> Any:
        return get(PROVIDER, pid, caller)

    @router.post("/dsp/transfers/request", response_model=None, openapi_extra=takes("TransferRequestMessage"),
                 responses=answers(TRANSFER, 200, 201))
    def request(body: JsonBody, caller: Member) -> Any:
        def run() -> JSONResponse:
            transfer, created = transfers.on_request(caller, body)
            return JSONResponse(wire.transfer_ack(transfer), status_code=201 if created else 200)

        return guarded(kind, body, run)

    @router.post("/dsp/transfers/{pid}/{path}", response_model=None, responses=answers(TRANSFER),
                 openapi_extra=takes(*TRANSFER_KINDS))
    def provider_message(pid: str, path: str, body: JsonBody, caller: Member) -> Any:
        return message(PROVIDER, pid, path, body, caller)

    @router.get("/dsp/callback/transfers/{pid}", response_model=None, responses=answers(TRANSFER))
    def consumer_get(pid: str, caller: Member) -> Any:
        return get(CONSUMER, pid, caller)

    @router.post("/dsp/callback/transfers/{pid}/{path}", response_model=None, responses=answers(TRANSFER),
                 openapi_extra=takes(*TRANSFER_KINDS))
    def consumer_message(pid: str, path: str, body: JsonBody, caller: Member) -> Any:
        return message(CONSUMER, pid, path, body, caller)
