"""``trustspace operator start``, ``trustspace connector init|start``."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from trustspace.cli.output import console, emit_json, fail, friendly_errors
from trustspace.connector.settings import ConnectorSettings, init_connector
from trustspace.core.errors import TrustSpaceError
from trustspace.identity.did import did_web
from trustspace.operator.settings import OperatorSettings
from trustspace.web.observability import configure_logging
from trustspace.web.serve import run

operator_app = typer.Typer(help="Run the space operator's service platform.", no_args_is_help=True)
connector_app = typer.Typer(help="Set up and run a participant's connector.", no_args_is_help=True)

DataDir = Annotated[Path, typer.Option("--data-dir", envvar="TRUSTSPACE_DATA_DIR", help="folder for keys and data")]
Host = Annotated[str, typer.Option(envvar="TRUSTSPACE_HOST", help="address to bind")]
Port = Annotated[int, typer.Option(envvar="TRUSTSPACE_PORT", help="port to bind", min=1, max=65535)]
DatabaseUrl = Annotated[str | None, typer.Option(envvar="TRUSTSPACE_DATABASE_URL", help="SQLAlchemy URL; "
                                                 "default SQLite in the data folder")]
LogJson = Annotated[bool, typer.Option("--log-json", envvar="TRUSTSPACE_LOG_JSON", help="log JSON lines")]
Heartbeat = Annotated[float, typer.Option(envvar="TRUSTSPACE_HEARTBEAT_INTERVAL", min=0.1,
                                          help="seconds between connector heartbeats")]
StatusTtl = Annotated[float, typer.Option(envvar="TRUSTSPACE_STATUS_LIST_TTL", min=0,
                                          help="seconds a fetched revocation list is trusted")]
Json = Annotated[bool, typer.Option("--json", envvar="TRUSTSPACE_JSON", help="machine-readable output")]


@operator_app.command("start")
def operator_start(
    data_dir: DataDir = Path("operator-data"),
    host: Host = "127.0.0.1",
    port: Port = 8400,
    public_url: Annotated[str | None, typer.Option(envvar="TRUSTSPACE_PUBLIC_URL",
                                                   help="URL others reach us at; its did:web is our DID")] = None,
    space: Annotated[str, typer.Option(envvar="TRUSTSPACE_SPACE", help="name of the data space")] = "trustspace",
    database_url: DatabaseUrl = None,
    heartbeat_interval: Heartbeat = 10.0,
    status_list_ttl: StatusTtl = 30.0,
    ledger_quorum: Annotated[int, typer.Option(envvar="TRUSTSPACE_LEDGER_QUORUM", min=1, help=(
        "witness cosignatures a ledger checkpoint needs to be final"))] = 1,
    ledger_max_delay: Annotated[int, typer.Option(envvar="TRUSTSPACE_LEDGER_MAX_DELAY", min=1, help=(
        "seconds within which a receipted statement is promised to be in the log"))] = 5,
    log_json: LogJson = False,
) -> None:
    """Start the operator service (membership, trust list, connector registry, spaces, evidence ledger)."""
    from trustspace.operator.app import create_app

    configure_logging(json_lines=log_json, service="operator")
    settings = OperatorSettings(
        data_dir=data_dir, public_url=public_url or f"http://{host}:{port}", space=space,
        database_url=database_url, heartbeat_interval=heartbeat_interval, status_list_ttl=status_list_ttl,
        ledger_quorum=ledger_quorum, ledger_max_delay=ledger_max_delay,
    )
    with friendly_errors():
        app = create_app(settings)
    _settle()
    run(app, host, port)


@connector_app.command("init")
def connector_init(
    url: Annotated[str, typer.Option(envvar="TRUSTSPACE_PUBLIC_URL", help="URL this connector is reached at")],
    operator_url: Annotated[str, typer.Option(envvar="TRUSTSPACE_OPERATOR_URL", help="the operator's URL")],
    data_dir: DataDir = Path("connector-data"),
    name: Annotated[str, typer.Option(envvar="TRUSTSPACE_NAME", help="a name for people")] = "connector",
    as_json: Json = False,
) -> None:
    """Create a connector's key (mode 0600) and configuration."""
    with friendly_errors(as_json):
        # Everything is checked before anything is written: a refused URL leaves no keystore behind.
        for label, value in (("--url", url), ("--operator-url", operator_url)):
            if urlsplit(value).scheme not in {"http", "https"} or not urlsplit(value).hostname:
                fail(f"{label} {value!r} is not an http(s) URL", "give the full URL, e.g. http://127.0.0.1:8500",
                     as_json=as_json)
            try:
                did_web(value.rstrip("/"))
            except TrustSpaceError as exc:
                fail(f"{label}: {exc.detail}", exc.hint, as_json=as_json)
        settings = init_connector(data_dir, url, operator_url, name)
    result = {"did": did_web(settings.public_url), "dataDir": str(data_dir), "url": settings.public_url}
    if as_json:
        emit_json(result)
    else:
        console.print(f"connector [bold]{name}[/] ready: {result['did']}")
        console.print(f"next: trustspace connector start --data-dir {data_dir}")


