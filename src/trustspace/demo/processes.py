"""Start services as separate processes on free ports, wait until ready, and always stop them."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from trustspace.core.errors import CallerError


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    name: str
    url: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Supervisor:
    """Owns every process the demo starts. ``stop_all`` is safe to call more than once."""

    workdir: Path
    services: list[Service] = field(default_factory=list)

    def start(self, name: str, url: str, args: list[str], env: dict[str, str] | None = None) -> Service:
        log_path = self.workdir / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
                [sys.executable, "-m", "trustspace", *args], stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, env={**os.environ, **(env or {})},
            )
        service = Service(name, url, log_path, process)
        self.services.append(service)
        return service

    def wait_ready(self, service: Service, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                raise CallerError(f"{service.name} exited with code {service.process.returncode}:\n"
                                  f"{service.log_tail()}", hint=f"see {service.log_path}")
            try:
                if httpx.get(f"{service.url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise CallerError(f"{service.name} was not ready after {timeout:.0f} s", hint=f"see {service.log_path}")

    def stop_all(self) -> None:
        for service in reversed(self.services):
            _signal(service.process, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for service in self.services:
            try:
                service.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal(service.process, signal.SIGKILL)
                service.process.wait()
        self.services.clear()


def _signal(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
