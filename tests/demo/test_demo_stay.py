"""``trustspace demo --stay`` stopped by a signal stops every service it started (issue 10): by SIGTERM, by
SIGHUP, and by SIGTERM when it was started from a script with SIGINT ignored."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

IGNORING_SIGINT = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                   "sys.argv[0] = 'trustspace'; runpy.run_module('trustspace', run_name='__main__')")


def services_of(folder: Path) -> list[str]:
    found = subprocess.run(["pgrep", "-f", str(folder)], capture_output=True, text=True, check=False)
    return found.stdout.split()


def stay_then_signal(folder: Path, prefix: list[str], sig: signal.Signals) -> tuple[int, str]:
    demo = subprocess.Popen([*prefix, "demo", "--stay", "--workdir", str(folder)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert demo.stdout is not None
    seen = ""
    deadline = time.monotonic() + 170
    while "Press Ctrl-C to stop" not in seen and time.monotonic() < deadline:
        line = demo.stdout.readline()
        if not line:
            break
        seen += line
    assert "Press Ctrl-C to stop" in seen, seen
    assert len(services_of(folder)) >= 4  # the operator and three connectors
    demo.send_signal(sig)
    rest, _ = demo.communicate(timeout=60)
    return demo.returncode, seen + rest


@pytest.mark.system
@pytest.mark.parametrize(("prefix", "sig"), [
    ([sys.executable, "-m", "trustspace"], signal.SIGTERM),
    ([sys.executable, "-c", IGNORING_SIGINT], signal.SIGTERM),
    ([sys.executable, "-c", IGNORING_SIGINT], signal.SIGHUP),
], ids=["sigterm", "sigterm-with-sigint-ignored", "sighup-with-sigint-ignored"])
def test_demo_stay_stopped_by_a_signal_stops_every_service(tmp_path: Path, prefix: list[str],
                                                           sig: signal.Signals) -> None:
    folder = tmp_path / "space"
    code, output = stay_then_signal(folder, prefix, sig)
    assert code == 128 + sig, output
    assert f"{sig.name} received; stopping every service" in output
    assert services_of(folder) == [], "the demo left services running"
