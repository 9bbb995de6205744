"""Errors as RFC 9457 problem details (``application/problem+json``): type, title, status, detail, and ``errors``
per field, each a list of {code, message}. The exception handler of the API (settings.REST_FRAMEWORK) turns every
refusal into one; the problem types are listed in docs/api.md ("Errors").
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from cohorts.audit import PatientFrozen, StudyLocked

CONTENT_TYPE = "application/problem+json"
NON_FIELD = "non_field_errors"

# The problem type of each status when an exception names none.
DEFAULT_TYPES = {
    400: "invalid-request",
    401: "not-authenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    412: "precondition-failed",
    415: "unsupported-media-type",
    422: "validation",
    428: "precondition-required",
    429: "throttled",
}


class Problem(exceptions.APIException):
    """A refusal with its problem type (a slug of docs/api.md), title, detail and per-field errors."""

    def __init__(
        self, status_code: int, detail: str, *, type: str | None = None, title: str | None = None, errors=None
    ):
        self.status_code = status_code
        self.problem_type = type or DEFAULT_TYPES.get(status_code, "error")
        self.title = title
        self.errors = errors
        super().__init__(detail)


def django_errors(error: DjangoValidationError) -> dict[str, list[dict[str, str]]]:
    """A Django ValidationError (from a service) as {field: [{code, message}]}; non-field errors under
    ``non_field_errors``."""
    items = error.error_dict.items() if hasattr(error, "error_dict") else [(NON_FIELD_ERRORS, error.error_list)]
    out: dict[str, list[dict[str, str]]] = {}
    for name, errors in items:
        key = NON_FIELD if name == NON_FIELD_ERRORS else name
        for item in errors:
            for message in item.messages:
                out.setdefault(key, []).append({"code": item.code or "invalid", "message": str(message)})
    return out


def _drf_errors(detail: Any, prefix: str = "") -> dict[str, list[dict[str, str]]]:
    """DRF's nested error detail flattened to {"values.temperature_c": [{code, message}]}."""
    out: dict[str, list[dict[str, str]]] = {}
    if isinstance(detail, Mapping):
        for name, value in detail.items():
            key = NON_FIELD if name in (NON_FIELD_ERRORS, "non_field_errors") else str(name)
            for field, errors in _drf_errors(value, f"{prefix}{key}.").items():
                out.setdefault(field, []).extend(errors)
        return out
    items = detail if isinstance(detail, list) else [detail]
    field = prefix.rstrip(".") or NON_FIELD
    for item in items:
        if isinstance(item, Mapping | list):
            for sub, errors in _drf_errors(item, prefix).items():
                out.setdefault(sub, []).extend(errors)
        else:
            out.setdefault(field, []).append({"code": getattr(item, "code", "invalid"), "message": str(item)})
    return out


def problem_response(
    request, status_code: int, detail: str, *, type: str, title: str | None = None, errors=None, headers=None
) -> Response:
    body = {
        "type": request.build_absolute_uri(reverse("api:docs")) + f"#problem-{type}",
        "title": title or HTTPStatus(status_code).phrase,
        "status": status_code,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.get_full_path()
    if errors:
        body["errors"] = errors
    return Response(body, status=status_code, headers=headers, content_type=CONTENT_TYPE)


def exception_handler(exc, context):
    """settings.REST_FRAMEWORK["EXCEPTION_HANDLER"]: every error of the API as a problem."""
    request = context["request"]
    if isinstance(exc, StudyLocked):
        exc = Problem(409, exc.messages[0], type="study-locked", title=_("Study locked"))
    elif isinstance(exc, PatientFrozen):
        exc = Problem(409, exc.messages[0], type="patient-frozen", title=_("Casebook frozen"))
    elif isinstance(exc, DjangoValidationError):
        exc = Problem(422, _("The data were refused; see errors."), errors=django_errors(exc))
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: Django's 500
    headers = {
        name: value for name, value in response.items() if name.lower() in ("www-authenticate", "retry-after", "allow")
    }
    if isinstance(exc, Problem):
        return problem_response(
            request,
            exc.status_code,
            str(exc.detail),
            type=exc.problem_type,
            title=exc.title,
            errors=exc.errors,
            headers=headers,
        )
    errors = None
    detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    if isinstance(exc, exceptions.ValidationError):
        errors, detail = _drf_errors(exc.detail), _("The request is not valid; see errors.")
    elif isinstance(detail, Mapping | list):
        detail = " ".join(str(v) for v in (detail.values() if isinstance(detail, Mapping) else detail))
    status_code = response.status_code
    problem_type = DEFAULT_TYPES.get(status_code, "error")
    if status_code == status.HTTP_401_UNAUTHORIZED and getattr(exc, "detail", None) is not None:
        problem_type = {
            "token_expired": "token-expired",
            "token_revoked": "token-revoked",
            "token_invalid": "token-invalid",
        }.get(getattr(exc.detail, "code", ""), problem_type)
    return problem_response(request, status_code, str(detail), type=problem_type, errors=errors, headers=headers)
