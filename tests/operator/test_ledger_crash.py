"""A sequencer killed with SIGKILL in the middle of a batch (after its inserts, before its commit) loses
nothing and duplicates nothing: on restart the log has no gap, the killed batch left no trace, and every
receipted entry is integrated within the delay the receipts promise.

The sequencer runs in a child process: this file, run as a script with the database URL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import test_ledger_store
from test_ledger_store import SIGNER, T0, assert_log_is, queue

from trustspace.core.clock import FixedClock
from trustspace.operator.ledger.sequencer import Sequencer
from trustspace.store.db import open_database
from trustspace.store.ledger.sql import SqlLedgerStore

BATCH = 200
durable_url = test_ledger_store.durable_url  # the fixture: SQLite in a file, and PostgreSQL
MAX_DELAY = 5.0  # the default ``ledger_max_delay`` the receipts promise


def child(url: str) -> None:
    """Commit one batch, then stop dead inside the second one, with its rows written but not committed."""
    store = SqlLedgerStore(open_database("operator", url))
    running = Sequencer(store, SIGNER, FixedClock(T0), batch_size=BATCH)
    running.integrate_once()

    def hang(count: int) -> None:
        print(f"inside batch of {count}", flush=True)
        time.sleep(600)  # the parent kills us here

    running.before_commit = hang
    running.integrate_once()


@pytest.mark.timeout(60)
def test_sigkill_in_the_middle_of_a_batch_loses_and_duplicates_nothing(durable_url: str) -> None:
    db = open_database("operator", durable_url)
    store = SqlLedgerStore(db)
    receipted = queue(store, 3 * BATCH + 17)
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    process = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), durable_url], stdout=subprocess.PIPE, text=True,
        cwd=tests_dir, start_new_session=True, env={**os.environ, "PYTHONPATH": tests_dir})
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == f"inside batch of {BATCH}"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    assert store.tree_size() == BATCH, "the first batch committed, the killed one left no checkpoint"
    assert store.entry(BATCH) is None and store.backlog().count == 2 * BATCH + 17

    restarted = Sequencer(store, SIGNER, FixedClock(T0), batch_size=BATCH, interval=0.2)
    started = time.monotonic()
    restarted.start()
    try:
        while store.tree_size() < len(receipted) and time.monotonic() - started < MAX_DELAY:
            time.sleep(0.05)
        elapsed = time.monotonic() - started
    finally:
        restarted.stop()
    assert elapsed < MAX_DELAY, f"the backlog took {elapsed:.1f} s, more than the promised {MAX_DELAY} s"
    assert_log_is(store, receipted)  # indices 0..n-1, each receipted leaf once, in arrival order
    assert store.backlog().count == 0
    db.dispose()


if __name__ == "__main__":
    child(sys.argv[1])
