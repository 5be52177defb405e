"""What the management commands share: the URL and key options of the two APIs, a client that tells a person
what to do when a service is down or refuses the key, tables, JSON options, and waiting on a process."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn
from urllib.parse import urlsplit

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from trustspace.cli.output import console, emit_json, err_console, fail, friendly_errors
from trustspace.client.http import KeyClient, RemoteProblem
from trustspace.core.errors import PeerUnreachable, TrustSpaceError

DEFAULT_CONNECTOR_URL = "http://127.0.0.1:8500"
DEFAULT_OPERATOR_URL = "http://127.0.0.1:8400"
# How often a waiting command asks for a process's state: a person sees each step, the connector barely notices.
POLL_SECONDS = 0.25

ConnectorUrl = Annotated[str, typer.Option("--connector-url", envvar="TRUSTSPACE_CONNECTOR_URL",
                                           help="your connector's URL")]
ConnectorKey = Annotated[str | None, typer.Option("--api-key", envvar="TRUSTSPACE_MANAGEMENT_API_KEY",
                                                  help="management key (file management-api-key in the "
                                                       "connector's data folder)")]
OperatorUrl = Annotated[str, typer.Option("--operator-url", envvar="TRUSTSPACE_OPERATOR_URL",
                                          help="the operator's URL")]
AdminKey = Annotated[str | None, typer.Option("--api-key", envvar="TRUSTSPACE_ADMIN_API_KEY",
                                              help="administrator key (file admin-api-key in the operator's "
                                                   "data folder)")]
Timeout = Annotated[float, typer.Option("--timeout", min=1, envvar="TRUSTSPACE_WAIT_TIMEOUT",
                                        help="seconds to wait before giving up")]


class Role(StrEnum):
    """A member's roles in a space (what an offer's role shortcut and an application name)."""

    PROVIDER = "provider"
    CONSUMER = "consumer"


@dataclass(frozen=True)
class Service:
    """One of the two APIs a person manages, and where its key and URL come from."""

    name: str
    url_option: str
    url_env: str
    key_env: str
    key_file: str
    start: str


CONNECTOR = Service("connector", "--connector-url", "TRUSTSPACE_CONNECTOR_URL", "TRUSTSPACE_MANAGEMENT_API_KEY",
                    "management-api-key", "trustspace connector start --data-dir <folder>")
OPERATOR = Service("operator", "--operator-url", "TRUSTSPACE_OPERATOR_URL", "TRUSTSPACE_ADMIN_API_KEY",
                   "admin-api-key", "trustspace operator start")


def check_url(label: str, value: str, as_json: bool) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        fail(f"{label} {value!r} is not an http(s) URL", "give the full URL, e.g. http://127.0.0.1:8500",
             as_json=as_json)
    return value.rstrip("/")


class Api:
    """A ``KeyClient`` whose failures say which option or variable to fix."""

    def __init__(self, service: Service, url: str, key: str | None, as_json: bool) -> None:
        self.service, self.url = service, check_url(service.url_option, url, as_json)
        if not key:
            fail(f"the {service.name}'s API needs its key", f"pass --api-key or set {service.key_env} (the "
                 f"{service.name} wrote it to {service.key_file} in its data folder)", as_json=as_json)
        self.client = KeyClient(self.url, key)

    def __call__(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        try:
            return self.client.request(method, path, json=body, params=params)
        except RemoteProblem as exc:
            if exc.remote_status == 401:
                raise TrustSpaceError(f"the {self.service.name} at {self.url} refused the API key",
                                      hint=f"use the key in {self.service.key_file} in the {self.service.name}'s "
                                           f"data folder (--api-key or {self.service.key_env})") from exc
            raise
        except PeerUnreachable as exc:
            raise PeerUnreachable(f"cannot reach the {self.service.name} at {self.url}",
                                  hint=f"is it running ({self.service.start})? Otherwise pass "
                                       f"{self.service.url_option} or set {self.service.url_env}") from exc

    def close(self) -> None:
        self.client.close()


@contextmanager
def session(service: Service, url: str, key: str | None, as_json: bool) -> Iterator[Api]:
    """An ``Api`` whose errors end the command with a message and a next step, never a traceback."""
    with friendly_errors(as_json):
        api = Api(service, url, key, as_json)
        try:
            yield api
        finally:
            api.close()


def refuse(message: str, hint: str, as_json: bool, **extra: Any) -> NoReturn:
    """As ``fail``, with more for scripts (``extra``) in the JSON answer."""
    if not extra:
        fail(message, hint, as_json=as_json)
    if as_json:
        emit_json({"ok": False, "error": message, "hint": hint, **extra})
    else:
        complain(message, hint)
    raise typer.Exit(1)


def complain(message: str, hint: str) -> None:
    """An error and the next step on stderr, for a command that has printed its answer already."""
    err_console.print(f"[bold red]error:[/] {escape(message)}")
    err_console.print(f"[yellow]next:[/] {escape(hint)}")


def json_option(label: str, value: str, as_json: bool) -> dict[str, Any]:
    """An option holding a JSON object, given inline or as ``@FILE``."""
    text = value
    if value.startswith("@"):
        try:
            text = Path(value[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"{label}: cannot read {value[1:]}: {exc.strerror}", "give an existing file after @",
                 as_json=as_json)
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        fail(f"{label} is not JSON: {exc}", "give a JSON object, e.g. '{\"type\": \"file\", \"path\": \"...\"}', "
             "or @FILE", as_json=as_json)
    if not isinstance(parsed, dict):
        fail(f"{label} must be a JSON object", "wrap it in {...}", as_json=as_json)
    return parsed


Column = tuple[str, str | Callable[[dict[str, Any]], Any]]


def table(title: str, rows: Sequence[dict[str, Any]], columns: Sequence[Column]) -> Table:
    """``rows`` under ``columns``, leaving out a column that is empty in every row (room for the ids)."""
    cells = [[_cell(pick(row) if callable(pick) else row.get(pick)) for _, pick in columns] for row in rows]
    kept = [i for i in range(len(columns)) if not cells or any(line[i] for line in cells)]
    shown = Table(title=title)
    for i in kept:
        shown.add_column(columns[i][0], overflow="fold")
    for line in cells:
        shown.add_row(*(Text(line[i]) for i in kept))
    return shown


def moment(key: str) -> Callable[[dict[str, Any]], str | None]:
    """A column showing the timestamp under ``key`` to the minute (the JSON keeps it whole)."""
    def pick(row: dict[str, Any]) -> str | None:
        value = row.get(key)
        return str(value)[:16].replace("T", " ") if value else None
    return pick


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def show(value: Any, as_json: bool, title: str, rows: Sequence[dict[str, Any]], columns: Sequence[Column],
         empty: str | None = None) -> None:
    """``value`` as JSON, or ``rows`` as a table (``empty`` said instead when there are none)."""
    if as_json:
        emit_json(value)
    elif not rows and empty:
        console.print(empty)
    else:
        console.print(table(title, rows, columns))


def warn(text: str) -> None:
    err_console.print(f"[bold yellow]warning:[/] {escape(text)}")


def say(text: str) -> None:
    """Plain text for people: brackets in ids, paths or policies are not Rich markup."""
    console.print(Text(text), soft_wrap=True)


def next_step(text: str) -> None:
    # One line the terminal wraps (soft_wrap): an id copied from it has no line break in it.
    console.print(f"[yellow]next:[/] {escape(text)}", highlight=False, soft_wrap=True)


def wait_for(fetch: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool], what: str,
             timeout: float, as_json: bool, look: str) -> dict[str, Any]:
    """Ask ``fetch`` until ``done`` holds, with a spinner naming the current state (none for scripts). Giving up
    (the timeout, or Ctrl-C) stops only the waiting: ``look`` is the command that shows the process later."""
    deadline = time.monotonic() + timeout
    current = fetch()
    spinner = None if as_json else console.status(f"{what}: {current.get('state')}", spinner="dots")
    try:
        with spinner or nullcontext():
            while not done(current):
                if time.monotonic() > deadline:
                    raise TrustSpaceError(f"{what} is still {current.get('state')} after {timeout:g} s",
                                          hint=f"it goes on in the background: look again with {look}, or wait "
                                               "longer with --timeout")
                time.sleep(POLL_SECONDS)
                current = fetch()
                if spinner is not None:
                    spinner.update(f"{what}: {current.get('state')}")
    except KeyboardInterrupt:
        raise TrustSpaceError(f"stopped waiting; {what} is {current.get('state')} and goes on in the background",
                              hint=f"look again with {look}") from None
    return current
