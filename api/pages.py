"""The API's two pages (any logged-in user, with the site's layout): the personal API tokens
(/accounts/api-tokens/) and the documentation of the API rendered from its OpenAPI schema (/api/v1/docs/), with
no script or asset from elsewhere.

The tokens page is reachable without a verified second factor (accounts/two_factor_policy.py lists it), so that
a user who must set one up is told so here; creating a token itself asks for the second factor (api/services.py).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST
from drf_spectacular.generators import SchemaGenerator

from accounts.reauth import has_second_factor
from api import selectors, services
from api.forms import TokenForm
from api.models import ApiToken

#: The problem types of api/problems.py, as the documentation page lists them (slug, status, when).
PROBLEM_TYPES = [
    ("invalid-request", 400, _("The body or a query parameter is not of the right type (errors per field).")),
    ("not-authenticated", 401, _("No Authorization: Bearer header.")),
    ("token-invalid", 401, _("The token is malformed, unknown or its secret is wrong.")),
    ("token-expired", 401, _("The token has expired.")),
    ("token-revoked", 401, _("The token was revoked.")),
    ("forbidden", 403, _("Your role does not give access to this endpoint (e.g. a statistician writing).")),
    ("not-found", 404, _("No such object, or not at your sites.")),
    ("study-locked", 409, _("The study is locked for a release: nothing can be written.")),
    ("record-exists", 409, _("A one-per-day record of this form already exists for that day: update it.")),
    ("precondition-failed", 412, _("If-Match is not the record's current version: someone saved it meanwhile.")),
    ("validation", 422, _("A check refused the record: hard limits, or soft checks not confirmed (level soft).")),
    ("reason-required", 422, _("The change of saved data needs a reason.")),
    ("precondition-required", 428, _("An update without If-Match.")),
    ("throttled", 429, _("Too many requests with this token; wait Retry-After seconds.")),
]
METHODS = ("get", "post", "put", "patch", "delete")


@login_required
def tokens_page(request):
    created = None
    second_factor = has_second_factor(request.user)
    if request.method == "POST":
        form = TokenForm(request.POST, asks_code=second_factor)
        if form.is_valid():
            data = form.cleaned_data
            try:
                created = services.token_create(
                    user=request.user, name=data["name"], days=data["days"], otp_token=data.get("otp_token", "")
                )
            except ValidationError as error:
                form.add_service_error(error)
            else:
                form = TokenForm(asks_code=second_factor)
    else:
        form = TokenForm(asks_code=second_factor)
    return render(
        request,
        "api/tokens.html",
        {
            "form": form,
            "created": created,
            "tokens": selectors.token_list(user=request.user),
            "has_second_factor": second_factor,
            "blocked": not second_factor and settings.ECRF_REQUIRE_2FA,
            "blocked_message": services.NO_SECOND_FACTOR,
        },
    )


@require_POST
@login_required
def token_revoke(request, pk: int):
    try:
        token = services.token_revoke(user=request.user, pk=pk)
    except ApiToken.DoesNotExist:
        raise Http404(gettext("No such token of yours.")) from None
    messages.success(
        request,
        gettext("The token %(name)s (%(prefix)s) is revoked: it no longer works.")
        % {"name": token.name, "prefix": token.prefix},
    )
    return redirect("api_tokens")


def _operations(schema: dict) -> list[dict]:
    """Every operation of the schema with its parameters, request body and responses, for the page."""

    def ref_name(content: dict) -> str:
        for media in content.values():
            item = media.get("schema", {})
            if "$ref" in item:
                return item["$ref"].rsplit("/", 1)[-1]
            if item.get("type") == "array" and "$ref" in item.get("items", {}):
                return "list of " + item["items"]["$ref"].rsplit("/", 1)[-1]
            return item.get("format") or item.get("type") or ""
        return ""

    operations = []
    for path, item in schema.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            body = op.get("requestBody", {}).get("content", {})
            operations.append(
                {
                    "id": op.get("operationId", ""),
                    "method": method.upper(),
                    "path": path,
                    "tag": (op.get("tags") or [""])[0],
                    "description": op.get("description", ""),
                    "parameters": [
                        {
                            "name": p["name"],
                            "in": p["in"],
                            "required": p.get("required", False),
                            "type": p.get("schema", {}).get("type", ""),
                            "enum": p.get("schema", {}).get("enum", []),
                            "description": p.get("description", ""),
                        }
                        for p in op.get("parameters", [])
                    ],
                    "body": ref_name(body),
                    "responses": [
                        {
                            "status": code,
                            "description": r.get("description", ""),
                            "body": ref_name(r.get("content", {})),
                        }
                        for code, r in sorted(op.get("responses", {}).items())
                    ],
                }
            )
    return operations


def _components(schema: dict) -> list[dict]:
    rows = []
    for name, component in sorted(schema.get("components", {}).get("schemas", {}).items()):
        properties = component.get("properties", {})
        required = set(component.get("required", []))
        fields = []
        for field, spec in properties.items():
            kind = spec.get("type") or ("object" if "$ref" in spec or "allOf" in spec else "")
            if "$ref" in spec:
                kind = spec["$ref"].rsplit("/", 1)[-1]
            elif kind == "array" and "$ref" in spec.get("items", {}):
                kind = "list of " + spec["items"]["$ref"].rsplit("/", 1)[-1]
            fields.append(
                {
                    "name": field,
                    "type": kind,
                    "required": field in required,
                    "read_only": spec.get("readOnly", False),
                    "description": spec.get("description", ""),
                }
            )
        rows.append({"name": name, "fields": fields, "enum": component.get("enum", [])})
    return rows


@login_required
def docs_page(request):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return render(
        request,
        "api/docs.html",
        {
            "info": schema["info"],
            "operations": _operations(schema),
            "components": _components(schema),
            "problem_types": PROBLEM_TYPES,
        },
    )
