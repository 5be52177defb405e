"""Policy templates (策略模板) the operator offers, after TC609-6-2025-01 §5.2.2.5 a).

The text lists what the templates must cover "including but not limited to": the data product's content, its
delivery connector, its using connector, its user, the operations, the number of uses, the duration of use,
the visible scope, the usable scope, notification on use, and destruction after use. Each is a parameterised
ODRL policy of the TC609 profile: its parameters are checked first (a fault names ``/parameters/<name>``),
then the filled-in policy goes through the same validation as any policy a connector stores, so a template can
never hand out a policy a connector would refuse.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from trustspace.core.errors import NotFound, ValidationFailed
from trustspace.policy import PolicyInvalid, parse_policy
from trustspace.policy.vocabulary import ACTIONS

Filled = dict[str, Any]


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: str  # "text", "texts", "did", "count", "dateTime", "networks", "codes", "actions"
    en: str
    zh: str
    example: Any
    required: bool = True


@dataclass(frozen=True)
class Template:
    id: str
    en: str
    zh: str
    parameters: tuple[Parameter, ...]
    build: Callable[[Mapping[str, Any]], Filled]

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.en, "titleZh": self.zh, "parameters": [
            {"name": p.name, "type": p.kind, "required": p.required, "description": p.en, "descriptionZh": p.zh,
             "example": p.example} for p in self.parameters]}


def _set(*rules: Filled, prohibitions: tuple[Filled, ...] = (), obligations: tuple[Filled, ...] = ()) -> Filled:
    policy: Filled = {"@context": "http://www.w3.org/ns/odrl.jsonld", "@type": "Set", "permission": list(rules)}
    if prohibitions:
        policy["prohibition"] = list(prohibitions)
    if obligations:
        policy["obligation"] = list(obligations)
    return policy


def _use(*constraints: Filled, action: str = "use", **more: Any) -> Filled:
    rule: Filled = {"action": action, **more}
    if constraints:
        rule["constraint"] = list(constraints)
    return rule


def _c(left: str, operator: str, right: Any, **more: Any) -> Filled:
    return {"leftOperand": left, "operator": operator, "rightOperand": right, **more}


def _duty(action: str) -> Filled:
    return {"action": action}


TEXT, TEXTS, DID, COUNT, DATETIME, NETWORKS, CODES, ACTION_LIST = (
    "text", "texts", "did", "count", "dateTime", "networks", "codes", "actions")

TEMPLATES: tuple[Template, ...] = (
    Template("content", "Limit the data product's content", "限定数据产品内容", (
        Parameter("target", TEXT, "the dataset (asset id) the policy is for", "数据产品标识", "tax-records"),
        Parameter("rows", TEXT, "a filter on the rows that may be used", "可使用的数据行条件", "year >= 2024"),
    ), lambda p: _set(_use(_c("valueExpression", "eq", p["rows"]), target=p["target"]))),
    Template("delivery-connector", "Limit the connector that delivers it", "限定数据产品交付连接器", (
        Parameter("connector", DID, "the provider connector's participant id", "交付连接器的参与方标识",
                  "did:web:provider.example"),
        Parameter("methods", CODES, "delivery methods (TC609 codes 01-04)", "交付方式代码", ["01"]),
    ), lambda p: _set(_use(_c("deliveryMethod", "isAnyOf", p["methods"]), action="delivery",
                           assigner=p["connector"]))),
    Template("using-connector", "Limit the connector that uses it", "限定数据产品使用连接器", (
        Parameter("connector", DID, "the consumer connector's participant id", "使用连接器的参与方标识",
                  "did:web:consumer.example"),
        Parameter("networks", NETWORKS, "networks it may use the data from (CIDR)", "可使用的网络地址段",
                  ["10.0.0.0/8"]),
    ), lambda p: _set(_use(_c("networkAddress", "isPartOf", p["networks"][0]) if len(p["networks"]) == 1
                           else {"or": [_c("networkAddress", "isPartOf", n) for n in p["networks"]]},
                           assignee=p["connector"]))),
    Template("user", "Limit who uses it", "限定数据产品使用者", (
        Parameter("users", TEXTS, "who may use it (people or applications of the consumer)", "使用者",
                  ["credit-team"]),
    ), lambda p: _set(_use(_c("recipient", "isAnyOf", p["users"])))),
    Template("operation", "Limit the operations", "限定数据产品使用操作", (
        Parameter("permitted", ACTION_LIST, "actions that are permitted", "允许的操作", ["read", "compute"]),
        Parameter("prohibited", ACTION_LIST, "actions that are prohibited", "禁止的操作", ["distribute", "sell"],
                  required=False),
    ), lambda p: _set(*(_use(action=a) for a in p["permitted"]),
                      prohibitions=tuple(_use(action=a) for a in p.get("prohibited") or ()))),
    Template("count", "Limit the number of uses", "限定数据产品使用次数", (
        Parameter("count", COUNT, "how many times it may be used", "可使用次数", 3),
    ), lambda p: _set(_use(_c("count", "lteq", str(p["count"]))))),  # the DSP schema wants a string
    Template("duration", "Limit how long it may be used", "限定数据产品使用时长", (
        Parameter("from", DATETIME, "start of use (XML Schema dateTime)", "开始时间", "2027-01-01T00:00:00Z"),
        Parameter("until", DATETIME, "end of use (XML Schema dateTime)", "结束时间", "2027-01-08T00:00:00Z"),
    ), lambda p: _set(_use(_c("time", "isPartOf", f"{p['from']}/{p['until']}")))),
    Template("visible-scope", "Limit what is visible", "限定数据产品可见范围", (
        Parameter("fields", TEXTS, "the fields that may be seen", "可见字段", ["company", "tax_paid"]),
    ), lambda p: _set(_use(_c("dataField", "isPartOf", p["fields"])))),
    Template("usable-scope", "Limit where and what for it may be used", "限定数据产品可用范围", (
        Parameter("purposes", TEXTS, "purposes it may be used for", "使用目的", ["credit assessment"]),
        Parameter("regions", TEXTS, "regions it may be used in (codes such as CN-31)", "可使用地域", ["CN"]),
    ), lambda p: _set(_use(_c("purpose", "isAnyOf", p["purposes"]), _c("region", "isAnyOf", p["regions"])))),
    Template("notify-on-use", "Notify the provider on each use", "数据产品使用时通知", (
        Parameter("action", TEXT, "the use that is notified", "被通知的使用操作", "use", required=False),
    ), lambda p: _set(_use(action=p.get("action") or "use", duty=[_duty("inform")]))),
    Template("destroy-after-use", "Destroy it after use", "数据产品使用后销毁", (
        Parameter("action", TEXT, "the use after which it is destroyed", "使用操作", "use", required=False),
    ), lambda p: _set(_use(action=p.get("action") or "use"), obligations=(_duty("delete"),))),
)
BY_ID = {template.id: template for template in TEMPLATES}


def template(template_id: str) -> Template:
    found = BY_ID.get(template_id)
    if found is None:
        raise NotFound(f"no policy template {template_id!r}", field="templateId",
                       hint="GET /v1/policy-templates lists them: " + ", ".join(BY_ID))
    return found


def _bad(name: str, detail: str) -> ValidationFailed:
    return ValidationFailed(f"parameter {name!r}: {detail}", field=f"/parameters/{name}")


def _checked(parameter: Parameter, value: Any) -> Any:
    name, kind = parameter.name, parameter.kind
    texts = isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value)
    if kind in (TEXT, DID) and not (isinstance(value, str) and value.strip()):
        raise _bad(name, "must be a non-empty string")
    if kind == DID and not value.startswith("did:"):
        raise _bad(name, "must be a DID (did:web:..., did:key:...)")
    if kind in (TEXTS, NETWORKS, CODES, ACTION_LIST) and not texts:
        raise _bad(name, "must be a non-empty list of non-empty strings")
    if kind == COUNT and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise _bad(name, "must be a whole number of at least 1")
    if kind == DATETIME:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise _bad(name, "must be an XML Schema dateTime such as 2027-01-01T00:00:00Z") from None
        if moment.tzinfo is None:
            raise _bad(name, "needs a timezone (Z or +08:00)")
    if kind == NETWORKS:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise _bad(name, f"{network!r} is not an IP network in CIDR form") from None
    if kind == ACTION_LIST and (unknown := [a for a in value if a not in ACTIONS]):
        raise _bad(name, f"unknown action {unknown[0]!r}")
    return value


def fill(template_id: str, parameters: Mapping[str, Any]) -> Filled:
    """The template's policy with ``parameters`` filled in, or an error naming the parameter or the rule."""
    chosen = template(template_id)
    known = {p.name for p in chosen.parameters}
    if unknown := sorted(set(parameters) - known):
        raise _bad(unknown[0], f"is not a parameter of {template_id!r} (it has {', '.join(sorted(known))})")
    values: dict[str, Any] = {}
    for parameter in chosen.parameters:
        if parameter.name in parameters and parameters[parameter.name] is not None:
            values[parameter.name] = _checked(parameter, parameters[parameter.name])
        elif parameter.required:
            raise _bad(parameter.name, "is required")
    policy = chosen.build(values)
    try:
        parse_policy(policy)
    except PolicyInvalid as exc:
        # what parameter checks cannot see (a code not in the TC609 list, an empty time window): the same
        # refusal a connector would give, pointing into the policy that would have been handed out
        raise exc.under("/policy") from None
    return policy