@connector_app.command("start")
def connector_start(
    data_dir: DataDir = Path("connector-data"),
    host: Host = "127.0.0.1",
    port: Annotated[int | None, typer.Option(envvar="TRUSTSPACE_PORT", help="default: the port of its URL")] = None,
    database_url: DatabaseUrl = None,
    heartbeat_interval: Heartbeat = 10.0,
    status_list_ttl: StatusTtl = 30.0,
    process_deadline: Annotated[float, typer.Option(envvar="TRUSTSPACE_PROCESS_DEADLINE", min=1, help=(
        "seconds a negotiation (or a transfer before it starts) may take before it is terminated"))] = 600.0,
    witness_interval: Annotated[float, typer.Option(envvar="TRUSTSPACE_WITNESS_INTERVAL", min=0, help=(
        "seconds between witnessing the operator's ledger checkpoints (0: do not witness)"))] = 2.0,
    conformance_mode: Annotated[bool, typer.Option("--conformance-mode", envvar="TRUSTSPACE_CONFORMANCE_MODE",
                                                   help="let a test harness drive this connector (never in "
                                                        "production); needs --seed")] = False,
    seed: Annotated[Path | None, typer.Option(envvar="TRUSTSPACE_SEED", exists=True, dir_okay=False,
                                              help="conformance seed file (docs/conformance-mode.md)")] = None,
    event_streams: Annotated[int | None, typer.Option(envvar="TRUSTSPACE_EVENT_STREAMS_PER_KEY", min=1, help=(
        "management event streams one API key may hold open at once (default 8)"))] = None,
    log_json: LogJson = False,
) -> None:
    """Start a connector initialised with 'trustspace connector init'."""
    from trustspace.connector.app import create_app

    configure_logging(json_lines=log_json, service="connector")
    if conformance_mode != (seed is not None):
        fail("--conformance-mode and --seed go together", "pass both to run a conformance test, or neither")
    if conformance_mode:
        console.print("[bold red]CONFORMANCE MODE[/]: a static Authorization value from the seed is accepted. "
                      "Never run this mode with real data.")
    with friendly_errors():
        settings = ConnectorSettings.load(data_dir, database_url=database_url,
                                          heartbeat_interval=heartbeat_interval, status_list_ttl=status_list_ttl,
                                          process_deadline=process_deadline, conformance_mode=conformance_mode,
                                          seed=seed, witness_interval=witness_interval,
                                          event_streams_per_key=event_streams)
        app = create_app(settings)
    _settle()
    # Open event streams are ended as soon as a stop is asked for, not waited out.
    run(app, host, port or urlsplit(settings.public_url).port or 8500, closing=app.state.event_streams.close)


@connector_app.command("processes")
def connector_processes(
    url: Annotated[str, typer.Option(envvar="TRUSTSPACE_CONNECTOR_URL", help="the connector's URL")] = (
        "http://127.0.0.1:8500"),
    api_key: Annotated[str | None, typer.Option(envvar="TRUSTSPACE_MANAGEMENT_API_KEY",
                                                help="management key (file management-api-key)")] = None,
    watch: Annotated[bool, typer.Option("--watch", help="follow every state change as it happens")] = False,
    process: Annotated[str | None, typer.Option(help="only this negotiation or transfer id")] = None,
    as_json: Json = False,
) -> None:
    """List a connector's negotiations and transfers; --watch follows their state changes live."""
    from trustspace.cli.watch import show_processes, watch_events

    with friendly_errors(as_json):
        if not api_key:
            fail("the management API needs its key", "pass --api-key or set TRUSTSPACE_MANAGEMENT_API_KEY "
                 "(the connector wrote it to management-api-key in its data folder)", as_json=as_json)
        if watch:
            watch_events(url, api_key, process, as_json)
        else:
            show_processes(url, api_key, as_json)


def _settle() -> None:
    """Move everything built at start (modules, schemas, the app) out of the collector's sight: a full
    collection then scans only what requests create. Measured: 50-110 ms pauses per full collection
    in a connector serving negotiations before, none above 2 ms after."""
    gc.collect()
    gc.freeze()
