"""``trustspace member apply|refresh|register`` (a participant, through its connector) and ``member
list|approve|reject|revoke`` (the operator's administrator)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

import typer

from trustspace.cli.manage import (
    CONNECTOR,
    DEFAULT_CONNECTOR_URL,
    DEFAULT_OPERATOR_URL,
    OPERATOR,
    AdminKey,
    Column,
    ConnectorKey,
    ConnectorUrl,
    OperatorUrl,
    Role,
    moment,
    next_step,
    refuse,
    say,
    session,
    show,
    warn,
)
from trustspace.cli.output import fail
from trustspace.cli.services import Json
from trustspace.core.errors import ValidationFailed
from trustspace.core.ids import validate_credit_code
from trustspace.operator.schemas import DID_PATTERN

member_app = typer.Typer(help="Membership: apply through your connector; list and decide as the operator's "
                              "administrator.", no_args_is_help=True)


class Status(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVOKED = "revoked"


APPLICATION_COLUMNS: tuple[Column, ...] = (
    ("id", "id"), ("name", "displayName"), ("did", "did"), ("roles", "roles"), ("status", "status"),
    ("valid until", moment("validUntil")), ("warnings", "warnings"))
Reason = Annotated[str, typer.Option("--reason", help="why (kept with the decision and in the evidence log)")]


def _application(value: dict[str, Any], as_json: bool, title: str) -> None:
    show(value, as_json, title, [value], APPLICATION_COLUMNS)


@member_app.command("apply")
def apply(
    name: Annotated[str, typer.Option("--name", help="the organisation's name, as people know it")],
    credit_code: Annotated[str, typer.Option("--credit-code", help="its unified social credit code (18 "
                                                                   "characters)")],
    role: Annotated[list[Role] | None, typer.Option("--role", help="provider and/or consumer (repeat the "
                                                                   "option; default: both)")] = None,
    connector_url: ConnectorUrl = DEFAULT_CONNECTOR_URL,
    api_key: ConnectorKey = None,
    as_json: Json = False,
) -> None:
    """Apply for membership of the space, signed by your connector."""
    if not name.strip():
        fail("--name is empty", "give the organisation's name", as_json=as_json)
    try:
        validate_credit_code(credit_code)
    except ValidationFailed as exc:
        fail(f"--credit-code: {exc.detail}", exc.hint or "give the 18-character code on the business licence",
             as_json=as_json)
    roles = sorted({r.value for r in role or list(Role)})
    with session(CONNECTOR, connector_url, api_key, as_json) as api:
        applied = api("POST", "/v1/management/membership/apply",
                      {"displayName": name, "creditCode": credit_code, "roles": roles})
    _application(applied, as_json, "Membership application")
    if not as_json:
        next_step(f"the operator's administrator approves it: trustspace member approve {applied['id']}; then "
                  "collect the credential: trustspace member refresh")


@member_app.command("refresh")
def refresh(connector_url: ConnectorUrl = DEFAULT_CONNECTOR_URL, api_key: ConnectorKey = None,
            as_json: Json = False) -> None:
    """Ask the operator about your application and keep the credential once it is approved."""
    with session(CONNECTOR, connector_url, api_key, as_json) as api:
        answer = api("POST", "/v1/management/membership/refresh")
    membership = answer.get("membership") or {}
    show(answer, as_json, "Membership", [{**membership, "status": answer.get("status")}],
         (("application", "applicationId"), ("status", "status"), ("member", "member"), ("space", "space"),
          ("roles", "roles"), ("valid until", moment("validUntil"))))
    if not as_json and not membership.get("member"):
        next_step(f"the application is {answer.get('status')}: the operator's administrator approves it with "
                  f"trustspace member approve {membership.get('applicationId')}")


@member_app.command("register")
def register(connector_url: ConnectorUrl = DEFAULT_CONNECTOR_URL, api_key: ConnectorKey = None,
             as_json: Json = False) -> None:
    """Register your connector with the operator (after approval); it then sends a heartbeat, and the space's
    registry shows it as healthy, late or gone."""
    with session(CONNECTOR, connector_url, api_key, as_json) as api:
        record = api("POST", "/v1/management/registration")
    show(record, as_json, "Connector registration", [record],
         (("id", "id"), ("owner", "ownerDid"), ("url", "url"), ("health", "health")))


@member_app.command("list")
def list_applications(
    status: Annotated[Status | None, typer.Option("--status", help="only applications in this status")] = None,
    operator_url: OperatorUrl = DEFAULT_OPERATOR_URL,
    api_key: AdminKey = None,
    as_json: Json = False,
) -> None:
    """List membership applications and decisions (pending ones show the operator's warnings)."""
    with session(OPERATOR, operator_url, api_key, as_json) as api:
        rows = api("GET", "/v1/membership/applications", params={"status": status.value} if status else None)
    show(rows, as_json, "Membership applications", rows, APPLICATION_COLUMNS,
         empty="no membership applications" + (f" {status.value}" if status else ""))


@member_app.command("approve")
def approve(
    application_id: Annotated[str, typer.Argument(help="the application's id (trustspace member list)")],
    valid_days: Annotated[int | None, typer.Option("--valid-days", min=1, max=3650,
                                                   help="days the credential is valid (default: the "
                                                        "operator's)")] = None,
    confirm: Annotated[bool, typer.Option("--confirm", help="approve although the operator warns (e.g. the "
                                                            "credit code already has a member)")] = False,
    operator_url: OperatorUrl = DEFAULT_OPERATOR_URL,
    api_key: AdminKey = None,
    as_json: Json = False,
) -> None:
    """Approve an application: the operator issues the membership credential."""
    with session(OPERATOR, operator_url, api_key, as_json) as api:
        application = api("GET", f"/v1/membership/applications/{application_id}")
        warnings = application.get("warnings") or []
        if not as_json:
            for warning in warnings:
                warn(warning)
        if warnings and not confirm:
            refuse("the operator asks for confirmation before approving this application",
                   f"check the applicant, then run again with --confirm: trustspace member approve "
                   f"{application_id} --confirm", as_json, warnings=warnings)
        body: dict[str, Any] = {"confirm": confirm}
        if valid_days is not None:
            body["validDays"] = valid_days
        approved = api("POST", f"/v1/membership/applications/{application_id}/approve", body)
    _application({**approved, "warnings": warnings} if warnings else approved, as_json, "Approved")
    if not as_json:
        next_step("the applicant collects its credential: trustspace member refresh (on its connector)")


@member_app.command("reject")
def reject(
    application_id: Annotated[str, typer.Argument(help="the application's id (trustspace member list)")],
    reason: Reason,
    operator_url: OperatorUrl = DEFAULT_OPERATOR_URL,
    api_key: AdminKey = None,
    as_json: Json = False,
) -> None:
    """Reject a pending application."""
    _require_reason(reason, as_json)
    with session(OPERATOR, operator_url, api_key, as_json) as api:
        rejected = api("POST", f"/v1/membership/applications/{application_id}/reject", {"reason": reason})
    _application(rejected, as_json, "Rejected")


@member_app.command("revoke")
def revoke(
    did: Annotated[str, typer.Argument(help="the member's DID (trustspace member list)")],
    reason: Reason,
    operator_url: OperatorUrl = DEFAULT_OPERATOR_URL,
    api_key: AdminKey = None,
    as_json: Json = False,
) -> None:
    """Revoke a member's credential: its connector is refused from the next status-list refresh on."""
    _require_reason(reason, as_json)
    if not re.fullmatch(DID_PATTERN, did):
        fail(f"{did!r} is not a DID", "give the member's DID, e.g. did:web:127.0.0.1%3A8500 (trustspace member "
             "list shows them)", as_json=as_json)
    with session(OPERATOR, operator_url, api_key, as_json) as api:
        revoked = api("POST", "/v1/members/revoke", {"did": did, "reason": reason})
    _application(revoked, as_json, "Revoked")
    if not as_json:
        say(f"credential {revoked.get('credentialId')} is on the revocation list")


def _require_reason(reason: str, as_json: bool) -> None:
    if not reason.strip() or len(reason) > 1000:
        fail("--reason must be 1 to 1000 characters", "say briefly why", as_json=as_json)

