"""What the acts of the demo share: the working folder, the services, the participants, the checks made.

An act is a title and a function of the context; each act may rely on what the acts before it left in it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from trustspace.client.http import KeyClient
from trustspace.demo.cast import Role
from trustspace.demo.processes import Supervisor
from trustspace.demo.show import print_check, print_command


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
    removed_at_end: bool = False

    def check(self, label: str, ok: bool) -> None:
        self.checks.append((label, ok))
        print_check(self.console, "[green]✓[/]" if ok else "[red]✗[/]", label)
        if not ok:
            raise DemoFailure(label)

    def suggest(self, intro: str, words: Sequence[str]) -> None:
        """A command for the reader to run, working as printed (while the working folder exists)."""
        if self.removed_at_end:
            intro += " (the folder is removed at the end: pass --keep to keep it)"
        self.console.print(intro)
        print_command(self.console, words)

    def operator_admin(self) -> KeyClient:
        if self.admin is None:
            raise DemoFailure("the operator is not running yet")
        return self.admin


@dataclass(frozen=True)
class Act:
    title: str
    play: Callable[[DemoContext], None]
