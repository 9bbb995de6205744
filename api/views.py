"""The REST API, /api/v1/ (docs/api.md): thin views over the same selectors and services as the pages.

Who may do what is the role sets of cohorts/roles.py (api/permissions.py: ``read_roles`` and ``write_roles`` of
each view), and every patient read goes through the site-scoped selectors: another site's patient is a 404.
Writes call the services of ecrf (ecrf/services.py) exactly as the entry pages do, with the API as the source of
the audit trail: reasons are recorded as "api: <reason>" and first entries as "api: initial entry".
"""

from __future__ import annotations

import re
from pathlib import Path

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.http import FileResponse, Http404
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers as drf_serializers
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response

from analysis import selectors as analysis_selectors
from analysis.models import JobStatus
from api import selectors
from api import serializers as s
from api.permissions import ROLE_DENIED, HasRole
from api.problems import Problem, django_errors
from cohorts import audit, roles
from cohorts import selectors as cohort_selectors
from cohorts.audit import PatientFrozen, StudyLocked, ensure_writable
from ecrf import checks, crfs, services
from ecrf import selectors as ecrf_selectors
from ecrf.services import RecordInput
from ecrf.validators import PatientFacts

SOURCE = "api: "
ENTRY_REASON = SOURCE + audit.ENTRY_REASON
EVERY_ROLE = frozenset(roles.ROLES)

PROBLEM = OpenApiResponse(
    inline_serializer(
        "Problem",
        {
            "type": drf_serializers.CharField(),
            "title": drf_serializers.CharField(),
            "status": drf_serializers.IntegerField(),
            "detail": drf_serializers.CharField(),
            "instance": drf_serializers.CharField(),
            "errors": drf_serializers.DictField(
                child=drf_serializers.ListField(child=drf_serializers.DictField()), required=False
            ),
        },
    ),
    description="A problem (RFC 9457, application/problem+json).",
)
READ_ERRORS = {401: PROBLEM, 403: PROBLEM, 404: PROBLEM, 429: PROBLEM}
WRITE_ERRORS = {**READ_ERRORS, 400: PROBLEM, 409: PROBLEM, 422: PROBLEM}

STUDY_CODE = OpenApiParameter("study_code", OpenApiTypes.STR, OpenApiParameter.PATH, description="The study's code.")
PATIENT_PK = OpenApiParameter("patient_pk", OpenApiTypes.INT, OpenApiParameter.PATH, description="The patient's id.")
FORM = OpenApiParameter(
    "form", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(crfs.CATALOGUE), description="A form's key."
)
RECORD_PK = OpenApiParameter("pk", OpenApiTypes.INT, OpenApiParameter.PATH, description="The record's id.")
IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description='The ETag of the record as read (its version, e.g. "3"). Missing: 428; stale: 412.',
)


RECORD_ETAG = OpenApiResponse(s.RecordSerializer, description="The record; the ETag header is its version.")


class ApiView(GenericAPIView):
    """Every API view: bearer token, role sets, throttling per token, problem details (settings.REST_FRAMEWORK)."""

    permission_classes = [HasRole]
    read_roles: frozenset = frozenset()
    write_roles: frozenset = frozenset()


def _patient(request, pk):
    """The patient of the address (another site's or study's: 404); a write needs a data-entry role at the
    patient's study and site (a nurse of one study who monitors another reads there, and writes only here)."""
    patient = ecrf_selectors.patient_get(user=request.user, pk=pk)
    if request.method not in SAFE_METHODS and not roles.has_study_role(
        request.user, patient.study, roles.DATA_ENTRY, site=patient.site
    ):
        raise PermissionDenied(ROLE_DENIED)
    return patient


def _crf(key: str) -> crfs.Crf:
    crf = crfs.CATALOGUE.get(key)
    if crf is None:
        raise Http404(_("No such form."))
    return crf


# ------------------------------------------------------------------------------------------------ metadata


@extend_schema(tags=["metadata"])
class FormList(ApiView):
    """The case report forms of the catalogue (ecrf/crfs.py): fields, types, units, limits and choices."""

    read_roles = EVERY_ROLE
    serializer_class = s.FormSerializer
    pagination_class = None

    @extend_schema(responses={200: s.FormSerializer(many=True), **READ_ERRORS})
    def get(self, request):
        return Response([s.form_metadata(crf) for crf in crfs.CATALOGUE.values()])


