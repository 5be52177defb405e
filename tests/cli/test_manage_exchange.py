"""``trustspace asset|offer|catalog|negotiate|agreement|transfer`` between two live member connectors: tables and
--json, options refused before any request, and the connector's refusals told with what to do next."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from manage_space import Space, live_space, runner, wide_console

from live import free_port
from trustspace.cli.main import app

NOWHERE = f"http://127.0.0.1:{free_port()}"

@pytest.fixture(autouse=True)
def _wide() -> Iterator[None]:
    with wide_console():
        yield


@pytest.fixture(scope="module")
def members(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Space]:
    """A provider and a consumer connector, both members of the space."""
    with live_space(tmp_path_factory.mktemp("exchange"), ("provider", "consumer"), join=True) as space:
        yield space



def publish(space: Space, folder: Path, asset_id: str, *policy: str) -> Path:
    source = folder / f"{asset_id}.bin"
    source.write_bytes(bytes(range(256)) * 300)
    space.ok("asset", "add", "--id", asset_id, "--title", f"{asset_id} title", "--file", str(source), on="provider")
    space.ok("offer", "add", "--asset", asset_id, "--id", f"{asset_id}-offer", *(policy or ("--role", "consumer")),
             on="provider")
    return source


def test_asset_add_and_list(members: Space, tmp_path: Path) -> None:
    source = tmp_path / "usage.csv"
    source.write_text("a,b\n1,2\n")
    added = members.cli("asset", "add", "--id", "usage", "--title", "Usage 2025", "--file", str(source),
                        "--keyword", "energy", on="provider")
    assert added.exit_code == 0, added.output
    assert "Asset added" in added.output and f"file: {source}" in added.output and "offer add" in added.output

    db = tmp_path / "sales.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE sales (region TEXT, total INTEGER)")
    sql = members.ok("asset", "add", "--id", "sales", "--title", "Sales", "--sql", f"sqlite:///{db}", "--query",
                     "SELECT region, total FROM sales", on="provider")
    assert sql["dataAddress"] == {"type": "sql", "url": f"sqlite:///{db}", "query": "SELECT region, total FROM sales",
                                  "format": "csv"}
    given = members.ok("asset", "add", "--id", "given", "--title", "Given", "--data-address",
                       json.dumps({"type": "file", "path": str(source)}), on="provider")
    assert given["dataAddress"]["path"] == str(source)

    listed = members.ok("asset", "list", on="provider")
    assert {"usage", "sales", "given"} <= {a["id"] for a in listed}
    table = members.cli("asset", "list", on="provider")
    assert table.exit_code == 0 and "Assets" in table.output and "Usage 2025" in table.output
    assert "sql: SELECT region, total FROM sales" in table.output


def test_the_connector_refuses_a_source_it_could_never_serve(members: Space) -> None:
    refused = members.cli("asset", "add", "--title", "Secret", "--file", "/etc/passwd", on="provider")
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "outside the data roots" in refused.output and "TRUSTSPACE_DATA_ROOTS" in refused.output
    as_json = members.cli("asset", "add", "--title", "T", "--sql", "sqlite:////no.db", "--query", "DELETE FROM t",
                          "--json", on="provider")
    assert as_json.exit_code == 1 and "only SELECT" in json.loads(as_json.stdout)["error"]


@pytest.mark.parametrize(("args", "expected"), [
    (["asset", "add", "--title", "T"], "exactly one of --file, --sql, --http and --data-address"),
    (["asset", "add", "--title", "T", "--file", "/x", "--http", "http://x"], "not --file and --http"),
    (["asset", "add", "--title", "T", "--sql", "sqlite:///x.db"], "--sql and --query go together"),
    (["asset", "add", "--title", "T", "--file", "/x", "--query", "SELECT 1"], "--sql and --query go together"),
    (["asset", "add", "--title", "T", "--data-address", "{nope"], "--data-address is not JSON"),
    (["asset", "add", "--title", "T", "--data-address", "[1]"], "must be a JSON object"),
    (["asset", "add", "--title", "T", "--data-address", "@/no/such/file"], "cannot read"),
    (["asset", "add", "--title", "T", "--http", "ftp://x"], "not an http(s) URL"),
    (["asset", "add", "--title", " ", "--file", "/x"], "--title is empty"),
    (["offer", "add", "--asset", "a"], "exactly one of --policy, --policy-id and --role"),
    (["offer", "add", "--asset", "a", "--role", "consumer", "--policy-id", "p"], "not --policy-id and --role"),
    (["offer", "add", "--asset", "a", "--policy", "[]"], "must be a JSON object"),
    (["catalog", "not-a-url"], "PROVIDER_URL 'not-a-url' is not an http(s) URL"),
    (["negotiate", "--provider", "x", "--offer", "o"], "--provider 'x' is not an http(s) URL"),
])
def test_bad_options_are_refused_before_any_request(args: list[str], expected: str) -> None:
    result = runner.invoke(app, [*args, "--connector-url", NOWHERE, "--api-key", "k"])
    assert result.exit_code == 1, result.output
    assert expected in result.output and "cannot reach" not in result.output, result.output
    as_json = runner.invoke(app, [*args, "--connector-url", NOWHERE, "--api-key", "k", "--json"])
    assert json.loads(as_json.stdout)["ok"] is False


def test_offer_add_and_list(members: Space, tmp_path: Path) -> None:
    (tmp_path / "o.txt").write_text("o")
    members.ok("asset", "add", "--id", "offered", "--title", "Offered", "--file", str(tmp_path / "o.txt"),
               on="provider")
    shortcut = members.cli("offer", "add", "--asset", "offered", "--id", "offered-1", "--role", "consumer",
                           on="provider")
    assert shortcut.exit_code == 0, shortcut.output
    assert "may use if trustspace:role isAnyOf [consumer]" in shortcut.output and "Offer added" in shortcut.output
    policy = {"permission": [{"action": "use"}]}
    given = members.ok("offer", "add", "--asset", "offered", "--id", "offered-2", "--policy", json.dumps(policy),
                       on="provider")
    assert given["policyId"] == "offered-2-policy"
    reused = members.ok("offer", "add", "--asset", "offered", "--policy-id", "offered-2-policy", on="provider")
    assert reused["policyId"] == "offered-2-policy" and reused["id"].startswith("offer-")

    listed = members.ok("offer", "list", on="provider")
    mine = {o["id"]: o for o in listed if o["assetId"] == "offered"}
    assert mine["offered-2"]["policy"] == policy and len(mine) == 3
    table = members.cli("offer", "list", on="provider")
    assert table.exit_code == 0 and "Offers" in table.output and "offered-1" in table.output


def test_catalog_lists_datasets_and_offers(members: Space, tmp_path: Path) -> None:
    publish(members, tmp_path, "listed")
    provider = members.connectors["provider"].url
    shown = members.cli("catalog", provider, on="consumer")
    assert shown.exit_code == 0, shown.output
    assert "Catalog of did:web:127.0.0.1" in shown.output and "listed-offer" in shown.output
    assert f"trustspace negotiate --provider {provider} --offer" in shown.output
    catalog = members.ok("catalog", provider, "--keyword", "listed", on="consumer")
    assert [d["@id"] for d in catalog["dataset"]] == ["listed"]
    nothing = members.cli("catalog", provider, "--keyword", "no-such-word", on="consumer")
    assert nothing.exit_code == 0 and "offers nothing matching 'no-such-word'" in nothing.output
    down = members.cli("catalog", NOWHERE, on="consumer")
    assert down.exit_code == 1 and "Traceback" not in down.output and "next:" in down.output


def negotiated(space: Space, offer: str, *extra: str) -> Any:
    result = space.cli("negotiate", "--provider", space.connectors["provider"].url, "--offer", offer, "--wait",
                       "--json", *extra, on="consumer")
    return result, json.loads(result.stdout)


def test_negotiate_transfer_and_pull(members: Space, tmp_path: Path) -> None:
    source = publish(members, tmp_path, "moved")
    result, negotiation = negotiated(members, "moved-offer")
    assert result.exit_code == 0, result.output
    assert negotiation["state"] == "FINALIZED" and negotiation["agreementId"]
    agreements = members.cli("agreement", "list", on="consumer")
    assert agreements.exit_code == 0 and negotiation["agreementId"] in agreements.output

    started = members.cli("transfer", "start", "--agreement", negotiation["agreementId"], "--wait", on="consumer")
    assert started.exit_code == 0, started.output
    assert "COMPLETED" in started.output and "trustspace transfer pull" in started.output
    transfers = members.ok("transfer", "status", on="consumer")
    transfer = next(t for t in transfers if t["agreementId"] == negotiation["agreementId"])
    status = members.cli("transfer", "status", transfer["id"], on="consumer")
    assert status.exit_code == 0 and "COMPLETED" in status.output and "received:" in status.output

    output = tmp_path / "out" / "moved.bin"
    missing_folder = members.cli("transfer", "pull", transfer["id"], "--output", str(output), on="consumer")
    assert missing_folder.exit_code == 1 and "mkdir -p" in missing_folder.output
    output.parent.mkdir()
    pulled = members.ok("transfer", "pull", transfer["id"], "--output", str(output), on="consumer")
    assert output.read_bytes() == source.read_bytes()
    assert pulled["bytes"] == source.stat().st_size and pulled["verified"] is True
    again = members.cli("transfer", "pull", transfer["id"], "--output", str(output), on="consumer")
    assert again.exit_code == 1 and "--force" in again.output
    forced = members.cli("transfer", "pull", transfer["id"], "--output", str(output), "--force", on="consumer")
    assert forced.exit_code == 0 and "from the connector's protected store" in forced.output


def test_negotiate_unknown_offer_and_refused_policy(members: Space, tmp_path: Path) -> None:
    unknown, answer = negotiated(members, "no-such-offer")
    assert unknown.exit_code == 1 and "offers no 'no-such-offer'" in answer["error"]
    assert "trustspace catalog" in answer["hint"]
    publish(members, tmp_path, "elsewhere", "--policy", json.dumps({"permission": [{"action": "use", "constraint": [
        {"leftOperand": "trustspace:space", "operator": "eq", "rightOperand": "another-space"}]}]}))
    refused, negotiation = negotiated(members, "elsewhere-offer")
    assert refused.exit_code == 1 and negotiation["state"] == "TERMINATED"
    assert "policy not satisfied" in negotiation["reason"]
    assert "the negotiation was terminated" in refused.output


def test_a_refused_key_and_an_unreachable_connector(members: Space) -> None:
    provider = members.connectors["provider"]
    for command in (["asset", "list"], ["offer", "list"], ["agreement", "list"], ["transfer", "status"],
                    ["catalog", provider.url]):
        refused = runner.invoke(app, [*command, "--connector-url", provider.url, "--api-key", "wrong"])
        assert refused.exit_code == 1, (command, refused.output)
        assert "refused the API key" in refused.output and "management-api-key" in refused.output
        down = runner.invoke(app, [*command, "--connector-url", NOWHERE, "--api-key", "k", "--json"])
        assert down.exit_code == 1 and json.loads(down.stdout)["error"].startswith("cannot reach the connector")
    missing = runner.invoke(app, ["transfer", "status", "urn:uuid:nope", *provider.args()])
    assert missing.exit_code == 1 and "no transfer urn:uuid:nope" in missing.output
