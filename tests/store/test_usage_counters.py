"""The provider's usage counters: decide-and-count in one locked transaction, on every backend."""

from __future__ import annotations

import multiprocessing
import os
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from dsp_factories import run_together

from trustspace.store.db import open_database
from trustspace.store.usage.counter_records import Access, UsageTotals
from trustspace.store.usage.counter_sql import Decide, SqlUsageCounters

if TYPE_CHECKING:  # tests are not a package; pytest loads this folder's conftest for the fixtures
    from conftest import Backend

T0 = datetime(2026, 5, 4, 10, 30, 15, tzinfo=UTC)


def at_most(limit: int) -> Decide:
    return lambda totals, continuation: continuation or totals.uses + 1 <= limit


def access(seconds: float = 0, **more: Any) -> Access:
    values: dict[str, Any] = {"agreement_id": "agr-1", "transfer_id": "t-1", "at": T0 + timedelta(seconds=seconds)}
    return Access(**{**values, **more})


def test_counts_uses_bytes_and_records(backend: Backend) -> None:
    counters = SqlUsageCounters(backend.open("connector"))
    first = counters.use(access(size=100, records=3), at_most(5))
    assert first.permitted and first.added and first.totals == UsageTotals()
    second = counters.use(access(1, size=50, records=2), at_most(5))
    assert second.totals == UsageTotals(1, 100, 3, 1, 1, 1)
    assert counters.totals("agr-1") == UsageTotals(2, 150, 5, 2, 2, 2)
    assert counters.totals("agr-other") == UsageTotals()


def test_frequency_windows_are_calendar_buckets(backend: Backend) -> None:
    counters = SqlUsageCounters(backend.open("connector"))
    counters.use(access(), at_most(99))
    seen: list[UsageTotals] = []

    def record(totals: UsageTotals, _continuation: bool) -> bool:
        seen.append(totals)
        return True

    counters.use(access(50), record)  # 10:31:05: a new minute, the same hour and day
    counters.use(access(3600), record)  # 11:30:15: a new hour
    counters.use(access(86400), record)  # the next day
    assert [(t.per_minute, t.per_hour, t.per_day) for t in seen] == [(0, 1, 1), (0, 0, 2), (0, 0, 0)]
    assert seen[-1].uses == 3


def test_a_deny_counts_nothing(backend: Backend) -> None:
    counters = SqlUsageCounters(backend.open("connector"))
    for n in range(3):
        counters.use(access(n, size=10), at_most(2))
    denied = counters.use(access(5, size=10), at_most(2))
    assert not denied.permitted and not denied.added
    assert counters.totals("agr-1").uses == 2 and counters.totals("agr-1").bytes == 20


def test_an_uncounted_access_is_decided_but_not_added(backend: Backend) -> None:
    counters = SqlUsageCounters(backend.open("connector"))
    outcome = counters.use(access(counted=False), at_most(1))
    assert outcome.permitted and not outcome.added and counters.totals("agr-1").uses == 0


def test_a_range_continuing_a_counted_download_is_not_a_new_use(backend: Backend) -> None:
    counters = SqlUsageCounters(backend.open("connector"))
    assert counters.use(access(size=1000, validator='"v1"'), at_most(1)).added
    resumed = counters.use(access(1, size=600, validator='"v1"', start=400), at_most(1))
    assert resumed.permitted and resumed.continuation and not resumed.added
    # Going back to a start already served, another version, or another transfer: a new use, over the count.
    for again in (access(2, validator='"v1"', start=400), access(2, validator='"v2"', start=700),
                  access(2, validator='"v1"', start=700, transfer_id="t-2")):
        outcome = counters.use(again, at_most(1))
        assert not outcome.continuation and not outcome.permitted
    assert counters.totals("agr-1").uses == 1


def test_an_error_while_deciding_rolls_back(backend: Backend) -> None:
    counters = SqlUsageCounters(backend.open("connector"))

    def broken(_totals: UsageTotals, _continuation: bool) -> bool:
        raise RuntimeError("decision point down")

    with pytest.raises(RuntimeError):
        counters.use(access(), broken)
    assert counters.totals("agr-1").uses == 0


def test_100_parallel_reads_against_a_count_of_10_give_exactly_10(durable_backend: Backend) -> None:
    counters = SqlUsageCounters(durable_backend.open("connector"))
    results = run_together(100, lambda n: counters.use(access(n / 1000, size=1), at_most(10)))
    permitted = [r for r in results if not isinstance(r, Exception) and r.permitted]
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len(permitted) == 10
    # Each permit was decided with a different count so far: no two saw the same total.
    assert sorted(r.totals.uses for r in permitted) == list(range(10))
    assert counters.totals("agr-1") == UsageTotals(10, 10, 0, 10, 10, 10)


def test_two_replicas_share_one_count(durable_backend: Backend) -> None:
    url = durable_backend.new_url()
    one = SqlUsageCounters(durable_backend.open("connector", url))
    two = SqlUsageCounters(durable_backend.open("connector", url))
    results = run_together(40, lambda n: (one if n % 2 else two).use(access(), at_most(7)))
    assert sum(1 for r in results if not isinstance(r, Exception) and r.permitted) == 7


def _count_then_die(url: str) -> None:
    counters = SqlUsageCounters(open_database("connector", url))
    counters.use(access(), at_most(1))
    os._exit(17)  # killed after the count, before anything is served


def test_a_crash_after_the_count_never_grants_an_extra_use(durable_backend: Backend) -> None:
    url = durable_backend.new_url()
    counters = SqlUsageCounters(durable_backend.open("connector", url))
    child = multiprocessing.get_context("spawn").Process(target=_count_then_die, args=(url,))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 17
    assert counters.totals("agr-1").uses == 1
    assert not counters.use(access(1), at_most(1)).permitted
