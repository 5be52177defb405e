"""``trustspace policy``: validate a usage policy, and decide a request against one with the explanation."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from trustspace.cli.output import console, emit_json, fail
from trustspace.cli.services import Json
from trustspace.cli.templates import template_app
from trustspace.core.clock import SystemClock
from trustspace.core.errors import ValidationFailed
from trustspace.policy import Decision, Policy, PolicyInvalid, evaluate, parse_policy, request_from_json
from trustspace.policy.wording import show

policy_app = typer.Typer(help="Usage policies (使用控制策略): ODRL 2.2 with the TC609 profile.",
                         no_args_is_help=True)
policy_app.add_typer(template_app, name="template")
PolicyFile = Annotated[Path, typer.Argument(help="the policy, as JSON-LD in the Dataspace Protocol's compact form")]
Language = Annotated[str, typer.Option("--lang", help="language of the explanation: en or zh")]


def _read(file: Path, what: str, as_json: bool) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"{file} is not a JSON file: {exc}", f"pass the {what} as a JSON file", as_json=as_json)


def _policy(file: Path, as_json: bool) -> Policy:
    document = _read(file, "policy", as_json)
    # an Offer or Agreement inside a DSP message, or a dataset's hasPolicy, is found where the DSP puts it
    if isinstance(document, dict):
        for key in ("offer", "agreement"):
            if isinstance(document.get(key), dict):
                document = document[key]
    try:
        return parse_policy(document)
    except PolicyInvalid as exc:
        if as_json:
            emit_json({"ok": False, "rule": exc.rule, "field": exc.pointer, "error": exc.detail, "hint": exc.hint})
            raise typer.Exit(1) from None
        fail(f"{file}: the policy is not valid: {exc.detail}", exc.hint or f"fix the field {exc.pointer}")


def _summary(policy: Policy) -> dict[str, Any]:
    def rules(items: tuple[Any, ...]) -> list[str]:
        return [f"{r.pointer}: {r.action.name if r.action else '*'}" for r in items]

    return {"ok": True, "uid": policy.uid, "type": policy.type.value, "conflict": policy.conflict.value,
            "permissions": rules(policy.permissions), "prohibitions": rules(policy.prohibitions),
            "obligations": rules(policy.obligations)}


@policy_app.command()
def check(file: PolicyFile, as_json: Json = False) -> None:
    """Validate a policy: names, values and units, impossible constraints, colliding rules. Exit 1 if invalid."""
    summary = _summary(_policy(file, as_json))
    if as_json:
        emit_json(summary)
        return
    console.print(f"[green]valid[/] {summary['type']} {escape(str(summary['uid'] or ''))} "
                  f"(conflict strategy {summary['conflict']})")
    for kind in ("permissions", "prohibitions", "obligations"):
        for line in summary[kind]:
            console.print(f"  {kind[:-1]} {escape(line)}")


def _decision_json(decision: Decision) -> dict[str, Any]:
    return {"outcome": decision.outcome.value, "allowed": decision.allowed, "reason": decision.reason,
            "rule": decision.rule.pointer if decision.rule else None,
            "obligations": [{"pointer": d.pointer, "action": d.action.name if d.action else None}
                            for d in decision.obligations],
            "checks": [{"rule": getattr(rule, "pointer", None), "what": node if isinstance(node, str) else
                        getattr(node, "pointer", None), "satisfied": ok, "actual": show(actual)}
                       for rule, node, ok, actual in decision.findings],
            "explanation": {"en": decision.explain("en"), "zh": decision.explain("zh")}}


@policy_app.command(name="evaluate")
def evaluate_command(
    policy_file: Annotated[Path, typer.Option("--policy", help="the policy (JSON-LD, DSP compact form)")],
    request_file: Annotated[Path, typer.Option("--request", help=(
        'the request: {"action", "assignee", "target", "context": {"time", "purpose", "usage": {"count"}, ...}}'))],
    as_json: Json = False,
    language: Language = "en",
) -> None:
    """Decide a request against a policy and print the decision with its explanation. Exit 0 when permitted."""
    policy = _policy(policy_file, as_json)
    try:
        request = request_from_json(_read(request_file, "request", as_json))
    except ValidationFailed as exc:
        fail(f"{request_file}: {exc.detail}", "see docs/usage-control.md for the request's fields",
             as_json=as_json)
    if request.context.time is None:  # a request that does not say when is asked about now
        request = replace(request, context=replace(request.context, time=SystemClock().now()))
    decision = evaluate(policy, request)
    if as_json:
        emit_json(_decision_json(decision))
    else:
        lines = decision.explain(language)
        colour = "green" if decision.allowed else "red"
        console.print(f"[bold {colour}]{escape(lines[0])}[/]")
        for (_, _, ok, _), line in zip(decision.findings, lines[1:], strict=True):
            console.print(f"  [{'green' if ok else 'red'}]{escape(line)}[/]")
    raise typer.Exit(0 if decision.allowed else 1)