@extend_schema(tags=["metadata"])
class FormDetail(ApiView):
    """One form of the catalogue."""

    read_roles = EVERY_ROLE
    serializer_class = s.FormSerializer

    @extend_schema(parameters=[FORM], responses={200: s.FormSerializer, **READ_ERRORS})
    def get(self, request, form: str):
        return Response(s.form_metadata(_crf(form)))


@extend_schema(tags=["studies"])
class StudyList(ApiView):
    """The studies the user sees (statisticians: every study, for its releases)."""

    read_roles = EVERY_ROLE
    serializer_class = s.StudySerializer

    @extend_schema(responses={200: s.StudySerializer(many=True), **READ_ERRORS})
    def get(self, request):
        page = self.paginate_queryset(cohort_selectors.study_list(user=request.user).order_by("code"))
        return self.get_paginated_response(s.StudySerializer(page, many=True).data)


@extend_schema(tags=["studies"])
class StudyDetail(ApiView):
    """A study with its arms and the user's sites."""

    read_roles = EVERY_ROLE
    serializer_class = s.StudyDetailSerializer

    @extend_schema(parameters=[STUDY_CODE], responses={200: s.StudyDetailSerializer, **READ_ERRORS})
    def get(self, request, study_code: str):
        study = cohort_selectors.study_get(user=request.user, code=study_code)
        sites = cohort_selectors.study_site_list(user=request.user, study=study)
        return Response(s.StudyDetailSerializer(study, context={"sites": sites}).data)


# ------------------------------------------------------------------------------------------------ patients


class PatientFilter(drf_serializers.Serializer):
    site = drf_serializers.CharField(required=False, max_length=8, help_text="A site code.")
    updated_since = drf_serializers.DateTimeField(
        required=False,
        help_text="ISO 8601 date-time: only patients whose record or daily records changed since (deletions too).",
    )


@extend_schema(tags=["patients"])
class PatientList(ApiView):
    """The study's patients at the user's sites."""

    read_roles = roles.PATIENT_READERS
    serializer_class = s.PatientSerializer

    @extend_schema(
        parameters=[STUDY_CODE, PatientFilter], responses={200: s.PatientSerializer(many=True), **READ_ERRORS}
    )
    def get(self, request, study_code: str):
        study = cohort_selectors.study_get(user=request.user, code=study_code)
        query = PatientFilter(data=request.query_params)
        query.is_valid(raise_exception=True)
        site = None
        if code := query.validated_data.get("site"):
            site = cohort_selectors.study_site_list(user=request.user, study=study).filter(code=code).first()
            if site is None:
                raise Http404(_("No such site of this study among yours."))
        patients = selectors.patient_list(
            user=request.user, study=study, site=site, updated_since=query.validated_data.get("updated_since")
        )
        page = self.paginate_queryset(patients)
        return self.get_paginated_response(s.PatientSerializer(page, many=True).data)


@extend_schema(tags=["patients"])
class PatientDetail(ApiView):
    read_roles = roles.PATIENT_READERS
    serializer_class = s.PatientSerializer

    @extend_schema(parameters=[PATIENT_PK], responses={200: s.PatientSerializer, **READ_ERRORS})
    def get(self, request, patient_pk: int):
        patient = _patient(request, patient_pk)
        return Response(s.PatientSerializer(patient).data)


# ------------------------------------------------------------------------------------------------ records


def _etag(record) -> str:
    return f'"{record.version}"'


def _if_match(request) -> int:
    """The version of If-Match: missing -> 428, not an ETag of ours -> 412."""
    header = request.headers.get("If-Match")
    if header is None or not header.strip():
        raise Problem(
            428,
            _("Send the record's ETag as If-Match to update it (read the record first)."),
            type="precondition-required",
        )
    match = re.fullmatch(r'\s*(?:W/)?"?(\d{1,9})"?\s*', header)
    if match is None:
        raise Problem(412, _("If-Match is not the ETag of this record; read the record again."))
    return int(match[1])


def _api_reason(reason: str | None) -> str | None:
    """The reason as recorded by the API; a blank reason stays None, so the service asks for one."""
    return SOURCE + reason.strip() if reason and reason.strip() else None


def _is_concurrent(error: ValidationError) -> bool:
    errors = getattr(error, "error_dict", {}).get(NON_FIELD_ERRORS, [])
    return any(e.code == "concurrent_edit" for e in errors)


