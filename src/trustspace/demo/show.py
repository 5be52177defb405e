"""How the demo prints for a person: at most 80 columns when piped, and commands that run as shown.

A command is printed as ``$ ...`` lines folded with shell continuations, never wrapped by the console, so
it can be pasted into a shell as it stands; it names the ``trustspace`` executable by the path that runs
it here (``.venv/bin/trustspace`` from the project folder), since a fresh machine has none on its PATH.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

WIDTH = 80
_INDENT, _CONTINUED = "  $ ", "      "


def executable() -> str:
    """The ``trustspace`` command that runs this process, relative to the current folder when inside it."""
    launched = Path(sys.argv[0])
    found = launched if launched.name == "trustspace" and launched.exists() else Path(sys.executable).with_name(
        "trustspace")
    if not found.exists():
        return "trustspace"
    absolute = found.absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


class Shell(str):
    """A word that is shell syntax already (``NAME="$(cat FILE)"``), printed as it is."""


def fold(words: Sequence[str], width: int = WIDTH) -> list[str]:
    """``words`` quoted for a POSIX shell, as lines of at most ``width`` columns joined by `` \\``
    (a single word longer than a line stays whole: it cannot be split)."""
    lines: list[str] = []
    current = _INDENT
    for word in (w if isinstance(w, Shell) else shlex.quote(w) for w in words):
        fresh = current in (_INDENT, _CONTINUED)
        if not fresh and len(current) + 1 + len(word) + 2 > width:
            lines.append(current + " \\")
            current = _CONTINUED
            fresh = True
        current += word if fresh else " " + word
    lines.append(current)
    return lines


def print_command(console: Console, words: Sequence[str]) -> None:
    for line in fold(words, min(WIDTH, console.width)):
        console.print(line, highlight=False, soft_wrap=True, markup=False)


def print_check(console: Console, mark: str, label: str) -> None:
    """A check's mark, then its label wrapped under itself rather than under the mark."""
    row = Table.grid(padding=(0, 1))
    row.add_column(width=3, justify="right")
    row.add_column(overflow="fold")
    row.add_row(Text.from_markup(mark), Text(label))
    console.print(row)


def from_file(name: str, file: Path) -> Shell:
    """``NAME="$(cat FILE)"``: a value too long for one line, read from the file the demo wrote it to."""
    return Shell(f'{name}="$(cat {shlex.quote(str(file))})"')
