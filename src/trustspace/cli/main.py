"""``trustspace``: start services, run the demo, inspect a space, verify credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from trustspace import __version__
from trustspace.cli.credential import credential_app
from trustspace.cli.exchange import asset_app, catalog, negotiate, offer_app
from trustspace.cli.ledger import ledger_app
from trustspace.cli.members import member_app
from trustspace.cli.output import console, emit_json, friendly_errors
from trustspace.cli.policy import policy_app
from trustspace.cli.services import Json, connector_app, operator_app
from trustspace.cli.transfers import agreement_app, transfer_app
from trustspace.cli.usage import usage_app
from trustspace.client.http import KeyClient

app = typer.Typer(help="TrustSpace: a trusted data space (可信数据空间).", no_args_is_help=True,
                  pretty_exceptions_enable=False)
app.add_typer(operator_app, name="operator")
app.add_typer(connector_app, name="connector")
app.add_typer(ledger_app, name="ledger")
app.add_typer(credential_app, name="credential")
app.add_typer(member_app, name="member")
app.add_typer(asset_app, name="asset")
app.add_typer(offer_app, name="offer")
app.command("catalog")(catalog)
app.command("negotiate")(negotiate)
app.add_typer(agreement_app, name="agreement")
app.add_typer(transfer_app, name="transfer")
app.add_typer(policy_app, name="policy")
app.add_typer(usage_app, name="usage")


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


@app.command()
def demo(
    stay: Annotated[bool, typer.Option("--stay", envvar="TRUSTSPACE_DEMO_STAY",
                                       help="keep the space running after the story, until Ctrl-C, SIGTERM or "
                                            "SIGHUP")] = False,
    workdir: Annotated[Path | None, typer.Option(envvar="TRUSTSPACE_DEMO_DIR",
                                                 help="working folder (default: a new temporary one, removed "
                                                      "after a successful run)")] = None,
    keep: Annotated[bool, typer.Option("--keep", envvar="TRUSTSPACE_DEMO_KEEP",
                                       help="keep the temporary working folder (keys, databases, logs)")] = False,
) -> None:
    """Play the story of a data space on this machine: an operator and three participants."""
    from trustspace.demo.runner import run_demo
    from trustspace.demo.story import ACTS

    raise typer.Exit(run_demo(ACTS, stay=stay, workdir=workdir, keep=keep))


@app.command()
def status(
    operator_url: Annotated[str, typer.Option(envvar="TRUSTSPACE_OPERATOR_URL")] = "http://127.0.0.1:8400",
    api_key: Annotated[str | None, typer.Option(envvar="TRUSTSPACE_ADMIN_API_KEY",
                                                help="administrator key (file admin-api-key)")] = None,
    as_json: Json = False,
) -> None:
    """Show a space's members, connectors and trust list (members and connectors need the admin key)."""
    with friendly_errors(as_json):
        client = KeyClient(operator_url, api_key or "")
        report: dict[str, Any] = {"operator": operator_url,
                                  "ready": client.request("GET", "/readyz"),
                                  "trustList": client.request("GET", "/v1/trust-list")}
        if api_key:
            report["members"] = client.request("GET", "/v1/members")
            report["connectors"] = client.request("GET", "/v1/connectors")
    if as_json:
        emit_json(report)
        return
    console.print(f"operator {operator_url}: [green]{report['ready']['status']}[/]")
    if not api_key:
        console.print("[yellow]next:[/] pass --api-key (or TRUSTSPACE_ADMIN_API_KEY) to list members and connectors")
    for title, rows, columns in (
        ("Members", report.get("members", []), ("displayName", "did", "roles", "status", "validUntil")),
        ("Connectors", report.get("connectors", []), ("ownerDid", "url", "health", "lastHeartbeat")),
        ("Trusted operators", report["trustList"], ("name", "did", "addedAt")),
    ):
        if rows:
            console.print(_table(title, rows, columns))


def _table(title: str, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(", ".join(v) if isinstance(v := row.get(c), list) else str(v or "") for c in columns))
    return table