def _refusal(crf: crfs.Crf, patient, values, error: ValidationError, *, update: bool) -> Problem:
    """A service's refusal as a problem: a stale version 412 (update) or 409 (a record exists), else 422 with the
    clinical message of every field; a check that a confirmation accepts says ``"level": "soft"``."""
    if _is_concurrent(error):
        if update:
            return Problem(412, " ".join(error.messages), type="precondition-failed", errors=django_errors(error))
        return Problem(
            409,
            _("A record of this form is already saved for this day: read it and update it with If-Match. %(messages)s")
            % {"messages": " ".join(error.messages)},
            type="record-exists",
            errors=django_errors(error),
        )
    errors = django_errors(error)
    soft = {i.code for i in crf.issues(values, PatientFacts.of(patient, patient.death_day)) if i.level == checks.SOFT}
    for items in errors.values():
        for item in items:
            if item["code"] in soft:
                item["level"] = "soft"
            elif "." in item["code"]:
                item["level"] = "hard"
    if all(item["code"] == "reason_required" for items in errors.values() for item in items):
        return Problem(422, _("Give a reason for changing saved data (reason)."), type="reason-required", errors=errors)
    detail = _("The record was refused; see errors. Soft checks are accepted by listing their codes in confirm.")
    return Problem(422, detail, type="validation", errors=errors)


def _values(crf: crfs.Crf, given) -> dict:
    unknown = sorted(set(given) - set(crf.fields))
    if unknown:
        raise Problem(
            400,
            _("Unknown fields of this form; see GET /api/v1/forms/{form}/."),
            errors={f"values.{n}": [{"code": "unknown_field", "message": _("No such field.")}] for n in unknown},
        )
    values = s.values_serializer(crf)(data=given)
    if not values.is_valid():
        raise Problem(
            400,
            _("The request is not valid; see errors."),
            errors={f"values.{k}": v for k, v in _flat(values.errors).items()},
        )
    return s.full_values(crf, values.validated_data)


def _flat(errors) -> dict:
    return {name: [{"code": e.code, "message": str(e)} for e in items] for name, items in errors.items()}


def _record_response(crf, record, status_code=200, headers=None) -> Response:
    return Response(s.record_data(crf, record), status=status_code, headers={"ETag": _etag(record), **(headers or {})})


class StudyDayFilter(drf_serializers.Serializer):
    study_day = drf_serializers.IntegerField(required=False, min_value=-32768, max_value=32767)


@extend_schema(tags=["records"])
class RecordList(ApiView):
    """The records of one form of a patient (GET), or a new record (POST) through the entry pages' service."""

    read_roles = roles.PATIENT_READERS
    write_roles = roles.DATA_ENTRY
    serializer_class = s.RecordSerializer

    @extend_schema(
        parameters=[PATIENT_PK, FORM, StudyDayFilter], responses={200: s.RecordSerializer(many=True), **READ_ERRORS}
    )
    def get(self, request, patient_pk: int, form: str):
        crf = _crf(form)
        patient = _patient(request, patient_pk)
        query = StudyDayFilter(data=request.query_params)
        query.is_valid(raise_exception=True)
        records = selectors.record_list(patient=patient, crf=crf, study_day=query.validated_data.get("study_day"))
        page = self.paginate_queryset(records)
        return self.get_paginated_response([s.record_data(crf, r) for r in page])

    @extend_schema(
        parameters=[PATIENT_PK, FORM],
        request=s.RecordWriteSerializer,
        responses={201: RECORD_ETAG, **WRITE_ERRORS},
    )
    def post(self, request, patient_pk: int, form: str):
        crf = _crf(form)
        patient = _patient(request, patient_pk)
        body = s.RecordWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ensure_writable(patient)
        values = _values(crf, body.validated_data["values"])
        entry = RecordInput(
            values=values,
            confirmed_checks=frozenset(body.validated_data["confirm"]),
            missing_codes=body.validated_data["missing_codes"],
            not_done_reason=body.validated_data["not_done_reason"],
        )
        if entry.is_empty(crf):
            raise Problem(422, _("Fill in the form: an empty record cannot be saved."), type="validation")
        try:
            if crf.per_day:
                if "study_day" not in body.validated_data:
                    raise Problem(
                        400,
                        _("Give the study day of the record."),
                        errors={"study_day": [{"code": "required", "message": _("This field is required.")}]},
                    )
                record = services.day_record_save(
                    form=crf.key,
                    patient=patient,
                    study_day=body.validated_data["study_day"],
                    entry=entry,
                    user=request.user,
                    entry_reason=ENTRY_REASON,
                )
            else:
                record = services.event_save(
                    form=crf.key, patient=patient, entry=entry, user=request.user, reason=ENTRY_REASON
                )
        except ValidationError as error:
            if isinstance(error, StudyLocked | PatientFrozen):
                raise
            raise _refusal(crf, patient, values, error, update=False) from error
        url = reverse("api:record_detail", args=[patient.pk, crf.key, record.pk])
        return _record_response(crf, record, status.HTTP_201_CREATED, {"Location": url})


