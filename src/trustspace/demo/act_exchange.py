"""Act 2: data moves under contract. The tax bureau publishes enterprise tax records; the bank finds them in
its catalog, negotiates and pulls them; the power grid company pushes electricity usage to the bank."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from trustspace.client.http import KeyClient
from trustspace.demo.context import Act, DemoContext, DemoFailure
from trustspace.demo.data import write_grid_usage, write_tax_records

POLICY = {"permission": [{"action": "use", "constraint": [
    {"leftOperand": "trustspace:role", "operator": "isAnyOf", "rightOperand": ["consumer"]}]}]}
TERMINAL = {"FINALIZED", "TERMINATED", "COMPLETED"}


class Watcher:
    """Prints every state change a connector records, as it happens (from its event stream)."""

    def __init__(self, ctx: DemoContext, name: str, client: KeyClient, after: int = 0) -> None:
        self.ctx, self.name, self.client, self.last = ctx, name, client, after

    def skip_past(self) -> Watcher:
        """From now on: the changes recorded so far are not printed again."""
        response = self.client.http.get(f"{self.client.base_url}/v1/management/events", params={"follow": "false"})
        ids = [int(line[4:]) for line in response.text.splitlines() if line.startswith("id: ")]
        self.last = max([self.last, *ids])
        return self

    def poll(self) -> None:
        response = self.client.http.get(f"{self.client.base_url}/v1/management/events",
                                        params={"after": self.last, "follow": "false"})
        for block in response.text.split("\n\n"):
            lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            if "data" in lines:
                event = json.loads(lines["data"])
                self.last = max(self.last, int(lines.get("id", 0)))
                self.ctx.console.print(f"    [dim]{self.name}[/] {event['processKind']:11} {event['state']:10} "
                                       f"{event['detail']}")


def wait_for(ctx: DemoContext, watchers: list[Watcher], client: KeyClient, path: str, states: set[str],
             timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for watcher in watchers:
            watcher.poll()
        process: dict[str, Any] = client.request("GET", path)
        if process["state"] in states:
            for watcher in watchers:
                watcher.poll()
            return process
        time.sleep(0.1)
    raise DemoFailure(f"{path} did not reach {states} in {timeout:.0f} s")


def publish(client: KeyClient, asset_id: str, title: str, address: dict[str, Any], keywords: list[str]) -> None:
    client.request("POST", "/v1/management/assets", json={
        "id": asset_id, "title": title, "dataAddress": address, "properties": {"keyword": keywords}})
    client.request("POST", "/v1/management/policies", json={"id": f"{asset_id}-policy", "policy": POLICY})
    client.request("POST", "/v1/management/offers", json={"id": f"{asset_id}-offer", "assetId": asset_id,
                                                           "policyId": f"{asset_id}-policy"})


def negotiate(ctx: DemoContext, watchers: list[Watcher], provider_key: str, keyword: str) -> dict[str, Any]:
    bank, provider = ctx.participants["bank"], ctx.participants[provider_key]
    catalog = bank.management.request("POST", "/v1/management/catalog/request",
                                      json={"providerUrl": provider.url, "filter": [{"keyword": keyword}]})
    datasets = catalog.get("dataset", [])
    ctx.check(f"the bank finds '{keyword}' in the {provider.role.display_name}'s catalog", len(datasets) == 1)
    offer = datasets[0]["hasPolicy"][0]
    started = bank.management.request("POST", "/v1/management/negotiations",
                                      json={"providerUrl": provider.url, "offer": offer,
                                            "datasetId": datasets[0]["@id"]})
    done = wait_for(ctx, watchers, bank.management, f"/v1/management/negotiations/{started['id']}", TERMINAL)
    ctx.check(f"negotiation with the {provider.role.display_name} FINALIZED", done["state"] == "FINALIZED")
    return done


def transfer(ctx: DemoContext, watchers: list[Watcher], agreement_id: str, kind: str) -> dict[str, Any]:
    bank = ctx.participants["bank"]
    started = bank.management.request("POST", "/v1/management/transfers",
                                      json={"agreementId": agreement_id, "transferType": kind})
    done = wait_for(ctx, watchers, bank.management, f"/v1/management/transfers/{started['id']}",
                    {"COMPLETED", "TERMINATED"}, timeout=60)
    ctx.check(f"{kind} transfer COMPLETED", done["state"] == "COMPLETED")
    return done


def play(ctx: DemoContext) -> None:
    tax, bank, grid = (ctx.participants[k] for k in ("tax", "bank", "grid"))
    # What a connector serves lies in the data/ folder of its data folder, its default data root.
    rows = write_tax_records(tax.data_dir / "data" / "tax.db")
    publish(tax.management, "enterprise-tax-records-2025", "企业纳税信用记录 (enterprise tax records)",
            {"type": "sql", "url": f"sqlite:///{tax.data_dir / 'data' / 'tax.db'}",
             "query": "SELECT * FROM tax_records ORDER BY credit_code", "format": "csv"}, ["tax", "纳税", "credit"])
    ctx.console.print(f"市税务局 publishes {rows} enterprise tax records")
    usage = grid.data_dir / "data" / "usage.csv"
    write_grid_usage(usage)
    publish(grid.management, "enterprise-electricity-2025", "企业用电数据 (enterprise electricity usage)",
            {"type": "file", "path": str(usage)}, ["electricity", "用电"])
    watchers = [Watcher(ctx, "城商银行", bank.management)]

    agreed = negotiate(ctx, watchers, "tax", "tax")
    pulled = transfer(ctx, watchers, str(agreed["agreementId"]), "HttpData-PULL")
    _check_received(ctx, pulled, rows + 1, "tax records")

    agreed = negotiate(ctx, watchers, "grid", "electricity")
    pushed = transfer(ctx, watchers, str(agreed["agreementId"]), "HttpData-PUSH")
    _check_received(ctx, pushed, None, "electricity usage", expected=usage)


def _check_received(ctx: DemoContext, process: dict[str, Any], lines: int | None, label: str,
                    expected: Path | None = None) -> None:
    details = process.get("details", {})
    if not details.get("protectedItem"):
        raise DemoFailure(f"the {label} did not land in the bank's protected store (details: {details})")
    # the bank's own check, through its usage API: nothing but the connector can read the sealed data
    answer = ctx.participants["bank"].management.http.post(
        f"{ctx.participants['bank'].url}/v1/usage/read",
        json={"agreementId": process["agreementId"], "purpose": "receipt check", "application": "demo"})
    if answer.status_code != 200:
        raise DemoFailure(f"the bank cannot read its {label}: {answer.text}")
    data = answer.content
    digest = hashlib.sha256(data).hexdigest()
    ctx.check(f"{label}: {len(data)} bytes sealed at the bank, SHA-256 {digest[:16]}… matches the provider's",
              digest == details.get("sha256"))
    if lines is not None:
        ctx.check(f"{label}: {lines - 1} rows received", len(data.decode("utf-8").splitlines()) == lines)
    if expected is not None:
        ctx.check(f"{label}: identical to the grid company's file", data == expected.read_bytes())


ACT = Act("data under contract — catalog, negotiation, pull and push (Dataspace Protocol 2025-1)", play)
