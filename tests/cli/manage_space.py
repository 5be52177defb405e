"""A live data space for the management commands: a real operator and connectors on 127.0.0.1 sockets, none
of them a member yet (joining is what the commands under test do), and a runner that invokes the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from live import free_port, serve
from trustspace.cli.main import app
from trustspace.cli.output import console, err_console
from trustspace.connector.app import create_app as connector_app
from trustspace.connector.settings import ConnectorSettings, init_connector
from trustspace.core.ids import credit_code_check_char
from trustspace.operator.app import create_app as operator_app
from trustspace.operator.settings import OperatorSettings

runner = CliRunner()


def credit_code(seed: int) -> str:
    first17 = f"9133010{seed:010d}"
    return first17 + credit_code_check_char(first17)


@dataclass
class Service:
    url: str
    key: str
    data_dir: Path

    def args(self) -> list[str]:
        """The options naming this service and its key, for a command that manages it."""
        option = "--operator-url" if (self.data_dir / "admin-api-key").exists() else "--connector-url"
        return [option, self.url, "--api-key", self.key]


@dataclass
class Space:
    operator: Service
    connectors: dict[str, Service]

    def cli(self, *args: str, on: str | None = None, env: dict[str, str] | None = None) -> Result:
        """``trustspace ARGS`` against the operator (``on`` None) or the named connector."""
        service = self.operator if on is None else self.connectors[on]
        return runner.invoke(app, [*args, *service.args()], env=env)

    def ok(self, *args: str, on: str | None = None) -> Any:
        """The JSON answer of a command that must succeed."""
        result = self.cli(*args, "--json", on=on)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def join(self, name: str, seed: int) -> dict[str, Any]:
        applied = self.ok("member", "apply", "--name", name, "--credit-code", credit_code(seed), on=name)
        self.ok("member", "approve", applied["id"])
        refreshed = self.ok("member", "refresh", on=name)
        assert refreshed["membership"]["member"] is True, refreshed
        return applied


def start_space(folder: Path, names: tuple[str, ...], stack: ExitStack) -> Space:
    op_port = free_port()
    op_url = f"http://127.0.0.1:{op_port}"
    op_settings = OperatorSettings(data_dir=folder / "operator", public_url=op_url, status_list_ttl=0.0)
    stack.enter_context(serve(operator_app(op_settings), op_port))
    operator = Service(op_url, op_settings.admin_key_path.read_text().strip(), folder / "operator")
    connectors = {}
    for name in names:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        init_connector(folder / name, url, op_url, name)
        settings = ConnectorSettings.load(folder / name, status_list_ttl=5.0, worker_poll=0.2)
        stack.enter_context(serve(connector_app(settings), port))
        connectors[name] = Service(url, (folder / name / "management-api-key").read_text().strip(), folder / name)
    return Space(operator, connectors)


@contextmanager
def wide_console() -> Iterator[None]:
    """Tables as wide as a maximised terminal's, so a test finds each cell's text in one piece."""
    widths = console.width, err_console.width
    console.width = err_console.width = 250
    try:
        yield
    finally:
        console.width, err_console.width = widths


@contextmanager
def live_space(folder: Path, names: tuple[str, ...], join: bool = False) -> Iterator[Space]:
    """A space with the named connectors, members already if ``join``. (A conftest here would shadow the
    ``conftest`` module that tests/connector imports from, when both folders are collected together.)"""
    with ExitStack() as stack:
        space = start_space(folder, names, stack)
        for seed, name in enumerate(names, start=1):
            if join:
                space.join(name, seed)
        yield space
