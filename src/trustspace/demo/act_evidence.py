"""Act 3: the evidence ledger. Every step of acts 1 and 2 is in the operator's log, checkpoints carry the
connectors' cosignatures, the bank's agreement and transfer are proven offline, and a tampered copy of the
operator's database is caught by the audit."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from typing import Any

from trustspace.cli.ledger import audit_database, build_bundle, verify_offline
from trustspace.demo.context import Act, DemoContext, DemoFailure
from trustspace.demo.show import executable, from_file

QUORUM = 2


def wait_final(ctx: DemoContext, timeout: float = 30) -> dict[str, Any]:
    """The latest checkpoint once it covers every pending statement and has its quorum of cosignatures."""
    admin = ctx.operator_admin()
    deadline = time.monotonic() + timeout
    latest: dict[str, Any] = {}
    while time.monotonic() < deadline:
        latest = admin.request("GET", "/v1/ledger/checkpoints/latest.json")
        pending = sum(len(p.management.request("GET", "/v1/management/ledger/pending"))
                      for p in ctx.participants.values())
        if latest["final"] and pending == 0 and latest["size"] > 0:
            again = admin.request("GET", "/v1/ledger/checkpoints/latest.json")
            if again["size"] == latest["size"]:
                return latest
        time.sleep(0.3)
    raise DemoFailure(f"no final checkpoint covering every statement in {timeout:.0f} s (last: {latest})")


def bank_receipts(ctx: DemoContext) -> list[tuple[str, dict[str, Any]]]:
    """The receipts the bank's connector holds for its agreement with the tax bureau and the pull under it."""
    bank = ctx.participants["bank"].management
    negotiation = next(n for n in bank.request("GET", "/v1/management/negotiations")
                       if n["counterParty"] == ctx.participants["tax"].did)
    transfer = next(t for t in bank.request("GET", "/v1/management/transfers")
                    if t["agreementId"] == negotiation["agreementId"])
    chosen = []
    for label, process, want in (("agreement", negotiation, "FINALIZED"), ("transfer", transfer, "COMPLETED")):
        receipts = bank.request("GET", "/v1/management/ledger/receipts", params={"processId": process["id"]})
        if not receipts:
            raise DemoFailure(f"the bank holds no ledger receipt for its {label}")
        chosen.append((f"{label} ({want})", receipts[-1]))
    return chosen


def play(ctx: DemoContext) -> None:
    latest = wait_final(ctx)
    ctx.console.print(f"checkpoint of size {latest['size']} with {len(latest['cosigners'])} cosignatures "
                      f"(quorum {latest['quorum']}):")
    (ctx.workdir / "checkpoint.txt").write_text(latest["note"])
    for line in latest["note"].rstrip("\n").splitlines():
        # signatures shortened: the whole signed note is in checkpoint.txt
        shown = line if len(line) <= 72 else line[:71] + "…"
        ctx.console.print(f"    {shown}", highlight=False, soft_wrap=True, markup=False)
    ctx.check(f"checkpoint final: {len(latest['cosigners'])} witnesses cosigned (quorum {latest['quorum']})",
              bool(latest["final"]))
    log_key = ctx.operator_admin().request("GET", "/v1/ledger/key")["vkey"]
    for label, receipt in bank_receipts(ctx):
        bundle = build_bundle(ctx.operator_url, index=None, receipt=receipt, against=[],
                              api_key=ctx.operator_admin().http.headers.get("X-API-Key"))
        path = ctx.workdir / f"evidence-{label.split()[0]}.json"
        path.write_text(json.dumps(bundle, indent=2, ensure_ascii=False))
        report = verify_offline(bundle, log_key, [latest["note"]])
        ctx.check(f"receipt of the bank's {label} (entry {bundle['inclusion']['index']}) verified offline: "
                  + ", ".join(report.passed[:2]) + f" … {len(report.passed)} checks", report.ok)
    key_file = ctx.workdir / "ledger-key.txt"
    key_file.write_text(log_key)
    ctx.suggest("re-check the agreement's receipt yourself:",
                [from_file("TRUSTSPACE_LEDGER_KEY", key_file), executable(), "ledger", "verify",
                 str(ctx.workdir / "evidence-agreement.json")])
    _tamper_and_audit(ctx, log_key)


def _tamper_and_audit(ctx: DemoContext, log_key: str) -> None:
    original = ctx.workdir / "operator" / "operator.db"
    copy = ctx.workdir / "operator-copy.db"
    with sqlite3.connect(original) as source, sqlite3.connect(copy) as target:
        source.backup(target)  # a consistent copy of a live WAL database
    clean = audit_database(f"sqlite:///{copy}", log_key)
    ctx.check(f"audit of an untouched copy: {clean.entries} entries, {clean.checkpoints} checkpoints, all hold",
              clean.ok)
    with sqlite3.connect(copy) as db:
        index, text = db.execute("SELECT idx, entry FROM ledger_entries WHERE entry LIKE '%COMPLETED%' "
                                 "ORDER BY idx LIMIT 1").fetchone()
        forged = text.replace("COMPLETED", "TERMINATED")
        db.execute("UPDATE ledger_entries SET entry = ? WHERE idx = ?", (forged, index))
    ctx.console.print(f"tampered with entry {index} of a copy of the operator's database (COMPLETED → "
                      "TERMINATED)")
    caught = audit_database(f"sqlite:///{copy}", log_key)
    ctx.check(f"the audit catches it: {caught.failures[0] if caught.failures else 'nothing found'}",
              not caught.ok and any(f"entry {index}" in f for f in caught.failures))
    shutil.rmtree(ctx.workdir / "scratch", ignore_errors=True)


ACT = Act("evidence — a log nobody can quietly rewrite (RFC 9162, witnessed checkpoints)", play)
