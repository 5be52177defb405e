"""Act 1: the operator opens the space, three participants join, and a revoked member is shut out."""

from __future__ import annotations

import json
import time
from typing import Any

from rich.table import Table

from trustspace.client.http import KeyClient, RemoteProblem, SignedClient, Signer
from trustspace.connector.settings import init_connector
from trustspace.core.clock import SystemClock
from trustspace.core.keys import SigningKey
from trustspace.demo.cast import CAST, EX_MEMBER
from trustspace.demo.context import Act, DemoContext, DemoFailure, Participant
from trustspace.demo.processes import free_port
from trustspace.demo.show import executable
from trustspace.identity.did import did_key, did_web, verification_method_id

HEARTBEAT = "1"
STATUS_TTL = "0.5"


def start_operator(ctx: DemoContext) -> None:
    port = free_port()
    ctx.operator_url = f"http://127.0.0.1:{port}"
    folder = ctx.workdir / "operator"
    service = ctx.supervisor.start("operator", ctx.operator_url, [
        "operator", "start", "--data-dir", str(folder), "--port", str(port), "--space", "浙江公共数据空间",
        "--heartbeat-interval", HEARTBEAT, "--status-list-ttl", STATUS_TTL, "--ledger-quorum", "2"])
    ctx.supervisor.wait_ready(service)
    ctx.operator_did = did_web(ctx.operator_url)
    ctx.admin = KeyClient(ctx.operator_url, (folder / "admin-api-key").read_text().strip())
    ctx.console.print(f"operator up at {ctx.operator_url} as [cyan]{ctx.operator_did}[/]")


def start_connectors(ctx: DemoContext) -> None:
    services = []
    for role in CAST:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        folder = ctx.workdir / role.key
        init_connector(folder, url, ctx.operator_url, role.display_name)
        services.append(ctx.supervisor.start(role.key, url, [
            "connector", "start", "--data-dir", str(folder), "--heartbeat-interval", HEARTBEAT,
            "--status-list-ttl", STATUS_TTL, "--witness-interval", "1"]))
        ctx.participants[role.key] = Participant(role, url, did_web(url), folder, KeyClient(url, ""))
    for service in services:
        ctx.supervisor.wait_ready(service)
        participant = ctx.participants[service.name]
        api_key = (participant.data_dir / "management-api-key").read_text().strip()
        participant.management = KeyClient(participant.url, api_key)
        ctx.console.print(f"{participant.role.display_name} ({participant.role.english}) connector up at "
                          f"{participant.url}")


def join(ctx: DemoContext) -> None:
    admin = ctx.operator_admin()
    for participant in ctx.participants.values():
        role = participant.role
        participant.management.request("POST", "/v1/management/membership/apply", json={
            "displayName": role.display_name, "creditCode": role.credit_code, "roles": list(role.roles)})
    pending = admin.request("GET", "/v1/membership/applications", params={"status": "pending"})
    ctx.check(f"operator sees {len(pending)} pending applications", len(pending) == len(CAST))
    for application in pending:
        decided = admin.request("POST", f"/v1/membership/applications/{application['id']}/approve", json={})
        ctx.console.print(f"  approved {decided['displayName']} → credential {decided['credentialId']}")
    for participant in ctx.participants.values():
        refreshed = participant.management.request("POST", "/v1/management/membership/refresh")
        ctx.check(f"{participant.role.display_name} holds a verified membership credential",
                  refreshed["membership"]["member"] is True)
        participant.management.request("POST", "/v1/management/registration")
    _wait_for_heartbeats(ctx)


def _wait_for_heartbeats(ctx: DemoContext) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        connectors = ctx.operator_admin().request("GET", "/v1/connectors")
        beating = [c for c in connectors if c["lastHeartbeat"] != c["registeredAt"] and c["health"] == "healthy"]
        if len(beating) == len(CAST):
            ctx.check("every connector registered and heart-beating", True)
            return
        time.sleep(0.2)
    ctx.check("every connector registered and heart-beating", False)


