"""The sequencer: gives receipted statements their place in the log, a batch at a time.

One batch is one database transaction that (1) reads the tree size under the sequencer lock, (2) takes up to
``batch_size`` pending rows in arrival order, (3) copies them into the log at the next indices, (4) stores the
tree nodes they complete, (5) deletes the pending rows and (6) stores the new signed checkpoint. A crash at any
point leaves either all of that or none of it, so indices stay contiguous, no entry is logged twice, and
every receipted statement is still pending or already integrated.

The right edge of the tree (``Frontier``) stays in memory between batches; it is reloaded from the stored nodes
whenever the stored size differs from it (at start, after a failed batch, or when another replica sequenced).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from trustspace.core.clock import Clock
from trustspace.ledger.checkpoint import Checkpoint, NoteSigner, sign_checkpoint
from trustspace.operator.ledger.frontier import Frontier
from trustspace.store.ledger.records import PendingLeaf, StoredCheckpoint
from trustspace.store.ledger.sql import Sequencing, SqlLedgerStore

log = logging.getLogger("trustspace.operator.ledger")

# How long a woken sequencer waits for more submissions before it integrates: far below any promised delay.
DEFAULT_GATHER = 0.05
DEFAULT_BATCH_SIZE = 20_000
"""Chosen by measurement (bench/ledger_append.py at 10^6 entries, SQLite, bench/RESULTS.md): each batch pays a
commit and rewrites scattered pages of the leaf-key index however few entries it brings, so larger batches
integrate faster: 5,000 gave ~20,000 entries/s, 20,000 gave ~27,000. Only a backlog fills a batch, and such a
batch holds SQLite's write lock for its ~0.7 s: other writers wait that long while a backlog is caught up."""


class Sequencer:
    def __init__(
        self, store: SqlLedgerStore, signer: NoteSigner, clock: Clock, *,
        batch_size: int = DEFAULT_BATCH_SIZE, interval: float = 0.2, gather: float = DEFAULT_GATHER,
    ) -> None:
        if batch_size < 1 or interval <= 0 or gather < 0:
            raise ValueError("the sequencer needs a positive batch size and interval, and a gather time >= 0")
        self.store, self.signer, self.clock = store, signer, clock
        self.gather = gather
        self.batch_size, self.interval = batch_size, interval
        self.before_commit: Callable[[int], None] | None = None
        """Called inside the batch transaction after every write, with the batch size: a test hook to crash
        a sequencer at its most delicate moment."""
        self._frontier: Frontier | None = None
        self._batch_lock = threading.Lock()  # one batch at a time in this process (thread and manual calls)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ledger-sequencer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None

    def wake(self) -> None:
        """A submission arrived: integrate now instead of at the next interval."""
        self._wake.set()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            # After failures (database down...), back off instead of logging a trace five times a second.
            woken = self._wake.wait(min(30.0, self.interval * 2**failures))
            if woken and self.gather:
                # Let a burst of submissions share one batch: one commit, one checkpoint, one witnessing round.
                self._stop.wait(self.gather)
            self._wake.clear()
            try:
                # Unwoken rounds catch what another replica received; an empty log costs a read, not a write.
                if woken or failures or self.store.backlog().count:
                    self.drain()
                failures = 0
            except Exception:
                # The batch rolled back; the frontier is reloaded next time. Keep the thread alive.
                failures = min(failures + 1, 16)
                log.exception("ledger batch failed; retrying")

    # --- batches --------------------------------------------------------------------------------------------

    def drain(self) -> int:
        """Integrate batches until no full batch is left; return how many entries were integrated."""
        total = 0
        while True:
            seen, integrated = self.integrate_once()
            total += integrated
            if seen < self.batch_size or self._stop.is_set():
                return total

    def integrate_once(self) -> tuple[int, int]:
        """One batch in one transaction: (pending rows taken, entries integrated)."""
        with self._batch_lock:
            with self.store.sequencing() as tx:
                frontier = self._current_frontier(tx)
                pending = tx.pending(self.batch_size)
                grown = self._integrate(tx, frontier, pending) if pending else frontier
            # Only now, after the commit, does the in-memory edge move: a failed batch leaves it as it was.
            self._frontier = grown
            integrated = grown.size - frontier.size
        if integrated:
            log.info("ledger integrated %d entries, tree size %d", integrated, grown.size)
        return len(pending), integrated

    def _current_frontier(self, tx: Sequencing) -> Frontier:
        size = tx.tree_size()
        if self._frontier is not None and self._frontier.size == size:
            return self._frontier
        return Frontier.load(size, tx.nodes)

    def _integrate(self, tx: Sequencing, frontier: Frontier, pending: list[PendingLeaf]) -> Frontier:
        # A submission racing an earlier batch can queue a leaf that is already logged: drop it, never log twice.
        logged = [leaf.id for leaf in pending if leaf.logged]
        if logged:
            tx.drop_pending(logged)
        fresh = [leaf for leaf in pending if not leaf.logged]
        if not fresh:
            return frontier
        grown = frontier.copy()
        nodes = grown.extend(leaf.leaf_hash for leaf in fresh)
        now = self.clock.now()
        tx.append(frontier.size, [leaf.id for leaf in fresh], now)
        tx.add_nodes(nodes)
        tx.add_checkpoint(self._checkpoint(grown, now))
        if self.before_commit is not None:
            self.before_commit(len(fresh))
        return grown

    def _checkpoint(self, frontier: Frontier, now: datetime) -> StoredCheckpoint:
        root = frontier.root()
        note = sign_checkpoint(Checkpoint(self.signer.name, frontier.size, root), self.signer).format()
        return StoredCheckpoint(frontier.size, root, note, now)
