"""Publishing and finding data: ``trustspace asset add|list``, ``offer add|list`` (a provider), ``catalog`` and
``negotiate`` (a consumer), all through your own connector's management API."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from trustspace.cli.manage import (
    CONNECTOR,
    DEFAULT_CONNECTOR_URL,
    Api,
    Column,
    ConnectorKey,
    ConnectorUrl,
    Role,
    Timeout,
    check_url,
    complain,
    json_option,
    moment,
    next_step,
    say,
    session,
    show,
    wait_for,
    warn,
)
from trustspace.cli.output import fail
from trustspace.cli.services import Json

asset_app = typer.Typer(help="The data your connector serves (its dataAddress stays private).", no_args_is_help=True)
offer_app = typer.Typer(help="Offers: an asset under a policy, listed in your catalog.", no_args_is_help=True)

NEGOTIATION_ENDS = {"FINALIZED", "TERMINATED"}


class Format(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


def data_address(file: Path | None, sql: str | None, query: str | None, sql_format: Format, http: str | None,
                 given: str | None, media_type: str | None, as_json: bool) -> dict[str, Any]:
    """The one dataAddress the options describe; refused, naming the options, unless exactly one is given."""
    chosen = [label for label, value in (("--file", file), ("--sql", sql), ("--http", http),
                                         ("--data-address", given)) if value is not None]
    if len(chosen) != 1:
        fail("give exactly one of --file, --sql, --http and --data-address" +
             (f" (not {' and '.join(chosen)})" if chosen else ""),
             "e.g. --file /srv/data/usage.csv (docs/data-sources.md lists every kind)", as_json=as_json)
    if (query is not None) != (sql is not None):
        fail("--sql and --query go together", "give the database URL with --sql and the SELECT with --query",
             as_json=as_json)
    if file is not None:
        address: dict[str, Any] = {"type": "file", "path": str(file.expanduser().absolute())}
        return {**address, "mediaType": media_type} if media_type else address
    if sql is not None:
        return {"type": "sql", "url": sql, "query": query, "format": sql_format.value}
    if http is not None:
        return {"type": "http", "baseUrl": check_url("--http", http, as_json)}
    return json_option("--data-address", str(given), as_json)


def _source(asset: dict[str, Any]) -> str:
    # The kind and where, never the rest: an http source's headers often carry the upstream's credentials.
    address = asset.get("dataAddress") or {}
    where = address.get("path") or address.get("baseUrl") or address.get("query") or ""
    return f"{address.get('type', '?')}: {where}"


ASSET_COLUMNS: tuple[Column, ...] = (("id", "id"), ("title", "title"), ("source", _source),
                                     ("created", moment("createdAt")))


@asset_app.command("add")
def asset_add(
    title: Annotated[str, typer.Option("--title", help="what people see in the catalog")],
    asset_id: Annotated[str | None, typer.Option("--id", help="the asset's id (default: a new one)")] = None,
    description: Annotated[str, typer.Option("--description", help="a longer text for the catalog")] = "",
    keyword: Annotated[list[str] | None, typer.Option("--keyword", help="a catalog keyword (repeat the "
                                                                        "option)")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="serve this file (under a data root)")] = None,
    sql: Annotated[str | None, typer.Option("--sql", help="serve a query on this SQLAlchemy URL (SQLite or "
                                                          "PostgreSQL); with --query")] = None,
    query: Annotated[str | None, typer.Option("--query", help="the SELECT for --sql")] = None,
    sql_format: Annotated[Format, typer.Option("--format", help="what --sql serves")] = Format.CSV,
    http: Annotated[str | None, typer.Option("--http", help="proxy this API's base URL (GET only)")] = None,
    given: Annotated[str | None, typer.Option("--data-address", help="any dataAddress as JSON or @FILE "
                                                                     "(docs/data-sources.md)")] = None,
    media_type: Annotated[str | None, typer.Option("--media-type", help="of --file (default: guessed)")] = None,
    connector_url: ConnectorUrl = DEFAULT_CONNECTOR_URL,
    api_key: ConnectorKey = None,
    as_json: Json = False,
) -> None:
    """Add an asset: the connector checks its source now, not at the first transfer."""
    if not title.strip():
        fail("--title is empty", "give a title people recognise in the catalog", as_json=as_json)
    address = data_address(file, sql, query, sql_format, http, given, media_type, as_json)
    body: dict[str, Any] = {"title": title, "description": description, "dataAddress": address,
                            "properties": {"keyword": keyword} if keyword else {}}
    if asset_id is not None:
        body["id"] = asset_id
    with session(CONNECTOR, connector_url, api_key, as_json) as api:
        added = api("POST", "/v1/management/assets", body)
    show(added, as_json, "Asset added", [added], ASSET_COLUMNS)
    if not as_json:
        for warning in added.get("warnings") or []:
            warn(warning)
        next_step(f"offer it: trustspace offer add --asset {added['id']} --role consumer")


@asset_app.command("list")
def asset_list(connector_url: ConnectorUrl = DEFAULT_CONNECTOR_URL, api_key: ConnectorKey = None,
               as_json: Json = False) -> None:
    """List your connector's assets."""
    with session(CONNECTOR, connector_url, api_key, as_json) as api:
        assets = api("GET", "/v1/management/assets")
    show(assets, as_json, "Assets", assets, ASSET_COLUMNS, empty="no assets yet: trustspace asset add")