@extend_schema(tags=["records"])
class RecordDetail(ApiView):
    """One record (GET, with its version as ETag), or its replacement (PUT, with If-Match and a reason)."""

    read_roles = roles.PATIENT_READERS
    write_roles = roles.DATA_ENTRY
    serializer_class = s.RecordSerializer

    @extend_schema(
        parameters=[PATIENT_PK, FORM, RECORD_PK],
        responses={200: RECORD_ETAG, **READ_ERRORS},
    )
    def get(self, request, patient_pk: int, form: str, pk: int):
        crf = _crf(form)
        patient = _patient(request, patient_pk)
        return _record_response(crf, selectors.record_get(patient=patient, crf=crf, pk=pk))

    @extend_schema(
        parameters=[PATIENT_PK, FORM, RECORD_PK, IF_MATCH],
        request=s.RecordWriteSerializer,
        responses={
            200: s.RecordSerializer,
            204: OpenApiResponse(
                description="Every value and code cleared, not marked not done: the one-per-day record was deleted."
            ),
            **WRITE_ERRORS,
            412: PROBLEM,
            428: PROBLEM,
        },
    )
    def put(self, request, patient_pk: int, form: str, pk: int):
        crf = _crf(form)
        patient = _patient(request, patient_pk)
        record = selectors.record_get(patient=patient, crf=crf, pk=pk)
        body = s.RecordWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ensure_writable(patient)
        version = _if_match(request)
        if version != record.version:
            raise Problem(
                412,
                _(
                    "The record is at version %(current)s, not %(sent)s: someone saved it after you read it. "
                    "Read it again and send your change with its new ETag."
                )
                % {"current": record.version, "sent": version},
            )
        values = _values(crf, body.validated_data["values"])
        day = body.validated_data.get("study_day")
        if crf.per_day and day is not None and day != record.study_day:
            raise Problem(
                400,
                _("The study day of a record does not change: clear this one and create the other day's."),
                errors={
                    "study_day": [{"code": "immutable", "message": _("The study day of a record does not change.")}]
                },
            )
        entry = RecordInput(
            values=values,
            confirmed_checks=frozenset(body.validated_data["confirm"]),
            expected_version=version,
            missing_codes=body.validated_data["missing_codes"],
            not_done_reason=body.validated_data["not_done_reason"],
        )
        reason = _api_reason(body.validated_data.get("reason"))
        try:
            if crf.per_day:
                saved = services.day_record_save(
                    form=crf.key,
                    patient=patient,
                    study_day=record.study_day,
                    entry=entry,
                    user=request.user,
                    reason=reason,
                    entry_reason=ENTRY_REASON,
                )
            else:
                saved = services.event_save(
                    form=crf.key, patient=patient, entry=entry, user=request.user, record=record, reason=reason
                )
        except ValidationError as error:
            if isinstance(error, StudyLocked | PatientFrozen):
                raise
            raise _refusal(crf, patient, values, error, update=True) from error
        if saved is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return _record_response(crf, saved)


# ------------------------------------------------------------------------------------------------ screenings


@extend_schema(tags=["screenings"])
class ScreeningList(ApiView):
    """The screening log of the user's sites."""

    read_roles = roles.SCREENING_READERS
    serializer_class = s.ScreeningSerializer

    @extend_schema(parameters=[STUDY_CODE], responses={200: s.ScreeningSerializer(many=True), **READ_ERRORS})
    def get(self, request, study_code: str):
        study = cohort_selectors.study_get(user=request.user, code=study_code)
        page = self.paginate_queryset(cohort_selectors.screening_list(user=request.user, study=study))
        return self.get_paginated_response(s.ScreeningSerializer(page, many=True).data)


@extend_schema(tags=["screenings"])
class ScreeningDetail(ApiView):
    """One screening with its values and the verdict of every criterion (its eligibility evaluation)."""

    read_roles = roles.SCREENING_READERS
    serializer_class = s.ScreeningDetailSerializer

    @extend_schema(
        parameters=[STUDY_CODE, OpenApiParameter("pk", OpenApiTypes.INT, OpenApiParameter.PATH)],
        responses={200: s.ScreeningDetailSerializer, **READ_ERRORS},
    )
    def get(self, request, study_code: str, pk: int):
        study = cohort_selectors.study_get(user=request.user, code=study_code)
        screening = cohort_selectors.screening_get(user=request.user, study=study, pk=pk)
        return Response(s.ScreeningDetailSerializer(screening).data)


