"""The demo's frame: a working folder, the processes, signals, and the acts it is given, in order."""

from __future__ import annotations

import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from trustspace.core.errors import TrustSpaceError
from trustspace.demo.context import Act, DemoContext, DemoFailure
from trustspace.demo.processes import Supervisor


class Stopped(BaseException):  # like KeyboardInterrupt: no broad `except Exception` may swallow it
    """SIGTERM or SIGHUP arrived: every service is stopped before the demo exits."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def stopped_by_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into ``Stopped`` while the demo runs. The services run in sessions of their own
    (a terminal's Ctrl-C must not kill them half-way), so without this a killed demo would leave them running;
    it works whether or not SIGINT is ignored (a script may start the demo with SIGINT ignored)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: object) -> None:
        raise Stopped(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_demo(acts: Sequence[Act], *, stay: bool, workdir: Path | None, console: Console | None = None,
             keep: bool = False) -> int:
    """Play ``acts`` in order; a temporary working folder is removed after a successful run unless ``keep`` or
    ``stay`` (a failed run keeps it: its logs say what went wrong)."""
    console = console or Console(emoji=False)
    folder = workdir or Path(tempfile.mkdtemp(prefix="trustspace-demo-"))
    code = _run(acts, stay, folder, console, removed_at_end=workdir is None and not (stay or keep))
    if workdir is None and code == 0 and not (stay or keep):
        shutil.rmtree(folder, ignore_errors=True)
        console.print("working folder removed (pass --keep to keep it)")
    return code


def _run(acts: Sequence[Act], stay: bool, folder: Path, console: Console, *, removed_at_end: bool) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    context = DemoContext(folder, Supervisor(folder), console, removed_at_end=removed_at_end)
    console.print(Rule("[bold]TrustSpace demo[/] — a trusted data space on this machine (demo keys, not for "
                       "production)"))
    console.print(f"working folder: {folder}", highlight=False, soft_wrap=True)
    started = time.monotonic()
    try:
        with stopped_by_signals():
            return _play(context, acts, stay, started)
    except Stopped as exc:
        console.print(f"{exc} received; stopping every service")
        return 128 + exc.signum
    finally:
        context.supervisor.stop_all()


def _play(context: DemoContext, acts: Sequence[Act], stay: bool, started: float) -> int:
    console = context.console
    folder = context.workdir
    try:
        for number, act in enumerate(acts, start=1):
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
        console.print(f"logs of every service are in {folder / 'logs'}", soft_wrap=True)
        return 1
    except KeyboardInterrupt:
        console.print("interrupted; stopping every service")
        return 130


def _stay(context: DemoContext) -> None:
    context.console.print("The space keeps running. Services:")
    for service in context.supervisor.services:
        context.console.print(f"  {service.name:10} {service.url}/docs  (OpenAPI)", highlight=False)
    context.console.print(f"administrator key: {context.workdir / 'operator' / 'admin-api-key'}", soft_wrap=True)
    context.console.print("Press Ctrl-C to stop.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        context.console.print("stopping every service")
