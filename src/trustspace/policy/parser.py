"""JSON-LD in the Dataspace Protocol's compact form -> the model, refusing what is not a valid policy.

Keys are the compact ODRL terms of the DSP context (``permission``, ``leftOperand``...; ``odrl:``-prefixed keys
are read too). Names may be bare, prefixed or full IRIs (``vocabulary.split_name``). Policy-level assigner,
assignee and target apply to every rule that does not name its own (ODRL 2.2 policy rule composition).
"""

from __future__ import annotations

from typing import Any

from trustspace.policy.decide import prepare
from trustspace.policy.errors import PolicyInvalid
from trustspace.policy.model import (
    Action,
    AnyConstraint,
    Asset,
    Conflict,
    Constraint,
    Duty,
    Logic,
    LogicalConstraint,
    Party,
    Permission,
    Policy,
    PolicyType,
    Prohibition,
)
from trustspace.policy.validate import validate
from trustspace.policy.values import parse_right, parse_unit, scale
from trustspace.policy.vocabulary import (
    ACTION_ALIASES,
    ACTIONS,
    LEFT_OPERANDS,
    ODRL_UNSUPPORTED_OPERANDS,
    OPERAND_ALIASES,
    Kind,
    Operator,
    split_name,
)


def _get(node: dict[str, Any], name: str) -> tuple[str, Any]:
    for key in (name, f"odrl:{name}"):
        if key in node:
            return key, node[key]
    return name, None