def describe_policy(policy: dict[str, Any]) -> str:
    """A policy in one line for people: each rule's action and its constraints."""
    parts = []
    for kind in ("permission", "prohibition", "obligation"):
        for rule in policy.get(kind) or []:
            if not isinstance(rule, dict):
                continue
            constraints = [f"{c.get('leftOperand')} {c.get('operator')} {_operand(c.get('rightOperand'))}"
                           for c in rule.get("constraint") or [] if isinstance(c, dict)]
            verb = {"permission": "may", "prohibition": "must not", "obligation": "must"}[kind]
            parts.append(f"{verb} {rule.get('action')}" + (f" if {' and '.join(constraints)}" if constraints else ""))
    return "; ".join(parts) or "(no rules)"


def _operand(value: Any) -> str:
    return "[" + ", ".join(map(str, value)) + "]" if isinstance(value, list) else str(value)


def _policy_body(policy: str | None, roles: list[Role], as_json: bool) -> dict[str, Any]:
    if policy is not None:
        document = json_option("--policy", policy, as_json)
        inner = document.get("policy")  # a policy record as offer list --json prints it, or the policy itself
        return inner if isinstance(inner, dict) else document
    constraint = {"leftOperand": "trustspace:role", "operator": "isAnyOf",
                  "rightOperand": sorted({r.value for r in roles})}
    return {"permission": [{"action": "use", "constraint": [constraint]}]}


@offer_app.command("add")
def offer_add(
    asset: Annotated[str, typer.Option("--asset", help="the asset offered (trustspace asset list)")],
    offer_id: Annotated[str | None, typer.Option("--id", help="the offer's id (default: a new one)")] = None,
    policy: Annotated[str | None, typer.Option("--policy", help="an ODRL policy as JSON or @FILE, e.g. "
                                                                "'{\"permission\": [{\"action\": \"use\"}]}'")] = None,
    policy_id: Annotated[str | None, typer.Option("--policy-id", help="a policy added before")] = None,
    role: Annotated[list[Role] | None, typer.Option("--role", help="shortcut: members with this role may use it "
                                                                   "(repeat the option)")] = None,
    connector_url: ConnectorUrl = DEFAULT_CONNECTOR_URL,
    api_key: ConnectorKey = None,
    as_json: Json = False,
) -> None:
    """Offer an asset under a policy: it shows in your catalog from now on."""
    chosen = [label for label, value in (("--policy", policy), ("--policy-id", policy_id), ("--role", role))
              if value]
    if len(chosen) != 1:
        fail("give exactly one of --policy, --policy-id and --role" +
             (f" (not {' and '.join(chosen)})" if chosen else ""),
             "e.g. --role consumer: members with the consumer role may use the asset", as_json=as_json)
    new_policy = None if policy_id else _policy_body(policy, role or [], as_json)
    with session(CONNECTOR, connector_url, api_key, as_json) as api:
        if new_policy is not None:
            body: dict[str, Any] = {"policy": new_policy}
            if offer_id is not None:
                body["id"] = f"{offer_id}-policy"
            policy_id = api("POST", "/v1/management/policies", body)["id"]
            if not as_json:
                say(f"policy {policy_id}: {describe_policy(new_policy)}")
        offer: dict[str, Any] = {"assetId": asset, "policyId": policy_id}
        if offer_id is not None:
            offer["id"] = offer_id
        added = api("POST", "/v1/management/offers", offer)
    show(added, as_json, "Offer added", [added], (("id", "id"), ("asset", "assetId"), ("policy", "policyId")))
    if not as_json:
        next_step(f"a consumer sees it with: trustspace catalog {connector_url.rstrip('/')}")


