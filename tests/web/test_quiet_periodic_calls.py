"""A service's log is not a line per heartbeat, witness poll or probe (issue 15, finding 13): those go to DEBUG;
every other request, and any refused periodic one, keeps its access line at INFO."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from simulator import operator


def access_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "trustspace.access"]


def test_periodic_calls_log_at_debug_and_others_at_info(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with operator(tmp_path / "operator") as running:
        caplog.set_level(logging.DEBUG, logger="trustspace.access")
        for path in ("/healthz", "/v1/ledger/checkpoint", "/v1/ledger/checkpoints/latest.json", "/v1/trust-list"):
            assert running.client.get(path).status_code == 200
        lines = access_lines(caplog)
    assert [level for level, text in lines if "/v1/trust-list" in text] == [logging.INFO]
    assert all(level == logging.DEBUG for level, text in lines if "/v1/trust-list" not in text)
    assert len(lines) == 4
