"""The whole demo, as a user runs it: separate processes on 127.0.0.1, exit code 0 only if every step
succeeded, and no process left behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.system
def test_demo_plays_and_cleans_up(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "trustspace", "demo", "--workdir", str(tmp_path / "space")],
        capture_output=True, text=True, timeout=180, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "checks passed" in result.stdout
    assert "credential-revoked" in result.stdout
    leftover = subprocess.run(["pgrep", "-f", str(tmp_path / "space")], capture_output=True, text=True, check=False)
    assert leftover.stdout.strip() == "", "the demo left processes running"
    for name in ("operator", "tax", "bank", "grid"):
        log = (tmp_path / "space" / "logs" / f"{name}.log").read_text()
        assert "Traceback" not in log, log
