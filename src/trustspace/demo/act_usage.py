"""Act 4: usage control. The tax bureau offers its records under a policy: the bank may use them for credit
assessment at most 3 times within 7 days, may not distribute them, and must delete them after use. The data
lands sealed in the bank's protected store; its applications use it only through the bank's connector,
which decides each use against the agreement and explains a refusal; the last use destroys the data, and the
destruction certificate is proven offline against the operator's ledger."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from trustspace.cli.ledger import build_bundle, verify_offline
from trustspace.client.http import KeyClient
from trustspace.connector.usage import certificate as certificates
from trustspace.connector.usage.watermark import trace
from trustspace.core.clock import SystemClock, to_xsd
from trustspace.demo.act_evidence import wait_final
from trustspace.demo.act_exchange import Watcher, negotiate, transfer
from trustspace.demo.context import Act, DemoContext, DemoFailure
from trustspace.demo.show import executable

ASSET = "enterprise-tax-credit-2025"
PURPOSE = "credit assessment"
USES = 3


def usage_policy() -> dict[str, Any]:
    until = to_xsd(SystemClock().now() + timedelta(days=7))
    return {"@type": "Set", "conflict": "prohibit",
            "permission": [{"action": "use", "constraint": [
                {"leftOperand": "purpose", "operator": "eq", "rightOperand": PURPOSE},
                {"leftOperand": "count", "operator": "lteq", "rightOperand": str(USES)},
                {"leftOperand": "dateTime", "operator": "lt", "rightOperand": until}]}],
            "prohibition": [{"action": "distribute"}],
            "obligation": [{"action": "delete"}]}


def publish_limited(ctx: DemoContext) -> None:
    tax = ctx.participants["tax"].management
    tax.request("POST", "/v1/management/assets", json={
        "id": ASSET, "title": "企业纳税信用 (enterprise tax credit), usage-controlled", "properties": {
            "keyword": ["tax-credit"]}, "dataAddress": {
            "type": "sql", "url": f"sqlite:///{ctx.participants['tax'].data_dir / 'data' / 'tax.db'}",
            "query": "SELECT credit_code, enterprise, credit_grade FROM tax_records ORDER BY credit_code",
            "format": "csv"}})
    tax.request("POST", "/v1/management/policies", json={"id": f"{ASSET}-policy", "policy": usage_policy()})
    tax.request("POST", "/v1/management/offers", json={"id": f"{ASSET}-offer", "assetId": ASSET,
                                                       "policyId": f"{ASSET}-policy"})
    ctx.console.print(f"市税务局 offers {ASSET}: for {PURPOSE!r}, at most {USES} uses within 7 days, no "
                      "distribution, delete after use")


def use(bank: KeyClient, action: str, agreement_id: str, **more: Any) -> tuple[bool, str]:
    """(permitted, the data or the refusal's explanation)."""
    body = {"agreementId": agreement_id, "purpose": more.pop("purpose", PURPOSE), "application": "credit-risk",
            "reader": "analyst-li", **more}
    answer = bank.http.post(f"{bank.base_url}/v1/usage/{action}", json=body)
    if answer.status_code == 200:
        return True, answer.text
    try:
        return False, str(answer.json().get("detail"))
    except ValueError:
        return False, f"HTTP {answer.status_code}"


def play(ctx: DemoContext) -> None:
    bank = ctx.participants["bank"]
    publish_limited(ctx)
    watchers = [Watcher(ctx, "城商银行", bank.management).skip_past()]
    agreed = negotiate(ctx, watchers, "tax", "tax-credit")
    agreement_id = str(agreed["agreementId"])
    pulled = transfer(ctx, watchers, agreement_id, "HttpData-PULL")
    item = str(pulled.get("details", {}).get("protectedItem", ""))
    sealed = [p for p in (bank.data_dir / "protected").rglob("*") if p.is_file()]
    ctx.check("the records land sealed in the bank's protected store (AES-256-GCM): no plaintext on disk",
              bool(item) and bool(sealed) and all(b"credit_code" not in p.read_bytes() for p in sealed))

    ok, text = use(bank.management, "read", agreement_id)
    rows = len(text.splitlines()) - 1 if ok else 0
    ctx.check(f"use 1 of {USES}: the credit-risk application reads {rows} records for {PURPOSE!r}", ok and rows > 0)
    ok, why = use(bank.management, "export", agreement_id, recipient="did:web:data-broker.example")
    ctx.check(f"handing a copy to a data broker is refused: {_short(why)}", not ok and "distribute" in why)
    ok, exported = use(bank.management, "export", agreement_id)
    path = ctx.workdir / "tax-credit-export.csv"
    path.write_text(exported, encoding="utf-8")
    found = trace(path)
    ctx.check(f"use 2 of {USES}: an export, every row watermarked; tracing the file names agreement "
              f"…{(found.agreement or '')[-8:]} and reader {found.reader}",
              ok and found.agreement == agreement_id and found.marked_rows == found.rows > 0)
    ctx.suggest("trace the exported file yourself:", [executable(), "usage", "trace", str(path)])
    ok, text = use(bank.management, "read", agreement_id)
    ctx.check(f"use {USES} of {USES}: read again, the last use the agreement permits; delete-after-use runs", ok)
    ok, why = use(bank.management, "read", agreement_id)
    ctx.check(f"the fourth use is refused: {_short(why)}", not ok and f"≤ {USES}" in why)
    _destroyed(ctx, agreement_id)


def _short(explanation: str) -> str:
    """The refusal's finding (the failed constraint, else its last sentence), without the decision's headline."""
    parts = explanation.split("; ")
    failed = [part.removesuffix(" — NOT satisfied") for part in parts if part.endswith("NOT satisfied")]
    return failed[0] if failed else parts[-1]


def _destroyed(ctx: DemoContext, agreement_id: str) -> None:
    bank = ctx.participants["bank"].management
    found: list[dict[str, Any]] = bank.request("GET", "/v1/usage/certificates", params={"agreementId": agreement_id})
    if not found:
        raise DemoFailure("the bank issued no destruction certificate after the last use")
    certificate = found[-1].get("certificate", found[-1])
    path = ctx.workdir / "destruction-certificate.json"
    path.write_text(json.dumps(certificate, indent=2, ensure_ascii=False), encoding="utf-8")
    certificates.verify(certificate)
    items = bank.request("GET", "/v1/usage/items", params={"agreementId": agreement_id})
    ctx.check(f"after the last use the data is destroyed: {len(certificate['items'])} item(s), certificate "
              "signed by the bank's connector (数据销毁证明)", all(i["deletedAt"] for i in items))
    latest = wait_final(ctx)
    bundle = _certificate_entry(ctx, agreement_id, certificates.digest(certificate))
    log_key = ctx.operator_admin().request("GET", "/v1/ledger/key")["vkey"]
    report = verify_offline(bundle, log_key, [latest["note"]])
    ctx.check(f"the certificate is in the ledger (entry {bundle['inclusion']['index']}), proven offline: "
              f"{len(report.passed)} checks", report.ok)
    ctx.suggest("check the certificate's signature yourself:",
                [executable(), "usage", "certificate", "verify", str(path)])


def _certificate_entry(ctx: DemoContext, agreement_id: str, payload_digest: str) -> dict[str, Any]:
    """The evidence bundle of the ledger entry whose statement carries the certificate's digest."""
    bank = ctx.participants["bank"].management
    receipts = bank.request("GET", "/v1/management/ledger/receipts", params={"processId": f"usage:{agreement_id}"})
    for receipt in reversed(receipts):
        bundle = build_bundle(ctx.operator_url, index=None, receipt=receipt, against=[],
                              api_key=ctx.operator_admin().http.headers.get("X-API-Key"))
        if payload_digest in json.dumps(bundle["entry"]):
            (ctx.workdir / "evidence-destruction.json").write_text(json.dumps(bundle, indent=2, ensure_ascii=False))
            return bundle
    raise DemoFailure("the destruction certificate is not in the ledger")


ACT = Act("usage control — a contract that governs use (ODRL 2.2, TC609 使用控制)", play)
