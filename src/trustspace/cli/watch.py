"""Showing and following a connector's processes from the command line (its server-sent event stream)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from rich.table import Table

from trustspace.cli.output import console, emit_json
from trustspace.client.http import KeyClient, raise_refusal
from trustspace.core.errors import PeerUnreachable
from trustspace.web.auth import API_KEY_HEADER


def show_processes(url: str, api_key: str, as_json: bool) -> None:
    client = KeyClient(url, api_key)
    try:
        negotiations = client.request("GET", "/v1/management/negotiations")
        transfers = client.request("GET", "/v1/management/transfers")
    finally:
        client.close()
    if as_json:
        emit_json({"negotiations": negotiations, "transfers": transfers})
        return
    for title, rows in (("Negotiations", negotiations), ("Transfers", transfers)):
        table = Table(title=title)
        for column in ("id", "role", "state", "counter-party", "reason"):
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(row["id"], row["role"], row["state"], row["counterParty"], row.get("reason") or "")
        console.print(table)


def watch_events(url: str, api_key: str, process: str | None, as_json: bool) -> None:
    """Print each event until Ctrl-C. The stream ends after its server-side timeout; we reconnect after the
    last id we saw, so nothing is missed or shown twice."""
    last = 0
    params: dict[str, Any] = {"processId": process} if process else {}
    try:
        while True:
            last = _follow(url, api_key, {**params, "after": last}, as_json, last)
    except KeyboardInterrupt:
        return


def _follow(url: str, api_key: str, params: dict[str, Any], as_json: bool, last: int) -> int:
    try:
        with httpx.stream("GET", f"{url.rstrip('/')}/v1/management/events", params=params,
                          headers={API_KEY_HEADER: api_key},
                          timeout=httpx.Timeout(10.0, read=None)) as response:
            if response.status_code >= 400:
                # A refusal (wrong key, bad parameter) would come back the same on every reconnect: say it.
                response.read()
                raise_refusal(response)
            event_id = last
            for line in response.iter_lines():
                if line.startswith("id: "):
                    event_id = int(line[4:])
                elif line.startswith("data: "):
                    _print(json.loads(line[6:]), as_json)
                    last = event_id
    except httpx.HTTPError as exc:
        raise PeerUnreachable(f"lost the event stream of {url}: {exc}", hint="is the connector running?") from exc
    return last


def _print(event: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(event)
        return
    console.print(f"{event['at'][11:19]} {event['processKind']:11} {event['state']:10} {event['processId']}  "
                  f"[dim]{event['detail']}[/]")
