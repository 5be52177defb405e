"""Usage policies (使用控制策略): the ODRL 2.2 model with the TC609 profile, validation and the decision point.

Pure: no I/O, no store. ``parse_policy`` reads the DSP's compact JSON-LD and refuses an invalid policy with
``PolicyInvalid``; ``evaluate`` decides a ``Request`` against it and explains why, in English and Chinese.
"""

from __future__ import annotations

from trustspace.policy.decide import Decision, Outcome, evaluate
from trustspace.policy.errors import PolicyInvalid
from trustspace.policy.model import Conflict, Policy, PolicyType
from trustspace.policy.parser import parse_policy
from trustspace.policy.request import Context, DutyState, Request, Usage, request_from_json

__all__ = ["Conflict", "Context", "Decision", "DutyState", "Outcome", "Policy", "PolicyInvalid", "PolicyType",
           "Request", "Usage", "evaluate", "parse_policy", "request_from_json"]
