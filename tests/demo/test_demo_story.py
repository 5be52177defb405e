"""The whole demo, as a user runs it: separate processes on 127.0.0.1, exit code 0 only if every step
succeeded, no process left behind; piped, it fits 80 columns, counts the checks it shows, and the commands
it prints run as printed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from trustspace.demo.show import fold


def printed_commands(output: str) -> list[str]:
    commands, current = [], ""
    for line in output.splitlines():
        if line.startswith("  $ "):
            current = line[4:]
        elif current and line.startswith("      "):
            current += "\n" + line
        else:
            if current:
                commands.append(current)
            current = ""
            continue
        if not current.endswith("\\"):
            commands.append(current)
            current = ""
    return commands


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A folder as short as the demo's own temporary one, so printed paths are as long as a user sees them."""
    folder = Path(tempfile.mkdtemp(prefix="ts-demo-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.system
def test_demo_plays_and_cleans_up(tmp_path: Path) -> None:
    # the user's environment: the demo's own data roots, the console's own width
    unset = ("COLUMNS", "LINES", "TRUSTSPACE_DATA_ROOTS")
    result = subprocess.run(
        [sys.executable, "-m", "trustspace", "demo", "--workdir", str(tmp_path / "space")],
        capture_output=True, text=True, timeout=180, check=False,
        env={name: value for name, value in os.environ.items() if name not in unset},
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "credential-revoked" in out
    leftover = subprocess.run(["pgrep", "-f", str(tmp_path / "space")], capture_output=True, text=True, check=False)
    assert leftover.stdout.strip() == "", "the demo left processes running"
    for name in ("operator", "tax", "bank", "grid"):
        log = (tmp_path / "space" / "logs" / f"{name}.log").read_text()
        assert "Traceback" not in log, log

    too_wide = [line for line in out.splitlines() if len(line) > 80]
    assert too_wide == []
    shown = re.search(r"all (\d+) checks passed", out)
    assert shown is not None and int(shown.group(1)) == out.count("✓")

    commands = printed_commands(out)
    assert len(commands) == 4, out
    for command in commands:
        ran = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60, check=False)
        assert ran.returncode == 0, command + "\n" + ran.stdout + ran.stderr


def test_a_long_command_is_folded_for_a_shell() -> None:
    lines = fold(["trustspace", "ledger", "verify", "/a/" + "x" * 40 + ".json", "--log-key", "it's"])
    assert all(len(line) <= 80 for line in lines)
    assert lines[0].startswith("  $ trustspace") and lines[-1].endswith("'it'\"'\"'s'")
    assert all(line.endswith(" \\") for line in lines[:-1])
