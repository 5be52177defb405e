"""The one error a policy is refused with: which rule it breaks and where (a JSON pointer into the policy)."""

from __future__ import annotations

from trustspace.core.errors import ValidationFailed


class PolicyInvalid(ValidationFailed):
    """A policy that may not be stored: RFC 9457 problem+json, ``field`` is the JSON pointer of the fault."""

    slug = "policy-invalid"
    title = "The policy is not valid"

    def __init__(self, rule: str, pointer: str, detail: str, *, hint: str | None = None) -> None:
        super().__init__(f"{rule} at {pointer or '/'}: {detail}", field=pointer or "/", hint=hint)
        self.rule = rule
        self.pointer = pointer or "/"
        self.reason = detail

    def under(self, prefix: str) -> PolicyInvalid:
        """The same refusal for a policy found at ``prefix`` of a larger document (``/policy`` of a body)."""
        return PolicyInvalid(self.rule, prefix + ("" if self.pointer == "/" else self.pointer), self.reason,
                             hint=self.hint)