def show_space(ctx: DemoContext) -> None:
    admin = ctx.operator_admin()
    members = {m["did"]: m for m in admin.request("GET", "/v1/members")}
    connectors = {c["ownerDid"]: c for c in admin.request("GET", "/v1/connectors")}
    table = Table(title="Members of the space")
    for column in ("participant", "roles", "DID", "credential", "valid until", "connector"):
        table.add_column(column, overflow="fold")
    for participant in ctx.participants.values():
        member, connector = members[participant.did], connectors.get(participant.did, {})
        table.add_row(member["displayName"], " ".join(member["roles"]), participant.did,
                      "…" + member["credentialId"][-8:], member["validUntil"][:10], connector.get("health", "-"))
    ctx.console.print(table)
    credential = ctx.participants["bank"].management.request("GET", "/v1/management/membership/credential")
    path = ctx.workdir / "bank-membership-credential.json"
    path.write_text(json.dumps(credential, indent=2, ensure_ascii=False))
    did_document = ctx.workdir / "operator-did.json"
    did_document.write_text(json.dumps(ctx.operator_admin().request("GET", "/.well-known/did.json"), indent=2))
    status_list = ctx.workdir / "revocation-list.json"
    status_list.write_text(json.dumps(ctx.operator_admin().request("GET", "/v1/status-lists/revocation")))
    ctx.suggest("check the bank's credential offline:",
                [executable(), "credential", "verify", str(path), "--did-document", str(did_document),
                 "--status-list", str(status_list)])


def peer_call(ctx: DemoContext) -> None:
    bank, tax = ctx.participants["bank"], ctx.participants["tax"]
    answer = bank.management.request("POST", "/v1/management/peers/ping", json={"url": tax.url})
    ctx.check(f"the tax bureau's connector accepts the bank's signed token and credential ({answer['caller']})",
              answer["caller"] == bank.did)


def revoked_member_refused(ctx: DemoContext) -> None:
    admin, tax = ctx.operator_admin(), ctx.participants["tax"]
    key = SigningKey.generate()
    did = did_key(key.public)
    holder: dict[str, Any] = {}
    signer = Signer(key, did, verification_method_id(did), SystemClock(), lambda: holder.get("vc"))
    operator = SignedClient(ctx.operator_url, ctx.operator_did, signer)
    application = operator.request("POST", "/v1/membership/applications", json={
        "displayName": EX_MEMBER.display_name, "creditCode": EX_MEMBER.credit_code, "roles": list(EX_MEMBER.roles)})
    holder["vc"] = admin.request("POST", f"/v1/membership/applications/{application['id']}/approve")["credential"]
    peer = SignedClient(tax.url, tax.did, signer)
    served = peer.request("GET", "/v1/ping")["caller"] == did
    ctx.check(f"{EX_MEMBER.display_name} ({did[:24]}…) joins and is served", served)
    admin.request("POST", "/v1/members/revoke", json={"did": did, "reason": "left the space"})
    time.sleep(float(STATUS_TTL) + 0.2)
    for label, client, path in (("tax bureau's connector", peer, "/v1/ping"), ("operator", operator, "/v1/whoami")):
        try:
            client.request("GET", path)
        except RemoteProblem as refused:
            ctx.check(f"after revocation the {label} refuses it: {refused.remote_status} {refused.remote_slug}",
                      refused.remote_status == 403 and refused.remote_slug == "credential-revoked")
        else:
            raise DemoFailure(f"the {label} still served a revoked member")
    peer.close()
    operator.close()


def play(ctx: DemoContext) -> None:
    start_operator(ctx)
    start_connectors(ctx)
    join(ctx)
    show_space(ctx)
    peer_call(ctx)
    revoked_member_refused(ctx)


ACT = Act("joining the space — identity, membership, connectors", play)
