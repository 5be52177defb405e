"""Fixtures of the management-command tests (``manage_space.py`` has the space they run against)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from manage_space import Space, start_space


@pytest.fixture
def wide() -> Iterator[None]:
    """Tables as wide as a maximised terminal's, so a test finds each cell's text in one piece."""
    from trustspace.cli.output import console, err_console

    widths = console.width, err_console.width
    console.width = err_console.width = 250
    yield
    console.width, err_console.width = widths


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Space]:
    """An operator with a provider and a consumer connector, neither a member yet."""
    with ExitStack() as stack:
        yield start_space(tmp_path_factory.mktemp("space"), ("provider", "consumer"), stack)


@pytest.fixture(scope="module")
def members(space: Space) -> Space:
    """The same space once both connectors have joined it."""
    for seed, name in enumerate(space.connectors, start=1):
        space.join(name, seed)
    return space
