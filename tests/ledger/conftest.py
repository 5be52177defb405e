"""Fixtures of the ledger tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from ledger_fakes import FakeLog, entries

from trustspace.core.keys import SigningKey


@pytest.fixture
def make_log() -> Callable[..., FakeLog]:
    def make(origin: str = "ledger.example/log", count: int = 0) -> FakeLog:
        return FakeLog(origin, SigningKey.from_seed(bytes(32))).append(*entries("entry", count))

    return make
