"""``/v1/policy-templates``: the operator's policy templates, readable and fillable by anyone (they hold no
secret, and a filled template is only a policy document: nothing is stored)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path
from pydantic import Field

from trustspace.operator import policy_templates as templates
from trustspace.operator.schemas import Body

TemplateId = Path(max_length=100, description="the template's id (GET /v1/policy-templates)")


class FillIn(Body):
    parameters: dict[str, Any] = Field(default_factory=dict, description="the template's parameters by name")


def build_template_router() -> APIRouter:
    router = APIRouter(prefix="/v1/policy-templates", tags=["policy templates"])

    @router.get("")
    def list_templates() -> list[dict[str, Any]]:
        """Every template, with its parameters (type, whether required, an example, English and Chinese)."""
        return [template.describe() for template in templates.TEMPLATES]

    @router.get("/{template_id}")
    def one_template(template_id: str = TemplateId) -> dict[str, Any]:
        return templates.template(template_id).describe()

    @router.post("/{template_id}/policy")
    def fill_template(body: FillIn, template_id: str = TemplateId) -> dict[str, Any]:
        """The template's policy with the parameters filled in, valid ODRL of the TC609 profile (422 naming
        ``/parameters/<name>`` or the policy's rule otherwise): post it to a connector's policies as it is."""
        return {"templateId": template_id, "policy": templates.fill(template_id, body.parameters)}

    return router
