"""The two parts a participant plays in the Dataspace Protocol."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """Who plays which part in one negotiation or transfer; a participant may be either in different ones."""

    PROVIDER = "provider"
    CONSUMER = "consumer"

    @property
    def other(self) -> Role:
        """The counter-party's role: every DSP exchange has exactly these two parts."""
        return Role.CONSUMER if self is Role.PROVIDER else Role.PROVIDER