@offer_app.command("list")
def offer_list(connector_url: ConnectorUrl = DEFAULT_CONNECTOR_URL, api_key: ConnectorKey = None,
               as_json: Json = False) -> None:
    """List your offers with their policies."""
    with session(CONNECTOR, connector_url, api_key, as_json) as api:
        offers = api("GET", "/v1/management/offers")
        policies = {p["id"]: p.get("policy") for p in api("GET", "/v1/management/policies")}
    rows = [{**o, "policy": policies.get(o.get("policyId"))} for o in offers]
    show(rows, as_json, "Offers", rows, (("id", "id"), ("asset", "assetId"), ("policy id", "policyId"),
                                         ("policy", lambda r: describe_policy(r.get("policy") or {}))),
         empty="no offers yet: trustspace offer add")


def _offers(catalog: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per offer in a catalog, beside the dataset it is listed under."""
    rows = []
    for dataset in catalog.get("dataset") or []:
        for offer in dataset.get("hasPolicy") or []:
            if isinstance(offer, dict):
                rows.append({"dataset": dataset.get("@id"), "title": dataset.get("title"), "offer": offer.get("@id"),
                             "policy": describe_policy(offer), "document": offer})
    return rows


def remote_catalog(api: Api, provider: str, keyword: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"providerUrl": provider}
    if keyword:
        body["filter"] = [{"keyword": keyword}]
    catalog: dict[str, Any] = api("POST", "/v1/management/catalog/request", body)
    return catalog


def catalog(
    provider_url: Annotated[str, typer.Argument(help="the provider connector's URL")],
    keyword: Annotated[str | None, typer.Option("--keyword", help="only datasets with this word")] = None,
    connector_url: ConnectorUrl = DEFAULT_CONNECTOR_URL,
    api_key: ConnectorKey = None,
    as_json: Json = False,
) -> None:
    """Ask a provider for its catalog, through your connector: its datasets and their offers."""
    provider = check_url("PROVIDER_URL", provider_url, as_json)
    with session(CONNECTOR, connector_url, api_key, as_json) as api:
        found = remote_catalog(api, provider, keyword)
    rows = _offers(found)
    show(found, as_json, f"Catalog of {found.get('participantId', provider)}", rows,
         (("dataset", "dataset"), ("title", "title"), ("offer", "offer"), ("policy", "policy")),
         empty=f"{provider} offers nothing" + (f" matching {keyword!r}" if keyword else ""))
    if rows and not as_json:
        next_step(f"trustspace negotiate --provider {provider} --offer {rows[0]['offer']} --wait")


def negotiate(
    provider: Annotated[str, typer.Option("--provider", help="the provider connector's URL")],
    offer: Annotated[str, typer.Option("--offer", help="the offer's id (trustspace catalog PROVIDER_URL)")],
    dataset: Annotated[str | None, typer.Option("--dataset", help="the dataset, if the offer is listed under "
                                                                  "several")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="wait until the negotiation is FINALIZED or "
                                                      "TERMINATED")] = False,
    timeout: Timeout = 60.0,
    connector_url: ConnectorUrl = DEFAULT_CONNECTOR_URL,
    api_key: ConnectorKey = None,
    as_json: Json = False,
) -> None:
    """Negotiate a contract for an offer in a provider's catalog."""
    provider = check_url("--provider", provider, as_json)
    with session(CONNECTOR, connector_url, api_key, as_json) as api:
        rows = [r for r in _offers(remote_catalog(api, provider, None))
                if r["offer"] == offer and dataset in (None, r["dataset"])]
        if not rows:
            fail(f"{provider} offers no {offer!r}" + (f" for dataset {dataset!r}" if dataset else ""),
                 f"see its offers with: trustspace catalog {provider}", as_json=as_json)
        started = api("POST", "/v1/management/negotiations",
                      {"providerUrl": provider, "offer": rows[0]["document"], "datasetId": rows[0]["dataset"]})
        negotiation = started
        if wait:
            path = f"/v1/management/negotiations/{started['id']}"
            negotiation = wait_for(lambda: api("GET", path), lambda n: n.get("state") in NEGOTIATION_ENDS,
                                   "negotiation", timeout, as_json,
                                   f"trustspace connector processes --process {started['id']}")
    show(negotiation, as_json, "Negotiation", [negotiation],
         (("id", "id"), ("state", "state"), ("agreement", "agreementId"), ("reason", "reason")))
    if negotiation.get("state") == "TERMINATED":
        # The negotiation is printed above (for scripts too); the exit code and stderr say it failed.
        complain(f"the negotiation was terminated: {negotiation.get('reason')}", "compare the offer's policy "
                 f"(trustspace catalog {provider}) with your membership's roles (trustspace member refresh)")
        raise typer.Exit(1)
    if not as_json:
        if negotiation.get("agreementId"):
            next_step(f"trustspace transfer start --agreement {negotiation['agreementId']} --wait")
        else:
            next_step(f"follow it: trustspace connector processes --watch --process {negotiation['id']}")
