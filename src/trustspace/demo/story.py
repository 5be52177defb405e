"""The story ``trustspace demo`` plays: its acts, in order. Later issues append theirs here."""

from __future__ import annotations

from trustspace.demo import act_evidence, act_exchange, act_membership, act_usage
from trustspace.demo.context import Act

ACTS: tuple[Act, ...] = (act_membership.ACT, act_exchange.ACT, act_evidence.ACT, act_usage.ACT)
