"""The demo's frame: a working folder, the processes, the shared context, and the acts in order.

An act is a title and a function of the context. Later issues append acts to ``ACTS``; each act may rely on
what the acts before it left in the context.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from trustspace.client.http import KeyClient
from trustspace.core.errors import TrustSpaceError
from trustspace.demo.cast import Role
from trustspace.demo.processes import Supervisor


class DemoFailure(Exception):
    """A step of the story did not turn out as it must."""


@dataclass
class Participant:
    role: Role
    url: str
    did: str
    data_dir: Path
    management: KeyClient


@dataclass
class DemoContext:
    workdir: Path
    supervisor: Supervisor
    console: Console
    operator_url: str = ""
    operator_did: str = ""
    admin: KeyClient | None = None
    participants: dict[str, Participant] = field(default_factory=dict)
    checks: list[tuple[str, bool]] = field(default_factory=list)

    def check(self, label: str, ok: bool) -> None:
        self.checks.append((label, ok))
        mark = "[green]✓[/]" if ok else "[red]✗[/]"
        self.console.print(f"  {mark} {label}")
        if not ok:
            raise DemoFailure(label)

    def operator_admin(self) -> KeyClient:
        if self.admin is None:
            raise DemoFailure("the operator is not running yet")
        return self.admin


@dataclass(frozen=True)
class Act:
    title: str
    play: Callable[[DemoContext], None]


def acts() -> list[Act]:
    from trustspace.demo import act_evidence, act_exchange, act_membership

    return [act_membership.ACT, act_exchange.ACT, act_evidence.ACT]


def run_demo(*, stay: bool, workdir: Path | None, console: Console | None = None) -> int:
    console = console or Console(emoji=False)
    folder = workdir or Path(tempfile.mkdtemp(prefix="trustspace-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    context = DemoContext(folder, Supervisor(folder), console)
    console.print(Rule("[bold]TrustSpace demo[/] — a trusted data space on this machine (demo keys, not for "
                       "production)"))
    console.print(f"working folder: {folder}")
    started = time.monotonic()
    try:
        for number, act in enumerate(acts(), start=1):
            console.print(Rule(f"Act {number}: {act.title}"))
            act.play(context)
        console.print(Rule(f"[bold green]all {len(context.checks)} checks passed[/] in "
                           f"{time.monotonic() - started:.1f} s"))
        if stay:
            _stay(context)
        return 0
    except (DemoFailure, TrustSpaceError) as exc:
        detail = exc.detail if isinstance(exc, TrustSpaceError) else str(exc)
        console.print(f"[bold red]demo failed:[/] {detail}")
        console.print(f"logs of every service are in {folder / 'logs'}")
        return 1
    except KeyboardInterrupt:
        console.print("interrupted; stopping every service")
        return 130
    finally:
        context.supervisor.stop_all()


def _stay(context: DemoContext) -> None:
    context.console.print("The space keeps running. Services:")
    for service in context.supervisor.services:
        context.console.print(f"  {service.name:10} {service.url}  (OpenAPI: {service.url}/docs)")
    context.console.print(f"administrator key: {context.workdir / 'operator' / 'admin-api-key'}")
    context.console.print("Press Ctrl-C to stop.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        context.console.print("stopping every service")