# ------------------------------------------------------------------------------------------------ releases


def _release(release) -> dict:
    return {
        "version": release.version,
        "locked_at": release.locked_at,
        "locked_by": release.locked_by.username,
        "reason": release.reason,
        "unlocked_at": release.unlocked_at,
        "unlock_reason": release.unlock_reason,
    }


VERSION = OpenApiParameter("version", OpenApiTypes.INT, OpenApiParameter.PATH, description="The release version.")


@extend_schema(tags=["releases"])
class ReleaseList(ApiView):
    """The locked releases of a study (data managers and statisticians)."""

    read_roles = roles.RELEASE_DOWNLOADERS
    serializer_class = s.ReleaseSerializer

    @extend_schema(parameters=[STUDY_CODE], responses={200: s.ReleaseSerializer(many=True), **READ_ERRORS})
    def get(self, request, study_code: str):
        study = cohort_selectors.study_get(user=request.user, code=study_code)
        page = self.paginate_queryset(analysis_selectors.release_list(study=study))
        return self.get_paginated_response([_release(r) for r in page])


@extend_schema(tags=["releases"])
class ReleaseDetail(ApiView):
    """A release: its files (from the manifest, with SHA-256) and its exports."""

    read_roles = roles.RELEASE_DOWNLOADERS
    serializer_class = s.ReleaseDetailSerializer

    @extend_schema(parameters=[STUDY_CODE, VERSION], responses={200: s.ReleaseDetailSerializer, **READ_ERRORS})
    def get(self, request, study_code: str, version: int):
        study = cohort_selectors.study_get(user=request.user, code=study_code)
        release = analysis_selectors.release_get(study=study, version=version)
        files = [
            {
                "path": item["path"],
                "sha256": item.get("sha256", ""),
                "bytes": item.get("bytes", 0),
                "url": reverse("api:release_file", args=[study.code, release.version, item["path"]]),
            }
            for item in analysis_selectors.release_files(user=request.user, release=release)
        ]
        exports = [
            {
                "id": job.pk,
                "format": job.format,
                "status": job.status,
                "progress": job.progress,
                "sha256": job.sha256,
                "created_at": job.created_at,
                "finished_at": job.finished_at,
                "url": reverse("api:export_download", args=[job.pk]) if job.status == JobStatus.DONE else None,
            }
            for job in analysis_selectors.export_job_list(user=request.user, release=release)
        ]
        return Response({**_release(release), "files": files, "exports": exports})


BINARY = {(200, "application/octet-stream"): OpenApiTypes.BINARY}


@extend_schema(tags=["releases"])
class ReleaseFile(ApiView):
    """One file of a release, as listed in its manifest."""

    read_roles = roles.RELEASE_DOWNLOADERS

    @extend_schema(
        parameters=[STUDY_CODE, VERSION, OpenApiParameter("path", OpenApiTypes.STR, OpenApiParameter.PATH)],
        responses={**BINARY, **READ_ERRORS},
    )
    def get(self, request, study_code: str, version: int, path: str):
        study = cohort_selectors.study_get(user=request.user, code=study_code)
        release = analysis_selectors.release_get(study=study, version=version)
        try:
            handle = analysis_selectors.release_file_get(user=request.user, release=release, path=path).open("rb")
        except OSError:
            raise Http404(_("No such file in this release.")) from None
        return FileResponse(handle, as_attachment=True, filename=f"{study.code}_v{release.version}_{Path(path).name}")


@extend_schema(tags=["releases"])
class ExportDownload(ApiView):
    """A finished export of a release (a zip)."""

    read_roles = roles.RELEASE_DOWNLOADERS

    @extend_schema(
        parameters=[OpenApiParameter("pk", OpenApiTypes.INT, OpenApiParameter.PATH)],
        responses={**BINARY, **READ_ERRORS},
    )
    def get(self, request, pk: int):
        job = analysis_selectors.export_job_get(user=request.user, pk=pk)
        if job.status != JobStatus.DONE or not job.file_path or not Path(job.file_path).exists():
            raise Http404(_("This export is not ready."))
        return FileResponse(open(job.file_path, "rb"), as_attachment=True, filename=Path(job.file_path).name)
