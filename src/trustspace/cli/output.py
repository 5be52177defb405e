"""Console output shared by the commands: Rich for people, ``--json`` for scripts, errors with a next step."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from trustspace.core.errors import TrustSpaceError

console = Console(emoji=False)
err_console = Console(stderr=True, emoji=False)


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def fail(message: str, hint: str | None = None, *, as_json: bool = False, code: int = 1) -> NoReturn:
    if as_json:
        emit_json({"ok": False, "error": message, "hint": hint})
    else:
        # Messages quote remote answers and names people chose: their brackets are text, not Rich markup.
        err_console.print(f"[bold red]error:[/] {escape(message)}")
        if hint:
            err_console.print(f"[yellow]next:[/] {escape(hint)}")
    raise typer.Exit(code)


@contextmanager
def friendly_errors(as_json: bool = False) -> Iterator[None]:
    """Turn our errors into a message and a next step instead of a traceback."""
    try:
        yield
    except TrustSpaceError as exc:
        fail(exc.detail, exc.hint, as_json=as_json)


def run_friendly(func: Callable[[], None], as_json: bool = False) -> None:
    with friendly_errors(as_json):
        func()
