"""``trustspace policy template list|fill``: the operator's policy templates (TC609 策略模板), open to anyone."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from trustspace.cli.manage import DEFAULT_OPERATOR_URL, OperatorUrl, check_url, show
from trustspace.cli.output import emit_json, fail, friendly_errors
from trustspace.cli.services import Json
from trustspace.client.http import KeyClient

template_app = typer.Typer(help="Policy templates the operator offers: list them, fill one in.", no_args_is_help=True)
LISTS = {"texts", "networks", "codes", "actions"}


def _client(operator_url: str, as_json: bool) -> KeyClient:
    return KeyClient(check_url("--operator-url", operator_url, as_json), "")


@template_app.command("list")
def list_templates(operator_url: OperatorUrl = DEFAULT_OPERATOR_URL, as_json: Json = False) -> None:
    """The templates and their parameters."""
    with friendly_errors(as_json):
        found: list[dict[str, Any]] = _client(operator_url, as_json).request("GET", "/v1/policy-templates")
    rows = [{**t, "parameters": ", ".join(p["name"] + ("" if p["required"] else "?") for p in t["parameters"])}
            for t in found]
    show(found, as_json, "Policy templates", rows,
         (("id", "id"), ("title", "title"), ("标题", "titleZh"), ("parameters", "parameters")))


def _value(kind: str, text: str) -> Any:
    if kind in LISTS:
        return [part.strip() for part in text.split(",") if part.strip()]
    if kind == "count":
        return int(text) if text.strip().lstrip("-").isdigit() else text
    return text


@template_app.command("fill")
def fill(
    template_id: Annotated[str, typer.Argument(help="the template's id (trustspace policy template list)")],
    parameter: Annotated[list[str] | None, typer.Option("--set", "-p", help="NAME=VALUE; lists comma-separated "
                                                                            "(repeat the option)")] = None,
    operator_url: OperatorUrl = DEFAULT_OPERATOR_URL,
    as_json: Json = False,
) -> None:
    """Print the template's policy with the parameters filled in (checked by the operator), as JSON: save it
    and give it to ``trustspace offer add --policy @FILE``."""
    pairs = [item.partition("=") for item in parameter or []]
    if bad := [name for name, sep, _ in pairs if not sep or not name]:
        fail(f"--set {bad[0]!r} is not NAME=VALUE", "e.g. --set count=3 --set users=alice,bob", as_json=as_json)
    with friendly_errors(as_json):
        client = _client(operator_url, as_json)
        described: dict[str, Any] = client.request("GET", f"/v1/policy-templates/{template_id}")
        kinds = {p["name"]: p["type"] for p in described["parameters"]}
        values = {name: _value(kinds.get(name, "text"), text) for name, _, text in pairs}
        filled: dict[str, Any] = client.request("POST", f"/v1/policy-templates/{template_id}/policy",
                                                json={"parameters": values})
    emit_json(filled if as_json else filled["policy"])