def _items(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _name(value: Any) -> Any:
    if isinstance(value, dict):
        return value.get("@id", value.get("@value"))
    return value


def _uid(node: dict[str, Any]) -> str | None:
    value = node.get("@id", _get(node, "uid")[1])
    return str(_name(value)) if value is not None else None


def _object(value: Any, pointer: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PolicyInvalid("malformed-policy", pointer, f"a {what} is a JSON object")
    return value


def _left(raw: Any, pointer: str) -> str:
    text = _name(raw)
    if not isinstance(text, str) or not text:
        raise PolicyInvalid("missing-left-operand", pointer, "a constraint needs a leftOperand")
    prefix, name = split_name(text)
    name = OPERAND_ALIASES.get(name, name)
    term = LEFT_OPERANDS.get(name)
    if term is not None and (prefix is None or prefix in term.vocabularies):
        return name
    if name in ODRL_UNSUPPORTED_OPERANDS and prefix in (None, "odrl"):
        raise PolicyInvalid("unsupported-left-operand", pointer, f"ODRL's {name!r} is not observable by this "
                            "decision point; a policy using it could never be honoured",
                            hint="see docs/usage-control.md for the supported left operands")
    hint = f"did you mean {sorted(term.vocabularies)[0]}:{name}?" if term else \
        "see docs/usage-control.md for the ODRL and TC609 left operands"
    raise PolicyInvalid("unknown-left-operand", pointer, f"unknown left operand {text!r}", hint=hint)


def _operator(raw: Any, pointer: str) -> Operator:
    text = _name(raw)
    prefix, name = split_name(str(text)) if isinstance(text, str) else (None, "")
    try:
        if prefix not in (None, "odrl"):
            raise ValueError(name)
        return Operator(name)
    except ValueError:
        raise PolicyInvalid("unknown-operator", pointer, f"unknown operator {text!r}",
                            hint="one of " + ", ".join(o.value for o in Operator)) from None


# Logical constraints nest; past this depth a policy is refused rather than allowed to exhaust the stack.
MAX_DEPTH = 16


def _constraint(node: Any, pointer: str, depth: int = 0) -> AnyConstraint:
    node = _object(node, pointer, "constraint")
    if depth > MAX_DEPTH:
        raise PolicyInvalid("malformed-constraint", pointer, f"logical constraints nest deeper than {MAX_DEPTH}")
    for logic in Logic:
        key, children = _get(node, logic.value)
        if children is not None:
            items = _items(children)
            if not items:
                raise PolicyInvalid("malformed-constraint", f"{pointer}/{key}", f"{logic.value} needs constraints")
            return LogicalConstraint(logic, tuple(_constraint(c, f"{pointer}/{key}/{i}", depth + 1)
                                                  for i, c in enumerate(items)), pointer, _uid(node))
    left_key, left_raw = _get(node, "leftOperand")
    left = _left(left_raw, f"{pointer}/{left_key}")
    op_key, op_raw = _get(node, "operator")
    operator = _operator(op_raw, f"{pointer}/{op_key}")
    term = LEFT_OPERANDS[left]
    if operator not in term.operators:
        raise PolicyInvalid("operator-not-applicable", f"{pointer}/{op_key}", f"{operator.value} does not apply "
                            f"to {left}", hint="use one of " + ", ".join(sorted(o.value for o in term.operators)))
    right_key, right_raw = _get(node, "rightOperand")
    if right_raw is None:
        raise PolicyInvalid("missing-right-operand", f"{pointer}/{right_key}", f"{left} needs a rightOperand")
    value = parse_right(term, operator, right_raw, f"{pointer}/{right_key}")
    if term.kind is Kind.NETWORK and operator in (Operator.EQ, Operator.NEQ) and \
            value.prefixlen != value.max_prefixlen:
        raise PolicyInvalid("wrong-value-type", f"{pointer}/{right_key}", f"{operator.value} takes one address, "
                            f"not the network {value}", hint="use isPartOf for a network")
    unit_key, unit_raw = _get(node, "unit")
    unit = parse_unit(term, unit_raw, f"{pointer}/{unit_key}")
    return Constraint(left, operator, scale(term, unit, value), right_raw, pointer, unit, _uid(node))


def _constraints(node: dict[str, Any], name: str, pointer: str) -> tuple[AnyConstraint, ...]:
    key, raw = _get(node, name)
    return tuple(_constraint(c, f"{pointer}/{key}/{i}") for i, c in enumerate(_items(raw)))


def _action(raw: Any, pointer: str) -> Action:
    if isinstance(raw, list):
        if len(raw) != 1:
            raise PolicyInvalid("malformed-rule", pointer, "a rule has exactly one action")
        return _action(raw[0], f"{pointer}/0")
    refinements: tuple[AnyConstraint, ...] = ()
    text = raw
    if isinstance(raw, dict):
        text = _name(raw.get("rdf:value", raw.get("value", raw.get("action", raw))))
        refinements = _constraints(raw, "refinement", pointer)
    if not isinstance(text, str) or not text:
        raise PolicyInvalid("unknown-action", pointer, f"the action {raw!r} is not a name")
    prefix, name = split_name(text)
    name = ACTION_ALIASES.get(name, name)
    term = ACTIONS.get(name)
    if term is None or (prefix is not None and prefix not in term.vocabularies):
        raise PolicyInvalid("unknown-action", pointer, f"unknown action {text!r}",
                            hint="see docs/usage-control.md for the ODRL and TC609 actions")
    return Action(name, refinements, pointer)


def _identified(raw: Any, pointer: str, what: str) -> tuple[str, bool, tuple[AnyConstraint, ...]]:
    """A party or asset: an identifier, or an object naming one (a collection may carry refinements)."""
    if isinstance(raw, dict):
        kind = split_name(str(raw.get("@type", "")))[1]
        uid = _name(raw.get("@id", raw.get("uid", raw.get("source"))))
        if not isinstance(uid, str) or not uid:
            raise PolicyInvalid("malformed-policy", pointer, f"the {what} names no @id, uid or source")
        return uid, kind.endswith("Collection"), _constraints(raw, "refinement", pointer)
    if not isinstance(raw, str) or not raw:
        raise PolicyInvalid("malformed-policy", pointer, f"the {what} is an identifier or an object naming one")
    return raw, False, ()


def _party(raw: Any, pointer: str, inherited: Party | None) -> Party | None:
    return inherited if raw is None else Party(*_identified(raw, pointer, "party"))


def _asset(raw: Any, pointer: str, inherited: Asset | None) -> Asset | None:
    return inherited if raw is None else Asset(*_identified(raw, pointer, "target"))


class _Reader:
    """Carries the policy-level parties and target down to the rules."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.assigner = _party(_get(root, "assigner")[1], "/assigner", None)
        self.assignee = _party(_get(root, "assignee")[1], "/assignee", None)
        self.target = _asset(_get(root, "target")[1], "/target", None)

    def common(self, node: dict[str, Any], pointer: str) -> dict[str, Any]:
        key, raw = _get(node, "action")
        return {"action": _action(raw, f"{pointer}/{key}") if raw is not None else None, "pointer": pointer,
                "uid": _uid(node), "constraints": _constraints(node, "constraint", pointer),
                "target": _asset(_get(node, "target")[1], f"{pointer}/target", self.target),
                "assignee": _party(_get(node, "assignee")[1], f"{pointer}/assignee", self.assignee),
                "assigner": _party(_get(node, "assigner")[1], f"{pointer}/assigner", self.assigner)}

    def duty(self, node: Any, pointer: str) -> Duty:
        node = _object(node, pointer, "duty")
        fields = self.common(node, pointer)
        if fields["action"] is None:
            raise PolicyInvalid("duty-without-action", f"{pointer}/action", "a duty must say what is to be done")
        key, raw = _get(node, "consequence")
        return Duty(**fields, consequences=tuple(self.duty(c, f"{pointer}/{key}/{i}")
                                                 for i, c in enumerate(_items(raw))))

    def duties(self, node: dict[str, Any], name: str, pointer: str) -> tuple[Duty, ...]:
        key, raw = _get(node, name)
        return tuple(self.duty(d, f"{pointer}/{key}/{i}") for i, d in enumerate(_items(raw)))

    def rule(self, node: Any, pointer: str, kind: str) -> dict[str, Any]:
        node = _object(node, pointer, kind)
        fields = self.common(node, pointer)
        if fields["action"] is None:
            # ODRL 2.2 §2.6: "A Rule MUST have one action property value of type Action"
            raise PolicyInvalid("rule-without-action", f"{pointer}/action", f"a {kind} must name its action")
        return fields


def _enum(root: dict[str, Any], name: str, kind: type[PolicyType] | type[Conflict], default: Any) -> Any:
    key, raw = _get(root, name)
    if raw is None:
        return default
    text = split_name(str(_name(raw)))[1]
    try:
        return kind(text)
    except ValueError:
        raise PolicyInvalid(f"unknown-{name.strip('@')}", f"/{key}", f"unknown {name.strip('@')} {raw!r}",
                            hint="one of " + ", ".join(k.value for k in kind)) from None


def read_policy(root: Any) -> Policy:
    """Parse without the cross-rule checks of ``validate``; ``parse_policy`` is what callers want."""
    root = _object(root, "", "policy")
    reader = _Reader(root)
    kind = PolicyType.SET if split_name(str(root.get("@type", "Set")))[1] == "Policy" else \
        _enum(root, "@type", PolicyType, PolicyType.SET)
    perm_key, perms = _get(root, "permission")
    prohib_key, prohibs = _get(root, "prohibition")
    profiles = tuple(str(_name(p)) for p in _items(_get(root, "profile")[1]))
    return Policy(
        uid=_uid(root), type=kind, conflict=_enum(root, "conflict", Conflict, Conflict.INVALID), profiles=profiles,
        permissions=tuple(Permission(**reader.rule(p, f"/{perm_key}/{i}", "permission"),
                                     duties=reader.duties(p, "duty", f"/{perm_key}/{i}"))
                          for i, p in enumerate(_items(perms))),
        prohibitions=tuple(Prohibition(**reader.rule(p, f"/{prohib_key}/{i}", "prohibition"),
                                       remedies=reader.duties(p, "remedy", f"/{prohib_key}/{i}"))
                           for i, p in enumerate(_items(prohibs))),
        obligations=reader.duties(root, "obligation", ""),
        assigner=reader.assigner, assignee=reader.assignee, target=reader.target)


def parse_policy(root: Any) -> Policy:
    """The policy, or ``PolicyInvalid`` naming the rule broken and the JSON pointer of the field."""
    policy = read_policy(root)
    validate(policy)
    return prepare(policy)  # compiled now: creating a policy pays for it, deciding does not
